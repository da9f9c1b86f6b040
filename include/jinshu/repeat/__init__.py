"""No repeated collection (docs/regulation.md#repeat-collection), every mechanism in one place.

* the same file: :mod:`.ledger` records each drop by checksum; the same bytes
  again are a ``repeat_drop``, never ingested twice;
* the same record within a file: :mod:`.dedup` (keyed record hashes; a repeat
  points at its first occurrence), and a natural key sent twice with different
  values is a clash, quarantined by the row rules;
* the record already stored: :mod:`.stored` (a stored twin makes the record a
  duplicate of an earlier batch; a new version of a known key replaces it).
"""
