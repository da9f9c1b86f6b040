"""The leak guard finds raw identifiers (with checksums) and blocks open data."""

from __future__ import annotations

import json
import random
import re
from bisect import bisect_right
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from stdnum.cn import ric

from jinshu.catalog import Contract
from jinshu.dev.generate import generate_frame, render_extract
from jinshu.open import publisher, site
from jinshu.protect.leakguard import PATTERNS, LeakFound, _confirmed, guard, normalize_for_scan, scan
from jinshu.store.engine import engine_for
from jinshu.store.objects import open_store
from tests.helpers import ingest_file

ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")
ISSUE_ID = "140405195610068086"  # the number issue 11 found published as open data


def _full_width(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if c.isascii() and c.isalnum() else c for c in text)


def _url_encoded(text: str) -> str:
    return "".join(f"%{ord(c):02X}" for c in text)


# Every layout issue 11 lists, as (id, text, kind).
DISGUISES = [
    ("ric-spaced-6-8-4", "140405 19561006 8086", "cn_ric"),
    ("ric-dashed-6-8-4", "140405-19561006-8086", "cn_ric"),
    ("ric-after-chinese-and-ID", "联系人ID140405195610068086", "cn_ric"),
    ("ric-arabic-indic-digits", ISSUE_ID.translate(ARABIC_INDIC), "cn_ric"),
    ("ric-full-width-digits", _full_width(ISSUE_ID), "cn_ric"),
    ("ric-zero-width-space-inside", "1404051956\u200b10068086", "cn_ric"),
    ("ric-letters-before", "sfz" + ISSUE_ID, "cn_ric"),
    ("ric-letters-after", ISSUE_ID + "abc", "cn_ric"),
    ("ric-url-encoded", _url_encoded(ISSUE_ID), "cn_ric"),
    ("ric-in-url-query", "https://example.gov.cn/s?q=a%26id%3D" + ISSUE_ID, "cn_ric"),
    ("mobile-dashed-3-4-4", "159-0044-9361", "mobile"),
    ("mobile-spaced-3-4-4", "159 0044 9361", "mobile"),
    ("mobile-0086-glued", "008615900449361", "mobile"),
    ("mobile-plus86-spaced", "+86 159 0044 9361", "mobile"),
    ("mobile-plus86-dashed", "+86-159-0044-9361", "mobile"),
    ("mobile-0086-spaced", "0086 159 0044 9361", "mobile"),
    ("card-spaced-fours", "6222 0212 3456 7890 128", "bank_card"),
    ("card-dashed-fours", "6222-0212-3456-7890-128", "bank_card"),
    ("passport-g", "G12345678", "passport"),
    ("passport-de", "DE1234567", "passport"),
]


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


@pytest.mark.parametrize(("text", "kind"), [d[1:] for d in DISGUISES], ids=[d[0] for d in DISGUISES])
def test_disguised_identifiers_are_found_and_reported_masked(text, kind):
    [hit] = scan(f"备注：{text}。")
    assert hit.kind == kind
    digits = normalize_for_scan(text)[0].translate(str.maketrans("", "", " -"))
    assert "*" in hit.masked and digits[-11:] not in hit.masked


@pytest.mark.parametrize(("text", "at"), [
    pytest.param("身份证 140405 19561006 8086", "140405 ", id="spaced"),
    pytest.param("ID١٤٠٤٠٥١٩٥٦١٠٠٦٨٠٨٦ 号", "١٤٠", id="arabic-indic"),
    pytest.param("号\u200b14040519\u200b5610068086", "14040519", id="zero-width"),
    pytest.param("q=" + _url_encoded(ISSUE_ID) + "&r=1", "%31%34", id="url-encoded"),
    pytest.param("s?q=a%26id%3D140405195610068086", "140405", id="url-query"),
    pytest.param("电话 %2B86 159 0044 9361", "86 159", id="url-plus86"),
])
def test_offsets_point_into_the_original_text(text, at):
    [hit] = scan(text)
    assert text[hit.offset:].startswith(at)


