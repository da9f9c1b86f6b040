"""The central store's tables: governance tables and one table per dataset.

Governance tables (grain and key):

* ``batches``: one row per dropped file (key ``batch_id``), the ledger;
* ``quarantine``: one row per rejected record or file, original values kept;
* ``duplicates``: one row per record not stored because its twin is
  (key ``batch_id, source_row``; ``record_hash`` points at the twin);
* ``scope_violations``: one row per undeclared column per batch; values
  are counted, never kept;
* ``publications``: one row per dataset per publish run and channel;
* ``retired_fields``: one row per field a contract no longer declares (key
  ``dataset_id, field``); its column and values stay in ``ds_<id>``;
* ``consents``: one row per consent decision (key: subject pseudonym,
  dataset, field, decision, date); ``consent_gate``: values kept/dropped per
  consent field per batch; ``consent_withdrawals``: each withdrawal honored.

* ``repeat_runs``, ``repeat_findings``, ``repeat_notices``: repeated collection across
  departments, per detection run, and the findings sent back (below).

Dataset tables ``ds_<id>``: one row per version of a record (natural key, batch), plus
lineage columns; the current version has no ``_valid_to`` (:mod:`jinshu.store.versions`).

Governance tables change through Alembic revisions (:mod:`jinshu.store.migrations`);
dataset tables follow their contracts (:mod:`jinshu.evolve`).
"""

from __future__ import annotations

import sqlalchemy as sa

from jinshu.catalog import Contract, FieldSpec
from jinshu.protect import policy
from jinshu.store import versions
from jinshu.store.dialect import hex_string, serial_id

metadata = sa.MetaData()

batches = sa.Table(
    "batches", metadata,
    sa.Column("batch_id", sa.String(96), primary_key=True),
    sa.Column("dataset_id", sa.String(64), nullable=False, index=True),
    sa.Column("department", sa.String(64), nullable=False),
    sa.Column("file_key", sa.Text, nullable=False),  # as shown: identifiers masked (leakguard.shown)
    sa.Column("file_ref", sa.String(64), index=True),  # keyed HMAC of the real object key
    sa.Column("file_checksum", sa.String(64), nullable=False, index=True),
    sa.Column("file_size", sa.BigInteger, nullable=False),
    sa.Column("file_modified", sa.DateTime(timezone=True), nullable=False),
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("encoding", sa.String(16)),
    sa.Column("rows_in", sa.BigInteger, nullable=False, default=0),
    sa.Column("stored", sa.BigInteger, nullable=False, default=0),
    sa.Column("duplicates", sa.BigInteger, nullable=False, default=0),
    sa.Column("quarantined", sa.BigInteger, nullable=False, default=0),
    sa.Column("repeat_of", sa.String(96)),
    sa.Column("reason", sa.Text),
    sa.Column("finished_at", sa.DateTime(timezone=True)),
)

quarantine = sa.Table(
    "quarantine", metadata,
    sa.Column("id", serial_id(), primary_key=True,
              autoincrement=True),
    sa.Column("batch_id", sa.String(96), nullable=False, index=True),
    sa.Column("source_row", sa.BigInteger),  # null when the whole file is rejected
    sa.Column("column_name", sa.Text),
    sa.Column("rule", sa.String(64), nullable=False),
    sa.Column("message", sa.Text, nullable=False),
    sa.Column("original", sa.Text),  # JSON of the values as received, or the file's archive key
)

duplicates = sa.Table(
    "duplicates", metadata,
    sa.Column("batch_id", sa.String(96), primary_key=True),
    sa.Column("source_row", sa.BigInteger, primary_key=True),
    sa.Column("record_hash", sa.String(32), nullable=False),
)

scope_violations = sa.Table(
    "scope_violations", metadata,
    sa.Column("batch_id", sa.String(96), primary_key=True),
    sa.Column("column_header", sa.Text, primary_key=True),
    sa.Column("dataset_id", sa.String(64), nullable=False),
    sa.Column("department", sa.String(64), nullable=False),
    sa.Column("file_key", sa.Text, nullable=False),
    sa.Column("non_empty_values", sa.BigInteger, nullable=False),
    sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
)

