"""The ingest pipeline: one registry of stages, read by the ingest DAG, the benchmark,
``jinshu check`` and the tests.

Discovery comes first: one run lists new files, records them in the ledger and cuts each
into chunks of records (:func:`split`). Every stage but the load runs on one chunk: it
takes ``(settings, contract, chunk_ref)``, reads what the stages it runs ``after`` left in
the chunk's stage folder, and returns the ref (given a batch id, it runs on each of the
batch's chunks in turn). ``quality`` and ``protect`` both follow ``dedup`` and run side by
side. ``load`` runs once per file, after both on every chunk, and is the only stage that
writes to the central store: the whole file in one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from jinshu.catalog import Contract
from jinshu.ingest import stages
from jinshu.settings import Settings

StageFunction = Callable[[Settings, Contract, str], object]


@dataclass(frozen=True)
class Stage:
    name: str
    task_id: str  # the ingest DAG's task: a verb
    run: StageFunction
    after: tuple[str, ...]  # the stages whose files it reads
    per_chunk: bool = True  # else once per file, after its every chunk


STAGES: tuple[Stage, ...] = (
    Stage("read", "read_extract", stages.read, ()),
    Stage("conform", "conform_to_contract", stages.conform_stage, ("read",)),
    Stage("consent", "apply_consent_gate", stages.consent_stage, ("conform",)),
    Stage("check", "check_row_rules", stages.check_stage, ("consent",)),
    Stage("dedup", "deduplicate_records", stages.dedup_stage, ("check",)),
    Stage("quality", "validate_quality", stages.quality_stage, ("dedup",)),
    Stage("protect", "protect_records", stages.protect_stage, ("dedup",)),
    Stage("load", "load_batch", stages.load, ("quality", "protect"), per_chunk=False),
)
BY_NAME = {stage.name: stage for stage in STAGES}
LOAD = BY_NAME["load"]
BEFORE_LOAD = CHUNK_STAGES = tuple(s for s in STAGES if s.per_chunk)
SIDE_BY_SIDE = tuple(s.name for s in STAGES if s.after == ("dedup",))
BatchClosed, QualityFailed, ChunksUnfinished = (stages.BatchClosed, stages.QualityFailed,
                                                stages.ChunksUnfinished)
discover, split = stages.discover, stages.split


def run_batch(settings: Settings, contract: Contract, batch_id: str) -> None:
    """Every stage of one batch in registry order (which respects ``after``), each on every
    chunk in turn, in this process.

    A batch settled early (a file quarantined whole, or by quality) stops there.
    """
    try:
        for stage in STAGES:
            stage.run(settings, contract, batch_id)
    except (BatchClosed, QualityFailed):
        pass


def run(settings: Settings, contracts: dict[str, Contract], contract: Contract) -> list[str]:
    """Discover ``contract``'s new files and take every waiting batch through every stage."""
    waiting = discover(settings, contract, contracts)
    for batch_id in waiting:
        run_batch(settings, contract, batch_id)
    return waiting


@dataclass
class Preflight:
    """What ``jinshu check`` tells a department before it drops a file (nothing is stored)."""

    rows: int
    accepted: int
    undeclared_columns: list[str]
    problems: list[dict]  # row, column, rule, detail, fix; in row order
    stages: tuple[str, ...]  # the registry stages run; the rest need the central store
    columns: list[str] = field(default_factory=list)  # the fields the file has a column for


# The stages whose rules need nothing but the file and the contract, with their pure cores.
PREFLIGHT_STAGES = ("read", "conform", "check", "dedup")


def preflight(contract: Contract, name: str, data: bytes,
              on_stage: Callable[[str], object] | None = None) -> Preflight:
    """Run the registry's store-free stages on one file: read, conform, row rules, repeats.

    ``on_stage`` is called with each stage's name as it starts (a progress display).
    Raises :class:`jinshu.collect.read.UnreadableFile` or a conform error for a file
    that would be quarantined whole.
    """
    from jinshu.collect.conform import conform, fold, header_map, header_score
    from jinshu.collect.read import ROW
    from jinshu.collect.rules import check_rows
    from jinshu.ingest.isolate import read_capped
    from jinshu.repeat.dedup import RECORD_HASH, record_hashes, split_batch_duplicates

    started = on_stage or (lambda stage: None)
    started("read")
    extract = read_capped(name, data, contract.limits, header_score(contract))
    started("conform")
    conformed, scope = conform(extract.frame, contract)
    started("check")
    checked = check_rows(conformed, contract)
    started("dedup")
    hashed = checked.valid.assign(**{RECORD_HASH: record_hashes(checked.valid, contract.field_names)})
    _, repeats = split_batch_duplicates(hashed)
    problems = [{"row": b.row, "column": None, "rule": b.rule, "detail": b.detail,
                 "fix": "give every row as many fields as the header"} for b in extract.bad_records]
    problems += [{"row": int(r[ROW]), "column": r["column"], "rule": r["rule"], "detail": r["detail"],
                  "fix": r["fix"]} for _, r in checked.violations.iterrows()]
    problems += [{"row": int(r), "column": None, "rule": "duplicate_record",
                  "detail": "the same record appears earlier in this file",
                  "fix": "send each record once (this one would be counted as a duplicate)"}
                 for r in repeats[ROW]]
    problems.sort(key=lambda p: (p["row"], p["column"] or ""))
    known = header_map(contract)
    columns = list(dict.fromkeys(known[fold(str(h))] for h in extract.frame.columns
                                 if h != ROW and fold(str(h)) in known))
    return Preflight(extract.rows_in, len(checked.valid) - len(repeats), [v.header for v in scope],
                     problems, PREFLIGHT_STAGES, columns)
