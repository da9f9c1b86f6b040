"""Where things live. The one module that reads the environment.

Every location has an embedded default under ``JINSHU_HOME`` (SQLite and
local folders), so a fresh checkout runs without any service; production
points the same settings at PostgreSQL and S3/MinIO.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

# The repository's folders: computed here only.
PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parents[1]
DEFAULT_CATALOG_DIR = REPO_DIR / "include" / "catalog"
CONSENT_CONTRACT = PACKAGE_DIR / "catalog" / "data" / "consent.yaml"
SUITES_DIR = REPO_DIR / "expectations"
REPORTS_SQL_DIR = REPO_DIR / "sql" / "reports"
DAGS_DIR = REPO_DIR / "dags"
DEFAULT_OPEN_DATA_VERSIONS = 10
# Where the open-data location is published: absolute download URLs and catalog IRIs start
# here. The default is what `python -m http.server 8000 -d $JINSHU_HOME/open-data` serves.
DEFAULT_PUBLIC_URL = "http://localhost:8000"
DEFAULT_CHUNK_ROWS = 250_000  # records per chunk of a dropped file (JINSHU_CHUNK_ROWS)


@dataclass(frozen=True)
class Settings:
    """Resolved locations and endpoints for one process."""

    home: Path
    store_url: str
    landing_url: str
    open_data_url: str
    catalog_dir: Path
    s3_endpoint_url: str | None = None
    pseudonym_key_hex: str | None = field(default=None, repr=False)  # key material: never printed
    data_keys_json: str | None = field(default=None, repr=False)  # the data keyring (jinshu.keys)
    keys_conn_id: str | None = None  # or the Airflow connection that holds it
    audit_key_hex: str | None = field(default=None, repr=False)  # MAC key of the audit chain
    keys_must_exist: bool = False  # JINSHU_KEYS_MUST_EXIST: never generate a missing key
    audit_heads_url: str | None = None  # where chain heads are published; default: open data
    quality_url: str | None = None  # where reports are published; default: quality_dir
    open_data_versions: int = DEFAULT_OPEN_DATA_VERSIONS  # kept per dataset (incident fallback)
    open_data_public_url: str = DEFAULT_PUBLIC_URL  # the open-data location's public http(s) URL
    holidays: frozenset[date] = frozenset()  # skipped by the exchange's working-day deadlines
    stage_files_url: str | None = None  # JINSHU_STAGE_URL; default: work_dir
    # JINSHU_UI_DEPARTMENTS: Airflow user -> the department it acts for in the governance pages
    ui_departments: tuple[tuple[str, str], ...] = ()
    chunk_rows: int = DEFAULT_CHUNK_ROWS  # a file is ingested in chunks of this many records

    @property
    def work_dir(self) -> Path:
        """The local folder for a batch's stage files, unless ``JINSHU_STAGE_URL`` names another."""
        return self.home / "work"

    @property
    def stage_url(self) -> str:
        """Where a batch's stage files live: a bucket when workers run on several hosts."""
        return self.stage_files_url or str(self.work_dir)

    @property
    def quality_dir(self) -> Path:
        """Where Data Docs and the department scorecard (static HTML) are built."""
        return self.home / "quality"

    @property
    def scorecard_location(self) -> str:
        """Where a reader finds the department scorecard: the reports bucket, else the folder."""
        if self.quality_url:
            return f"{self.quality_url.rstrip('/')}/scorecard.html"
        return str(self.quality_dir / "scorecard.html")

    @property
    def keys_dir(self) -> Path:
        return self.home / "keys"

    @property
    def generates_keys(self) -> bool:
        """Missing keys are generated on first use: only for the embedded SQLite store.

        Anywhere else a missing key is an error: a worker that made its own keys would
        store known people again under new pseudonyms, unreadable by the others.
        """
        return self.store_url.startswith("sqlite") and not self.keys_must_exist

    @property
    def heads_url(self) -> str:
        """Where the audit chain's head is published (``audit/heads/<seq>.json``)."""
        return self.audit_heads_url or self.open_data_url

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        home = Path(env.get("JINSHU_HOME", Path.home() / ".jinshu")).expanduser().resolve()
        return cls(
            home=home,
            store_url=env.get("JINSHU_STORE_URL", f"sqlite:///{home / 'central.db'}"),
            landing_url=env.get("JINSHU_LANDING_URL", str(home / "landing")),
            open_data_url=env.get("JINSHU_OPEN_DATA_URL", str(home / "open-data")),
            catalog_dir=Path(env.get("JINSHU_CATALOG_DIR", DEFAULT_CATALOG_DIR)),
            s3_endpoint_url=env.get("JINSHU_S3_ENDPOINT_URL") or None,
            pseudonym_key_hex=env.get("JINSHU_PSEUDONYM_KEY") or None,
            data_keys_json=env.get("JINSHU_DATA_KEYS") or None,
            keys_conn_id=env.get("JINSHU_KEYS_CONN_ID") or None,
            audit_key_hex=env.get("JINSHU_AUDIT_KEY") or None,
            keys_must_exist=_flag(env, "JINSHU_KEYS_MUST_EXIST"),
            audit_heads_url=env.get("JINSHU_AUDIT_HEADS_URL") or None,
            quality_url=env.get("JINSHU_QUALITY_URL") or None,
            open_data_versions=_positive(env, "JINSHU_OPEN_DATA_VERSIONS",
                                         DEFAULT_OPEN_DATA_VERSIONS),
            holidays=_dates(env, "JINSHU_HOLIDAYS"),
            stage_files_url=env.get("JINSHU_STAGE_URL") or None,
            ui_departments=_pairs(env, "JINSHU_UI_DEPARTMENTS"),
            open_data_public_url=_public_url(env, "JINSHU_OPEN_DATA_PUBLIC_URL"),
            chunk_rows=_positive(env, "JINSHU_CHUNK_ROWS", DEFAULT_CHUNK_ROWS),
        )