@pytest.mark.parametrize("text", [
    "140105199803071233",  # wrong check character
    "91140105MA0K1B2C1E",  # a USCC
    "0351-4567890 或 03514567890",  # landlines
    "6222021234567890123",  # fails Luhn
    "7358.26 万元, 2026-11-25, 140105",  # amounts, dates, county codes
    "a13812345678b f2a72882f5edc62ac92b6b02c83f01e2b2b128dc7d4ee3a98a9f8b00d5355009",
    "1****************2 138****5678",  # already masked
    "140405 19561006 8087 与 140405-19561006-808X",  # wrong check, separated
    "第3批 2024/03/05-2024/04/30 办结，2026-11-25 13:45 编号 0351-4567890-123",
    "体温 13.5 14.2 15.8 16.1 17.3",  # a list of small numbers is not a mobile
    "ab6222021234567890128cd tel13812345678x",  # cards and mobiles inside letters
    "550e8400-e29b-41d4-a716-446655440000 192.168.100.200 v1.2.3",
    "１４０４０５１９５６１００６８０８７",  # full-width, wrong check
    "A12345678 XE12345678 E1234567",  # not passport shapes
    "140105 2024-03-05 1202 56.7",  # county, date, count: 18 digits that pass as an ID
    "140105 19980307 1 232 或 140105 19980307     1232",  # not a layout; a wide gap
], ids=["bad-check", "uscc", "landline", "not-luhn", "numbers", "inside-words-and-hashes",
        "masked", "bad-check-separated", "dates-ranges-landline-extension", "small-numbers",
        "card-and-mobile-inside-letters", "uuid-ip-version", "full-width-bad-check",
        "not-passports", "report-line", "odd-layout-and-wide-gap"])
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
    return [ric17 + ric.calc_check_digit(ric17 + "0"), ric17[:6] + ric17[8:],
            f"13{rng.randint(0, 10**9 - 1):09d}", "+86" + f"15{rng.randint(0, 10**9 - 1):09d}",
            card + _luhn_digit(card),
            f"{rng.choice('EG')}{rng.randint(0, 10**8 - 1):08d}",
            f"{rng.choice('DSP')}E{rng.randint(0, 10**7 - 1):07d}",
            digits,
            f"{rng.getrandbits(256):064x}", "household", "91140105MA0K1B2C1E", "x", "Z"]


def test_one_pass_finds_what_each_kind_finds_on_its_own():
    """The one pass finds what the five patterns, each run over the text, find: a resident
    ID apart from other digits (letters may touch it), every other kind apart from letters
    and digits. Pieces are joined without separators, so no number spans two pieces."""
    rng = random.Random(11)
    edged = {k: re.compile(rf"(?<![0-9A-Za-z])(?:{p.pattern})(?![0-9A-Za-z])")
             for k, p in PATTERNS.items()}
    edged["cn_ric"] = re.compile(r"(?<![0-9])[1-9][0-9]{16}(?:[0-9]|[Xx](?![0-9]))(?![0-9])")
    found = 0
    for _ in range(500):
        pieces = _pieces(rng)
        text = "".join(rng.choice(pieces) + rng.choice(["", "", ",", "；", "号", "（"])
                       for _ in range(12))
        expected = sorted((m.start(), k) for k, pattern in edged.items()
                          for m in pattern.finditer(text) if _confirmed(k, m.group().upper()))
        assert sorted((h.offset, h.kind) for h in scan(text)) == expected, text
        found += len(expected)
    assert found > 1000  # the texts really carried identifiers


# --- a thousand identifiers in every layout ------------------------------------------------

GROUPS = {"cn_ric": (6, 8, 4), "mobile": (3, 4, 4), "bank_card": (4, 4, 4, 4, 4)}


def _grouped(kind: str, value: str, separator: str) -> str | None:
    if kind not in GROUPS:
        return None  # a passport is written in one piece
    parts, at = [], 0
    for size in GROUPS[kind]:
        parts.append(value[at:at + size])
        at += size
    return separator.join(p for p in parts if p)


