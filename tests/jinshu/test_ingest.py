"""One file through every ingest stage into a real store (SQLite and PostgreSQL).

Each bad input must end with a reason naming file, row and column, and no
row may be lost: rows in = stored + duplicates + quarantined.
"""

from __future__ import annotations

import shutil
import stat

import pytest
import sqlalchemy as sa

from jinshu.dev.generate import UNDECLARED_MARKER, generate_extract, generate_frame, render_extract
from jinshu.ingest import stages
from jinshu.protect import keys, leakguard
from jinshu.store.engine import engine_for
from jinshu.store.objects import LocalStore, open_store
from jinshu.store.tables import duplicates, scope_violations
from tests.helpers import (
    STAGES,
    archive_of,
    drop,
    ingest_file,
    make_settings,
    original_of,
    outcome_of,
    run_stages,
    stored_records,
    table_rows,
)

HEADER = "公民身份号码,姓名,性别,出生日期,民族,户籍地行政区划代码,住址,登记日期\n"
GOOD = [
    "140105199803071232,张伟,1,1998-03-07,汉族,140105,山西省太原市小店区坞城路1号,2020-01-02",
    "14010520010815068X,李娜,2,2001-08-15,汉族,140105,山西省太原市小店区长风街2号,2021-05-06",
    "11010519491231002X,王芳,2,1949-12-31,汉族,140105,,",
]


def csv(*rows: str, header: str = HEADER) -> bytes:
    return (header + "".join(r + "\n" for r in rows)).encode("utf-8")


@pytest.fixture
def household(contracts):
    return contracts["household_registration"]


def assert_adds_up(batch) -> None:
    assert batch.rows_in == batch.stored + batch.duplicates + batch.quarantined


def test_clean_file_is_stored_with_lineage(settings, contracts, household):
    result = ingest_file(settings, contracts, household, "clean.csv", csv(*GOOD))
    assert (result.batch.status, result.batch.rows_in, result.batch.stored) == ("loaded", 3, 3)
    stored = {r.id_number: r for r in stored_records(settings, household)}
    assert set(stored) == {"140105199803071232", "14010520010815068X", "11010519491231002X"}
    row = stored["140105199803071232"]
    assert (row.sex, str(row.birth_date), row._batch_id, row._source_row) == (
        "1", "1998-03-07", result.batch.batch_id, 2)
    assert len(row._subject_key) == 64 and "140105199803071232" not in row._subject_key


@pytest.mark.parametrize(("name", "data", "rule", "words"), [
    ("empty.csv", b"", "empty", "the file is empty"),
    ("blank.csv", b"  \n\n", "empty", "the file is empty"),
    ("binary.csv", HEADER.encode() + b"\xff\xfe\xfa,1\n", "encoding", "offset"),
    ("missing.csv", csv("张伟,1", header="姓名,性别\n"), "MissingColumns", "id_number"),
    ("report.pdf", b"%PDF-1.4", "file_type", "'.pdf' files are not accepted"),
], ids=["empty", "whitespace", "undecodable", "missing-required-column", "unsupported-type"])
def test_unusable_file_is_quarantined_whole_and_kept(settings, contracts, household, name, data,
                                                     rule, words):
    result = ingest_file(settings, contracts, household, name, data)
    assert result.batch.status == "quarantined"
    records_read = 1 if rule == "MissingColumns" else 0  # the records it held are counted
    assert (result.batch.rows_in, result.batch.quarantined, result.batch.stored) == (
        records_read, records_read, 0)
    [reason] = result.quarantine
    assert reason.rule == rule
    assert words in reason.message and f"file {household.landing_prefix}{name}" in reason.message
    assert "Fix:" in reason.message
    sealed = open_store(settings.landing_url).read(reason.original)
    assert archive_of(settings, result) == data  # the original bytes are kept aside, sealed
    assert sealed != data and (not data.strip() or data.strip() not in sealed)
    assert stored_records(settings, household) == []


def test_header_only_file_is_quarantined_as_having_no_rows(settings, contracts, household):
    result = ingest_file(settings, contracts, household, "header.csv", csv())
    assert (result.batch.status, result.batch.rows_in) == ("quarantined", 0)
    assert result.batch.reason == "no data rows in the file"