publications = sa.Table(
    "publications", metadata,
    sa.Column("id", serial_id(), primary_key=True,
              autoincrement=True),
    sa.Column("channel", sa.String(16), nullable=False),  # exchange | open_data
    sa.Column("dataset_id", sa.String(64), nullable=False, index=True),
    sa.Column("published_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("acquired_at", sa.DateTime(timezone=True)),  # newest batch in the product
    sa.Column("rows", sa.BigInteger, nullable=False),
    sa.Column("suppressed_rows", sa.BigInteger, nullable=False, default=0),
    sa.Column("location", sa.Text, nullable=False),
    # An exchange version: every change recorded in the audit log up to this entry is in it,
    # and the fingerprint of its table's shape (columns, masks); see jinshu.share.exchange.
    sa.Column("through_seq", sa.BigInteger),
    sa.Column("shape", sa.String(64)),
)

consents = sa.Table(
    "consents", metadata,
    sa.Column("id", serial_id(), primary_key=True,
              autoincrement=True),
    sa.Column("subject_key", sa.String(64), nullable=False),  # keyed pseudonym, never a raw ID
    sa.Column("dataset_id", sa.String(64), nullable=False),
    sa.Column("field", sa.String(64), nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),  # granted | refused | withdrawn
    sa.Column("decided_on", sa.Date, nullable=False),
    sa.Column("channel", sa.String(16), nullable=False),
    sa.Column("source", sa.Text, nullable=False),  # consent batch id or "cli"
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("subject_key", "dataset_id", "field", "decision", "decided_on",
                        name="uq_consents_decision"),
    sa.Index("ix_consents_lookup", "dataset_id", "field", "subject_key"),
)

consent_gate = sa.Table(
    "consent_gate", metadata,
    sa.Column("batch_id", sa.String(96), primary_key=True),
    sa.Column("field", sa.String(64), primary_key=True),
    sa.Column("kept", sa.BigInteger, nullable=False),
    sa.Column("dropped", sa.BigInteger, nullable=False),
)

withdrawals = sa.Table(
    "consent_withdrawals", metadata,
    sa.Column("id", serial_id(), primary_key=True,
              autoincrement=True),
    sa.Column("subject_key", sa.String(64), nullable=False),
    sa.Column("dataset_id", sa.String(64), nullable=False),
    sa.Column("field", sa.String(64), nullable=False),
    sa.Column("withdrawn_on", sa.Date, nullable=False),
    sa.Column("honored_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("values_removed", sa.BigInteger, nullable=False),
)

# ``incidents``: one row per incident (key ``id``); a dataset is suspended while one of its
# incidents has no ``closed_at``. ``blamed_publication``: the open-data version it found unsafe.
incidents = sa.Table(
    "incidents", metadata,
    sa.Column("id", serial_id(), primary_key=True,
              autoincrement=True),
    sa.Column("dataset_id", sa.String(64), nullable=False, index=True),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("opened_by", sa.String(128), nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("blamed_publication", sa.BigInteger),
    sa.Column("closed_at", sa.DateTime(timezone=True)),
    sa.Column("closed_by", sa.String(128)),
    sa.Column("close_reason", sa.Text),
)

# ``audit_log``: one row per recorded action (key ``seq``), hash-chained (:mod:`jinshu.govern.audit`).
audit_log = sa.Table(
    "audit_log", metadata,
    sa.Column("seq", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("at", sa.String(32), nullable=False),  # ISO-8601 UTC, exactly as hashed
    sa.Column("actor", sa.String(128), nullable=False),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("subject", sa.Text, nullable=False),
    sa.Column("details", sa.Text, nullable=False),  # canonical JSON
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
)

# ``key_checks``: one row per key the store was written with (key ``kind, key_id``): a check
# value that tells the right key from a wrong one, never the key (:mod:`jinshu.protect.keys`).
key_checks = sa.Table(
    "key_checks", metadata,
    sa.Column("kind", sa.String(16), primary_key=True),  # index | audit | data
    sa.Column("key_id", sa.String(64), primary_key=True),  # the data key's id; "-" otherwise
    sa.Column("check_value", sa.Text, nullable=False),
    sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
)

# ``quality_results``: one row per expectation per validated batch (:mod:`jinshu.quality`).
quality_results = sa.Table(
    "quality_results", metadata,
    sa.Column("id", serial_id(), primary_key=True,
              autoincrement=True),
    sa.Column("batch_id", sa.String(96), nullable=False),
    sa.Column("dataset_id", sa.String(64), nullable=False),
    sa.Column("expectation", sa.String(128), nullable=False),
    sa.Column("expectation_type", sa.String(96), nullable=False, default=""),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("success", sa.Boolean, nullable=False),
    sa.Column("observed_value", sa.Text),
    sa.Column("element_count", sa.BigInteger),
    sa.Column("unexpected_count", sa.BigInteger, nullable=False, default=0),
    sa.Column("unexpected_sample", sa.Text, nullable=False, default="[]"),  # JSON, masked
    sa.Column("kwargs", sa.Text, nullable=False, default="{}"),  # JSON, for Data Docs
    sa.Column("validated_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("batch_id", "expectation", name="uq_quality_results_batch_expectation"),
    sa.Index("ix_quality_results_dataset_time", "dataset_id", "validated_at"),
    comment="One row per expectation per validated batch (grain: batch_id, expectation)",
)

retired_fields = sa.Table(
    "retired_fields", metadata,
    sa.Column("dataset_id", sa.String(64), primary_key=True),
    sa.Column("field", sa.String(64), primary_key=True),
    sa.Column("sealed", sa.Boolean, nullable=False),  # its stored values are AES-GCM envelopes
    sa.Column("retired_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("retired_by", sa.String(128), nullable=False),
    comment="One row per retired field of a dataset table: its column and values are kept",
)

# Alembic's tables (every other table follows a contract or a publication).


_TYPES = {
    "string": sa.Text,
    "integer": sa.BigInteger,
    "decimal": lambda: sa.Numeric(20, 6),
    "date": sa.Date,
}


def column_type(spec: FieldSpec) -> sa.types.TypeEngine:
    return _TYPES[spec.type]()


def dataset_columns(contract: Contract) -> list[sa.Column]:
    """Stored fields (sensitive ones as encrypted envelopes), blind indexes, then lineage and
    validity. A field taken from its concept's authority has no column: the subject key is the
    link."""
    encrypted = {f.name for f in policy.encrypted_fields(contract)}
    return [
        *(sa.Column(f.name, sa.Text if f.name in encrypted else column_type(f),
                    comment=f"{f.title} (AES-256-GCM)" if f.name in encrypted else f.title)
          for f in contract.stored_fields),
        *(sa.Column(c, hex_string(64)) for c in policy.extra_index_columns(contract)),
        sa.Column("_record_hash", hex_string(32), nullable=False),
        sa.Column("_subject_key", hex_string(64)),
        sa.Column("_batch_id", sa.String(96), nullable=False),
        sa.Column("_source_row", sa.BigInteger, nullable=False),
        sa.Column("_acquired_at", sa.DateTime(timezone=True), nullable=False),
        *versions.columns(),
    ]


def dataset_table(contract: Contract, meta: sa.MetaData = metadata) -> sa.Table:
    """``ds_<id>``: the versions of each record, with lineage (as ``contract`` declares it now:
    a changed contract redefines the table; retired columns are not part of it)."""
    known = meta.tables.get(contract.table)
    if known is not None and known.info.get("contract") == contract:
        return known
    if known is not None:
        meta.remove(known)
    table = sa.Table(contract.table, meta, *dataset_columns(contract), comment=contract.title,
                     info={"contract": contract})
    # The only indexes, both partial: every lookup goes through the natural key (a record's
    # hash covers its key, so a stored twin always shares it), the current version's or an
    # earlier one's. Each extra index on a random key costs a load of a million rows ~15 s.
    versions.indexes(table, policy.key_columns(contract))
    return table


# --- the sharing exchange (:mod:`jinshu.share`) ---------------------------------------------

# ``principals``: one row per credential the platform issued (key ``id``). Only the SHA-256 of
# the secret is kept; a principal acts for one department (``kind`` department | developer); a
# developer's names its organization's USCC, whose authorizations it reads under.
principals = sa.Table(
    "principals", metadata,
    sa.Column("id", sa.String(32), primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column("department", sa.String(64), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("secret_sha256", hex_string(64), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_by", sa.String(128), nullable=False),
    sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_by", sa.String(128)),
    sa.Column("uscc", sa.String(18)),  # a developer's organization (its authorizations)
)

# ``exchange_requests``: one row per request for a dataset (key ``id``); an approved request
# is a grant (its ``granted_fields``, until ``expires_at`` or ``revoked_at``).
exchange_requests = sa.Table(
    "exchange_requests", metadata,
    sa.Column("id", serial_id(), primary_key=True, autoincrement=True),
    sa.Column("dataset_id", sa.String(64), nullable=False, index=True),
    sa.Column("owner", sa.String(64), nullable=False),  # the department that decides
    sa.Column("requester", sa.String(64), nullable=False, index=True),  # department code
    sa.Column("requested_by", sa.String(32), nullable=False),  # principal id
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("fields", sa.Text, nullable=False),  # JSON list, as asked
    sa.Column("duration_days", sa.Integer, nullable=False),
    sa.Column("linkable", sa.Boolean, nullable=False, default=False),
    sa.Column("link", sa.String(64)),
    sa.Column("review", sa.String(16), nullable=False),  # which deadline applies
    sa.Column("status", sa.String(16), nullable=False),  # pending | approved | refused
    sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("due_on", sa.Date, nullable=False),
    sa.Column("decided_at", sa.DateTime(timezone=True)),
    sa.Column("decided_by", sa.String(32)),
    sa.Column("reason", sa.Text),  # mandatory on refusal
    sa.Column("granted_fields", sa.Text),  # JSON list, approved (maybe fewer than asked)
    sa.Column("expires_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_by", sa.String(32)),
    sa.Column("revoke_reason", sa.Text),
    sa.Column("escalated_at", sa.DateTime(timezone=True)),  # flagged overdue
)

# ``exchange_access``: one row per response that carried data (key ``id``), written by group
# commit; ``audit_seq`` is the audit entry whose digest covers it. ``key_first``..``key_last``:
# the platform subject keys the page spans (exact for a lookup), for the citizen's view.
exchange_access = sa.Table(
    "exchange_access", metadata,
    sa.Column("id", serial_id(), primary_key=True, autoincrement=True),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("principal", sa.String(32), nullable=False),
    sa.Column("department", sa.String(64), nullable=False),
    sa.Column("dataset_id", sa.String(64), nullable=False),
    sa.Column("version", sa.String(32), nullable=False),
    sa.Column("kind", sa.String(8), nullable=False),  # page | lookup
    sa.Column("fields", sa.Text, nullable=False),  # JSON list
    sa.Column("clear_fields", sa.Text, nullable=False),  # JSON list: left unmasked by a grant
    sa.Column("rows", sa.Integer, nullable=False),
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("grant_id", sa.BigInteger),
    sa.Column("key_first", hex_string(64)),
    sa.Column("key_last", hex_string(64)),
    sa.Column("audit_seq", sa.BigInteger, nullable=False),
    sa.Column("checksum", sa.String(71)),  # the page's stamp (jinshu.share.stamp): sha256:<hex>
    sa.Index("ix_exchange_access_subjects", "dataset_id", "key_first"),
)

# ``developer_authorizations``: one row per authorization of a developer organization (key
# ``id``) to develop datasets (:mod:`jinshu.share.development`): the written agreement, the
# filing (备案), the term; revoked at once. What it lacks is computed, never stored.
developer_authorizations = sa.Table(
    "developer_authorizations", metadata,
    sa.Column("id", serial_id(), primary_key=True, autoincrement=True),
    sa.Column("organization", sa.Text, nullable=False),
    sa.Column("uscc", sa.String(18), nullable=False, index=True),
    sa.Column("datasets", sa.Text, nullable=False),  # JSON list of dataset ids
    sa.Column("purpose", sa.Text, nullable=False),
    sa.Column("agreement_no", sa.String(64)),  # the written agreement (书面协议)
    sa.Column("agreement_on", sa.Date),
    sa.Column("filing_no", sa.String(64)),  # the filing (备案)
    sa.Column("filed_on", sa.Date),
    sa.Column("expires_on", sa.Date, nullable=False),  # in force through this day (China)
    sa.Column("registered_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("registered_by", sa.String(128), nullable=False),
    sa.Column("revoked_at", sa.DateTime(timezone=True)),
    sa.Column("revoked_by", sa.String(128)),
    sa.Column("revoke_reason", sa.Text),
)

# --- repeated collection across departments (:mod:`jinshu.repeat.detect`) --------------------

# ``repeat_runs``: one row per detection run (key ``run_id``), with when it ran: the trend's axis.
repeat_runs = sa.Table(
    "repeat_runs", metadata,
    sa.Column("run_id", sa.String(96), primary_key=True),
    sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("finished_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("audit_seq", sa.BigInteger, nullable=False),  # its audit entry (who, counts)
    sa.Column("held_elsewhere", sa.Integer, nullable=False),  # fields holding another's concept
    sa.Column("compared", sa.Integer, nullable=False),  # of them, measured record by record
    sa.Column("without_identifier", sa.BigInteger, nullable=False),  # records left to linkage
    comment="One row per repeat-collection detection run (grain: run_id)",
)

# ``repeat_findings``: one row per run, collecting dataset, concept and method (``exact`` by
# subject key, ``probabilistic`` for subjects without one). Counts only, never values.
repeat_findings = sa.Table(
    "repeat_findings", metadata,
    sa.Column("run_id", sa.String(96), primary_key=True),
    sa.Column("collector_dataset", sa.String(64), primary_key=True),
    sa.Column("concept", sa.String(64), primary_key=True),
    sa.Column("method", sa.String(16), primary_key=True),
    sa.Column("collector_department", sa.String(64), nullable=False),
    sa.Column("collector_field", sa.String(64), nullable=False),
    sa.Column("authority_dataset", sa.String(64), nullable=False),
    sa.Column("authority_department", sa.String(64), nullable=False),
    sa.Column("authority_field", sa.String(64), nullable=False),
    sa.Column("takes", sa.Boolean, nullable=False),  # taken from the authority: nothing collected
    sa.Column("collector_subjects", sa.BigInteger, nullable=False),
    sa.Column("subjects_twice", sa.BigInteger, nullable=False),
    sa.Column("conflicts", sa.BigInteger),  # null where values were not compared
    sa.Column("uncertain", sa.BigInteger, nullable=False, default=0),  # probabilistic review band
    sa.Column("found_at", sa.DateTime(timezone=True), nullable=False),
    sa.Index("ix_repeat_findings_pair", "collector_dataset", "concept", "found_at"),
    comment="One row per run, collecting dataset, concept and method (counts only)",
)

# ``repeat_notices``: one row per finding sent back to a collecting department (key ``id``);
# open while runs find the concept collected again, closed (with why) when one no longer does.
repeat_notices = sa.Table(
    "repeat_notices", metadata,
    sa.Column("id", serial_id(), primary_key=True, autoincrement=True),
    sa.Column("collector_department", sa.String(64), nullable=False, index=True),
    sa.Column("collector_dataset", sa.String(64), nullable=False),
    sa.Column("collector_field", sa.String(64), nullable=False),
    sa.Column("concept", sa.String(64), nullable=False),
    sa.Column("authority_department", sa.String(64), nullable=False),
    sa.Column("authority_dataset", sa.String(64), nullable=False),
    sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("opened_run", sa.String(96), nullable=False),
    sa.Column("last_run", sa.String(96), nullable=False),
    sa.Column("subjects_twice", sa.BigInteger, nullable=False),  # as the last run found
    sa.Column("conflicts", sa.BigInteger),
    sa.Column("closed_at", sa.DateTime(timezone=True)),
    sa.Column("closed_run", sa.String(96)),
    sa.Column("close_reason", sa.Text),
    sa.Index("ix_repeat_notices_pair", "collector_dataset", "concept"),
    comment="One row per repeat-collection finding sent back to the collecting department",
)

GOVERNANCE_TABLES = (batches, quarantine, duplicates, scope_violations, publications, consents,
                     consent_gate, withdrawals, incidents, audit_log, quality_results, retired_fields,
                     key_checks, principals, exchange_requests, exchange_access,
                     developer_authorizations, repeat_runs, repeat_findings,
                     repeat_notices)  # under Alembic (store/migrations)