def _zero_width(value: str) -> str:
    return value[:3] + "\u200b" + value[3:9] + "\u200d\ufeff" + value[9:]


# layout name -> how an identifier of a kind is written in it (None: not written so)
LAYOUTS: dict[str, Callable[[str, str], str | None]] = {
    "plain": lambda kind, v: f"备注：{v}。",
    "spaced": lambda kind, v: _grouped(kind, v, " "),
    "dashed": lambda kind, v: _grouped(kind, v, "-"),
    "ideographic-space": lambda kind, v: _grouped(kind, v, "\u3000"),
    "glued-to-chinese": lambda kind, v: f"联系人{v}号",
    "glued-to-letters": lambda kind, v: f"sfz{v}abc" if kind == "cn_ric" else None,
    "arabic-indic-digits": lambda kind, v: f"编号 {v.translate(ARABIC_INDIC)}",
    "full-width": lambda kind, v: f"编号{_full_width(v)}",
    "zero-width-inside": lambda kind, v: f"编号{_zero_width(v)}",
    "url-encoded": lambda kind, v: f"q={_url_encoded(v)}",
    "url-query": lambda kind, v: f"https://example.gov.cn/s?q=a%26id%3D{v}",
    "plus86-spaced": lambda kind, v: "+86 " + _grouped(kind, v, " ") if kind == "mobile" else None,
    "0086-dashed": lambda kind, v: "0086-" + _grouped(kind, v, "-") if kind == "mobile" else None,
}


def _luhn_card(rng: random.Random, length: int) -> str:
    body = "62" + "".join(rng.choice("0123456789") for _ in range(length - 3))
    return body + _luhn_digit(body)


def _identifiers(contracts: dict[str, Contract]) -> list[tuple[str, str]]:
    """1,000 valid identifiers: 400 resident IDs, 250 mobiles, 250 cards, 100 passports."""
    rng = random.Random(2024)
    ids = generate_frame(contracts["household_registration"], 400, seed=11)["id_number"].tolist()
    mobiles = [f"1{rng.choice('3456789')}{rng.randint(0, 10**9 - 1):09d}" for _ in range(250)]
    cards = [_luhn_card(rng, rng.choice((16, 19))) for _ in range(250)]
    passports = [rng.choice(["E", "G", "EA", "DE", "SE", "PE"]) for _ in range(100)]
    passports = [p + f"{rng.randint(0, 10 ** (9 - len(p)) - 1):0{9 - len(p)}d}" for p in passports]
    return [("cn_ric", v) for v in ids] + [("mobile", v) for v in mobiles] \
        + [("bank_card", v) for v in cards] + [("passport", v) for v in passports]


def _near_miss(kind: str, value: str) -> str:
    """The same identifier with its check (or, without one, its shape) broken."""
    if kind == "cn_ric":
        return value[:17] + "0123456789X"[("0123456789X".index(value[17]) + 1) % 11]
    if kind == "bank_card":
        return value[:-1] + str((int(value[-1]) + 1) % 10)
    if kind == "mobile":
        return "12" + value[2:]
    return "H" + value[1:] if value[1].isdigit() else "H" + value[2:] + "0"


