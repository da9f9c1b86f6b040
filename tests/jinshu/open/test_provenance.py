"""``jinshu provenance verify``: accepts a genuine product, rejects an edited row and a forged
date, saying exactly what does not match; a saved exchange page against its checksum."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from jinshu.cli import app
from jinshu.open import site
from jinshu.share import stamp as exchange_stamp
from tests.jinshu.open.conftest import CATALOG

ALLOWANCE = "minimum_living_allowance"


@pytest.fixture
def cli(published, monkeypatch):
    settings, _ = published
    monkeypatch.setenv("JINSHU_HOME", str(settings.home))
    monkeypatch.setenv("JINSHU_STORE_URL", settings.store_url)
    runner = CliRunner()
    return lambda *args: runner.invoke(app, ["provenance", "verify", *map(str, args)])


@pytest.fixture
def download(published, tmp_path) -> Path:
    """The current version of the allowance aggregates as a user downloads it: a folder."""
    _, store = published
    latest = site.pointer(store, ALLOWANCE)
    folder = tmp_path / latest["version"]
    shutil.copytree(Path(store.url) / latest["path"], folder)
    return folder


def test_a_genuine_product_is_accepted(cli, download, published):
    for name in (f"{ALLOWANCE}.csv", f"{ALLOWANCE}.json", f"{ALLOWANCE}.parquet", "datapackage.json",
                 "provenance.json"):
        result = cli(download / name)
        assert result.exit_code == 0, result.output
        assert result.output.startswith("genuine:") and "and the catalog" in result.output
    key = f"{site.pointer(published[1], ALLOWANCE)['path']}{ALLOWANCE}.csv"  # a key of the location
    assert cli(key).exit_code == 0


def test_an_edited_row_is_rejected_naming_the_row_and_column(cli, download):
    path = download / f"{ALLOWANCE}.csv"
    lines = path.read_bytes().decode("utf-8-sig").split("\r\n")
    cells = lines[2].split(",")
    cells[4] = str(float(cells[4]) + 1000)  # the second county's allowance sum, raised
    lines[2] = ",".join(cells)
    path.write_bytes(("\ufeff" + "\r\n".join(lines)).encode("utf-8"))
    result = cli(path)
    assert result.exit_code == 1
    assert "sha256 differs from the stamp" in result.output
    assert "row 2 (line 3 of the file) differs from the published version in sum_allowance_yuan" \
        in result.output
    assert cells[4] not in result.output  # says where, never the value


def test_a_forged_acquisition_date_is_rejected(cli, download):
    for name in ("provenance.json", "datapackage.json"):  # forged consistently in both
        document = json.loads((download / name).read_bytes())
        stamp = document if name == "provenance.json" else document["jinshu"]["provenance"]
        stamp["acquired_at"] = "2026-01-01T00:00:00+00:00"
        if name == "datapackage.json":
            document["created"] = stamp["acquired_at"]
        (download / name).write_text(json.dumps(document, ensure_ascii=False), encoding="utf-8")
    result = cli(download / f"{ALLOWANCE}.csv")
    assert result.exit_code == 1
    assert "catalog: acquired_at: the stamp says '2026-01-01T00:00:00+00:00', the catalog says" \
        in result.output
    as_json = json.loads(cli(download / "datapackage.json", "--json").output)
    assert not as_json["genuine"] and as_json["dataset"] == ALLOWANCE


def test_a_forged_date_in_the_rows_is_rejected(cli, download):
    path = download / f"{ALLOWANCE}.json"
    rows = json.loads(path.read_bytes())
    rows[0]["acquired_on"] = "2019-05-01"
    path.write_text(json.dumps(rows, ensure_ascii=False), encoding="utf-8")
    output = cli(path).output
    assert "give an acquisition date outside the stamp's period" in output and "(first: row 1)" in output


def test_a_version_the_catalog_does_not_list_is_rejected(cli, download):
    stamp = json.loads((download / "provenance.json").read_bytes())
    stamp["version"] = "20200101T000000Z"
    (download / "provenance.json").write_text(json.dumps(stamp), encoding="utf-8")
    output = cli(download / "provenance.json").output
    assert "version 20200101T000000Z of minimum_living_allowance is not in the catalog" in output


def test_a_file_without_its_stamp_cannot_be_verified(cli, download, tmp_path):
    lone = tmp_path / "elsewhere" / f"{ALLOWANCE}.csv"
    lone.parent.mkdir()
    shutil.copy(download / f"{ALLOWANCE}.csv", lone)
    result = cli(lone)
    assert result.exit_code == 2 and "no provenance stamp beside it" in result.output


def test_an_exchange_page_the_exchange_never_delivered_is_refused(cli, tmp_path):
    sites = CATALOG["vaccination_sites"]
    rows = [{"site_code": "JZ1", "acquired_on": "2026-11-01", "source_dataset": sites.id,
             "source_department": sites.department.name}]
    at = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    block = exchange_stamp.stamp(sites, rows, version="exchange-v3", acquired_at=at,
                                 published_at=at, delivered_at=at, batches=["b1"])
    page = tmp_path / "page.json"
    page.write_text(json.dumps({"dataset": sites.id, "rows": rows, "provenance": block},
                               ensure_ascii=False))
    result = cli(page)  # consistent with its own stamp, but not in the access log
    assert result.exit_code == 1 and "never delivered" in result.output
    page.write_text(page.read_text().replace("JZ1", "JZ2"))
    result = cli(page)
    assert result.exit_code == 1 and "checksum" in result.output and "JZ" not in result.output
    result = cli(tmp_path / "missing.csv")
    assert result.exit_code == 2 and "no such file" in result.output
