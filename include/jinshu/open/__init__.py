"""Open data (docs/regulation.md#open-data): de-identified, standardized, machine-readable,
free, with source and acquisition date on every product.

:mod:`.product` (pure: which fields open, k-anonymity, the files),
:mod:`.provenance` (the stamp), :mod:`.publisher` (versions in the open-data store).
"""
