"""Record hashes, keyed pseudonyms and in-batch duplicates."""

from __future__ import annotations

import hashlib
import hmac

import pandas as pd
import pytest

from jinshu.protect.pseudonyms import Pseudonymizer
from jinshu.repeat.dedup import RECORD_HASH, record_hashes, split_batch_duplicates

NA = None


def frame(**columns: list[str | None]) -> pd.DataFrame:
    return pd.DataFrame({k: pd.Series(v, dtype="str") for k, v in columns.items()})


# --- record hashes ---------------------------------------------------------------------------


def test_hash_equal_iff_values_equal():
    f = frame(a=["张三", "张三", "张三", "李四", "张三", NA, ""],
              b=["1", "1", "2", "1", NA, "1", "1"])
    hashes = record_hashes(f, ["a", "b"])
    assert hashes.str.fullmatch(r"[0-9a-f]{32}").all()
    rows = list(zip(f["a"].fillna("<NA>"), f["b"].fillna("<NA>"), strict=True))
    for i in range(len(f)):
        for j in range(len(f)):
            assert (hashes[i] == hashes[j]) == (rows[i] == rows[j]), (rows[i], rows[j])


@pytest.mark.parametrize(("first", "second"), [
    pytest.param(NA, "", id="missing-vs-empty"),
    pytest.param(NA, "None", id="missing-vs-None-text"),
    pytest.param(NA, "nan", id="missing-vs-nan-text"),
    pytest.param(NA, "<NA>", id="missing-vs-NA-text"),
    pytest.param("", " ", id="empty-vs-space"),
    pytest.param("1", "1.0", id="number-spellings"),
    pytest.param("x", "X", id="case"),
])
def test_distinct_single_values_hash_differently(first, second):
    hashes = record_hashes(frame(a=[first, second]), ["a"])
    assert hashes[0] != hashes[1]


def test_boundaries_between_fields_matter():
    f = frame(a=["ab", "a", ""], b=["", "b", "ab"])
    assert record_hashes(f, ["a", "b"]).nunique() == 3


def test_column_order_is_taken_as_given():
    f = frame(a=["x"], b=["y"])
    assert record_hashes(f, ["a", "b"])[0] != record_hashes(f, ["b", "a"])[0]
    same = frame(a=["x"], b=["x"])
    assert record_hashes(same, ["a", "b"])[0] == record_hashes(same, ["b", "a"])[0]


def test_only_listed_fields_count():
    f = frame(a=["x", "x"], b=["1", "2"])
    hashes = record_hashes(f, ["a"])
    assert hashes[0] == hashes[1]


def test_hash_is_stable_across_frames_and_keeps_index():
    f = frame(a=["x", "y"]).set_axis([10, 20])
    hashes = record_hashes(f, ["a"])
    assert hashes.index.tolist() == [10, 20]
    assert record_hashes(frame(a=["y"]), ["a"]).tolist() == [hashes[20]]


def test_empty_frame():
    assert record_hashes(frame(a=[]), ["a"]).tolist() == []


@pytest.mark.parametrize(("one", "other"), [
    pytest.param({"a": ["a\x1fb"], "b": ["c"]}, {"a": ["a"], "b": ["b\x1fc"]}, id="separator-in-value"),
    pytest.param({"a": [NA], "b": ["c"]}, {"a": ["\x00"], "b": ["c"]}, id="nul-vs-missing"),
])
def test_control_characters_cannot_forge_a_collision(one, other):
    assert record_hashes(frame(**one), ["a", "b"])[0] != record_hashes(frame(**other), ["a", "b"])[0]


# --- pseudonyms ------------------------------------------------------------------------------

KEYS = [
    pytest.param(bytes(range(32)), id="32-bytes"),
    pytest.param(b"k" * 63, id="63-bytes"),
    pytest.param(bytes(range(64)), id="64-bytes"),
    pytest.param(b"\xff" * 65, id="65-bytes"),
    pytest.param(bytes(range(200)) * 2, id="400-bytes"),
]
VALUES = ["140105199803071232", "14010520010815068X", "", "张三", "a" * 200]


@pytest.mark.parametrize("key", KEYS)
def test_pseudonym_is_hmac_sha256(key):
    pseudonymizer = Pseudonymizer(key)
    for value in VALUES:
        assert pseudonymizer.one(value) == hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


def test_pseudonym_depends_on_the_key():
    value = VALUES[0]
    assert Pseudonymizer(b"a" * 32).one(value) != Pseudonymizer(b"b" * 32).one(value)
    assert Pseudonymizer(b"a" * 32).one(value) != hashlib.sha256(value.encode()).hexdigest()


def test_pseudonymizer_is_reusable():
    pseudonymizer = Pseudonymizer(b"k" * 32)
    first = pseudonymizer.one("x")
    pseudonymizer.one("y")
    assert pseudonymizer.one("x") == first


def test_many_matches_one_and_keeps_missing():
    key = b"s" * 40
    pseudonymizer = Pseudonymizer(key)
    values = pd.Series([VALUES[0], NA, VALUES[1], VALUES[0]], dtype="str", index=[5, 6, 7, 8])
    out = pseudonymizer.many(values)
    assert out.index.tolist() == [5, 6, 7, 8]
    assert pd.isna(out[6])
    for i in (5, 7, 8):
        assert out[i] == hmac.new(key, values[i].encode(), hashlib.sha256).hexdigest()
    assert out[5] == out[8]


def test_many_of_all_missing():
    out = Pseudonymizer(b"k" * 32).many(pd.Series([NA, NA], dtype="str"))
    assert out.isna().all()


@pytest.mark.parametrize("length", [0, 1, 16, 31])
def test_short_key_is_refused(length):
    with pytest.raises(ValueError, match="at least 32 bytes"):
        Pseudonymizer(b"k" * length)


# --- duplicates within a batch ---------------------------------------------------------------


def test_split_keeps_first_occurrence_in_order():
    f = frame(a=["x", "y", "x", "z", "y", "x"])
    f["_row"] = [2, 3, 4, 5, 6, 7]
    f[RECORD_HASH] = record_hashes(f, ["a"])
    first, repeats = split_batch_duplicates(f)
    assert first["_row"].tolist() == [2, 3, 5]
    assert repeats["_row"].tolist() == [4, 6, 7]
    assert set(repeats[RECORD_HASH]) <= set(first[RECORD_HASH])


def test_split_without_duplicates():
    f = frame(a=["x", "y"])
    f[RECORD_HASH] = record_hashes(f, ["a"])
    first, repeats = split_batch_duplicates(f)
    assert len(first) == 2 and repeats.empty


def test_keyed_record_hash_differs_by_key_and_from_the_unkeyed_one():
    f = frame(a=["140105199803071232"], b=["x"])
    unkeyed = record_hashes(f, ["a", "b"])[0]
    assert record_hashes(f, ["a", "b"], b"k" * 32)[0] != unkeyed
    assert record_hashes(f, ["a", "b"], b"k" * 32)[0] != record_hashes(f, ["a", "b"], b"j" * 32)[0]
    assert record_hashes(f, ["a", "b"], b"k" * 32)[0] == record_hashes(f, ["a", "b"], b"k" * 32)[0]
