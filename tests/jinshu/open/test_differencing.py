"""The differencing attack on per-county aggregates (issue 14): two consecutive versions that
differ by one household must not give that household's size and allowance."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from jinshu.open import perturb
from tests.jinshu.open.conftest import CATALOG, built, stored

CONTRACT = CATALOG["minimum_living_allowance"]
COUNTY = "140105"


BASE = stored(CONTRACT, rows=60, seed=0)


def county(households: int, seed: int) -> pd.DataFrame:
    """A county's recipient households as stored (sizes 1-6, allowances 300-2,000 yuan/month)."""
    rng = np.random.default_rng(seed)
    frame = BASE.sample(households, replace=True, random_state=seed).reset_index(drop=True)
    frame["_subject_key"] = [f"household-{seed}-{i}" for i in range(households)]
    frame["county_code"] = COUNTY
    frame["household_size"] = rng.integers(1, 7, households).astype(str)
    frame["allowance_yuan"] = rng.uniform(300, 2000, households).round(2).astype(str)
    return frame


def attack(before: pd.DataFrame, after: pd.DataFrame) -> tuple[int, float]:
    """What an attacker subtracting the two published versions learns of the new household."""
    v1 = built(before, CONTRACT).rows.set_index("county_code").loc[COUNTY]
    v2 = built(after, CONTRACT).rows.set_index("county_code").loc[COUNTY]
    assert v2["record_count"] - v1["record_count"] == 1  # counts are exact: one household joined
    return (int(v2["sum_household_size"] - v1["sum_household_size"]),
            float(v2["sum_allowance_yuan"] - v1["sum_allowance_yuan"]))


def joined(frame: pd.DataFrame, seed: int) -> tuple[pd.DataFrame, int, float]:
    newcomer = county(1, seed=seed + 1000)
    newcomer["_subject_key"] = f"newcomer-{seed}"
    newcomer["county_code"] = frame["county_code"].iloc[0]
    return (pd.concat([frame, newcomer], ignore_index=True), int(newcomer["household_size"][0]),
            float(newcomer["allowance_yuan"][0]))


def test_one_household_more_does_not_give_its_size_and_allowance():
    before = county(30, seed=1)
    after, size, allowance = joined(before, seed=1)
    guessed_size, guessed_allowance = attack(before, after)
    assert guessed_size != size
    assert abs(guessed_allowance - allowance) >= 1.0


def test_over_many_households_the_attack_is_no_better_than_a_wide_guess():
    trials, exact_size, close_allowance, size_errors, allowance_errors = 100, 0, 0, [], []
    for seed in range(trials):
        before = county(20 + seed % 30, seed=seed)
        after, size, allowance = joined(before, seed)
        guessed_size, guessed_allowance = attack(before, after)
        exact_size += guessed_size == size
        close_allowance += abs(guessed_allowance - allowance) < 10  # within 10 yuan
        size_errors.append(abs(guessed_size - size))
        allowance_errors.append(abs(guessed_allowance - allowance))
    assert exact_size / trials < 0.15  # a uniform guess of 1-6 people is right 1 time in 6
    assert close_allowance / trials <= 0.05  # near misses happen; nothing tells them apart
    assert np.median(size_errors) >= 2 and np.median(allowance_errors) >= 300


def test_an_unchanged_county_publishes_the_same_numbers_in_every_version():
    """The same households give the same noise: averaging versions of a cell learns nothing."""
    before = county(25, seed=7)
    other = county(12, seed=8)
    other["county_code"] = "140106"
    v1 = built(pd.concat([before, other], ignore_index=True), CONTRACT).rows.set_index("county_code")
    after, _, _ = joined(other, seed=8)  # a household joins the other county only
    v2 = built(pd.concat([before, after], ignore_index=True), CONTRACT).rows.set_index("county_code")
    assert v1.loc[COUNTY].equals(v2.loc[COUNTY])
    assert not v1.loc["140106"].equals(v2.loc["140106"])


def test_control_without_noise_the_attack_succeeds(monkeypatch):
    """The attack above is real: with the noise switched off it recovers the household exactly."""
    monkeypatch.setattr(perturb, "noise", lambda *args, **kwargs: 0.0)
    before = county(30, seed=1)
    after, size, allowance = joined(before, seed=1)
    guessed_size, guessed_allowance = attack(before, after)
    assert guessed_size == size and guessed_allowance == pytest.approx(allowance, abs=0.011)
