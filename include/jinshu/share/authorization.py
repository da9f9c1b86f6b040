"""Authorized development (开发利用): when a developer may read a dataset, the pure rules.

A department may authorize a developer organization to develop its data; the
authorization is bound by a written agreement (书面协议) and filed (备案) with the
information management department (docs/regulation.md#authorized-development).
A developer's credential names its organization (USCC); it reads a dataset only
under an authorization of that organization for that dataset which is

* **complete**: the written agreement's number and signing date;
* **filed**: the filing's number and date;
* **unexpired**: in force through ``expires_on`` (a date in China), and not revoked.

Otherwise :func:`authorize` refuses (403), naming what is missing (``agreement``,
``filing``, ``expiry``) and the fix, never a number or a date it holds.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import pandas as pd

from jinshu.catalog import Contract
from jinshu.protect import leakguard
from jinshu.share.decision import Caller, Refused
from jinshu.vocab.formats import uscc as uscc_format

CHINA = ZoneInfo("Asia/Shanghai")  # agreements, filings and terms are dated in China
MISSING = ("agreement", "filing", "expiry")
FIXES = {
    "agreement": "the written agreement, its number and signing date "
                 "(jinshu developers agree ID --agreement-no ... --signed-on ...)",
    "filing": "the filing (备案), its number and date (jinshu developers file ID --filing-no ... "
              "--filed-on ...)",
    "expiry": "a term that has not ended: the authorization has expired; register the renewed "
              "agreement (jinshu developers add)",
}
MAX_NUMBER = 64


class RegistrationError(ValueError):
    """An authorization cannot be registered or changed as asked; the message names the field
    and the fix, never the value given."""


class NotAuthorized(Refused):
    """A developer's read refused for want of a usable authorization (HTTP 403)."""

    def __init__(self, code: str, message: str, caller: Caller, dataset_id: str,
                 authorization_id: int | None = None, missing: tuple[str, ...] = ()) -> None:
        super().__init__(403, code, message)
        self.caller, self.dataset_id = caller, dataset_id
        self.authorization_id, self.missing = authorization_id, missing

    def details(self) -> dict:
        """What the audit entry of the refusal keeps: ids and what was missing, no value."""
        return {"principal": self.caller.principal, "organization": self.caller.organization,
                "refusal": self.code, "authorization": self.authorization_id,
                "missing": list(self.missing)}


@dataclass(frozen=True)
class Authorization:
    id: int
    organization: str
    uscc: str
    datasets: frozenset[str]
    purpose: str
    agreement_no: str | None
    agreement_on: date | None
    filing_no: str | None
    filed_on: date | None
    expires_on: date
    revoked_at: datetime | None = None


def today(now: datetime) -> date:
    """The date in China at ``now``: a term runs through its last day there."""
    return now.astimezone(CHINA).date()


def missing(auth: Authorization, on: date) -> tuple[str, ...]:
    """What keeps ``auth`` from being used on day ``on``, in :data:`MISSING` order."""
    lacks = {"agreement": not (auth.agreement_no and auth.agreement_on),
             "filing": not (auth.filing_no and auth.filed_on),
             "expiry": auth.expires_on < on}
    return tuple(m for m in MISSING if lacks[m])


def status(auth: Authorization, on: date) -> str:
    """``revoked``, ``expired``, ``incomplete`` (agreement or filing missing) or ``in_force``.

    >>> a = Authorization(1, "某公司", "91140105MA0K1B2C1E", frozenset({"d"}), "研发", "协-1",
    ...                   date(2026, 1, 5), None, None, date(2026, 12, 31))
    >>> status(a, date(2026, 6, 1)), missing(a, date(2027, 1, 1))
    ('incomplete', ('filing', 'expiry'))
    """
    if auth.revoked_at is not None:
        return "revoked"
    lacks = missing(auth, on)
    return "expired" if "expiry" in lacks else "incomplete" if lacks else "in_force"


