"""Files that would take the worker down or stay stuck (issue 11).

Each ends quarantined with a reason naming the limit and the fix, memory stays
under 1 GB, and the run goes on. Hostile workbooks are written by hand with
zipfile so they stay a few kilobytes; big CSV files are written to disk in
chunks, never held twice.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa

from jinshu import pipeline
from jinshu.catalog import Contract, Limits
from jinshu.collect.guard import first_long_run
from jinshu.collect.read import ROW, UnreadableFile, read_extract
from jinshu.dev.generate import generate_frame
from jinshu.ingest.isolate import read_capped
from jinshu.store.engine import engine_for
from jinshu.store.objects import open_store
from jinshu.store.tables import batches, quarantine
from tests.helpers import drop, make_settings, outcome_of, stored_records

MB = 1 << 20
NS = 'xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"'
REL = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
PARTS = {
    "[Content_Types].xml": '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
    '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
    '<Default Extension="xml" ContentType="application/xml"/>'
    '<Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.'
    'spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType='
    '"application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/>'
    '<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
    'officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
    "_rels/.rels": '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
    f'<Relationship Id="rId1" Type="{REL}/officeDocument" Target="xl/workbook.xml"/></Relationships>',
    "xl/workbook.xml": f'<workbook {NS} xmlns:r="{REL}"><sheets><sheet name="Sheet1" sheetId="1" '
    'r:id="rId1"/></sheets></workbook>',
    "xl/_rels/workbook.xml.rels": '<Relationships xmlns="http://schemas.openxmlformats.org/package/'
    f'2006/relationships"><Relationship Id="rId1" Type="{REL}/worksheet" Target="worksheets/'
    f'sheet1.xml"/><Relationship Id="rId2" Type="{REL}/sharedStrings" Target="sharedStrings.xml"/>'
    "</Relationships>",
}


def xlsx(rows: list[list[str]], *, far_cell: str | None = None, dimension: str | None = None,
         shared_text_mb: int = 0, merged: str | None = None) -> bytes:
    """A workbook written by hand: ``rows`` as inline strings from A1, optionally one cell
    at ``far_cell`` and one shared string of ``shared_text_mb`` megabytes (in cell A2...)."""
    cells = []
    for r, row in enumerate(rows, start=1):
        inline = "".join(f'<c r="{_letters(c)}{r}" t="inlineStr"><is><t>{v}</t></is></c>'
                         for c, v in enumerate(row, start=1) if v != "")
        cells.append(f'<row r="{r}">{inline}</row>')
    if shared_text_mb:
        cells.append(f'<row r="{len(rows) + 1}"><c r="A{len(rows) + 1}" t="s"><v>0</v></c></row>')
    if far_cell:
        cells.append(f'<row r="{far_cell.lstrip("ABCDEFGHIJKLMNOPQRSTUVWXYZ")}"><c r="{far_cell}" '
                     't="inlineStr"><is><t>x</t></is></c></row>')
    sheet = (f'<worksheet {NS}>' + (f'<dimension ref="{dimension}"/>' if dimension else "")
             + f'<sheetData>{"".join(cells)}</sheetData>'
             + (f'<mergeCells count="1"><mergeCell ref="{merged}"/></mergeCells>' if merged else "")
             + "</worksheet>")
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as book:
        for name, text in PARTS.items():
            book.writestr(name, text)
        book.writestr("xl/worksheets/sheet1.xml", sheet)
        with book.open("xl/sharedStrings.xml", "w") as strings:
            strings.write(f"<sst {NS}>".encode() + (b"<si><t>" if shared_text_mb else b""))
            for _ in range(shared_text_mb):
                strings.write(b"A" * MB)  # one megabyte at a time: never held whole
            strings.write((b"</t></si>" if shared_text_mb else b"") + b"</sst>")
    return buffer.getvalue()


def _letters(column: int) -> str:
    out = ""
    while column:
        column, rest = divmod(column - 1, 26)
        out = chr(65 + rest) + out
    return out


HOSTILE_XLSX = {  # name -> (workbook, rule)
    "xfd.xlsx": (lambda: xlsx([["a"]], far_cell="XFD1048576", dimension="A1:XFD1048576"),
                 "too_many_columns"),
    "cv.xlsx": (lambda: xlsx([["a"]], far_cell="CV1000000", dimension="A1:CV1000000"),
                "too_many_cells"),
    "undeclared-far-cell.xlsx": (lambda: xlsx([["a"]], far_cell="CV1000000"), "too_many_cells"),
    "shared-300mb.xlsx": (lambda: xlsx([["a"]], shared_text_mb=300), "xlsx_inflation"),
}


@pytest.fixture
def household(contracts: dict[str, Contract]) -> Contract:
    return contracts["household_registration"]


def with_limits(contract: Contract, **caps: int) -> Contract:
    return contract.model_copy(update={"limits": Limits(**caps)})


def titles(contract: Contract) -> list[str]:
    return [f.title for f in contract.fields]


def valid_rows(contract: Contract, rows: int, seed: int = 1) -> list[list[str]]:
    return generate_frame(contract, rows, seed).astype(object).values.tolist()


def csv_bytes(header: list[str], rows: list[list[str]], above: str = "") -> bytes:
    return (above + "\n".join(",".join(r) for r in [header, *rows]) + "\n").encode()


# --- the hostile files against the real default caps, memory measured ---------------------------

READ_UNDER_1GB = """
import json, resource, sys
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))
from jinshu.catalog import load_catalog
from jinshu.ingest import stages
from jinshu.settings import get_settings
settings = get_settings()
contracts = load_catalog(settings.catalog_dir)
contract = contracts[sys.argv[1]]
for batch_id in stages.discover(settings, contract, contracts):
    try:
        stages.read(settings, contract, batch_id)
    except stages.BatchClosed:
        pass
