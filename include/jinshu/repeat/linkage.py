"""Probabilistic matching of people across datasets that share no identifier (Splink on DuckDB).

:func:`link` finds the pairs of records, each from a different dataset, that probably
describe the same person, from name, birth date and address alone. The records are first
made comparable (:func:`jinshu.repeat.normalize.comparable`: traditional -> simplified,
full-width, spaces, swapped name order, homophones, address levels); then Splink 4's
Fellegi-Sunter model scores the candidate pairs that the blocking rules let through:

- blocking (a pair is scored when any rule holds): same birth date and name sound; same
  birth date and street + number (whatever the county is written as); same name sound,
  birth year, street and number (a swapped day and month); same county, street, number
  and birth year (a typo in the name with a swapped date). Each is an equi-join: 1,000,000 generated
  records give about a million candidate pairs;
- comparisons: name (exact, with term-frequency adjustment so that 王伟 = 王伟 weighs
  less than 欧阳明轩 = 欧阳明轩; same characters in another order; same sound; one
  character apart), birth date (exact, with term frequencies; day and month swapped),
  address (same street and number, the county the same or not given (城区 alone names a
  district in two cities); same street and number in another county; same county only);
- parameters from the records themselves, without labels: u by random sampling (fixed
  seed) for the common levels, and counted exactly for the levels too rare for a sample
  to see (same characters, same sound, swapped day and month, the address levels); m of
  name and birth date by expectation maximisation on the pairs at the same address; the
  prior from two deterministic rules. The address's m is set, not learned: one person's
  two records agree on street and number (:data:`ADDRESS_DISAGREES_M` is the share that
  does not), so a common name with the same birth date at another address goes to review,
  not to the matches. The same records give the same pairs (probabilities equal to about
  1e-15).

Pairs at ``match_threshold`` or above are matches; pairs from ``review_threshold`` up to it
are the uncertain band, for a person to review, never counted as matches. Only pairs across
datasets are formed (Splink's ``link_only``): each dataset holds one record per subject
(its natural key), so repeats within one dataset are not this module's business.

Splink and DuckDB are imported on the first call, so a process that never matches does not
pay for them. Nothing here logs a value.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field

import pandas as pd

from jinshu.repeat.normalize import comparable

PAIR_COLUMNS = ("record_id_l", "record_id_r", "source_dataset_l", "source_dataset_r",
                "match_probability")
SEED = 42  # u sampling: the same records give the same model
U_SAMPLE_PAIRS = 1_000_000
PRIOR_RECALL = 0.9  # of the true pairs, the share the prior's deterministic rules are taken to find
# Of the records of one person, the share in each address level other than the same street and
# number (fixed, not learned): name and birth date that agree at another address are a look-alike
# or a move, for a person to review.
ADDRESS_DISAGREES_M = 1e-4
_BIRTH_YEAR = "substr(birth_date, 1, 4)"
_DAY_MONTH_SWAPPED = ("substr(birth_date_l, 1, 4) = substr(birth_date_r, 1, 4)"
                      " AND substr(birth_date_l, 6, 2) = substr(birth_date_r, 9, 2)"
                      " AND substr(birth_date_l, 9, 2) = substr(birth_date_r, 6, 2)")


@dataclass(frozen=True)
class LinkResult:
    """Pairs with ``_l`` from the dataset whose name sorts first; highest probability first."""

    matches: pd.DataFrame  # PAIR_COLUMNS, match_probability >= match_threshold
    uncertain: pd.DataFrame  # PAIR_COLUMNS, review_threshold <= match_probability < match_threshold
    match_threshold: float
    review_threshold: float
    records: dict[str, int]  # records per source dataset
    seconds: dict[str, float] = field(default_factory=dict)  # wall clock: prepare, train, predict, total
    cpu_seconds: float = 0.0  # this process's CPU time (all threads, DuckDB's included)


def link(records: pd.DataFrame, *, match_threshold: float, review_threshold: float) -> LinkResult:
    """Pairs of records of the same person across ``records``' source datasets.

    ``records`` has ``record_id`` (unique within its dataset), ``source_dataset``, ``name``,
    ``birth_date`` (ISO text or a date) and ``address``; an empty value is unknown.
    """
    if not 0 < review_threshold <= match_threshold <= 1:
        raise ValueError("thresholds must satisfy 0 < review_threshold <= match_threshold <= 1; "
                         f"got review {review_threshold}, match {match_threshold}")
    started, cpu = time.perf_counter(), time.process_time()
    frame = comparable(records)
    repeated = frame.duplicated(["source_dataset", "record_id"])
    if repeated.any():
        at = int(repeated.to_numpy().argmax())
        raise ValueError(f"records row {at}: record_id repeats within its source_dataset; "
                         "give each record of a dataset its own id")
    counts = {str(k): int(v) for k, v in frame["source_dataset"].value_counts().sort_index().items()}
    seconds = {"prepare": time.perf_counter() - started}
    if len(counts) < 2:
        empty = pd.DataFrame({c: pd.Series(dtype="float64" if c == "match_probability" else "str")
                              for c in PAIR_COLUMNS})
        seconds["train"] = seconds["predict"] = 0.0
        seconds["total"] = time.perf_counter() - started
        return LinkResult(empty, empty.copy(), match_threshold, review_threshold, counts, seconds,
                          time.process_time() - cpu)
    pairs = _score(frame, list(counts), review_threshold, seconds)
    seconds["total"] = time.perf_counter() - started
    is_match = pairs["match_probability"] >= match_threshold
    return LinkResult(pairs[is_match].reset_index(drop=True), pairs[~is_match].reset_index(drop=True),
                      match_threshold, review_threshold, counts, seconds, time.process_time() - cpu)


def _score(frame: pd.DataFrame, datasets: list[str], floor: float, seconds: dict[str, float]
           ) -> pd.DataFrame:
    import duckdb
    from splink import DuckDBAPI, Linker

    tick = time.perf_counter()
    con = duckdb.connect()
    try:
        _run(con, "SET enable_progress_bar = false")  # no bars in task logs
        con.register("frame", frame)
        _run(con, "CREATE TEMP TABLE records AS SELECT * FROM frame")
        con.unregister("frame")
        tables = []
        for i, name in enumerate(datasets):  # Splink reads each dataset as its own table
            _run(con, f"CREATE TEMP TABLE dataset_{i} AS SELECT * FROM records WHERE source_dataset = ?",
                 name)
            tables.append(f"dataset_{i}")
        linker = Linker(tables, _settings(_rare_u(con)), DuckDBAPI(con), set_up_basic_logging=False)
        _train(linker)
        seconds["train"] = time.perf_counter() - tick
        tick = time.perf_counter()
        scored = linker.inference.predict(threshold_match_probability=floor)
        pairs = con.sql(f"""
            SELECT
              CASE WHEN source_dataset_l <= source_dataset_r THEN record_id_l ELSE record_id_r END
                AS record_id_l,
              CASE WHEN source_dataset_l <= source_dataset_r THEN record_id_r ELSE record_id_l END
                AS record_id_r,
              least(source_dataset_l, source_dataset_r) AS source_dataset_l,
              greatest(source_dataset_l, source_dataset_r) AS source_dataset_r,
              match_probability
            FROM {scored.physical_name}
            ORDER BY match_probability DESC, record_id_l, record_id_r""").df()
        seconds["predict"] = time.perf_counter() - tick
    finally:
        con.close()
    return pairs


def _settings(u: dict[str, float]):
    import splink.comparison_level_library as cll
    from splink import SettingsCreator, block_on
    from splink.comparison_library import CustomComparison

    name = CustomComparison([
        cll.NullLevel("name_norm"),
        cll.ExactMatchLevel("name_norm", term_frequency_adjustments=True),
        cll.CustomLevel("name_chars_l = name_chars_r", "same characters, another order").configure(
            u_probability=u["name_chars"], fix_u_probability=True),
        cll.CustomLevel("name_sound_l = name_sound_r", "same sound (homophone)").configure(
            u_probability=u["name_sound"], fix_u_probability=True),
        cll.LevenshteinLevel("name_norm", 1),
        cll.ElseLevel(),
    ], output_column_name="name")
    fixed = {"fix_m_probability": True, "fix_u_probability": True}
    birth = CustomComparison([
        cll.NullLevel("birth_date"),
        cll.ExactMatchLevel("birth_date", term_frequency_adjustments=True),
        cll.CustomLevel(_DAY_MONTH_SWAPPED, "day and month swapped").configure(
            u_probability=u["date_swapped"], fix_u_probability=True),
        cll.ElseLevel(),
    ], output_column_name="birth_date")
    address = CustomComparison([
        cll.CustomLevel("addr_rest_l IS NULL OR addr_rest_r IS NULL", "no street").configure(
            is_null_level=True),
        cll.CustomLevel("addr_rest_l = addr_rest_r AND (addr_county_l = addr_county_r"
                        " OR addr_county_l IS NULL OR addr_county_r IS NULL)",
                        "same street and number, the county the same or not given").configure(
            m_probability=1 - 3 * ADDRESS_DISAGREES_M, u_probability=u["address_same"], **fixed),
        cll.ExactMatchLevel("addr_rest").configure(
            m_probability=ADDRESS_DISAGREES_M, u_probability=u["address_other_county"], **fixed),
        cll.ExactMatchLevel("addr_county").configure(
            m_probability=ADDRESS_DISAGREES_M, u_probability=u["address_county_only"], **fixed),
        cll.ElseLevel().configure(
            m_probability=ADDRESS_DISAGREES_M, u_probability=u["address_else"], **fixed),
    ], output_column_name="address")
    return SettingsCreator(
        link_type="link_only",
        unique_id_column_name="record_id",
        comparisons=[name, birth, address],
        blocking_rules_to_generate_predictions=[
            block_on("birth_date", "name_sound"),
            block_on("birth_date", "addr_rest"),
            block_on("name_sound", _BIRTH_YEAR, "addr_rest"),
            block_on("addr_county", "addr_rest", _BIRTH_YEAR),
        ],
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


def _train(linker) -> None:
    from splink import block_on

    linker.training.estimate_probability_two_random_records_match(
        [block_on("name_norm", "birth_date", "addr_county", "addr_rest"),
         block_on("name_chars", "birth_date", "addr_county")], recall=PRIOR_RECALL)
    linker.training.estimate_u_using_random_sampling(max_pairs=U_SAMPLE_PAIRS, seed=SEED)
    # The address is set (m by policy, u counted exactly): pairs at the same address teach the
    # m of name and birth date, a small blocking that keeps training cheap at a million records.
    # Too few records to share an address (a handful left without identifier): the m values stay
    # Splink's defaults for each level rather than failing the run.
    from splink.internals.exceptions import EMTrainingException

    with contextlib.suppress(EMTrainingException):
        linker.training.estimate_parameters_using_expectation_maximisation(
            block_on("addr_county", "addr_rest"), estimate_without_term_frequencies=True)


def _rare_u(con) -> dict[str, float]:
    """u of the levels too rare among random pairs for sampling to measure (a few in a million),
    counted exactly in DuckDB over ``records``: the share of all pairs across datasets, both
    values given, that fall in each level."""

    def pairs(keys: list[str], given: list[str]) -> int:
        return _cross_pairs(con, keys, given)

    name, addressed, with_county = ["name_norm"], ["addr_rest"], ["addr_rest", "addr_county"]
    chars, sound = pairs(["name_chars"], name), pairs(["name_sound"], name)
    same_county_street = pairs(["addr_county", "addr_rest"], with_county)
    other_county = pairs(["addr_rest"], with_county) - same_county_street
    same = pairs(["addr_rest"], addressed) - other_county
    county_only = pairs(["addr_county"], with_county) - same_county_street
    address_pairs = max(pairs([], addressed), 1)
    return {
        "name_chars": max(chars - pairs(["name_norm"], name), 1) / max(pairs([], name), 1),
        "name_sound": max(sound - chars, 1) / max(pairs([], name), 1),
        "date_swapped": max(_swapped_pairs(con), 1) / max(pairs([], ["birth_date"]), 1),
        "address_same": max(same, 1) / address_pairs,
        "address_other_county": max(other_county, 1) / address_pairs,
        "address_county_only": max(county_only, 1) / address_pairs,
        "address_else": max(address_pairs - same - other_county - county_only, 1) / address_pairs,
    }


def _cross_pairs(con, keys: list[str], given: list[str]) -> int:
    """Pairs of records from two different datasets that agree on ``keys`` (all pairs if none),
    among the records where the ``given`` columns are not missing."""
    where = " AND ".join(f"{column} IS NOT NULL" for column in given)
    by = ", ".join(keys)
    per = f"SELECT {by + ', ' if keys else ''}source_dataset, count(*) AS n FROM records WHERE {where} " \
          "GROUP BY ALL"
    total = f"SELECT sum(n) AS t, sum(n * n) AS s FROM ({per}) {'GROUP BY ' + by if keys else ''}"
    return int(_run(con, f"SELECT coalesce(sum(t * t - s), 0) // 2 FROM ({total})")[0][0])


def _swapped_pairs(con) -> int:
    """Pairs across datasets whose birth dates are one another's with day and month swapped."""
    return int(_run(con, """
        WITH d AS (
          SELECT birth_date AS k, source_dataset,
                 substr(birth_date, 1, 5) || substr(birth_date, 9, 2) || '-' || substr(birth_date, 6, 2)
                   AS s
          FROM records WHERE birth_date IS NOT NULL),
        a AS (SELECT s AS k, source_dataset, count(*) AS n FROM d WHERE s <> k GROUP BY ALL),
        b AS (SELECT k, source_dataset, count(*) AS n FROM d GROUP BY ALL),
        ka AS (SELECT k, sum(n) AS n FROM a GROUP BY k),
        kb AS (SELECT k, sum(n) AS n FROM b GROUP BY k)
        SELECT ((SELECT coalesce(sum(ka.n * kb.n), 0) FROM ka JOIN kb USING (k))
              - (SELECT coalesce(sum(a.n * b.n), 0) FROM a JOIN b USING (k, source_dataset))) // 2
        """)[0][0])  # each pair is seen from both of its records


def _run(con, sql: str, *parameters: object) -> list[tuple]:
    """Run one statement to its end (DuckDB 2 keeps a result open until it is fetched)."""
    return con.execute(sql, list(parameters)).fetchall()
