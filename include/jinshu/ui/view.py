"""What a page is given: the store, the catalog, the clock, and who is looking.

A :class:`Viewer` is an Airflow user as the governance pages see it: the
department it acts for (``JINSHU_UI_DEPARTMENTS``, or a user named after a
department's code), and what the auth manager lets it do. A department's user
sees its own department's exchange queue and batches; only the department that
owns a dataset decides requests for it; only operators open and close incidents.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from jinshu.catalog import Contract
from jinshu.settings import Settings

ACTOR_PREFIX = "ui:"  # audit actors of the governance pages: ui:<Airflow user>
MAX_ACTOR = 32  # exchange_requests.decided_by


@dataclass(frozen=True)
class Viewer:
    """An authenticated Airflow user, as the governance pages see it."""

    name: str
    role: str | None = None  # the auth manager's role, when it has roles
    department: str | None = None  # the department this user acts for, if any
    may_decide: bool = False  # the auth manager lets it act (approve/refuse) for its department
    may_operate: bool = False  # the auth manager lets it open and close incidents
    csrf: str = ""  # the token its forms carry back (derived from its session)

    @property
    def actor(self) -> str:
        """The audit actor for what this user does: ``ui:<user>``."""
        return f"{ACTOR_PREFIX}{self.name}"[:MAX_ACTOR]

    def sees(self, department: str | None) -> bool:
        """A department's user sees its own department's queue; a platform user sees all."""
        return self.department is None or department == self.department

    def decides_for(self, owner: str) -> bool:
        return self.may_decide and self.department is not None and self.department == owner


def department_of(user: str, departments: Mapping[str, str], known: set[str]) -> str | None:
    """The department ``user`` acts for: the configured one, or a department code equal to
    the user name, or none (a platform user).

    >>> department_of("alice", {"alice": "sx_minzheng"}, {"sx_minzheng"})
    'sx_minzheng'
    >>> department_of("sx_gongan", {}, {"sx_gongan"}), department_of("admin", {}, {"sx_gongan"})
    ('sx_gongan', None)
    """
    return departments.get(user) or (user if user in known else None)


@dataclass(frozen=True)
class View:
    """Everything a page's query function reads."""

    engine: Engine
    contracts: Mapping[str, Contract]
    settings: Settings
    viewer: Viewer
    now: datetime
    params: Mapping[str, str] = field(default_factory=dict)  # the request's query parameters

    def has_table(self, name: str) -> bool:
        """Feature detection: a page for a table another branch adds shows an empty state
        until that table exists."""
        return sa.inspect(self.engine).has_table(name)

    def department_name(self, code: str) -> str:
        return next((c.department.name for c in self.contracts.values() if c.department.code == code),
                    code)

    @property
    def departments(self) -> dict[str, str]:
        """Department code -> name, from the catalog."""
        return {c.department.code: c.department.name for c in self.contracts.values()}