def _rendered(identifiers: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """``(layout, kind, text)`` of each identifier in each layout it can be written in."""
    return [(layout, kind, text) for kind, value in identifiers for layout, write in LAYOUTS.items()
            if (text := write(kind, value)) is not None]


def _scan_lines(texts: list[str]) -> list[list[str]]:
    """The kinds found on each line, all lines scanned as one artifact (as the guard does)."""
    starts = [0]
    for text in texts:
        starts.append(starts[-1] + len(text) + 1)
    kinds: list[list[str]] = [[] for _ in texts]
    for hit in scan("\n".join(texts)):
        kinds[bisect_right(starts, hit.offset) - 1].append(hit.kind)
    return kinds


def test_a_thousand_identifiers_are_found_in_every_layout(contracts, capsys):
    identifiers = _identifiers(contracts)
    assert len(identifiers) == 1000 and all(_confirmed(k, v) for k, v in identifiers)
    rendered = _rendered(identifiers)
    kinds = _scan_lines([text for _, _, text in rendered])
    found = Counter(layout for (layout, kind, _), got in zip(rendered, kinds, strict=True)
                    if got == [kind])
    with capsys.disabled():
        print(f"\nfound {found.total()}/{len(rendered)} in {len(LAYOUTS)} layouts:",
              ", ".join(f"{layout} {n}" for layout, n in found.items()))
    missed = [(text, got) for (_, kind, text), got in zip(rendered, kinds, strict=True) if got != [kind]]
    assert not missed, missed[:5]
    assert len(found) == len(LAYOUTS) >= 10 and len(rendered) > 8000


def test_their_near_misses_are_not(contracts, capsys):
    near = [(kind, _near_miss(kind, value)) for kind, value in _identifiers(contracts)]
    assert not any(_confirmed(k, v) for k, v in near)
    rendered = _rendered(near)
    kinds = _scan_lines([text for _, _, text in rendered])
    alarms = [(text, got) for (_, _, text), got in zip(rendered, kinds, strict=True) if got]
    with capsys.disabled():
        print(f"\nnear misses: {len(alarms)} alarms in {len(rendered)} texts in {len(LAYOUTS)} layouts")
    assert not alarms, alarms[:5]
    assert len(rendered) > 8000


def test_guard_names_the_artifact():
    with pytest.raises(LeakFound, match=r"open/x\.csv: 1 raw identifier\(s\) \(cn_ric\)"):
        guard("open/x.csv", "地址,140105199803071232\n".encode())


def test_a_leak_blocks_publication_and_the_previous_version_stays(settings, contracts):
    sites = contracts["vaccination_sites"]
    ingest_file(settings, contracts, sites, "a.csv", render_extract(
        sites, generate_frame(sites, 20, seed=1), seed=1)[1])
    engine, store = engine_for(settings.store_url), open_store(settings.open_data_url)
    publisher.publish(engine, store, sites, datetime.now(UTC))
    latest = store.read(f"{sites.id}/latest.json")
    version = json.loads(latest)["path"]
    before = {n: store.read(f"{version}{n}") for n in ("vaccination_sites.csv", "datapackage.json")}

    leaky = generate_frame(sites, 20, seed=2)
    leaky.loc[3, "address"] = "山西省太原市小店区 联系人身份证140105199803071232"
    ingest_file(settings, contracts, sites, "b.csv", render_extract(sites, leaky, seed=2)[1])
    with pytest.raises(LeakFound, match="cn_ric"):
        publisher.publish(engine, store, sites, datetime.now(UTC))
    assert store.read(f"{sites.id}/latest.json") == latest
    after = {n: store.read(f"{version}{n}") for n in before}
    assert after == before
    assert list(site.version_folders(store, sites.id)) == [version.split("/")[1]]  # nothing else


@pytest.mark.parametrize(("disguised", "kind"), [d[1:] for d in DISGUISES], ids=[d[0] for d in DISGUISES])
def test_a_disguised_identifier_in_free_text_blocks_publication(settings, contracts, disguised, kind):
    """Issue 11: each of these went out as open data from a free-text field."""
    sites = contracts["vaccination_sites"]
    leaky = generate_frame(sites, 5, seed=3)
    leaky.loc[2, "address"] = f"山西省太原市小店区 联系人{disguised}"
    ingest_file(settings, contracts, sites, "a.csv", render_extract(sites, leaky, seed=3)[1])
    engine, store = engine_for(settings.store_url), open_store(settings.open_data_url)
    with pytest.raises(LeakFound) as leak:
        publisher.publish(engine, store, sites, datetime.now(UTC))
    assert [h.kind for h in leak.value.hits] == [kind]
    assert store.list("") == []  # nothing published, not even the package description
    digits = normalize_for_scan(disguised)[0].translate(str.maketrans("", "", " -+"))
    assert digits[-11:] not in str(leak.value)