print(json.dumps({who: resource.getrusage(getattr(resource, who)).ru_maxrss // 1024
                  for who in ("RUSAGE_SELF", "RUSAGE_CHILDREN")}))
"""


def discover_and_read_under_1gb(home: Path, dataset_id: str) -> dict[str, int]:
    """Discovery and the read stage of every new file, in a process capped at 1 GB of
    address space; returns the peak resident memory (MB) of it and of its children."""
    done = subprocess.run([sys.executable, "-c", READ_UNDER_1GB, dataset_id], capture_output=True,
                          text=True, env={**os.environ, "JINSHU_HOME": str(home)}, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout.splitlines()[-1])


def quarantined_rules(settings) -> dict[str, tuple[str, str, int]]:
    """File name -> (rule, message, rows_in) of every batch quarantined whole."""
    with engine_for(settings.store_url).connect() as conn:
        rows = conn.execute(sa.select(batches.c.file_key, batches.c.status, batches.c.rows_in,
                                      quarantine.c.rule, quarantine.c.message)
                            .join(quarantine, quarantine.c.batch_id == batches.c.batch_id)).all()
    assert {r.status for r in rows} <= {"quarantined"}
    return {r.file_key.rsplit("/", 1)[-1]: (r.rule, r.message, r.rows_in) for r in rows}


def test_hostile_workbooks_are_quarantined_before_parsing_and_memory_stays_under_1gb(
        tmp_path, household):
    settings = make_settings(tmp_path / "home")
    for name, (build, _) in HOSTILE_XLSX.items():
        data = build()
        assert len(data) < 400 * 1024  # tiny files that asked the old reader for 3.6-550 GB
        drop(settings, household, name, data)
    peak = discover_and_read_under_1gb(settings.home, household.id)
    assert peak["RUSAGE_SELF"] + peak["RUSAGE_CHILDREN"] < 1024, peak
    found = quarantined_rules(settings)
    assert {name: rule for name, (rule, _, _) in found.items()} == {
        name: rule for name, (_, rule) in HOSTILE_XLSX.items()}
    for name, (_, message, rows_in) in found.items():
        assert f"file {household.landing_prefix}{name}" in message and "Fix:" in message
        assert "limits.max_" in message and rows_in == 0
    assert "column 16,384" in found["xfd.xlsx"][1] and "row 1,048,576" in found["xfd.xlsx"][1]
    assert "100,000,000 cells" in found["undeclared-far-cell.xlsx"][1]  # found by its reference


@pytest.mark.parametrize("line_end", [b"\n", b""], ids=["with-newline", "without-newline"])
def test_a_200mb_single_line_csv_is_quarantined_at_the_default_cap_under_1gb(tmp_path, household,
                                                                            line_end):
    settings = make_settings(tmp_path / "home")
    path = Path(settings.landing_url) / household.landing_prefix / "one-line.csv"
    path.parent.mkdir(parents=True)
    with path.open("wb") as out:  # 200 MB written a megabyte at a time
        for _ in range(200):
            out.write(b"9" * MB)
        out.write(line_end)
    peak = discover_and_read_under_1gb(settings.home, household.id)
    assert peak["RUSAGE_SELF"] + peak["RUSAGE_CHILDREN"] < 1024, peak
    rule, message, rows_in = quarantined_rules(settings)["one-line.csv"]
    assert (rule, rows_in) == ("line_too_long", 0)
    assert "line 1 is longer than the cap of 1,024 KB" in message
    assert "limits.max_line_kb" in message and "Fix:" in message
    archived = Path(settings.landing_url) / "_quarantine"  # too big for a sealed copy in memory:
    assert not [p for p in archived.rglob("*") if p.is_file()]  # the sender keeps it, and
    assert path.stat().st_size == 200 * MB + len(line_end)  # it stays in landing until swept


# --- the run goes on; nothing stays stuck -------------------------------------------------------


def test_hostile_and_vanished_files_are_quarantined_and_the_run_goes_on(settings, contracts,
                                                                        household):
    contract = with_limits(household, max_line_kb=4)
    header = titles(contract)
    store = open_store(settings.landing_url)
    drop(settings, contract, "gone.csv", csv_bytes(header, valid_rows(contract, 3, seed=7)))
    pipeline.discover(settings, contract, contracts)
    store.delete(f"{contract.landing_prefix}gone.csv")  # removed after discovery
    drop(settings, contract, "long-line.csv", csv_bytes(header, [["1" * 5000]]))
    drop(settings, contract, "good.csv", csv_bytes(header, valid_rows(contract, 5)))
    pipeline.run(settings, contracts, contract)

    found = quarantined_rules(settings)
    assert found["long-line.csv"][0] == "line_too_long"
    assert "line 2 is longer than the cap of 4 KB" in found["long-line.csv"][1]
    rule, message, _ = found["gone.csv"]
    assert rule == "file_missing"
    assert "removed from the landing area after it was discovered" in message
    assert "Fix: drop the file again" in message
    good = outcome_of(settings, f"{contract.landing_prefix}good.csv").batch
    assert (good.status, good.stored) == ("loaded", 5)
    assert pipeline.run(settings, contracts, contract) == []  # the next run finds nothing stuck

    drop(settings, contract, "gone.csv", csv_bytes(header, valid_rows(contract, 3, seed=7)))
    pipeline.run(settings, contracts, contract)  # the fix works: same bytes, dropped again
    again = outcome_of(settings, f"{contract.landing_prefix}gone.csv").batch
    assert (again.status, again.stored, again.repeat_of) == ("loaded", 3, None)


def test_a_file_vanished_from_s3_is_quarantined_as_file_missing(tmp_path, s3_buckets, s3_endpoint,
                                                               contracts, household):
    settings = make_settings(tmp_path / "home", landing_url=s3_buckets["landing"],
                             s3_endpoint_url=s3_endpoint)
    key = drop(settings, household, "gone.csv",
               csv_bytes(titles(household), valid_rows(household, 2)))
    pipeline.discover(settings, household, contracts)
    open_store(settings.landing_url, s3_endpoint).delete(key)
    assert pipeline.run(settings, contracts, household) != []
    result = outcome_of(settings, key)
    assert (result.batch.status, [q.rule for q in result.quarantine]) == ("quarantined",
                                                                           ["file_missing"])
    assert result.quarantine[0].original == "not kept: the file was no longer in the landing area"


@pytest.mark.parametrize("s3", [False, True], ids=["local", "s3"])
def test_stores_stream_and_copy_objects_and_report_a_missing_key(tmp_path, s3, request):
    if s3:
        store = open_store(request.getfixturevalue("s3_buckets")["landing"],
                           request.getfixturevalue("s3_endpoint"))
    else:
        store = open_store(str(tmp_path / "landing"))
    data = os.urandom(3 * MB + 17)
    store.write("a/b.bin", data)
    chunks = list(store.chunks("a/b.bin", size=MB))
    assert b"".join(chunks) == data and max(map(len, chunks)) <= MB
    store.copy("a/b.bin", "_quarantine/b.bin")
    assert store.read("_quarantine/b.bin") == data
    for use in (store.read, lambda k: list(store.chunks(k)), lambda k: store.copy(k, "x")):
        with pytest.raises(FileNotFoundError):
            use("a/missing.bin")


# --- counts of a file quarantined whole ---------------------------------------------------------


def test_a_file_quarantined_whole_by_conform_counts_the_records_it_held(settings, contracts,
                                                                        household):
    header = [t for t in titles(household) if t != "公民身份号码"]  # a required column missing
    rows = [r[1:] for r in valid_rows(household, 4)]
    key = drop(settings, household, "no-id.csv", csv_bytes(header, rows))
    pipeline.run(settings, contracts, household)
    batch = outcome_of(settings, key).batch
    assert (batch.status, batch.rows_in, batch.quarantined, batch.stored) == ("quarantined", 4, 4, 0)


# --- a title row above the header ---------------------------------------------------------------


def test_xlsx_header_below_a_title_and_a_blank_row_is_found_and_rows_keep_sheet_numbers(
        settings, contracts, household):
    rows = valid_rows(household, 3)
    rows[1][0] = rows[1][0][:-1] + ("0" if rows[1][0][-1] != "0" else "1")  # bad checksum
    title = ["2025年度户籍人口信息表"] + [""] * (len(household.fields) - 1)
    data = xlsx([title, [""] * len(household.fields), titles(household), *rows],
                merged=f"A1:{_letters(len(household.fields))}1")
    key = drop(settings, household, "名册.xlsx", data)
    pipeline.run(settings, contracts, household)
    result = outcome_of(settings, key)
    assert (result.batch.status, result.batch.rows_in, result.batch.stored) == ("loaded", 3, 2)
    [bad] = result.quarantine
    assert (bad.source_row, bad.column_name) == (5, "id_number")  # sheet row 5, as the sender sees
    assert f"file {key}, row 5, column id_number" in bad.message
    assert "header found in row 3" in result.batch.reason
    assert sorted(r._source_row for r in stored_records(settings, household)) == [4, 6]


def test_csv_header_below_a_title_line_is_found_and_rows_keep_line_numbers(settings, contracts,
                                                                           household):
    data = csv_bytes(titles(household), valid_rows(household, 2), above="户籍人口信息,,\n\n")
    key = drop(settings, household, "titled.csv", data)
    pipeline.run(settings, contracts, household)
    result = outcome_of(settings, key)
    assert (result.batch.status, result.batch.stored) == ("loaded", 2)
    assert "header found in row 3" in result.batch.reason
    assert sorted(r._source_row for r in stored_records(settings, household)) == [4, 5]


def test_header_in_row_1_is_unchanged_and_says_nothing(household):
    from jinshu.collect.conform import header_score

    data = csv_bytes(titles(household), valid_rows(household, 2))
    extract = read_extract("x.csv", data, score=header_score(household))
    assert (extract.header_row, extract.frame[ROW].tolist()) == (1, [2, 3])


# --- the caps themselves ------------------------------------------------------------------------


def test_a_workbook_past_the_pre_checks_is_stopped_by_the_memory_cap(tmp_path):
    data = xlsx([["a"]], far_cell="CV1000000")
    limits = Limits(max_cells=10**9, max_memory_mb=512)  # let the parser try: it asks for 3.2 GB
    with pytest.raises(UnreadableFile) as caught:
        read_capped("cv.xlsx", data, limits, scratch_in=tmp_path)
    assert caught.value.rule == "memory_limit"
    assert "512 MB" in caught.value.detail and "limits.max_memory_mb" in caught.value.fix
    assert list(tmp_path.iterdir()) == []  # the scratch copy is gone


def test_a_workbook_within_the_caps_reads_in_the_capped_child(tmp_path):
    extract = read_capped("ok.xlsx", xlsx([["a", "b"], ["1", "2"]]), Limits(), scratch_in=tmp_path)
    assert extract.frame.to_dict("records") == [{"a": "1", "b": "2", ROW: 2}]


def _read_in_a_daemon(scratch: str, answer) -> None:
    extract = read_capped("ok.xlsx", xlsx([["a"], ["1"]]), Limits(), scratch_in=Path(scratch))
    answer.put(extract.frame["a"].tolist())


def test_a_workbook_reads_inside_a_daemonic_process_as_celery_runs_tasks(tmp_path):
    """A Celery worker runs each task in a daemonic process, which may not start a
    multiprocessing child: the capped reader must still work there."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    answer = context.Queue()
    task = context.Process(target=_read_in_a_daemon, args=(str(tmp_path), answer), daemon=True)
    task.start()
    task.join(120)
    assert task.exitcode == 0 and answer.get(timeout=5) == ["1"]


