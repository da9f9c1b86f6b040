"""Collection control: only what a law allows or the subject consented to
(docs/regulation.md#collection-control).

Rules (pure): :mod:`.read` (decode and parse an extract), :mod:`.conform`
(headers to fields; undeclared columns are scope violations, dropped before
storage), :mod:`.consent` (which fields need consent; the gate keeps a value
only where the subject consented, and the record always flows on),
:mod:`.rules` (required, formats, code lists, types, ranges).
Services: :mod:`.consent_registry` (decisions in the store, withdrawals) and
:mod:`.consent_intake` (departments' consent extracts).
"""
