"""The ingest service: the stages of :data:`jinshu.pipeline.STAGES` over a batch's stage files.

:mod:`.stages` (each stage), :mod:`.workspace` (stage files), :mod:`.quarantine`
(what is set aside and why), :mod:`.load` (one transaction into the store).
"""
