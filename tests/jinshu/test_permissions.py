"""What the platform writes locally with personal data in it is private, whatever the umask:
files 0600, folders 0700. What it publishes (open data) stays readable by all (0644)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from jinshu.ingest import stages
from jinshu.ingest.quarantine import ARCHIVE_PREFIX
from jinshu.store.engine import engine_for
from jinshu.store.objects import open_store
from tests.helpers import STAGES, drop, ingest_file, make_settings

CLEAN = ("公民身份号码,姓名,性别,出生日期,民族,户籍地行政区划代码,住址,登记日期\n"
         "140105199803071232,张伟,1,1998-03-07,汉族,140105,,2020-01-02\n").encode()


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def loose_umask() -> Iterator[None]:
    """The usual umask, under which files come out 0644 and folders 0755."""
    before = os.umask(0o022)
    yield
    os.umask(before)


@pytest.fixture
def household(contracts):
    return contracts["household_registration"]


def test_the_central_store_file_and_its_wal_files_are_private(tmp_path, contracts, household):
    settings = make_settings(tmp_path / "home")
    ingest_file(settings, contracts, household, "a.csv", CLEAN)
    database = settings.home / "central.db"
    files = [database, *(database.with_name(f"central.db-{s}") for s in ("wal", "shm"))]
    assert all(f.exists() for f in files)  # the engine still holds its connections
    assert [mode(f) for f in files] == [0o600] * 3


def test_a_central_store_file_made_earlier_readable_by_all_is_made_private(tmp_path):
    database = tmp_path / "old" / "central.db"
    database.parent.mkdir()
    database.touch(mode=0o644)
    with engine_for(f"sqlite:///{database}").connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (x)")
    assert mode(database) == 0o600


def test_stage_files_are_private(tmp_path, contracts, household):
    settings = make_settings(tmp_path / "home")
    drop(settings, household, "a.csv", CLEAN)
    [batch_id] = stages.discover(settings, household, contracts)
    for stage in STAGES:
        stage(settings, household, batch_id)
    made = list((settings.work_dir / batch_id).rglob("*"))  # the batch's and its chunks' stages
    files, folders = [p for p in made if p.is_file()], [p for p in made if p.is_dir()]
    assert {f.suffix for f in files} == {".arrow", ".json"}
    assert {str(f): mode(f) for f in files} == {str(f): 0o600 for f in files}
    assert {str(d): mode(d) for d in folders} == {str(d): 0o700 for d in folders}


def test_the_copy_of_a_quarantined_file_is_private(tmp_path, contracts, household):
    settings = make_settings(tmp_path / "home")
    key = drop(settings, household, "empty.csv", b"")
    ingest_file(settings, contracts, household, "empty.csv", b"")
    landing = Path(settings.landing_url)
    [archive] = [p for p in (landing / ARCHIVE_PREFIX).rglob("*") if p.is_file()]
    assert mode(archive) == 0o600
    assert mode(archive.parent) == mode(landing / ARCHIVE_PREFIX) == 0o700
    assert mode(landing / key) == 0o644  # the department's own drop is as it sent it


def test_open_data_written_locally_stays_readable_by_all(tmp_path):
    store = open_store(str(tmp_path / "open-data"))
    store.write("vaccination_sites/data.csv", b"a,b\n")
    assert mode(tmp_path / "open-data" / "vaccination_sites" / "data.csv") == 0o644
