"""Principals: who may call the exchange, with credentials the platform issues.

Grain of ``principals``: one row per issued credential (key ``id``). A token is
``<id>.<secret>``: the secret is 256 random bits, shown once when issued;
only its SHA-256 is stored and compared in constant time. Each principal acts
for one department (``kind`` department, or developer for an authorized
developer, whose credential names its organization's USCC: it reads under that
organization's authorizations, :mod:`jinshu.share.authorization`), expires, and
can be revoked at once. Issuing and revoking are audited.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from jinshu.govern import audit
from jinshu.share.authorization import RegistrationError, valid_uscc
from jinshu.store.tables import principals

KINDS = ("department", "developer")
_TOKEN = re.compile(r"^(p_[0-9a-f]{12})\.([A-Za-z0-9_-]{43})$")


class PrincipalError(ValueError):
    """A principal cannot be issued or revoked as asked."""


class Unauthenticated(Exception):
    """No credential, or one that is malformed, unknown, expired or revoked (HTTP 401)."""


@dataclass(frozen=True)
class Principal:
    id: str
    name: str
    department: str
    kind: str
    uscc: str | None = None  # a developer's organization


@dataclass(frozen=True)
class Issued:
    principal: Principal
    token: str  # shown once; never stored
    expires_at: datetime


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def issue(engine: Engine, name: str, department: str, kind: str, days: int, actor: str,
          now: datetime, uscc: str | None = None) -> Issued:
    """A new principal and its token (printed once by the CLI); a developer's names its
    organization by ``uscc``."""
    if kind not in KINDS:
        raise PrincipalError(f"kind '{kind}' is not one of {', '.join(KINDS)}")
    uscc = _organization(kind, uscc)
    if days < 1:
        raise PrincipalError("a credential lives at least 1 day: pass --days 1 or more")
    if not re.fullmatch(r"[a-z][a-z0-9_]*", department):
        raise PrincipalError(f"department '{department}' is not a department code such as sx_gongan")
    principal_id, secret = f"p_{secrets.token_hex(6)}", secrets.token_urlsafe(32)
    expires = now + timedelta(days=days)
    with engine.begin() as conn:
        conn.execute(principals.insert().values(
            id=principal_id, name=name, department=department, kind=kind,
            secret_sha256=secret_hash(secret), created_at=now, created_by=actor, expires_at=expires,
            uscc=uscc))
        audit.append(conn, "principal_issued", principal_id,
                     {"department": department, "kind": kind, "expires_at": expires.isoformat(),
                      "organization": uscc}, actor=actor, now=now)
    return Issued(Principal(principal_id, name, department, kind, uscc), f"{principal_id}.{secret}",
                  expires)


def _organization(kind: str, uscc: str | None) -> str | None:
    """A developer's credential names its organization (a valid USCC); a department's none."""
    if kind != "developer":
        if uscc:
            raise PrincipalError("only a developer credential names an organization: drop --uscc "
                                 "or pass --kind developer")
        return None
    if not uscc:
        raise PrincipalError("a developer credential names its organization: pass --uscc with "
                             "the organization's unified social credit code")
    try:
        return valid_uscc(uscc)
    except RegistrationError as error:
        raise PrincipalError(str(error).replace("field uscc", "field uscc (--uscc)")) from error


def revoke(engine: Engine, principal_id: str, actor: str, now: datetime) -> None:
    """Revoke at once: the next call with its token is refused."""
    with engine.begin() as conn:
        done = conn.execute(principals.update().where(
            principals.c.id == principal_id, principals.c.revoked_at.is_(None))
            .values(revoked_at=now, revoked_by=actor)).rowcount
        if not done:
            raise PrincipalError(f"no active principal '{principal_id}': see jinshu principals list")
        audit.append(conn, "principal_revoked", principal_id, {}, actor=actor, now=now)


def listing(conn: Connection) -> list[sa.Row]:
    """Every principal (never a secret), newest first."""
    c = principals.c
    return conn.execute(sa.select(c.id, c.name, c.department, c.kind, c.created_at, c.expires_at,
                                  c.revoked_at, c.uscc).order_by(c.created_at.desc())).all()


def parse_token(token: str | None) -> tuple[str, str]:
    """``(principal id, secret)`` of a bearer token, or :class:`Unauthenticated`."""
    match = _TOKEN.match(token or "")
    if not match:
        raise Unauthenticated("no valid bearer token: send 'Authorization: Bearer <token>' with the "
                              "token `jinshu principals add` printed for your department")
    return match.group(1), match.group(2)


def check(row: sa.Row | None, secret: str, now: datetime) -> Principal:
    """The principal of ``row`` if ``secret`` is its secret and it is in force."""
    stored = row.secret_sha256 if row is not None else "0" * 64
    if not hmac.compare_digest(stored, secret_hash(secret)) or row is None:
        raise Unauthenticated("unknown credential: ask the platform for a token "
                              "(jinshu principals add)")
    if row.revoked_at is not None:
        raise Unauthenticated(f"credential {row.id} was revoked; ask the platform for a new one")
    if as_utc(row.expires_at) <= now:
        raise Unauthenticated(f"credential {row.id} expired on {str(row.expires_at)[:10]}; "
                              "ask the platform for a new one")
    return Principal(row.id, row.name, row.department, row.kind, row.uscc)


def authenticate(conn: Connection, token: str | None, now: datetime) -> Principal:
    principal_id, secret = parse_token(token)
    row = conn.execute(sa.select(principals).where(principals.c.id == principal_id)).first()
    return check(row, secret, now)


def as_utc(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes; they were stored in UTC."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
