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

.PHONY: demo test bench bench-exchange openapi lint airflow install clean

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
