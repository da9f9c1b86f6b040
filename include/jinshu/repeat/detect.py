"""Repeated collection record by record: subjects collected twice, and values that conflict.

For each dataset holding a concept another dataset is the authority for
(:func:`jinshu.repeat.overlap.overlaps`), the subjects both hold a value for —
matched by the keyed pseudonym of their ID number or USCC (``_subject_key``),
never by a clear identifier — and how many of them carry a value that differs
from the authority's (docs/regulation.md#repeat-across-departments).

SQL does the work, in the store: one left join on the subject key per authority,
every dataset holding its concepts probing it at once (``UNION ALL``), so the
authority's table is hashed once however many departments collect from it. A
dataset with several records per subject (social insurance: one per insurance
type) is first reduced to one row per subject with its least and greatest value:
the subject conflicts when either differs from the authority's. Encrypted values
compare by blind index (the same keyed HMAC in every dataset); a concept encrypted
on one side only is counted but not compared (``conflicts`` null). Nothing is
decrypted, and only counts leave the database.

A run is stored under its id with when it ran (``repeat_runs``, ``repeat_findings``;
running an id again replaces its findings) and audited with its totals. Subjects
without a reliable identifier go to probabilistic matching
(:func:`link_without_identifier`, the hook for :mod:`jinshu.repeat.linkage`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from jinshu.catalog import ConceptList, Contract, FieldSpec
from jinshu.govern import audit
from jinshu.protect import policy
from jinshu.protect.pseudonyms import SUBJECT_KEY
from jinshu.repeat.authority import current_rows
from jinshu.repeat.overlap import Overlap, by_authority, overlaps
from jinshu.store.tables import dataset_table, repeat_findings, repeat_runs

log = logging.getLogger(__name__)
AUDIT_ACTION = "detect_repeat_collection"
EXACT, PROBABILISTIC = "exact", "probabilistic"


@dataclass(frozen=True)
class Finding:
    """What one run found for one dataset holding one concept of another's (counts only)."""

    overlap: Overlap
    method: str  # exact (subject key) | probabilistic (no reliable identifier)
    collector_subjects: int  # subjects of the collecting dataset
    subjects_twice: int  # of them, with a value here and at the authority
    conflicts: int | None  # of those, with a different value (None: not compared)
    uncertain: int = 0  # probabilistic pairs in the review band

    def row(self, run_id: str, now: datetime) -> dict:
        holder, source = self.overlap.holder, self.overlap.authority
        return {"run_id": run_id, "collector_dataset": holder.contract.id,
                "concept": self.overlap.concept, "method": self.method,
                "collector_department": holder.contract.department.code,
                "collector_field": holder.field.name, "authority_dataset": source.contract.id,
                "authority_department": source.contract.department.code,
                "authority_field": source.field.name, "takes": self.overlap.takes,
                "collector_subjects": self.collector_subjects,
                "subjects_twice": self.subjects_twice, "conflicts": self.conflicts,
                "uncertain": self.uncertain, "found_at": now}


def _sealed(spec: FieldSpec) -> bool:
    return spec.sensitivity == policy.ENCRYPTED


def _compared(contract: Contract, spec: FieldSpec) -> str:
    """The column values are compared on: the blind index of an encrypted field."""
    return policy.blind_index_column(contract, spec.name) if _sealed(spec) else spec.name


def comparable(overlap: Overlap) -> bool:
    """Values compare only where both sides are encrypted (blind indexes) or both clear."""
    return _sealed(overlap.holder.field) == _sealed(overlap.authority.field)


def _probe(contract: Contract, held: list[Overlap], layout: list[tuple[str, sa.types.TypeEngine]]
           ) -> sa.Select:
    """One row per subject of ``contract``: ``collector, subject`` and, for each concept of the
    layout, ``has_i`` (1: a value here), ``lo_i``/``hi_i`` (its least and greatest value, null
    when there is nothing to compare). A taken field is not collected."""
    table = dataset_table(contract)
    one_per_subject = policy.key_columns(contract) == [SUBJECT_KEY]
    mine = {o.concept: o for o in held if not o.takes}
    columns: list[sa.ColumnElement] = [sa.cast(sa.literal(contract.id), sa.String(64)).label("collector"),
                                       table.c[SUBJECT_KEY].label("subject")]
    for i, (concept, type_) in enumerate(layout):
        low = high = sa.cast(sa.null(), type_)
        has: sa.ColumnElement = sa.literal_column("0")
        if concept in mine:
            value = table.c[_compared(contract, mine[concept].holder.field)]
            has = sa.case((value.is_not(None), 1), else_=0)
            if not one_per_subject:
                has = sa.func.max(has)
            if comparable(mine[concept]):
                low, high = ((value, value) if one_per_subject
                             else (sa.func.min(value), sa.func.max(value)))
        columns += [has.label(f"has_{i}"), low.label(f"lo_{i}"), high.label(f"hi_{i}")]
    query = sa.select(*columns).where(table.c[SUBJECT_KEY].is_not(None), *current_rows(table))
    return query if one_per_subject else query.group_by(table.c[SUBJECT_KEY])


