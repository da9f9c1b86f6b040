"""Repeated collection at the catalog level: which datasets hold a concept another is the source of.

Pure, over the contracts and their concepts (:mod:`jinshu.catalog.concepts`):

* an :class:`Overlap` is a dataset holding a concept whose authority is another
  dataset: it either *collects* it again (repeated collection, measured record by
  record by :mod:`jinshu.repeat.detect`) or *takes* it from the authority (stopped);
* :func:`without_authority` lists concepts collected by several datasets while no
  dataset is their authority (一数一源 needs one);
* :func:`available_from_authority` answers ``jinshu check``: which of a file's
  columns another dataset is already the source of.
"""

from __future__ import annotations

from dataclasses import dataclass

from jinshu.catalog import Contract, Holder
from jinshu.catalog.concepts import authorities, holders


@dataclass(frozen=True)
class Overlap:
    """One dataset holding a concept another dataset is the authority for."""

    holder: Holder
    authority: Holder

    @property
    def concept(self) -> str:
        return self.holder.concept

    @property
    def takes(self) -> bool:
        """Taken from the authority (no copy stored), rather than collected again."""
        return self.holder.role == "takes"


def overlaps(contracts: dict[str, Contract]) -> list[Overlap]:
    """Every holder of a concept with an authority elsewhere, in catalog order."""
    sources = authorities(contracts)
    return [Overlap(h, sources[h.concept]) for h in holders(contracts)
            if h.role != "authority" and h.concept in sources]


def by_pair(found: list[Overlap]) -> dict[tuple[str, str], list[Overlap]]:
    """Overlaps grouped by (holding dataset, authority dataset): one join measures each group
    (a taken concept is measured as nothing collected)."""
    out: dict[tuple[str, str], list[Overlap]] = {}
    for overlap in found:
        pair = (overlap.holder.contract.id, overlap.authority.contract.id)
        out.setdefault(pair, []).append(overlap)
    return out


def without_authority(contracts: dict[str, Contract]) -> dict[str, list[Holder]]:
    """Concept -> its holders, for concepts held by two datasets or more and no authority."""
    sources = authorities(contracts)
    out: dict[str, list[Holder]] = {}
    for h in holders(contracts):
        if h.concept not in sources:
            out.setdefault(h.concept, []).append(h)
    return {concept: found for concept, found in out.items() if len(found) > 1}


def available_from_authority(contracts: dict[str, Contract], contract: Contract,
                             columns: list[str]) -> list[Overlap]:
    """Overlaps of ``contract`` among ``columns`` (field names a file has a column for)."""
    present = set(columns)
    return [o for o in overlaps(contracts)
            if o.holder.contract.id == contract.id and o.holder.field.name in present]
