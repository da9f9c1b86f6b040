"""docker-compose.yaml, .env.example and the native harness take the same settings.

Runs in ``make test`` (no service needed): it parses both files and builds the
harness's environment without starting anything.
"""

from __future__ import annotations

import re

import pytest

from jinshu.dev import envfile
from tests.distributed import native_env as native

AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor",
                    "airflow-worker", "airflow-triggerer", "airflow-init")
CONTAINER_PATHS = {"JINSHU_HOME", "JINSHU_CATALOG_DIR"}  # each container's own layout


@pytest.fixture(scope="module")
def compose_text() -> str:
    return native.COMPOSE.read_text(encoding="utf-8")


@pytest.fixture(scope="module")
def example() -> dict[str, str]:
    return envfile.example()


def test_every_value_compose_reads_is_in_env_example_and_every_setting_is_read(
        compose_text, example):
    read = envfile.references(compose_text)
    assert sorted(read - set(example)) == []  # compose would start without it
    assert sorted(set(example) - read) == []  # a setting nobody reads


def test_compose_defaults_equal_env_example(compose_text, example):
    for name, default in re.findall(r"\$\{(\w+):-([^}]*)\}", compose_text):
        assert example[name] == default, name


def test_compose_sets_no_airflow_or_jinshu_setting_of_its_own(example):
    """Every value an Airflow container gets comes from .env, except its own paths."""
    for service in AIRFLOW_SERVICES:
        for name, value in native.compose_environment(service).items():
            if name in CONTAINER_PATHS or name.startswith("_AIRFLOW_") or name in {
                    "AIRFLOW_UID", "DUMB_INIT_SETSID"}:
                continue
            assert re.fullmatch(r"\$\{\w+(:[-?][^}]*)?\}", value), (service, name, value)


def test_the_harness_runs_with_compose_settings_changing_only_what_it_declares(example):
    values = native.settings_with_secrets()
    where = native.Addresses("af_db", "store_db", 6400, 8400, "http://127.0.0.1:9999")
    harness = native.airflow_env(values, where)
    compose = {k: envfile.interpolate(v, values)
               for k, v in native.compose_environment("airflow-worker").items()}
    changed = {k for k in compose if harness.get(k) != compose[k]}
    assert changed == set(native.NATIVE) - {"JINSHU_HOME"}  # JINSHU_HOME: set per process
    assert set(harness) - set(compose) == set(native.TIMINGS)
    assert harness["AIRFLOW__CELERY__BROKER_URL"].endswith(
        example["AIRFLOW__CELERY__BROKER_URL"].rsplit("/", 1)[1])  # the same Redis DB number
    for name in example:  # every setting the worker reads reaches it, secrets generated
        if name in compose and name not in native.NATIVE:
            assert harness[name] == (example[name] or values[name]) != ""


def test_every_bucket_a_setting_names_is_created_by_compose(compose_text, example):
    [created] = re.findall(r"mc mb --ignore-existing ([^\n]+)", compose_text)
    assert sorted(native.bucket_names(example)) == sorted(b.split("/", 1)[1] for b in created.split())


def test_env_file_gets_fresh_secrets_of_the_right_shape(tmp_path, example):
    import base64
    import json
    import stat

    target = envfile.write_env(tmp_path / ".env")
    written = envfile.parse(target.read_text())
    assert set(written) == set(example) and stat.S_IMODE(target.stat().st_mode) == 0o600
    secrets = envfile.secret_names(example)
    assert secrets and all(written[name] for name in secrets)
    assert len(base64.urlsafe_b64decode(written["FERNET_KEY"])) == 32
    assert len(bytes.fromhex(json.loads(written["JINSHU_DATA_KEYS"])["keys"]["k1"])) == 32
    assert len(bytes.fromhex(written["JINSHU_PSEUDONYM_KEY"])) == 32
    with pytest.raises(FileExistsError):
        envfile.write_env(target)


def test_a_malformed_env_line_names_its_line():
    with pytest.raises(ValueError, match="line 2: not a plain KEY=value line"):
        envfile.parse("A=1\nB = 2\n")
