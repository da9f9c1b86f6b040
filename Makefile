# jinshu — two commands do all set-up on a fresh machine with Python 3.11:
#   make demo   (venv, install, sample extracts, every DAG once with dag.test(), summary)
#   make test   (the whole suite, on a real PostgreSQL, a real S3 API and real Airflow runs)

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
export JINSHU_HOME ?= $(CURDIR)/.jinshu
export AIRFLOW_HOME ?= $(JINSHU_HOME)/airflow
export AIRFLOW__CORE__DAGS_FOLDER := $(CURDIR)/dags
export AIRFLOW__CORE__PLUGINS_FOLDER := $(CURDIR)/plugins
export AIRFLOW__CORE__LOAD_EXAMPLES := False
export AIRFLOW__API__HOST ?= 127.0.0.1
# Airflow users for the governance pages: the admin, plus a user per department (named after its
# code, so it acts for it); passwords are generated into $(AIRFLOW_HOME)/simple_auth_manager_passwords.json.generated
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS ?= admin:admin,sx_gongan:user,sx_minzheng:user,sx_renshe:user,sx_scjg:user,sx_weijian:user

.PHONY: demo test test-distributed bench bench-exchange bench-linkage bench-repeat bench-distributed bench-open openapi lint airflow install clean

$(BIN)/activate: requirements.txt requirements-dev.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet --no-deps -e .
	touch $(BIN)/activate

install: $(BIN)/activate

$(AIRFLOW_HOME)/airflow.db: | $(BIN)/activate
	mkdir -p $(AIRFLOW_HOME)
	$(BIN)/airflow db migrate > $(AIRFLOW_HOME)/migrate.log

demo: $(BIN)/activate $(AIRFLOW_HOME)/airflow.db
	rm -rf $(JINSHU_HOME)/landing $(JINSHU_HOME)/open-data $(JINSHU_HOME)/central.db* $(JINSHU_HOME)/work
	$(BIN)/jinshu demo

test: $(BIN)/activate
	$(BIN)/python -m pytest -n 2 --dist loadgroup

# The processes of docker-compose.yaml, natively (PostgreSQL at 127.0.0.1:5432, plus a
# redis-server and moto's S3 server that the harness starts and stops itself).
test-distributed: $(BIN)/activate
	$(BIN)/python -m pytest tests/distributed -m distributed -p no:xdist -p no:cacheprovider

# Docker Compose's settings with fresh secrets (never overwrites an existing .env).
.env: .env.example
	python3 include/jinshu/dev/envfile.py .env

bench: $(BIN)/activate
	$(BIN)/python bench/ingest_bench.py $(if $(ROWS),--rows $(ROWS))

lint: $(BIN)/activate
	$(BIN)/ruff check .
	$(BIN)/lint-imports

airflow: $(BIN)/activate $(AIRFLOW_HOME)/airflow.db
	PATH=$(CURDIR)/$(BIN):$$PATH $(BIN)/airflow standalone

clean:
	rm -rf $(JINSHU_HOME) .pytest_cache

openapi: $(BIN)/activate
	$(BIN)/python -c "import json; from jinshu.share.api import create_app; \
	open('docs/openapi.json', 'w').write(json.dumps(create_app().openapi(), ensure_ascii=False, indent=2) + '\n')"

bench-exchange: $(BIN)/activate
	$(BIN)/python bench/exchange_bench.py

bench-linkage: $(BIN)/activate
	$(BIN)/python bench/linkage_bench.py

bench-repeat: $(BIN)/activate
	$(BIN)/python bench/repeat_bench.py

bench-distributed: $(BIN)/activate
	$(BIN)/python bench/distributed_bench.py

bench-open: $(BIN)/activate
	$(BIN)/python bench/open_bench.py
