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
- parameters trained on the records themselves, without labels: u by random sampling
  (fixed seed), m by expectation maximisation on two small blockings (same birth date and
  name sound teaches the address; same address teaches name and birth date), the prior
  from two deterministic rules. One choice is fixed, not learned: an address that agrees
  on no more than the county is rare for one person (:data:`ADDRESS_DISAGREES_M`), so a
  common name with the same birth date at another address goes to review, not to the
  matches. The same records give the same pairs (probabilities equal to about 1e-15).

Pairs at ``match_threshold`` or above are matches; pairs from ``review_threshold`` up to it
are the uncertain band, for a person to review, never counted as matches. Only pairs across
datasets are formed (Splink's ``link_only``): each dataset holds one record per subject
(its natural key), so repeats within one dataset are not this module's business.

Splink and DuckDB are imported on the first call, so a process that never matches does not
pay for them. Nothing here logs a value.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pandas as pd

from jinshu.repeat.normalize import comparable

PAIR_COLUMNS = ("record_id_l", "record_id_r", "source_dataset_l", "source_dataset_r",
                "match_probability")
SEED = 42  # u sampling: the same records give the same model
U_SAMPLE_PAIRS = 1_000_000
PRIOR_RECALL = 0.9  # of the true pairs, the share the prior's deterministic rules are taken to find
# Of the records of one person, the share whose street differs (fixed, not learned): name and birth
# date that agree with another street are a look-alike or a move, for a person to review.
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
        con.execute("SET enable_progress_bar = false")  # no bars in task logs
        tables = [frame[frame["source_dataset"] == name].reset_index(drop=True) for name in datasets]
        linker = Linker(tables, _settings(), DuckDBAPI(con), input_table_aliases=datasets,
                        set_up_basic_logging=False)
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


def _settings():
    import splink.comparison_level_library as cll
    from splink import SettingsCreator, block_on
    from splink.comparison_library import CustomComparison

    name = CustomComparison([
        cll.NullLevel("name_norm"),
        cll.ExactMatchLevel("name_norm", term_frequency_adjustments=True),
        cll.CustomLevel("name_chars_l = name_chars_r", "same characters, another order"),
        cll.CustomLevel("name_sound_l = name_sound_r", "same sound (homophone)"),
        cll.LevenshteinLevel("name_norm", 1),
        cll.ElseLevel(),
    ], output_column_name="name")
    birth = CustomComparison([
        cll.NullLevel("birth_date"),
        cll.ExactMatchLevel("birth_date", term_frequency_adjustments=True),
        cll.CustomLevel(_DAY_MONTH_SWAPPED, "day and month swapped"),
        cll.ElseLevel(),
    ], output_column_name="birth_date")
    address = CustomComparison([
        cll.CustomLevel("addr_rest_l IS NULL OR addr_rest_r IS NULL", "no street").configure(
            is_null_level=True),
        cll.CustomLevel("addr_rest_l = addr_rest_r AND (addr_county_l = addr_county_r"
                        " OR addr_county_l IS NULL OR addr_county_r IS NULL)",
                        "same street and number, the county the same or not given"),
        cll.ExactMatchLevel("addr_rest"),
        cll.ExactMatchLevel("addr_county").configure(m_probability=ADDRESS_DISAGREES_M,
                                                     fix_m_probability=True),
        cll.ElseLevel().configure(m_probability=ADDRESS_DISAGREES_M, fix_m_probability=True),
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
    # Two small blockings, so training stays cheap at a million records: pairs that agree on
    # birth date and name sound teach the address; pairs at the same address teach name and date.
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("birth_date", "name_sound"), estimate_without_term_frequencies=True)
    linker.training.estimate_parameters_using_expectation_maximisation(
        block_on("addr_county", "addr_rest"), estimate_without_term_frequencies=True)
