"""The protection policy: what a field's sensitivity means at rest and on the way out.

===================  =======================================  ===========================
sensitivity          in the central store                     leaving the central store
===================  =======================================  ===========================
sensitive_personal   AES-256-GCM envelope + keyed blind index  masked (no grant gives more)
personal             clear                                    masked unless entitled
trade_secret         clear                                    masked; never opened
state_secret         refused at contract load and at ingest   --
internal, public     clear                                    as sharing/open class say
===================  =======================================  ===========================

Pure rules over the contract: which fields are encrypted, which columns hold
their blind indexes, which columns form the stored natural key, and how each
field leaves the store (:func:`on_exit`, the one exit policy every outlet uses).
With the catalog's contracts:

>>> from jinshu.catalog import load_catalog
>>> from jinshu.settings import DEFAULT_CATALOG_DIR
>>> catalog = load_catalog(DEFAULT_CATALOG_DIR)
>>> household, enterprise = catalog["household_registration"], catalog["enterprise_registration"]
>>> [f.name for f in encrypted_fields(household)], encrypted_fields(enterprise)
(['id_number', 'ethnicity'], [])
>>> blind_index_column(household, "id_number"), extra_index_columns(household)
('_subject_key', ['_bidx_ethnicity'])
>>> key_columns(household), key_columns(catalog["social_insurance_enrollment"]), key_columns(enterprise)
(['_subject_key'], ['_subject_key', 'insurance_type'], ['uscc'])

A personal field is masked for the exchange and reports and removed from open
data, even where the law already disclosed the dataset; a quasi-identifier the
contract opens is generalized (:mod:`jinshu.open.anonymize`); public fields are kept:

>>> name = household.by_name["name"]
>>> [on_exit(name, household, channel) for channel in (EXCHANGE, REPORT, OPEN_DATA)]
['mask', 'mask', 'drop']
>>> on_exit(enterprise.by_name["legal_representative"], enterprise, OPEN_DATA)
'drop'
>>> on_exit(household.by_name["county_code"], household, OPEN_DATA)
'keep'
>>> allowance = catalog["minimum_living_allowance"]
>>> on_exit(allowance.by_name["county_code"], allowance, OPEN_DATA)
'generalize'
>>> import pandas as pd
>>> ids = pd.Series(["14010520010815068X", None])
>>> masked_for_exit(ids, household.by_name["id_number"], household, EXCHANGE).tolist()
['1****************X', nan]
"""

from __future__ import annotations

from typing import Literal

import pandas as pd

from jinshu.catalog import Contract, FieldSpec
from jinshu.protect.pseudonyms import SUBJECT_KEY
from jinshu.vocab import mask

ENCRYPTED = "sensitive_personal"
MASKED_ON_EXIT = frozenset({"personal", "sensitive_personal", "trade_secret"})
# Where data leaves the central store.
EXCHANGE, OPEN_DATA, REPORT = "exchange", "open_data", "report"
Exit = Literal["keep", "mask", "drop", "generalize"]


def encrypted_fields(contract: Contract) -> list[FieldSpec]:
    """The fields the dataset's table holds encrypted (a field taken from its concept's
    authority is not stored here: its envelopes are the authority's)."""
    return [f for f in contract.stored_fields if f.sensitivity == ENCRYPTED]


def seals_originals(contract: Contract) -> bool:
    """A quarantined row of this dataset keeps its values as received sealed: some field,
    stored or taken, is sensitive personal data."""
    return any(f.sensitivity == ENCRYPTED for f in contract.fields)


def blind_index_column(contract: Contract, field: str) -> str:
    """The column holding ``field``'s blind index (the pseudonym, for the subject key)."""
    return SUBJECT_KEY if field == contract.subject_key else f"_bidx_{field}"


def extra_index_columns(contract: Contract) -> list[str]:
    """Blind-index columns a dataset table needs beyond ``_subject_key``."""
    return [blind_index_column(contract, f.name) for f in encrypted_fields(contract)
            if f.name != contract.subject_key]


def key_columns(contract: Contract) -> list[str]:
    """Stored columns of the natural key: encrypted fields are matched by blind index."""
    encrypted = {f.name for f in encrypted_fields(contract)}
    return [blind_index_column(contract, k) if k in encrypted else k for k in contract.natural_key]


def on_exit(spec: FieldSpec, contract: Contract, channel: str) -> Exit:
    """How ``spec`` leaves the store through ``channel``: kept, masked, dropped or generalized.

    Open data (GB/T 35273 anonymization, not masking) generalizes the quasi-identifiers
    its contract names, keeps the other public fields and removes everything else, also
    from an already-disclosed dataset. The exchange and reports mask personal, sensitive
    and trade-secret fields and keep the rest.

    >>> from jinshu.catalog import FieldSpec
    >>> name = FieldSpec(name="name", title="姓名", sensitivity="personal")
    >>> on_exit(name, None, EXCHANGE)
    'mask'
    """
    if channel == OPEN_DATA:
        if spec.name in contract.open.qi_names and spec.sensitivity in ("public", "personal"):
            return "generalize"
        return "keep" if spec.sensitivity == "public" else "drop"
    return "mask" if spec.sensitivity in MASKED_ON_EXIT else "keep"


def masked_for_exit(values: pd.Series, spec: FieldSpec, contract: Contract, channel: str) -> pd.Series:
    """``values`` of ``spec`` as they may leave through ``channel`` (a dropped field is the
    caller's to leave out)."""
    return mask.apply(spec.mask_kind, values) if on_exit(spec, contract, channel) == "mask" else values