def test_ragged_rows_are_quarantined_with_raw_text_and_the_rest_stored(settings, contracts,
                                                                       household):
    data = csv(GOOD[0], "140105199803071232,张伟", GOOD[1] + ",extra", GOOD[2])
    result = ingest_file(settings, contracts, household, "ragged.csv", data)
    assert_adds_up(result.batch)
    assert (result.batch.stored, result.batch.quarantined) == (2, 2)
    assert [(q.source_row, q.rule) for q in result.quarantine] == [(3, "ragged_row"),
                                                                   (4, "ragged_row")]
    assert "row 3" in result.quarantine[0].message
    assert "140105199803071232" not in result.quarantine[0].original  # sealed at rest
    assert '"raw": "140105199803071232,张伟"' in original_of(settings, household,
                                                             result.quarantine[0])


def test_bad_checksum_names_file_row_column_and_fix(settings, contracts, household):
    bad = GOOD[0].replace("071232", "071233")
    result = ingest_file(settings, contracts, household, "bad.csv", csv(GOOD[1], bad))
    assert_adds_up(result.batch)
    [reason] = result.quarantine
    assert (reason.source_row, reason.column_name, reason.rule) == (3, "id_number", "cn_ric")
    assert "file sx_gongan/household_registration/bad.csv, row 3, column id_number" in reason.message
    assert "resident ID number: check character does not match the first 17 digits" in reason.message
    assert "Fix: send the 18-character number" in reason.message and "071233" not in reason.message
    assert '"公民身份号码": "140105199803071233"' in original_of(settings, household, reason)  # as received


def test_record_contradicting_its_own_id_number_is_quarantined_not_stored(settings, contracts,
                                                                          household):
    man_as_woman = GOOD[0].replace(",1,1998-03-07,", ",2,1998-03-07,")
    wrong_birthday = GOOD[1].replace("2001-08-15", "2001-08-16")
    result = ingest_file(settings, contracts, household, "contradictions.csv",
                         csv(man_as_woman, wrong_birthday, GOOD[2]))
    assert_adds_up(result.batch)
    assert [(q.source_row, q.column_name, q.rule) for q in result.quarantine] == [
        (2, "id_number,sex", "id_matches"), (3, "id_number,birth_date", "id_matches")]
    sex, birth = (q.message for q in result.quarantine)
    assert "row 2, column id_number,sex: sex (性别) contradicts the sex that id_number" in sex
    assert "17th digit" in sex and "Fix: correct whichever of 性别 and 公民身份号码" in sex
    assert "digits 7-14" in birth and "出生日期" in birth
    for value in ("140105199803071232", "14010520010815068X", "1998", "2001", "张伟", "李娜"):
        assert value not in sex + birth
    assert [r.id_number for r in stored_records(settings, household)] == ["11010519491231002X"]


def test_full_width_digits_and_lower_case_x_are_normalized_and_accepted(settings, contracts,
                                                                       household):
    wide = "１４０１０５２００１０８１５０６８ｘ,　李娜　,女,2001年8月15日,汉族,１４０１０５,,"
    result = ingest_file(settings, contracts, household, "wide.csv", csv(wide))
    assert (result.batch.stored, result.batch.quarantined) == (1, 0)
    [row] = stored_records(settings, household)
    assert (row.id_number, row.name, row.sex, str(row.birth_date), row.county_code) == (
        "14010520010815068X", "李娜", "2", "2001-08-15", "140105")


def test_quoted_newlines_stay_inside_the_value(settings, contracts, household):
    multi = GOOD[0].rsplit(",", 2)[0] + ',"山西省太原市小店区坞城路1号\n3单元",2020-01-02'
    result = ingest_file(settings, contracts, household, "quoted.csv", csv(multi, GOOD[1]))
    assert (result.batch.rows_in, result.batch.stored) == (2, 2)
    stored = {r.id_number: r for r in stored_records(settings, household)}
    assert stored["140105199803071232"].address == "山西省太原市小店区坞城路1号\n3单元"
    assert stored["14010520010815068X"]._source_row == 3


def test_undeclared_column_is_counted_and_never_stored(settings, contracts, household):
    name, data = generate_extract(household, 40, seed=3, faults=frozenset({"undeclared_column"}))
    result = ingest_file(settings, contracts, household, name, data)
    assert (result.batch.stored, result.batch.quarantined) == (40, 0)
    with engine_for(settings.store_url).connect() as conn:
        [violation] = conn.execute(sa.select(scope_violations)).all()
        tables = sa.inspect(conn).get_table_names()
        for table in tables:  # the marker value appears in no table at all
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                assert UNDECLARED_MARKER not in repr(tuple(row)), table
    assert violation.column_header == "备注"
    assert violation.non_empty_values == data.decode().count(UNDECLARED_MARKER)


