"""Who may read what through the exchange, and how each field leaves: the pure decision.

=============  ==================================================================
sharing class  who reads
=============  ==================================================================
unconditional  any authenticated department (or authorized developer)
conditional    a department holding an approved, unexpired, unrevoked grant that
               names the purpose and the fields (minimum necessary)
not_shared     nobody; the catalog shows the legal basis
=============  ==================================================================

A field leaves in the clear only where a grant names it and its sensitivity
allows it; otherwise it is masked per the one exit policy
(:func:`jinshu.protect.policy.on_exit`, channel ``exchange``).
``sensitive_personal`` and ``trade_secret`` never leave in the clear.

Subjects are unlinkable by default: each consumer sees a subject under its own
pseudonym, HMAC of the platform pseudonym per (consumer, dataset); a
``linkable`` grant puts its datasets under one scope, its link, so the consumer
can match the same person across them (:func:`consumer_pseudonyms`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from jinshu.catalog import Contract
from jinshu.protect import policy
from jinshu.protect.pseudonyms import Pseudonymizer

NEVER_CLEAR = frozenset({"sensitive_personal", "trade_secret"})
UNCONDITIONAL_PURPOSE = "无条件共享 (unconditional sharing)"


class Refused(Exception):
    """The exchange says no; ``status`` is the HTTP status, the message says what to do."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


@dataclass(frozen=True)
class Caller:
    principal: str
    department: str
    kind: str  # department | developer
    organization: str | None = None  # a developer's USCC

    @property
    def consumer(self) -> str:
        """Whose pseudonyms and cursors: a department, or a developer organization (never its
        department's, so a developer cannot link what it reads with what a department reads)."""
        return f"developer:{self.organization}" if self.kind == "developer" else self.department


@dataclass(frozen=True)
class Grant:
    """An exchange request as the decision sees it (an approved one is a grant)."""

    id: int
    dataset_id: str
    department: str
    status: str  # pending | approved | refused
    purpose: str
    fields: frozenset[str]
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    linkable: bool = False
    link: str | None = None


@dataclass(frozen=True)
class Access:
    """What one call may return: fields in order, how each leaves, under which grant."""

    dataset_id: str
    fields: tuple[str, ...]
    exits: dict[str, policy.Exit]
    grant_id: int | None
    purpose: str
    scope: str  # the pseudonym scope: the dataset, or a grant's link

    @property
    def clear(self) -> tuple[str, ...]:
        """Fields a grant lets out unmasked although the exit policy would mask them."""
        return tuple(f for f in self.fields if self.exits[f] == "keep")


def decide(contract: Contract, caller: Caller, grant: Grant | None, fields: list[str] | None,
           now: datetime, lookup: bool = False) -> Access:
    """The access ``caller`` gets to ``contract`` with ``grant``; raises :class:`Refused`."""
    ensure_shared(contract, caller)
    if grant is not None:
        _valid(grant, contract, caller, now)
    elif contract.sharing.class_ == "conditional" or (lookup and contract.subject == "person"):
        raise Refused(403, "grant_required",
                      f"{contract.id} is shared on condition ({contract.sharing.condition}): "
                      f"POST /v1/requests with dataset, purpose, fields and duration_days; "
                      f"{contract.department.name} decides")
    allowed = grant.fields if grant and contract.sharing.class_ == "conditional" else None
    chosen = _fields(contract, fields, allowed, grant)
    granted = grant.fields if grant else frozenset()
    exits = {name: _exit(contract, name, name in granted) for name in chosen}
    scope = f"link:{grant.link}" if grant and grant.linkable else f"dataset:{contract.id}"
    return Access(contract.id, chosen, exits, grant.id if grant else None,
                  grant.purpose if grant else UNCONDITIONAL_PURPOSE, scope)


def ensure_shared(contract: Contract, caller: Caller) -> None:
    """Refuse a dataset that is not shared, or not with this kind of caller."""
    if contract.sharing.class_ == "not_shared":
        raise Refused(403, "not_shared", f"{contract.id} is not shared ({contract.sharing.legal_basis}); "
                      "no request can open it")
    if caller.kind == "developer" and contract.sharing.class_ != "unconditional":
        raise Refused(403, "developers_unconditional_only",
                      f"{contract.id} is shared between departments only; developers read "
                      "unconditional datasets")


def _valid(grant: Grant, contract: Contract, caller: Caller, now: datetime) -> None:
    """The grant is the caller's, for this dataset, approved and in force."""
    if grant.department != caller.department:
        raise Refused(403, "grant_of_another_department",
                      f"grant #{grant.id} belongs to another department; use one of your own "
                      "(GET /v1/requests) or request one")
    if grant.dataset_id != contract.id:
        raise Refused(403, "grant_for_another_dataset",
                      f"grant #{grant.id} is for {grant.dataset_id}, not {contract.id}")
    if grant.status != "approved":
        raise Refused(403, f"grant_{grant.status}",
                      f"request #{grant.id} is {grant.status}, not approved: "
                      + ("wait for the owner's decision" if grant.status == "pending"
                         else "read its reason (GET /v1/requests) and request again"))
    if grant.revoked_at is not None:
        raise Refused(403, "grant_revoked", f"grant #{grant.id} was revoked on "
                      f"{str(grant.revoked_at)[:10]}; request again if the need remains")
    if grant.expires_at is not None and grant.expires_at <= now:
        raise Refused(403, "grant_expired", f"grant #{grant.id} expired on "
                      f"{str(grant.expires_at)[:10]}; request again for a new period")


def _fields(contract: Contract, asked: list[str] | None, allowed: frozenset[str] | None,
            grant: Grant | None) -> tuple[str, ...]:
    """The fields to return, in contract order: those asked, within what is allowed."""
    names = contract.field_names
    unknown = sorted(set(asked or ()) - set(names))
    if unknown:
        raise Refused(400, "unknown_field", f"no field {', '.join(unknown)} in {contract.id}; "
                      f"fields are: {', '.join(names)}")
    outside = sorted(set(asked or ()) - allowed) if allowed is not None else []
    if outside:
        raise Refused(403, "field_outside_grant",
                      f"field {', '.join(outside)} is outside grant #{grant.id} (granted: "
                      f"{', '.join(sorted(allowed))}); ask only for those, or request the others")
    wanted = set(asked) if asked else (allowed if allowed is not None else set(names))
    return tuple(n for n in names if n in wanted)


def _exit(contract: Contract, name: str, granted: bool) -> policy.Exit:
    """How a field leaves: the exit policy, unless a grant names it and it may be clear."""
    spec = contract.by_name[name]
    if granted and spec.sensitivity not in NEVER_CLEAR:
        return "keep"
    return policy.on_exit(spec, contract, policy.EXCHANGE)


def pseudonym_inputs(consumer: str, scope: str, platform_keys: list[str]) -> list[str]:
    """What the consumer's pseudonyms are the HMAC of: consumer, scope, platform pseudonym."""
    prefix = f"jinshu-exchange\x1f{consumer}\x1f{scope}\x1f"
    return [prefix + key for key in platform_keys]


def consumer_pseudonyms(pseudonymizer: Pseudonymizer, consumer: str, scope: str,
                        platform_keys: list[str]) -> list[str]:
    """Each platform pseudonym as ``consumer`` sees it in ``scope`` (HMAC under the index key)."""
    return pseudonymizer.of_each(pseudonym_inputs(consumer, scope, platform_keys))