@pytest.mark.parametrize(("name", "data", "caps", "rule", "words"), [
    ("x.csv", b"a,b\n1," + b"x" * 50 + b"\n", {"max_cell_chars": 40}, "cell_too_long",
     "row 2, column b holds 50 characters"),
    ("x.csv", b"a,b,c\n1,2,3\n", {"max_columns": 2}, "too_many_columns", "3 columns"),
    ("x.csv", b"a\n1\n2\n3\n", {"max_rows": 2}, "too_many_rows", "3 records"),
    ("x.xlsx", None, {"max_rows": 2}, "too_many_rows", "row 3"),
    ("x.csv", b"a\n" + b"1\n" * 10, {"max_line_kb": 1}, None, ""),
], ids=["cell", "columns", "rows", "xlsx-rows", "short-lines-pass"])
def test_contract_limits_refuse_a_file_naming_the_cap(name, data, caps, rule, words):
    data = data or xlsx([["a"], ["1"], ["2"]])
    if rule is None:
        assert read_extract(name, data, Limits(**caps)).rows_in == 10
        return
    with pytest.raises(UnreadableFile) as caught:
        read_extract(name, data, Limits(**caps))
    assert caught.value.rule == rule and words in caught.value.detail
    assert f"limits.{next(iter(caps))}" in caught.value.fix


def test_a_contract_may_raise_its_limits_in_yaml(tmp_path):
    from jinshu.catalog import load_contract
    from jinshu.settings import DEFAULT_CATALOG_DIR

    source = next(DEFAULT_CATALOG_DIR.rglob("household_registration.yaml")).read_text()
    path = tmp_path / "household_registration.yaml"
    path.write_text(source + "limits: {max_line_kb: 4096, max_memory_mb: 2048}\n")
    contract = load_contract(path)
    assert (contract.limits.max_line_kb, contract.limits.max_memory_mb) == (4096, 2048)
    assert contract.limits.max_cells == Limits().max_cells  # the rest keep their defaults


@pytest.mark.parametrize("cap", [1, 3, 7])
def test_first_long_run_matches_a_line_by_line_scan_across_chunks(cap):
    data = b"ab\nabcdefgh\n\nabc\nabcdefghijk"
    expected = next((m.start() for m in re.finditer(rb"[^\n]+", data) if len(m.group()) > cap), None)
    for size in (1, 2, 5, len(data)):
        chunks = [data[i:i + size] for i in range(0, len(data), size)]
        assert first_long_run(chunks, b"\n", cap) == expected