def measure_query(authority: Contract, held: list[Overlap]) -> tuple[sa.Select, list[str]]:
    """The one query measuring every dataset that holds a concept of ``authority``, and the
    concepts in the order of its ``twice_i``/``conflicts_i`` columns."""
    sources = {o.concept: o.authority.field for o in held}
    target = dataset_table(authority).alias("authority")
    layout = [(concept, target.c[_compared(authority, spec)].type) for concept, spec in sources.items()]
    collectors: dict[str, list[Overlap]] = {}
    for o in held:
        collectors.setdefault(o.holder.contract.id, []).append(o)
    probes = [_probe(found[0].holder.contract, found, layout) for found in collectors.values()]
    probe = (probes[0] if len(probes) == 1 else sa.union_all(*probes)).subquery("probe")
    columns: list[sa.ColumnElement] = [probe.c.collector, sa.func.count().label("subjects")]
    for i, (concept, _) in enumerate(layout):
        low, high = probe.c[f"lo_{i}"], probe.c[f"hi_{i}"]
        theirs = target.c[_compared(authority, sources[concept])]
        both = sa.and_(probe.c[f"has_{i}"] == 1, theirs.is_not(None))
        differ = sa.and_(both, sa.or_(low != theirs, high != theirs))
        columns += [sa.func.count(sa.case((both, 1))).label(f"twice_{i}"),
                    sa.func.count(sa.case((differ, 1))).label(f"conflicts_{i}")]
    joined = probe.outerjoin(target, sa.and_(target.c[SUBJECT_KEY] == probe.c.subject,
                                             *current_rows(target)))
    query = sa.select(*columns).select_from(joined).group_by(probe.c.collector)
    return query, [concept for concept, _ in layout]


def measure(conn: Connection, contracts: dict[str, Contract],
            found: list[Overlap] | None = None) -> list[Finding]:
    """Exact findings for every overlap (taken ones included, with nothing collected)."""
    found = overlaps(contracts) if found is None else found
    out = []
    for authority_id, held in by_authority(found).items():
        query, concepts = measure_query(contracts[authority_id], held)
        counts = {row.collector: row for row in conn.execute(query)}
        for o in held:
            row, i = counts.get(o.holder.contract.id), concepts.index(o.concept)
            if row is None:  # the collecting dataset holds no subject yet
                out.append(Finding(o, EXACT, 0, 0, 0))
            else:  # values encrypted on one side only are counted, not compared
                out.append(Finding(o, EXACT, row.subjects, row._mapping[f"twice_{i}"],
                                   row._mapping[f"conflicts_{i}"] if comparable(o) else None))
    return out


# --- subjects without a reliable identifier: the hook for probabilistic matching ---------------

# The columns :func:`jinshu.repeat.linkage.link` matches on, and the concepts they hold.
LINKED = {"name": "person.name", "birth_date": "person.birth_date", "address": "person.address"}
RECORD_COLUMNS = ["record_id", "source_dataset", *LINKED]


def _linked_fields(contract: Contract) -> dict[str, str]:
    """Linkage column -> the field of ``contract`` holding its concept (stored fields only)."""
    by_concept = {f.concept: f.name for f in contract.stored_fields if f.concept}
    return {column: by_concept[concept] for column, concept in LINKED.items() if concept in by_concept}


def _records(conn: Connection, contract: Contract, only_without_identifier: bool) -> pd.DataFrame:
    """``RECORD_COLUMNS`` for one dataset's records (those without a subject key, or all)."""
    table = dataset_table(contract)
    fields = _linked_fields(contract)
    query = sa.select(table.c._record_hash, *(table.c[f].label(c) for c, f in fields.items())
                      ).where(*current_rows(table))
    if only_without_identifier:  # such a row has nothing encrypted: envelopes bind to the key
        query = query.where(table.c[SUBJECT_KEY].is_(None))
    frame = pd.read_sql(query, conn)
    out = pd.DataFrame({"record_id": contract.id + "/" + frame["_record_hash"].astype("str"),
                        "source_dataset": contract.id}, index=frame.index)
    for column in LINKED:
        out[column] = frame[column].astype("str") if column in frame else pd.Series(
            pd.NA, index=frame.index, dtype="str")
    return out[RECORD_COLUMNS]


