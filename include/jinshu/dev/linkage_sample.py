"""A labelled pair of person datasets without identifiers, for probabilistic matching.

:func:`linkage_sample` draws people the way :mod:`jinshu.dev.generate` does (Faker's
zh_CN names by real surname frequency, Shanxi counties, birth dates 1940-2008, addresses
山西省<市><县/区><街>N号), puts half of the records in ``household_registration`` and the
other half in ``social_insurance_enrollment``, and plants what two departments' clerks make
of the same person:

- names: a character replaced by a homophone a pinyin input method offers (伟 -> 玮) or,
  when the name has none, by another name character; surname and given name swapped
  (王建国 -> 建国王); traditional characters (张伟 -> 張偉); a space inside (王 伟, 王　伟);
- birth dates: day and month swapped (1985-03-07 -> 1985-07-03);
- addresses: 山西省 dropped, 市/区/县 dropped, 号 dropped, the prefecture dropped,
  traditional characters, full-width digits;

and true non-matches that look alike: other people with the same common name (a frequent
surname and a one-character given name: 王伟, 李娜) and the same birth date, half of them in
the same county. Plenty more share a name or a birth date by chance. ``truth`` lists every pair of records of
the same person with what was planted (``kinds``); any other pair is a non-match.

The same size and seed always give the same records.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache

import numpy as np
import pandas as pd
from faker.providers.person.zh_CN import Provider as ZhPerson

from jinshu.dev.generate import _address, _names, _people, _rng

LEFT, RIGHT = "household_registration", "social_insurance_enrollment"
OVERLAP = 0.5  # of the right dataset's records, the share that are people of the left one
LOOKALIKES = 0.02  # of the right dataset's records, another person with a left name + birth date
COMMON_SURNAMES = "王李张刘陈杨黄吴赵周"  # with a one-character given name: 王伟, 李娜, 张敏 ...
NAME_CHANGES = (("typo", 0.20), ("swap", 0.12), ("traditional", 0.12), ("space", 0.06))
DATE_SWAP = 0.12  # of the duplicates whose day and month can be swapped
ADDRESS_CHANGES = (("abbreviated", 0.45), ("traditional", 0.10), ("full_width", 0.10))
ABBREVIATIONS = ("no_province", "no_suffixes", "no_number_word", "no_prefecture")


@dataclass(frozen=True)
class LinkageSample:
    records: pd.DataFrame  # record_id, source_dataset, name, birth_date, address (all str)
    truth: pd.DataFrame  # record_id_l (left), record_id_r (right), kinds ('name:swap,date:swap')


def linkage_sample(records: int, seed: int = 0) -> LinkageSample:
    """``records`` records, half in each dataset, with planted near-duplicates and look-alikes."""
    if records < 4:
        raise ValueError(f"linkage_sample needs at least 4 records, not {records}")
    n_left = records // 2
    n_right = records - n_left
    n_dup = round(n_right * OVERLAP)
    n_look = round(n_right * LOOKALIKES)
    rng = _rng(seed, "linkage", "people")
    people = _people(rng, n_left + n_right, None)
    names = np.asarray(_names(None, people, _rng(seed, "linkage", "names")).to_pylist(), dtype=object)
    births = np.datetime_as_string(people.birth, unit="D").astype(object)
    addresses = np.asarray(_address(None, people, _rng(seed, "linkage", "address")).to_pylist(),
                           dtype=object)
    left = pd.DataFrame({"record_id": [f"hr-{i:07d}" for i in range(n_left)], "source_dataset": LEFT,
                         "name": names[:n_left], "birth_date": births[:n_left],
                         "address": addresses[:n_left]})

    pick = _rng(seed, "linkage", "pick")
    dup_of = np.sort(pick.choice(n_left, n_dup, replace=False))
    common = np.flatnonzero([_is_common(name) for name in names[:n_left]])
    look_of = np.sort(pick.choice(common, min(n_look, len(common)), replace=False))
    n_look = len(look_of)
    n_fresh = n_right - n_dup - n_look
    noise = _rng(seed, "linkage", "noise")
    dup_rows, kinds = [], []
    for i in dup_of:
        name, birth, address, planted = _perturb(names[i], births[i], addresses[i], noise)
        dup_rows.append((name, birth, address))
        kinds.append(",".join(planted) or "exact")
    look = slice(n_left + n_fresh, n_left + n_fresh + n_look)  # their own addresses, if not moved
    same_county = _rng(seed, "linkage", "lookalike").random(n_look) < 0.5
    look_addresses = np.where(same_county, _same_county(addresses[look_of], addresses[look], seed),
                              addresses[look])
    right = pd.DataFrame({
        "name": [r[0] for r in dup_rows] + list(names[n_left:n_left + n_fresh]) + list(names[look_of]),
        "birth_date": [r[1] for r in dup_rows] + list(births[n_left:n_left + n_fresh])
        + list(births[look_of]),
        "address": [r[2] for r in dup_rows] + list(addresses[n_left:n_left + n_fresh])
        + list(look_addresses),
    })
    shuffle = _rng(seed, "linkage", "shuffle").permutation(n_right)
    right = right.iloc[shuffle].reset_index(drop=True)
    right_ids = np.array([f"si-{i:07d}" for i in range(n_right)], dtype=object)
    position = np.empty(n_right, dtype=np.int64)
    position[shuffle] = np.arange(n_right)
    right.insert(0, "record_id", right_ids)
    right.insert(1, "source_dataset", RIGHT)
    truth = pd.DataFrame({"record_id_l": left["record_id"].to_numpy()[dup_of],
                          "record_id_r": right_ids[position[:n_dup]], "kinds": kinds})
    frame = pd.concat([left, right], ignore_index=True).astype("str")
    return LinkageSample(frame, truth.sort_values("record_id_l", ignore_index=True))


# --- what clerks make of a record -----------------------------------------------------------


def _perturb(name: str, birth: str, address: str, rng: np.random.Generator
             ) -> tuple[str, str, str, list[str]]:
    planted: list[str] = []
    name = _change("name", name, NAME_CHANGES, _NAME_CHANGERS, rng, planted)
    year, month, day = birth.split("-")
    if month != day and int(day) <= 12 and rng.random() < DATE_SWAP:
        birth = f"{year}-{day}-{month}"
        planted.append("date:swap")
    address = _change("address", address, ADDRESS_CHANGES, _ADDRESS_CHANGERS, rng, planted)
    return name, birth, address, planted


def _change(field: str, value: str, choices: Sequence[tuple[str, float]],
            changers: dict[str, Callable[[str, np.random.Generator], str]],
            rng: np.random.Generator, planted: list[str]) -> str:
    """One change drawn from ``choices`` (or none), recorded in ``planted`` when it changed anything."""
    kind = _draw(choices, rng)
    changed = changers[kind](value, rng) if kind else value
    if changed != value:
        planted.append(f"{field}:{kind}")
    return changed


def _draw(choices: Sequence[tuple[str, float]], rng: np.random.Generator) -> str | None:
    roll = rng.random()
    for kind, share in choices:
        if roll < share:
            return kind
        roll -= share
    return None


def _typo(name: str, rng: np.random.Generator) -> str:
    """One character replaced by a homophone from the name pool, else by any given-name character."""
    at = int(rng.integers(len(name)))
    options = _homophones().get(name[at]) or _given_characters()
    options = [c for c in options if c != name[at]]
    return name[:at] + options[int(rng.integers(len(options)))] + name[at + 1:]


def _swap(name: str, rng: np.random.Generator) -> str:
    """Given name first: surnames here are one character."""
    return name[1:] + name[0]


def _space(name: str, rng: np.random.Generator) -> str:
    return name[0] + ("\u3000" if rng.random() < 0.5 else " ") + name[1:]


def _abbreviated(address: str, rng: np.random.Generator) -> str:
    way = ABBREVIATIONS[int(rng.integers(len(ABBREVIATIONS)))]
    rest = address.removeprefix("山西省")
    if way == "no_province":
        return rest
    if way == "no_suffixes":  # 山西太原小店迎泽大街12号: the level words go
        prefecture, tail = rest.split("市", 1) if "市" in rest[:5] else ("", rest)
        for word in ("区", "县"):
            if word in tail[:5] and tail.index(word) >= 2:
                tail = tail.replace(word, "", 1)
                break
        return "山西" + prefecture + tail
    if way == "no_number_word":
        return address.removesuffix("号")
    return rest.split("市", 1)[1] if "市" in rest[:5] else rest  # no_prefecture


def _full_width(address: str, rng: np.random.Generator) -> str:
    return address.translate({ord(d): chr(ord(d) + 0xFEE0) for d in "0123456789"})


def _traditional(text: str, rng: np.random.Generator) -> str:
    return _s2t().convert(text)


_NAME_CHANGERS = {"typo": _typo, "swap": _swap, "traditional": _traditional, "space": _space}
_ADDRESS_CHANGERS = {"abbreviated": _abbreviated, "traditional": _traditional,
                     "full_width": _full_width}


def _same_county(originals: np.ndarray, fallback: np.ndarray, seed: int) -> np.ndarray:
    """Another street and number in the original's county (山西省<市><县>)."""
    rng = _rng(seed, "linkage", "lookalike-street")
    out = []
    for original, other in zip(originals, fallback, strict=True):
        street_at = max(original.rfind(w) for w in ("区", "县", "市")) + 1
        other_street = other[max(other.rfind(w) for w in ("区", "县", "市")) + 1:]
        if other_street == original[street_at:]:
            other_street = f"{other_street[:-1]}{int(rng.integers(400, 500))}号"
        out.append(original[:street_at] + other_street)
    return np.asarray(out, dtype=object)


def _is_common(name: str) -> bool:
    return len(name) == 2 and name[0] in COMMON_SURNAMES


@cache
def _given_characters() -> tuple[str, ...]:
    return tuple(sorted({c for n in (*ZhPerson.first_names_male, *ZhPerson.first_names_female)
                         for c in n}))


@cache
def _homophones() -> dict[str, tuple[str, ...]]:
    """Character -> the name characters (surnames and given names) that sound the same."""
    from jinshu.vocab.hanzi import syllables

    pool = sorted({*_given_characters(), *(c for s in ZhPerson.last_names for c in s)})
    by_sound: dict[str, list[str]] = {}
    for char in pool:
        by_sound.setdefault(syllables(char)[0], []).append(char)
    return {c: tuple(by_sound[syllables(c)[0]]) for c in pool if len(by_sound[syllables(c)[0]]) > 1}


@cache
def _s2t():
    import opencc

    return opencc.OpenCC("s2t.json")
