"""Per-value work split over worker processes gives exactly the in-process result."""

from __future__ import annotations

import os
from functools import partial

import pandas as pd

from jinshu import parallel
from jinshu.dedup import Pseudonymizer, _hmac_hex


def _tagged(tag: str, values: list[int]) -> list[str]:
    return [f"{tag}{v}:{os.getpid()}" for v in values]


def test_big_inputs_are_split_over_workers_in_order(monkeypatch):
    monkeypatch.setattr(parallel, "MIN_PER_WORKER", 10)
    monkeypatch.setenv("JINSHU_WORKERS", "3")
    out = parallel.split_map(partial(_tagged, "v"), range(35))
    assert [o.split(":")[0] for o in out] == [f"v{i}" for i in range(35)]
    pids = {o.split(":")[1] for o in out}
    assert len(pids) >= 2 and str(os.getpid()) in pids  # worker process(es) plus this one


def test_small_inputs_or_one_worker_stay_in_process(monkeypatch):
    monkeypatch.setattr(parallel, "MIN_PER_WORKER", 10)
    monkeypatch.setenv("JINSHU_WORKERS", "1")
    assert {o.split(":")[1] for o in parallel.split_map(partial(_tagged, ""), range(50))} == {
        str(os.getpid())}
    monkeypatch.setenv("JINSHU_WORKERS", "4")
    assert {o.split(":")[1] for o in parallel.split_map(partial(_tagged, ""), range(15))} == {
        str(os.getpid())}


def test_pseudonyms_are_the_same_split_or_not(monkeypatch):
    values = pd.Series([f"1401051998{i:08d}" for i in range(300)], dtype="str")
    key = b"k" * 32
    monkeypatch.setenv("JINSHU_WORKERS", "1")
    serial = Pseudonymizer(key).many(values)
    monkeypatch.setattr(parallel, "MIN_PER_WORKER", 50)
    monkeypatch.setenv("JINSHU_WORKERS", "2")
    assert Pseudonymizer(key).many(values).tolist() == serial.tolist()
    assert serial.tolist() == _hmac_hex(key, values.tolist())
