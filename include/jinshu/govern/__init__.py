"""Governance: the audit log, incident response and the reports monitoring reads.

:mod:`.audit` (hash-chained log of every ingest, publication and decision),
:mod:`.incident` (one switch that suspends a dataset wherever it leaves the
store), :mod:`.report` (text and JSON reports over ``sql/reports``),
:mod:`.scorecard` (quality scorecard and GX Data Docs).
"""