def authorize(caller: Caller, dataset_id: str, held: list[Authorization], now: datetime
              ) -> Authorization:
    """The authorization ``caller`` (a developer) reads ``dataset_id`` under, among ``held``
    (its organization's); raises :class:`NotAuthorized` naming what is missing."""
    rule = ("a developer reads a dataset only under an authorization of its organization for "
            "it that is complete (written agreement), filed (备案) and unexpired")
    if not caller.organization:
        raise NotAuthorized("authorization_required", f"credential {caller.principal} names no "
                            f"organization; {rule}. Fix: ask the platform for a developer credential "
                            "issued with the organization's USCC (jinshu principals add --uscc)",
                            caller, dataset_id)
    mine = [a for a in held if a.uscc == caller.organization and dataset_id in a.datasets]
    active = [a for a in mine if a.revoked_at is None]
    if not active:
        revoked = max((a.id for a in mine), default=None)
        code = "authorization_revoked" if revoked else "authorization_required"
        said = (f"authorization #{revoked} for {dataset_id} was revoked" if revoked
                else f"your organization holds no authorization for {dataset_id}")
        raise NotAuthorized(code, f"{said}; {rule}. Fix: ask {dataset_id}'s department to "
                            "authorize you under a written agreement, and the platform to register "
                            "and file it (jinshu developers add)", caller, dataset_id, revoked)
    on = today(now)
    usable = [a for a in active if not missing(a, on)]
    if usable:
        return max(usable, key=lambda a: (a.expires_on, a.id))
    best = min(active, key=lambda a: (len(missing(a, on)), -a.id))
    lacks = missing(best, on)
    code = "authorization_expired" if lacks == ("expiry",) else "authorization_incomplete"
    raise NotAuthorized(code, f"authorization #{best.id} for {dataset_id} cannot be used, "
                        f"missing: {', '.join(lacks)}; {rule}. Fix: "
                        + "; ".join(FIXES[m].replace(" ID ", f" {best.id} ") for m in lacks),
                        caller, dataset_id, best.id, lacks)


# --- registration ------------------------------------------------------------------------


def valid_uscc(value: str, field: str = "uscc") -> str:
    """The organization's unified social credit code, normalized; :class:`RegistrationError`
    names the field, the part that is wrong (checksum...) and the fix, never the code.

    >>> valid_uscc(" 91140105ma0k1b2c1e ")
    '91140105MA0K1B2C1E'
    >>> valid_uscc("91140105MA0K1B2C1F")
    Traceback (most recent call last):
    ...
    jinshu.share.authorization.RegistrationError: field uscc: unified social credit code: check \
character does not match the first 17 characters. Fix: copy the code from the business licence; \
it has 18 characters
    """
    code = uscc_format.normalize(pd.Series([(value or "").strip()], dtype="str"))
    failed = uscc_format.failures(code).iloc[0]
    if isinstance(failed, str):
        raise RegistrationError(f"field {field}: {uscc_format.PARTS[failed]}. "
                                f"Fix: {uscc_format.FIX}")
    return code.iloc[0]


def text(value: str | None, field: str, limit: int = 500) -> str:
    """A required free-text field: present, bounded, without a raw identifier."""
    value = (value or "").strip()
    if len(value) < 2:
        raise RegistrationError(f"field {field}: missing or shorter than 2 characters. Fix: say it "
                                "in words (no personal data)")
    if len(value) > limit:
        raise RegistrationError(f"field {field}: longer than {limit} characters. Fix: shorten it")
    if leakguard.scan(value):
        raise RegistrationError(f"field {field}: carries a personal identifier. Fix: describe it "
                                "without personal data")
    return value


def dated(number: str | None, on: date | None, what: str, today_: date) -> tuple[str, date]:
    """A document's number and date (agreement, filing): both given, the date not ahead."""
    if not number or on is None:
        raise RegistrationError(f"field {what}: its number and its date go together. Fix: pass "
                                f"--{what}-no and the date")
    if on > today_:
        raise RegistrationError(f"field {what}: its date is in the future. Fix: record it once "
                                "it is signed or filed")
    return text(number, f"{what}_no", MAX_NUMBER), on


def datasets(asked: list[str], contracts: dict[str, Contract]) -> list[str]:
    """The datasets to authorize: known, and shared with developers (unconditional)."""
    if not asked:
        raise RegistrationError("field datasets: none given. Fix: name each dataset with --dataset")
    unknown = sorted(set(asked) - set(contracts))
    if unknown:
        raise RegistrationError(f"field datasets: no dataset {', '.join(unknown)}. Fix: use dataset "
                                f"ids of the catalog ({', '.join(contracts)})")
    closed = sorted(d for d in asked if contracts[d].sharing.class_ != "unconditional")
    if closed:
        raise RegistrationError(f"field datasets: {', '.join(closed)} not shared unconditionally; "
                                "developers read unconditional datasets only. Fix: authorize "
                                "unconditional datasets")
    return [d for d in contracts if d in set(asked)]
