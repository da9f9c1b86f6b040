"""The command line a department and a platform engineer use."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from jinshu.cli import app
from jinshu.dev.generate import generate_extract

runner = CliRunner()


@pytest.fixture
def home(tmp_path, monkeypatch):
    monkeypatch.setenv("JINSHU_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("JINSHU_STORE_URL", raising=False)
    monkeypatch.delenv("JINSHU_LANDING_URL", raising=False)
    return tmp_path / "home"


def test_check_accepts_a_clean_extract_and_stores_nothing(home, contracts, tmp_path):
    name, data = generate_extract(contracts["vaccination_sites"], 25, seed=3)
    path = tmp_path / name
    path.write_bytes(data)
    result = runner.invoke(app, ["check", "vaccination_sites", str(path)])
    assert result.exit_code == 0, result.output
    assert "25 of 25 rows pass" in result.output
    assert not home.exists()


def test_check_names_row_column_and_fix_for_each_problem(home, contracts, tmp_path):
    name, data = generate_extract(contracts["household_registration"], 30, seed=3,
                                  faults=frozenset({"bad_checksum", "undeclared_column"}))
    path = tmp_path / name
    path.write_bytes(data)
    result = runner.invoke(app, ["check", "household_registration", str(path), "--json"])
    assert result.exit_code == 1
    report = json.loads(result.output)
    assert report["rows"] == 30 and report["undeclared_columns"] == ["备注"]
    [problem] = report["problems"]
    assert (problem["column"], problem["rule"]) == ("id_number", "cn_ric")
    assert problem["row"] >= 2 and problem["fix"].startswith("send the 18-character number")
    assert report["accepted"] == 29


def test_check_rejects_an_unreadable_file(home, tmp_path):
    path = tmp_path / "x.csv"
    path.write_bytes(b"\xff\xfe\xfa")
    result = runner.invoke(app, ["check", "household_registration", str(path)])
    assert result.exit_code == 1 and "neither UTF-8 nor GB18030" in result.output


def test_generate_writes_into_the_landing_area_deterministically(home):
    args = ["generate", "enterprise_registration", "--rows", "12", "--seed", "4", "--fault",
            "duplicate_rows"]
    first = runner.invoke(app, args)
    assert first.exit_code == 0, first.output
    [path] = (home / "landing" / "sx_scjg" / "enterprise_registration").iterdir()
    data = path.read_bytes()
    assert runner.invoke(app, args).exit_code == 0
    assert path.read_bytes() == data
    assert data.decode().count("\n") == 1 + 12 + 1  # header, rows, one planted duplicate


def test_unknown_dataset_is_a_clear_error(home):
    result = runner.invoke(app, ["generate", "no_such_dataset"])
    assert result.exit_code == 2
    assert "unknown dataset 'no_such_dataset'; use one of: " in result.output
    assert "household_registration" in result.output