def _collecting_persons(found: list[Overlap]) -> dict[str, Overlap]:
    return {o.holder.contract.id: o for o in found if not o.takes
            and o.holder.contract.subject == "person" and _linked_fields(o.holder.contract)}


def records_without_identifier(conn: Connection, contracts: dict[str, Contract],
                               found: list[Overlap]) -> pd.DataFrame:
    """Records of person datasets collecting a linked concept again that lack a subject key."""
    frames = [_records(conn, contracts[d], True) for d in _collecting_persons(found)]
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame({c: pd.Series(dtype="str") for c in RECORD_COLUMNS})
    return pd.concat(frames, ignore_index=True)


def link_without_identifier(conn: Connection, contracts: dict[str, Contract],
                            concepts: ConceptList | None, found: list[Overlap]
                            ) -> tuple[int, list[Finding]]:
    """HOOK (issue 13c): subjects without a reliable identifier, matched on name, birth date and
    address against every record of the authorities by :func:`jinshu.repeat.linkage.link`, with
    the catalog's thresholds (``concepts.yaml``: ``linkage``). Returns (records without
    identifier, findings)."""
    unidentified = records_without_identifier(conn, contracts, found)
    if unidentified.empty or concepts is None:
        return len(unidentified), []
    try:
        from jinshu.repeat.linkage import link  # Splink on DuckDB (issue 13c)
    except ModuleNotFoundError as missing:
        if missing.name != "jinshu.repeat.linkage":
            raise
        log.warning("%d record(s) without a reliable identifier were not compared: "
                    "probabilistic matching (jinshu.repeat.linkage) is not installed",
                    len(unidentified))
        return len(unidentified), []
    authorities = sorted({o.authority.contract.id for o in _collecting_persons(found).values()})
    records = pd.concat([unidentified, *(_records(conn, contracts[a], False) for a in authorities)],
                        ignore_index=True)
    result = link(records, match_threshold=concepts.linkage.match_threshold,
                  review_threshold=concepts.linkage.review_threshold)
    return len(unidentified), linked_findings(result.matches, result.uncertain, found)


def linked_findings(matches: pd.DataFrame, uncertain: pd.DataFrame,
                    found: list[Overlap]) -> list[Finding]:
    """Per collecting dataset and concept: its records matched to an authority's record (and
    those in the review band). Pairs are ``record_id_l/_r, source_dataset_l/_r``."""
    def counted(pairs: pd.DataFrame, collector: str, authority: str) -> int:
        left = pairs[(pairs.source_dataset_l == collector) & (pairs.source_dataset_r == authority)]
        right = pairs[(pairs.source_dataset_r == collector) & (pairs.source_dataset_l == authority)]
        return len(set(left.record_id_l) | set(right.record_id_r))

    out = []
    for o in found:
        if o.takes or o.concept not in LINKED.values():
            continue
        collector, authority = o.holder.contract.id, o.authority.contract.id
        twice, unsure = counted(matches, collector, authority), counted(uncertain, collector, authority)
        if twice or unsure:
            out.append(Finding(o, PROBABILISTIC, twice, twice, None, unsure))
    return out


# --- one run ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunSummary:
    run_id: str
    overlaps: int
    compared: int
    subjects_twice: int
    conflicts: int
    without_identifier: int

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def run(engine: Engine, contracts: dict[str, Contract], concepts: ConceptList | None,
        run_id: str, now: datetime) -> RunSummary:
    """Measure every overlap, store the run and its findings (replacing an earlier run of the
    same id) and audit it, in one transaction."""
    found = overlaps(contracts)
    with engine.begin() as conn:
        findings = measure(conn, contracts, found)
        without, linked = link_without_identifier(conn, contracts, concepts, found)
        findings += linked
        collected = [f for f in findings if not f.overlap.takes]
        summary = RunSummary(run_id, len(found), len(collected),
                             sum(f.subjects_twice for f in collected),
                             sum(f.conflicts or 0 for f in collected), without)
        conn.execute(repeat_findings.delete().where(repeat_findings.c.run_id == run_id))
        conn.execute(repeat_runs.delete().where(repeat_runs.c.run_id == run_id))
        seq = audit.append(conn, AUDIT_ACTION, run_id, summary.as_dict(), now=now)
        conn.execute(repeat_runs.insert().values(
            run_id=run_id, started_at=now, finished_at=datetime.now(UTC), audit_seq=seq,
            overlaps=summary.overlaps, compared=summary.compared, without_identifier=without))
        if findings:
            conn.execute(repeat_findings.insert(), [f.row(run_id, now) for f in findings])
    return summary
