"""Probabilistic matching without identifiers (issue 13): planted near-duplicates are found,
look-alikes are not, and the uncertain band is kept apart from the matches.

The speed figure comes from ``make bench-linkage`` at 1,000,000 records, never from here.
"""

from __future__ import annotations

import subprocess
import sys
from datetime import date

import pandas as pd
import pytest

from jinshu.dev.linkage_sample import LEFT, RIGHT, linkage_sample
from jinshu.repeat.linkage import PAIR_COLUMNS, LinkResult, link
from jinshu.repeat.normalize import comparable
from jinshu.vocab.address import parse

RECORDS = 10_000
MATCH, REVIEW = 0.99, 0.5
KINDS = {"exact", "name:typo", "name:swap", "name:traditional", "name:space", "date:swap",
         "address:abbreviated", "address:traditional", "address:full_width"}


@pytest.fixture(scope="module")
def sample():
    return linkage_sample(RECORDS, seed=11)


@pytest.fixture(scope="module")
def result(sample) -> LinkResult:
    return link(sample.records, match_threshold=MATCH, review_threshold=REVIEW)


def pairs(frame: pd.DataFrame) -> set[tuple[str, str]]:
    return set(zip(frame["record_id_l"], frame["record_id_r"], strict=True))


def test_planted_near_duplicates_are_found_with_precision_and_recall(sample, result, record_property):
    truth, found = pairs(sample.truth), pairs(result.matches)
    hits = len(found & truth)
    precision, recall = hits / len(found), hits / len(truth)
    planted = sample.truth.assign(hit=[p in found for p in pairs_in_order(sample.truth)],
                                  kind=sample.truth["kinds"].str.split(",")).explode("kind")
    by_kind = planted.groupby("kind")["hit"].agg(["size", "mean"])
    uncertain = pairs(result.uncertain)
    record_property("figure", (
        f"linkage on {sum(result.records.values()):,} labelled records ({len(truth):,} true pairs): "
        f"precision {precision:.4f}, recall {recall:.4f} at p >= {MATCH} ({len(found):,} matches); "
        f"uncertain band {REVIEW} <= p < {MATCH}: {len(uncertain):,} pairs, "
        f"{len(uncertain & truth)} of them true, for review\n"
        "linkage recall by planted change: " + ", ".join(
            f"{kind} {row['mean']:.3f} ({int(row['size'])})" for kind, row in by_kind.iterrows())))
    assert sum(result.records.values()) == len(sample.records) >= 10_000
    assert result.records == {LEFT: RECORDS // 2, RIGHT: RECORDS // 2}
    assert precision >= 0.99 and recall >= 0.95
    assert set(by_kind.index) == KINDS and (by_kind["size"] >= 50).all()
    assert (by_kind["mean"] >= 0.95).all(), by_kind  # each normalization does its part


def pairs_in_order(frame: pd.DataFrame) -> list[tuple[str, str]]:
    return list(zip(frame["record_id_l"], frame["record_id_r"], strict=True))


def test_look_alikes_sharing_a_common_name_and_birth_date_are_not_matched(sample, result):
    """王伟 born the same day is not the same 王伟: without the address they go to review."""
    records = sample.records
    left, right = records[records["source_dataset"] == LEFT], records[records["source_dataset"] == RIGHT]
    same = left.merge(right, on=["name", "birth_date"], suffixes=("_l", "_r"))
    look_alikes = pairs(same) - pairs(sample.truth)
    assert len(look_alikes) >= 80  # about 2 % of the second dataset, common names only
    assert not look_alikes & pairs(result.matches)
    assert look_alikes & pairs(result.uncertain)  # the same county makes some worth a look


def test_the_uncertain_band_is_reported_apart_from_the_matches(result):
    assert list(result.matches.columns) == list(PAIR_COLUMNS) == list(result.uncertain.columns)
    assert (result.matches["match_probability"] >= MATCH).all()
    assert result.uncertain["match_probability"].between(REVIEW, MATCH, inclusive="left").all()
    assert len(result.uncertain) > 0 and not pairs(result.matches) & pairs(result.uncertain)
    for frame in (result.matches, result.uncertain):  # only pairs across datasets, left first
        assert (frame["source_dataset_l"] == LEFT).all() and (frame["source_dataset_r"] == RIGHT).all()
    assert {"prepare", "train", "predict", "total"} <= set(result.seconds) and result.cpu_seconds > 0


def test_the_spellings_of_one_person_fold_to_one_form():
    frame = pd.DataFrame({
        "record_id": ["1", "2", "3", "4"], "source_dataset": ["a", "b", "b", "b"],
        "name": ["王建国", "建国王", "王建國", "汪建国"],
        "birth_date": ["1985-03-07", date(1985, 3, 7), "1985/3/7", "1985年3月7日"],
        "address": ["山西省太原市小店区迎泽大街12号", "太原小店区迎泽大街12号",
                    "山西太原市小店區迎澤大街１２號", " 小店区 迎泽大街12 "]})
    out = comparable(frame)
    assert out["name_chars"].nunique() == 2 and out["name_sound"].nunique() == 1
    assert out["name_norm"].tolist()[0] == out["name_norm"].tolist()[2] == "王建国"
    assert out["birth_date"].unique().tolist() == ["1985-03-07"]
    assert out[["addr_county", "addr_rest"]].drop_duplicates().to_numpy().tolist() == [
        ["140105", "迎泽大街12"]]
    assert parse("山西省太原市小店区").county == parse("太原小店区").county == "140105"


def test_addresses_in_bulk_read_as_parse_reads_each(sample):
    """comparable() parses once per text before the house number; it must agree with parse()."""
    edge = ["小店区12号", "太原市迎泽大街", "迎泽大街１２　號 ", "12", "", "北京市東城區王府井大街1号"]
    addresses = [*sample.records["address"].iloc[::7], *edge]
    frame = pd.DataFrame({"record_id": [str(i) for i in range(len(addresses))], "source_dataset": "a",
                          "name": "", "birth_date": "", "address": addresses})
    out = comparable(frame)
    expected = [(a.county or None, a.rest or None) for a in map(parse, addresses)]
    got = [tuple(None if pd.isna(v) else v for v in row)
           for row in out[["addr_county", "addr_rest"]].itertuples(index=False)]
    assert got == expected
    assert expected[-6:] == [("140105", "12"), (None, "迎泽大街"), (None, "迎泽大街12"), (None, "12"),
                             (None, None), ("110101", "王府井大街1")]


def test_a_missing_value_is_unknown_never_a_match():
    frame = pd.DataFrame({"record_id": ["1"], "source_dataset": ["a"], "name": [None],
                          "birth_date": ["1985-02-30"], "address": [""]})
    assert comparable(frame).drop(columns=["record_id", "source_dataset"]).isna().all(axis=None)


def test_bad_input_is_refused_with_the_fix_and_without_a_value():
    good = pd.DataFrame({"record_id": ["r1", "r1"], "source_dataset": ["a", "a"],
                         "name": ["张三丰", "李四"], "birth_date": ["1985-03-07"] * 2,
                         "address": ["太原小店区迎泽大街12号"] * 2})
    with pytest.raises(ValueError, match=r"records row 1: record_id repeats") as raised:
        link(good, match_threshold=MATCH, review_threshold=REVIEW)
    assert "张三丰" not in str(raised.value) and "r1" not in str(raised.value)
    with pytest.raises(ValueError, match=r"lack the column\(s\) \['address'\]"):
        link(good.drop(columns="address"), match_threshold=MATCH, review_threshold=REVIEW)
    with pytest.raises(ValueError, match="0 < review_threshold <= match_threshold <= 1"):
        link(good, match_threshold=0.5, review_threshold=0.9)


def test_three_datasets_are_linked_pair_by_pair():
    sample = linkage_sample(1200, seed=2)
    records = sample.records.copy()
    second = records.index[records["source_dataset"] == RIGHT]
    records.loc[second[::2], "source_dataset"] = "minimum_living_allowance"
    result = link(records, match_threshold=MATCH, review_threshold=REVIEW)
    assert result.records == {LEFT: 600, "minimum_living_allowance": 300, RIGHT: 300}
    found = pairs(result.matches)
    assert len(found & pairs(sample.truth)) >= 0.95 * len(sample.truth) and len(found) <= len(sample.truth)
    kinds = set(zip(result.matches["source_dataset_l"], result.matches["source_dataset_r"], strict=True))
    assert kinds == {(LEFT, "minimum_living_allowance"), (LEFT, RIGHT)}


def test_one_dataset_has_nothing_to_link_across():
    one = linkage_sample(20, seed=1).records.assign(source_dataset="only")
    result = link(one, match_threshold=MATCH, review_threshold=REVIEW)
    assert result.records == {"only": 20}
    assert result.matches.empty and result.uncertain.empty
    assert list(result.matches.columns) == list(PAIR_COLUMNS)


def test_the_generator_is_labelled_and_repeatable():
    first, again = linkage_sample(400, seed=3), linkage_sample(400, seed=3)
    assert first.records.equals(again.records) and first.truth.equals(again.truth)
    assert not first.records.equals(linkage_sample(400, seed=4).records)
    assert first.records["record_id"].is_unique and len(first.truth) == 100
    ids = set(first.records["record_id"])
    assert set(first.truth["record_id_l"]) <= ids and set(first.truth["record_id_r"]) <= ids


def test_importing_the_module_loads_neither_splink_nor_duckdb():
    """An Airflow task that never matches pays nothing for the matching libraries."""
    code = ("import sys, jinshu.repeat.linkage; "
            "print(sorted(m for m in ('splink', 'duckdb', 'opencc', 'pypinyin') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
