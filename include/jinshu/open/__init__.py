"""Open data (docs/regulation.md#open-data): anonymized, standardized, machine-readable, free,
with source, acquisition date, version and checksum on every product.

Pure rules: :mod:`.anonymize` (generalization and suppression, k-anonymity),
:mod:`.perturb` (cell-key noise on sums), :mod:`.product` (the rows, their schema, the
files), :mod:`.package` (layout, data package, pointer), :mod:`.provenance` (the stamp),
:mod:`.catalog` (DCAT-AP), :mod:`.pages` (the HTML pages). With storage: :mod:`.site`
(pointers, pages and catalog rebuilt from what is published), :mod:`.publisher` (a new
version per run), :mod:`.verify` (``jinshu provenance verify``).
"""
