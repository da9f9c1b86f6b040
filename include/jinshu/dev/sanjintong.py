"""三晋通 (the provincial service app), as an example consumer of the exchange: ask once.

A citizen applying for a service gives their ID number; instead of asking
again for what a department already holds, the app pre-fills the household
address (户籍地址, from 公安厅's household registry) and the minimum-living
allowance status (低保, from 民政厅) through the exchange API, under its
grants, and shows where each value came from. It talks HTTP only, exactly
as any consumer would; it never connects to the central store.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import httpx

HOUSEHOLD, ALLOWANCE = "household_registration", "minimum_living_allowance"
NEEDS = {HOUSEHOLD: ["name", "address", "county_code"], ALLOWANCE: ["allowance_yuan", "start_month"]}
PURPOSE = "三晋通办事申请表预填，免于群众重复提交（一次告知、一次提交）"


@dataclass
class Application:
    """The pre-filled form; ``sources`` says which department and version each part came from."""

    name: str | None = None
    household_address: str | None = None
    county_code: str | None = None
    receives_allowance: bool | None = None
    allowance_yuan: str | None = None
    sources: list[dict] = field(default_factory=list)
    still_to_ask: list[str] = field(default_factory=list)


class SanJinTong:
    def __init__(self, base_url: str, token: str) -> None:
        self.http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {token}"},
                                 timeout=30)

    def request_grants(self, days: int = 365) -> list[int]:
        """Ask the owning departments once for the fields the forms need."""
        return [self.http.post("/v1/requests", json={"dataset": d, "purpose": PURPOSE, "fields": f,
                                                     "duration_days": days}).raise_for_status().json()["id"]
                for d, f in NEEDS.items()]

    def _lookup(self, dataset: str, id_number: str) -> dict | None:
        response = self.http.post(f"/v1/datasets/{dataset}/lookup",
                                  json={"id_number": id_number, "fields": NEEDS[dataset]})
        if response.status_code != 200:
            return None  # no grant, suspended...: the form simply asks the citizen
        return response.json()

    def prefill(self, id_number: str) -> Application:
        form = Application()
        household = self._lookup(HOUSEHOLD, id_number)
        if household and household["rows"]:
            row = household["rows"][0]
            form.name, form.household_address = row["name"], row["address"]
            form.county_code = row["county_code"]
            form.sources.append(_source(household))
        else:
            form.still_to_ask += ["name", "household_address"]
        allowance = self._lookup(ALLOWANCE, id_number)
        if allowance is not None:
            form.receives_allowance = bool(allowance["rows"])
            form.allowance_yuan = allowance["rows"][0]["allowance_yuan"] if allowance["rows"] else None
            form.sources.append(_source(allowance))
        else:
            form.still_to_ask.append("allowance_status")
        return form


def _source(page: dict) -> dict:
    return {"dataset": page["dataset"], "department": page["source_department"],
            "acquired_on": page["acquired_on"], "version": page["version"], "grant": page["grant"]}
