"""The catalog: one YAML contract per dataset, validated on load (the model and its rules)."""

from jinshu.catalog.contract import (
           Aggregate,
           Basis,
           ConsentBasis,
           Contract,
           Department,
           FieldSpec,
           Limits,
           OpenSpec,
           Retention,
           Sensitivity,
           Sharing,
)
from jinshu.catalog.rules import ContractError, load_catalog, load_contract

__all__ = ["Aggregate", "Basis", "ConsentBasis", "Contract", "ContractError", "Department", "FieldSpec",
           "Limits", "OpenSpec", "Retention", "Sensitivity", "Sharing", "load_catalog",
           "load_contract"]
