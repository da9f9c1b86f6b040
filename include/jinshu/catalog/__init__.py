"""The catalog: one YAML contract per dataset, validated on load (the model and its rules)."""

from jinshu.catalog.concepts import ConceptList, Holder, load_concepts
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
from jinshu.catalog.errors import ContractError
from jinshu.catalog.rules import load_catalog, load_contract

__all__ = ["Aggregate", "Basis", "Check", "ConceptList", "ConsentBasis", "Contract", "ContractError",
           "Department", "FieldSpec", "Holder", "IdMatches", "Limits", "OpenSpec", "QuasiIdentifier",
           "Retention", "Sensitivity", "Sharing", "UsccMatchesRegion", "load_catalog",
           "load_concepts", "load_contract"]
