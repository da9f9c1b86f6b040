"""The command line a department and a platform engineer use."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from pathlib import Path

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


def test_check_masks_an_identifier_in_the_file_name(home, contracts, tmp_path):
    _, data = generate_extract(contracts["vaccination_sites"], 5, seed=3)
    path = tmp_path / "张三_140405195610068086.csv"
    path.write_bytes(data)
    for args in ([], ["--json"]):
        result = runner.invoke(app, ["check", "vaccination_sites", str(path), *args])
        assert result.exit_code == 0, result.output
        assert "140405195610068086" not in result.output and "张三_1" in result.output


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


def test_check_on_a_damaged_workbook_is_one_line_with_the_fix(home, contracts, tmp_path):
    name, data = generate_extract(contracts["enterprise_registration"], 10, seed=1,
                                  faults=frozenset({"xlsx"}), header="name")
    path = tmp_path / name
    path.write_bytes(data[: len(data) // 2])  # cut short in transfer
    result = runner.invoke(app, ["check", "enterprise_registration", str(path)])
    assert (result.exit_code, type(result.exception)) == (1, SystemExit)  # no traceback
    [line] = result.output.strip().splitlines()
    assert line.startswith(f"{path}: rejected: the file is not a readable Excel workbook")
    assert "Fix: open it in Excel or WPS and save it again as .xlsx" in line


def test_check_json_tells_a_machine_why_a_file_is_rejected(home, contracts, tmp_path):
    name, data = generate_extract(contracts["enterprise_registration"], 10, seed=1,
                                  faults=frozenset({"xlsx"}), header="name")
    path = tmp_path / name
    path.write_bytes(data[: len(data) // 2])
    result = runner.invoke(app, ["check", "enterprise_registration", str(path), "--json"])
    assert result.exit_code == 1
    verdict = json.loads(result.stdout)
    assert verdict["rule"] == "xlsx" and verdict["rejected"] and verdict["fix"].startswith("open it")


def test_an_unknown_fault_is_a_usage_error_naming_the_choices(home):
    result = runner.invoke(app, ["generate", "household_registration", "--fault", "nope"])
    assert (result.exit_code, type(result.exception)) == (2, SystemExit)
    [line] = result.output.strip().splitlines()
    assert line.startswith("--fault nope: no such fault. Fix: use one of bad_checksum, ")


def test_every_problem_check_prints_has_a_fix_and_never_a_missing_column(home, contracts,
                                                                         tmp_path):
    for contract in contracts.values():
        faults = {"duplicate_rows", "ragged_rows"} | (
            {"bad_checksum"} if contract.id != "vaccination_sites" else set())
        name, data = generate_extract(contract, 40, seed=5, faults=frozenset(faults))
        path = tmp_path / name
        path.write_bytes(data)
        report = json.loads(runner.invoke(app, ["check", contract.id, str(path), "--json"]).output)
        kinds = {p["rule"] for p in report["problems"]}
        assert {"ragged_row", "duplicate_record"} <= kinds, contract.id
        assert all(p["fix"].strip() for p in report["problems"]), contract.id
        text = runner.invoke(app, ["check", contract.id, str(path)]).output
        assert "column None" not in text and "Fix: \n" not in text and not text.endswith("Fix: ")


def test_problems_come_in_row_order_and_beyond_fifty_point_to_json(home, contracts, tmp_path):
    household = contracts["household_registration"]
    header, *rows = generate_extract(household, 60, seed=2)[1].decode().splitlines()
    ragged = [r if i % 2 else r.rsplit(",", 1)[0] for i, r in enumerate(rows)]  # 30 ragged
    broken = [r.replace(r[:18], r[:17] + ("0" if r[17] != "0" else "1"), 1) if i % 2 else r
              for i, r in enumerate(ragged)]  # and 30 bad checksums, interleaved
    path = tmp_path / "many.csv"
    path.write_text("\n".join([header, *broken]) + "\n", encoding="utf-8")
    result = runner.invoke(app, ["check", "household_registration", str(path)])
    shown = [line for line in result.output.splitlines() if line.startswith("  row ")]
    numbers = [int(line.split()[1].rstrip(":,")) for line in shown]
    assert numbers == sorted(numbers) and len(shown) == 50
    assert result.output.rstrip().endswith("and 10 more (use --json for all)")
    everything = json.loads(runner.invoke(app, ["check", "household_registration", str(path),
                                                "--json"]).output)
    assert len(everything["problems"]) == 60


@pytest.mark.parametrize(("separator", "name"), [(";", "semicolons"), ("\t", "tabs")])
def test_a_file_with_another_delimiter_gets_a_hint(home, contracts, tmp_path, separator, name):
    text = generate_extract(contracts["household_registration"], 5, seed=1)[1].decode()
    path = tmp_path / "extract.csv"
    path.write_text(text.replace(",", separator), encoding="utf-8")
    result = runner.invoke(app, ["check", "household_registration", str(path)])
    assert result.exit_code == 1
    assert f"separated by {name}, so the file is {name}-separated" in result.output
    assert "Fix: save the file again as CSV with commas between the fields" in result.output


def run_jinshu(args: list[str], home, on_terminal: bool) -> tuple[int, str]:
    """The installed ``jinshu`` in a child process, its output on a pseudo-terminal or a pipe."""
    env = {**os.environ, "JINSHU_HOME": str(home), "TERM": "xterm", "COLUMNS": "100"}
    command = [str(Path(sys.executable).with_name("jinshu")), *args]
    if not on_terminal:
        done = subprocess.run(command, env=env, capture_output=True, timeout=120)
        return done.returncode, done.stdout.decode()
    leader, follower = pty.openpty()
    child = subprocess.Popen(command, env=env, stdout=follower, stderr=follower)
    os.close(follower)
    out = b""
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(leader)
    return child.wait(timeout=120), out.decode(errors="replace")


def test_check_shows_progress_on_a_terminal_and_not_when_piped_or_json(home, contracts, tmp_path):
    name, data = generate_extract(contracts["vaccination_sites"], 2000, seed=3)
    path = tmp_path / name
    path.write_bytes(data)
    args = ["check", "vaccination_sites", str(path)]
    code, shown = run_jinshu(args, home, on_terminal=True)
    assert code == 0 and f"checking {name}" in shown and "/4" in shown  # stage n of 4
    assert "2000 of 2000 rows pass" in shown
    code, piped = run_jinshu(args, home, on_terminal=False)
    assert code == 0 and piped == f"{path}: 2000 of 2000 rows pass\n"
    code, as_json = run_jinshu([*args, "--json"], home, on_terminal=True)
    assert code == 0 and "checking" not in as_json
    assert json.loads(as_json)["accepted"] == 2000


def test_quarantine_shows_each_reason_of_a_batch_without_its_values(home, contracts):
    from jinshu.settings import Settings
    from tests.helpers import ingest_file

    household = contracts["household_registration"]
    name, data = generate_extract(household, 40, seed=5, faults=frozenset({"bad_checksum"}))
    outcome = ingest_file(Settings.from_env(), contracts, household, name, data)
    assert outcome.quarantine, "the planted fault quarantines a row"
    result = runner.invoke(app, ["quarantine", outcome.batch.batch_id])
    assert result.exit_code == 0
    for row in outcome.quarantine:
        assert row.message in result.output and row.rule in result.output
        assert row.original not in result.output  # the sealed original is never shown
    as_json = json.loads(runner.invoke(app, ["quarantine", outcome.batch.batch_id, "--json"]).stdout)
    assert [r["source_row"] for r in as_json["quarantined"]] == [r.source_row for r in outcome.quarantine]