def every_stored_text(settings) -> str:
    """Every row of every table in the central store, as one text."""
    with engine_for(settings.store_url).connect() as conn:
        return "\n".join(repr(tuple(row)) for table in sa.inspect(conn).get_table_names()
                         for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')))


def test_file_without_its_header_row_stores_no_value_of_its_first_record(settings, contracts,
                                                                          household):
    data = csv(*GOOD[1:], header=GOOD[0] + "\n")
    result = ingest_file(settings, contracts, household, "headless.csv", data)
    assert (result.batch.status, result.batch.stored) == ("quarantined", 0)
    [reason] = result.quarantine
    assert "the first row looks like data, not a header: add the header row" in reason.message
    assert "id_number (公民身份号码)" in reason.message and reason.message == result.batch.reason
    stored = every_stored_text(settings)
    for value in [*GOOD[0].split(",")[:2], "山西省太原市小店区坞城路1号", "1998-03-07"]:
        assert value not in stored
    assert archive_of(settings, result) == data  # the file is kept aside, sealed


def test_undeclared_header_is_stored_masked_and_cut(settings, contracts, household):
    long_header = "说明" * 40_000
    data = csv(*(row + ",x,y" for row in GOOD),
               header=HEADER.rstrip("\n") + ",联系人13812345678," + long_header + "\n")
    result = ingest_file(settings, contracts, household, "extra.csv", data)
    assert result.batch.stored == 3
    with engine_for(settings.store_url).connect() as conn:
        headers = sorted(r.column_header for r in conn.execute(sa.select(scope_violations)))
    assert headers[0] == "联系人138****5678"
    assert len(headers[1]) <= 64 and headers[1].startswith("说明说明")
    assert "13812345678" not in every_stored_text(settings)


PERSONAL_NAME = "张三_140105199803071232_手机13812345678.csv"
FORGED_NAME = "ok.csv\n[2026-11-30 02:00:00] INFO - \x1b[32mall batches loaded\x1b[0m.csv"


@pytest.mark.parametrize("name", [PERSONAL_NAME, FORGED_NAME], ids=["personal-data", "forged-log-line"])
def test_a_file_name_is_stored_and_shown_only_masked_and_escaped(settings, contracts, household,
                                                                 name):
    from jinshu.govern.report import batch_table
    from jinshu.repeat import ledger

    drop(settings, household, name, csv(*GOOD))
    run_stages(settings, contracts, household)
    result = outcome_of(settings, household.landing_prefix + leakguard.shown(name, 160))
    assert (result.batch.status, result.batch.stored) == ("loaded", 3)  # read by its real key
    stored = every_stored_text(settings)
    for secret in ("140105199803071232", "13812345678", "\n[2026", "\x1b"):
        assert secret not in stored
    assert run_stages(settings, contracts, household) == []  # the same drop is known again
    with engine_for(settings.store_url).connect() as conn:
        log_table = batch_table(ledger.summary(conn, household.id))
        terminal = batch_table(ledger.summary(conn, household.id), files=True)
    assert result.batch.batch_id in log_table and "张三" not in log_table and ".csv" not in log_table
    assert len(terminal.splitlines()) == 3 and "\x1b" not in terminal
    assert "140105199803071232" not in terminal and "13812345678" not in terminal


def test_a_quarantined_file_with_a_personal_name_is_kept_under_a_masked_name(settings, contracts,
                                                                             household):
    data = csv(*GOOD[1:], header=GOOD[0] + "\n")
    drop(settings, household, PERSONAL_NAME, data)
    run_stages(settings, contracts, household)
    result = outcome_of(settings, household.landing_prefix + leakguard.shown(PERSONAL_NAME, 160))
    [reason] = result.quarantine
    assert reason.original.endswith("张三_1****************2_手机138****5678.csv.sealed")
    assert archive_of(settings, result) == data
    assert "140105199803071232" not in every_stored_text(settings)


def test_the_same_file_twice_is_a_repeat_drop_that_changes_nothing(settings, contracts,
                                                                   household):
    first = ingest_file(settings, contracts, household, "a.csv", csv(*GOOD))
    before = stored_records(settings, household)
    again = ingest_file(settings, contracts, household, "a-again.csv", csv(*GOOD))
    assert again.batch.status == "repeat_drop"
    assert again.batch.repeat_of == first.batch.batch_id
    assert (again.batch.rows_in, again.batch.stored) == (0, 0)
    assert stored_records(settings, household) == before


def test_records_seen_before_are_duplicates_pointing_at_their_twin(settings, contracts,
                                                                   household):
    ingest_file(settings, contracts, household, "a.csv", csv(*GOOD))
    changed = GOOD[2].replace("王芳", "王芳芳")
    result = ingest_file(settings, contracts, household, "b.csv", csv(GOOD[0], GOOD[0], changed))
    assert_adds_up(result.batch)
    assert (result.batch.stored, result.batch.duplicates) == (1, 2)
    stored = {r.id_number: r for r in stored_records(settings, household)}
    assert stored["11010519491231002X"].name == "王芳芳"  # the current version
    with engine_for(settings.store_url).connect() as conn:
        twins = conn.execute(sa.select(duplicates.c.record_hash)
                             .where(duplicates.c.batch_id == result.batch.batch_id)).scalars()
        assert set(twins) == {stored["140105199803071232"]._record_hash}


def test_retried_stages_and_reruns_change_nothing(settings, contracts, household, monkeypatch):
    key = drop(settings, household, "a.csv", csv(*GOOD, GOOD[0]))
    [batch_id] = run_stages(settings, contracts, household)
    first = outcome_of(settings, key).batch
    ledger_before = table_rows(settings, "batches")
    data_before = stored_records(settings, household)
    assert stages.load(settings, household, batch_id).stored == first.stored
    reads = []
    monkeypatch.setattr(LocalStore, "read", lambda self, key: reads.append(key) or b"")
    assert run_stages(settings, contracts, household) == []  # nothing new to discover
    assert reads == []  # and a known drop is not even read again
    monkeypatch.undo()
    with pytest.raises(stages.BatchClosed):
        STAGES[0](settings, household, batch_id)
    assert table_rows(settings, "batches") == ledger_before
    assert stored_records(settings, household) == data_before
    twin = next(r for r in data_before if r.id_number == "140105199803071232")
    assert [tuple(r) for r in table_rows(settings, "duplicates")] == [
        (batch_id, 5, twin._record_hash)]


def test_every_generated_fault_is_accounted_for(settings, contracts):
    for contract in contracts.values():
        faults = {"duplicate_rows", "ragged_rows"}
        if contract.id != "vaccination_sites":
            faults.add("bad_checksum")
        name, data = generate_extract(contract, 120, seed=11, faults=frozenset(faults))
        result = ingest_file(settings, contracts, contract, name, data)
        assert_adds_up(result.batch)
        assert result.batch.duplicates >= 1 and result.batch.quarantined >= 1, contract.id
        assert len(table_rows(settings, contract.table)) == result.batch.stored


def test_failed_critical_expectation_quarantines_the_whole_batch(settings, contracts):
    enterprises = contracts["enterprise_registration"]
    frame = generate_frame(enterprises, 30, seed=4)
    frame.loc[[3, 7], "established_on"] = "2030-01-01"  # a valid date, but in the future
    name, data = render_extract(enterprises, frame, seed=4)
    key = drop(settings, enterprises, name, data)
    [batch_id] = stages.discover(settings, enterprises, contracts)
    for stage in STAGES[:STAGES.index(stages.quality_stage)]:
        stage(settings, enterprises, batch_id)
    with pytest.raises(stages.QualityFailed, match=r"established_on\.plausible"):
        stages.quality_stage(settings, enterprises, batch_id)
    with pytest.raises(stages.BatchClosed):  # protect, beside quality, finds the batch closed
        stages.protect_stage(settings, enterprises, batch_id)
    batch = outcome_of(settings, key).batch
    assert (batch.status, batch.rows_in, batch.quarantined, batch.stored) == ("quarantined", 30, 30, 0)
    assert "critical expectations failed: established_on.plausible" in batch.reason
    assert stages.load(settings, enterprises, batch_id).stored == 0  # a retried load loads nothing
    assert table_rows(settings, enterprises.table) == []
    failed = [r for r in table_rows(settings, "quality_results") if not r.success]
    assert [(r.expectation, r.severity, r.unexpected_count) for r in failed] == [
        ("established_on.plausible", "critical", 2)]
    kept = outcome_of(settings, key)
    assert archive_of(settings, kept) == data
    assert "统一社会信用代码".encode() not in open_store(settings.landing_url).read(
        kept.quarantine[0].original)  # sealed: not even the header is readable
    assert not (settings.work_dir / batch_id).exists()  # no stage files with clear values left


def test_protect_gives_way_when_quality_quarantines_the_batch_while_it_runs(
        settings, contracts, monkeypatch):
    enterprises = contracts["enterprise_registration"]
    frame = generate_frame(enterprises, 30, seed=4)
    frame.loc[[3], "established_on"] = "2030-01-01"
    key = drop(settings, enterprises, *render_extract(enterprises, frame, seed=4))
    [batch_id] = stages.discover(settings, enterprises, contracts)
    for stage in STAGES[:STAGES.index(stages.quality_stage)]:
        stage(settings, enterprises, batch_id)
    real_protector = keys.protector

    def quality_fails_meanwhile(s):  # the two tasks run side by side in the DAG
        with pytest.raises(stages.QualityFailed):
            stages.quality_stage(settings, enterprises, batch_id)
        return real_protector(s)

    monkeypatch.setattr(stages, "protector", quality_fails_meanwhile)
    with pytest.raises(stages.BatchClosed, match="quarantined"):
        stages.protect_stage(settings, enterprises, batch_id)
    assert outcome_of(settings, key).batch.status == "quarantined"
    assert not (settings.work_dir / batch_id).exists()


def test_a_file_marked_state_secret_is_refused_whole_and_not_copied(settings, contracts,
                                                                    household):
    data = csv(*(f"{row},涉密内容{i}" for i, row in enumerate(GOOD)),
               header=HEADER.rstrip("\n") + ",备注（机密★10年）\n")
    result = ingest_file(settings, contracts, household, "marked.csv", data)
    assert result.batch.status == "quarantined"
    assert (result.batch.rows_in, result.batch.quarantined, result.batch.stored) == (3, 3, 0)
    [reason] = result.quarantine
    assert reason.rule == "state_secret"
    assert "备注（机密★10年）" in reason.message and "Fix:" in reason.message
    assert stored_records(settings, household) == []
    landing = open_store(settings.landing_url)
    kept = [o.key for o in landing.list("") if o.key.startswith("_quarantine/")]
    assert kept == []  # no copy of a classified file is made
    with engine_for(settings.store_url).connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                assert "涉密内容" not in repr(tuple(row)), table


def test_stage_files_are_private_and_gone_after_the_load(settings, contracts, household):
    drop(settings, household, "private.csv", csv(*GOOD))
    settings.work_dir.mkdir(parents=True, mode=0o755)  # made earlier by someone else
    [batch_id] = stages.discover(settings, household, contracts)
    stages.read(settings, household, batch_id)
    work = settings.work_dir / batch_id
    assert stat.S_IMODE(settings.work_dir.stat().st_mode) == 0o700
    assert stat.S_IMODE(work.stat().st_mode) == 0o700
    for stage in STAGES[1:]:
        stage(settings, household, batch_id)
    stages.load(settings, household, batch_id)
    assert not work.exists()


def test_stages_on_two_hosts_sharing_no_folder_meet_in_the_stage_bucket(
        tmp_path, pg_url, contracts, household, s3_buckets, s3_endpoint):
    """Workers on two hosts: each stage may run on either, with its own JINSHU_HOME."""
    hosts = [make_settings(tmp_path / name, pg_url, s3_buckets["landing"], s3_buckets["open-data"],
                           s3_endpoint, stage_url=s3_buckets["stage"]) for name in ("a", "b")]
    shutil.rmtree(hosts[1].keys_dir)
    shutil.copytree(hosts[0].keys_dir, hosts[1].keys_dir)  # one provisioned keyring for all
    key = drop(hosts[0], household, "two-hosts.csv", csv(*GOOD))
    [batch_id] = stages.discover(hosts[0], household, contracts)
    for i, stage in enumerate(STAGES):
        stage(hosts[i % 2], household, batch_id)
    stage_files = open_store(s3_buckets["stage"], s3_endpoint)
    assert {o.key.split("/")[0] for o in stage_files.list("")} == {batch_id}
    stages.load(hosts[1], household, batch_id)
    outcome = outcome_of(hosts[0], key)
    assert (outcome.batch.status, outcome.batch.stored) == ("loaded", len(GOOD))
    assert stage_files.list("") == []  # the clear stage files are gone with the load
    assert not any(h.work_dir.exists() for h in hosts)  # nothing was staged on a host's disk
