"""Repeated collection record by record: subjects collected twice, and values that conflict.

For each dataset holding a concept another dataset is the authority for
(:func:`jinshu.repeat.overlap.overlaps`), the subjects both hold a value for —
matched by the keyed pseudonym of their ID number or USCC (``_subject_key``),
never by a clear identifier — and how many of them carry a value that differs
from the authority's (docs/regulation.md#repeat-across-departments).

SQL does the work, in the store: one left join on the subject key per collecting
dataset and authority, every concept it collects of that authority counted in the
same pass (a ``UNION ALL`` of all collectors of one authority, hashing it once, was
measured slower: wide padded rows spill the join). A dataset whose natural key allows
several records per subject (social insurance: one per insurance type) and holds some
keeps per subject the greatest of each record's flags: a subject conflicts when any of
its records does. Whether it holds any is asked first, over its natural-key index; one
that holds none is counted record by record, like a dataset keyed by its subject. Encrypted values
compare by blind index (the same keyed HMAC in every dataset); a concept encrypted
on one side only is counted but not compared (``conflicts`` null). Nothing is
decrypted, and only counts leave the database.

A run is stored under its id with when it ran (``repeat_runs``, ``repeat_findings``;
running an id again replaces its findings) and audited with its totals. Subjects
without a reliable identifier go to probabilistic matching
(:func:`link_without_identifier`, by :mod:`jinshu.repeat.linkage`).
"""

from __future__ import annotations

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
from jinshu.repeat.overlap import Overlap, by_pair, overlaps
from jinshu.store.tables import dataset_table, repeat_findings, repeat_runs

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


def several_records_per_subject(conn: Connection, contract: Contract) -> bool:
    """Whether some subject has two records here: never for a dataset keyed by its subject
    alone; otherwise asked of the store, over the natural-key index (it stops at the first)."""
    if tuple(contract.natural_key) == (contract.subject_key,):
        return False
    table = dataset_table(contract)
    twice = (sa.select(table.c[SUBJECT_KEY]).where(table.c[SUBJECT_KEY].is_not(None),
                                                  *current_rows(table))
             .group_by(table.c[SUBJECT_KEY]).having(sa.func.count() > 1))
    return bool(conn.execute(sa.select(sa.exists(twice))).scalar())


def measure_query(held: list[Overlap], grouped: bool) -> sa.Select:
    """The query measuring one dataset against one authority, every concept it collects of it
    in the same pass: ``subjects``, then ``twice_i`` and ``conflicts_i`` per collected overlap.

    A left join on the subject key gives each record its flags (a value on both sides; a
    value that differs). With one record per subject they are counted as they are;
    ``grouped`` (several records per subject) keeps per subject the greatest of each flag
    first: a subject conflicts when any of its records does.
    """
    collector, authority = held[0].holder.contract, held[0].authority.contract
    mine, target = dataset_table(collector), dataset_table(authority).alias("authority")
    flags: list[sa.ColumnElement] = []
    for o in (o for o in held if not o.takes):
        ours = mine.c[_compared(collector, o.holder.field)]
        theirs = target.c[_compared(authority, o.authority.field)]
        both = sa.and_(ours.is_not(None), theirs.is_not(None))
        differ = sa.and_(both, ours != theirs) if comparable(o) else sa.false()
        flags += [both, differ]
    joined = mine.outerjoin(target, sa.and_(target.c[SUBJECT_KEY] == mine.c[SUBJECT_KEY],
                                            *current_rows(target)))
    where = [mine.c[SUBJECT_KEY].is_not(None), *current_rows(mine)]
    names = [f"{kind}_{i // 2}" for i, kind in enumerate(["twice", "conflicts"] * (len(flags) // 2))]
    if not grouped:
        return sa.select(sa.func.count().label("subjects"),
                         *(sa.func.count(sa.case((flag, 1))).label(n) for flag, n in zip(
                             flags, names, strict=True))).select_from(joined).where(*where)
    per_subject = sa.select(*(sa.func.max(sa.case((flag, 1), else_=0)).label(n) for flag, n in zip(
        flags, names, strict=True))).select_from(joined).where(*where).group_by(
        mine.c[SUBJECT_KEY]).subquery("per_subject")
    return sa.select(sa.func.count().label("subjects"),
                     *(sa.func.count(sa.case((per_subject.c[n] == 1, 1))).label(n) for n in names))


def measure(conn: Connection, contracts: dict[str, Contract],
            found: list[Overlap] | None = None) -> list[Finding]:
    """Exact findings for every overlap (taken ones included, with nothing collected): one
    query per collecting dataset and authority."""
    found = overlaps(contracts) if found is None else found
    out = []
    several: dict[str, bool] = {}
    for held in by_pair(found).values():
        collector = held[0].holder.contract
        if collector.id not in several:
            several[collector.id] = several_records_per_subject(conn, collector)
        row = conn.execute(measure_query(held, several[collector.id])).one()
        collected = [o for o in held if not o.takes]
        for o in held:
            if o.takes:
                out.append(Finding(o, EXACT, row.subjects, 0, 0))
                continue
            i = collected.index(o)  # values encrypted on one side only: counted, not compared
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
    """Subjects without a reliable identifier, matched on name, birth date and
    address against every record of the authorities by :func:`jinshu.repeat.linkage.link`, with
    the catalog's thresholds (``concepts.yaml``: ``linkage``). Returns (records without
    identifier, findings)."""
    unidentified = records_without_identifier(conn, contracts, found)
    if unidentified.empty or concepts is None:
        return len(unidentified), []
    from jinshu.repeat.linkage import link  # Splink on DuckDB: imported only when needed

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
            held_elsewhere=summary.overlaps, compared=summary.compared,
            without_identifier=without))
        if findings:
            conn.execute(repeat_findings.insert(), [f.row(run_id, now) for f in findings])
    return summary
