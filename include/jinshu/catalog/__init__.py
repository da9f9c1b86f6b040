"""The catalog: one YAML contract per dataset, validated on load (the model and its rules)."""

from jinshu.catalog.contract import (
           Aggregate,
           Basis,
           Check,
           ConsentBasis,
           Contract,
           Department,
           FieldSpec,
           IdMatches,
           Limits,
           OpenSpec,
           QuasiIdentifier,
           Retention,
           Sensitivity,
           Sharing,
           UsccMatchesRegion,
)
from jinshu.catalog.rules import ContractError, load_catalog, load_contract

__all__ = ["Aggregate", "Basis", "Check", "ConsentBasis", "Contract", "ContractError", "Department",
           "FieldSpec", "IdMatches", "Limits", "OpenSpec", "QuasiIdentifier", "Retention", "Sensitivity",
           "Sharing", "UsccMatchesRegion", "load_catalog", "load_contract"]