def _flag(env: Mapping[str, str], name: str) -> bool:
    text = (env.get(name) or "").strip().lower()
    if text not in {"", "0", "false", "no", "1", "true", "yes"}:
        raise ValueError(f"{name}={text!r} is not a yes/no flag. Fix: set it to 1 or 0")
    return text in {"1", "true", "yes"}


def _dates(env: Mapping[str, str], name: str) -> frozenset[date]:
    """A comma-separated list of ISO dates (public holidays), e.g. ``2026-10-01,2026-10-02``."""
    days = set()
    for text in filter(None, (t.strip() for t in env.get(name, "").split(","))):
        try:
            days.add(date.fromisoformat(text))
        except ValueError as error:
            raise ValueError(f"{name}: '{text}' is not a date (YYYY-MM-DD). Fix: list holidays "
                             "as YYYY-MM-DD separated by commas") from error
    return frozenset(days)


def _pairs(env: Mapping[str, str], name: str) -> tuple[tuple[str, str], ...]:
    """``user:department,user2:department2`` as sorted pairs."""
    pairs = []
    for text in filter(None, (t.strip() for t in env.get(name, "").split(","))):
        user, _, value = text.partition(":")
        if not user.strip() or not value.strip():
            raise ValueError(f"{name}: '{text}' is not USER:DEPARTMENT. Fix: list pairs such as "
                             "alice:sx_minzheng,bob:sx_gongan")
        pairs.append((user.strip(), value.strip()))
    return tuple(sorted(pairs))
def _public_url(env: Mapping[str, str], name: str) -> str:
    from urllib.parse import urlsplit

    text = (env.get(name) or DEFAULT_PUBLIC_URL).strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{name}={text!r} is not an http(s) URL. Fix: set it to where the "
                         "open-data location is published, e.g. https://data.example.gov.cn/open")
    return text


def _positive(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name) or str(default)
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{name}={text!r} is not a whole number of at least 1. "
                         f"Fix: set it to, say, {default}, or unset it")
    return int(text)


def get_settings() -> Settings:
    """Settings of this process, read from the environment on each call."""
    return Settings.from_env()
