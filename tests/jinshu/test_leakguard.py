"""The leak guard finds raw identifiers (with checksums) and blocks open data."""

from __future__ import annotations

import random
import re
from datetime import UTC, datetime

import pytest
from stdnum.cn import ric

from jinshu.dev.generate import generate_frame, render_extract
from jinshu.open import publisher
from jinshu.protect.leakguard import PATTERNS, LeakFound, _confirmed, guard, scan
from jinshu.store.engine import engine_for
from jinshu.store.objects import open_store
from tests.helpers import ingest_file


@pytest.mark.parametrize(("text", "kind"), [
    ("身份证 140105199803071232 已登记", "cn_ric"),
    ("id=14010520010815068x;", "cn_ric"),
    ("旧证 140105980307123 号", "cn_ric_15"),
    ("手机13812345678", "mobile"),
    ("+8613912345678", "mobile"),
    ("卡号 6222021234567890128 开户", "bank_card"),
    ("passport E12345678", "passport"),
], ids=["ric", "ric-lower-x", "ric-15", "mobile", "mobile-86", "bank-card", "passport"])
def test_raw_identifiers_are_found_and_reported_masked(text, kind):
    [hit] = scan(text)
    assert hit.kind == kind
    assert "*" in hit.masked and hit.masked != text


@pytest.mark.parametrize("text", [
    "140105199803071233",  # wrong check character
    "91140105MA0K1B2C1E",  # a USCC
    "0351-4567890 或 03514567890",  # landlines
    "6222021234567890123",  # fails Luhn
    "7358.26 万元, 2026-11-25, 140105",  # amounts, dates, county codes
    "a13812345678b f2a72882f5edc62ac92b6b02c83f01e2b2b128dc7d4ee3a98a9f8b00d5355009",
    "1****************2 138****5678",  # already masked
], ids=["bad-check", "uscc", "landline", "not-luhn", "numbers", "inside-words-and-hashes",
        "masked"])
def test_no_false_alarm(text):
    assert scan(text) == []


def test_random_digit_runs_rarely_look_like_ids():
    rng = random.Random(7)
    runs = ["".join(rng.choice("0123456789") for _ in range(18)) for _ in range(2000)]
    flagged = [r for r in runs if scan(r)]
    assert len(flagged) <= 2000 * 0.01  # checksums keep false alarms rare
    for run in flagged:  # and every alarm is a number that really passes a checksum
        assert ric.calc_check_digit(run) == run[-1] or sum(
            (int(d) * 2 - 9 if int(d) * 2 > 9 else int(d) * 2) if i % 2 else int(d)
            for i, d in enumerate(reversed(run))) % 10 == 0


def _luhn_digit(body: str) -> str:
    total = sum((int(d) * 2 - 9 if int(d) * 2 > 9 else int(d) * 2) if i % 2 == 0 else int(d)
                for i, d in enumerate(reversed(body)))
    return str(-total % 10)


def _pieces(rng: random.Random) -> list[str]:
    """Identifiers of every kind, near misses, hashes, words and separators."""
    ric17 = f"140105{rng.randint(1950, 2010)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}" \
            f"{rng.randint(0, 999):03d}"
    card = "62" + "".join(rng.choice("0123456789") for _ in range(rng.randint(13, 16)))
    digits = "".join(rng.choice("0123456789") for _ in range(rng.randint(5, 22)))
    return [ric17 + ric.calc_check_digit(ric17), ric17[:6] + ric17[8:], f"13{rng.randint(0, 10**9 - 1):09d}",
            "+86" + f"15{rng.randint(0, 10**9 - 1):09d}", card + _luhn_digit(card),
            f"E{rng.randint(0, 10**8 - 1):08d}", f"{rng.choice('DSP')}E{rng.randint(0, 10**7 - 1):07d}",
            digits,
            f"{rng.getrandbits(256):064x}", "household", "91140105MA0K1B2C1E", "x", "Z"]


def test_one_pass_finds_what_each_kind_finds_on_its_own():
    """The candidate pass misses nothing the five patterns, each run over the text, find."""
    rng = random.Random(11)
    edged = {k: re.compile(rf"(?<![0-9A-Za-z])(?:{p.pattern})(?![0-9A-Za-z])")
             for k, p in PATTERNS.items()}
    found = 0
    for _ in range(500):
        pieces = _pieces(rng)
        text = "".join(rng.choice(pieces) + rng.choice(["", "", ",", " ", "；", "-", "号"])
                       for _ in range(12))
        expected = sorted((m.start(), k) for k, pattern in edged.items()
                          for m in pattern.finditer(text) if _confirmed(k, m.group()))
        assert sorted((h.offset, h.kind) for h in scan(text)) == expected, text
        found += len(expected)
    assert found > 1000  # the texts really carried identifiers


def test_guard_names_the_artifact():
    with pytest.raises(LeakFound, match=r"open/x\.csv: 1 raw identifier\(s\) \(cn_ric\)"):
        guard("open/x.csv", "地址,140105199803071232\n".encode())


def test_a_leak_blocks_publication_and_the_previous_version_stays(settings, contracts):
    sites = contracts["vaccination_sites"]
    ingest_file(settings, contracts, sites, "a.csv", render_extract(
        sites, generate_frame(sites, 20, seed=1), seed=1)[1])
    engine, store = engine_for(settings.store_url), open_store(settings.open_data_url)
    publisher.publish(engine, store, sites, datetime.now(UTC))
    before = {n: store.read(f"{sites.id}/{n}") for n in ("vaccination_sites.csv", "datapackage.json")}

    leaky = generate_frame(sites, 20, seed=2)
    leaky.loc[3, "address"] = "山西省太原市小店区 联系人身份证140105199803071232"
    ingest_file(settings, contracts, sites, "b.csv", render_extract(sites, leaky, seed=2)[1])
    with pytest.raises(LeakFound, match="cn_ric"):
        publisher.publish(engine, store, sites, datetime.now(UTC))
    after = {n: store.read(f"{sites.id}/{n}") for n in before}
    assert after == before
