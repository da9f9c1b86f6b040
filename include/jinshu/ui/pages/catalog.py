"""数据目录 The catalog: every dataset with its department, sharing and open class, legal bases,
freshness against its update cycle, and each field's concept authority (issue 13) when the
catalog declares one."""

from __future__ import annotations

from typing import Any

from jinshu.catalog import Contract
from jinshu.govern.scorecard.facts import _last_loaded, _when
from jinshu.govern.scorecard.words import CYCLE_WORDS
from jinshu.protect import policy
from jinshu.quality import UPDATE_CYCLES
from jinshu.ui.registry import Page
from jinshu.ui.view import View

SHARING = {"unconditional": "无条件共享", "conditional": "有条件共享", "not_shared": "不予共享"}
OPEN = {"open": "无条件开放", "conditional": "有条件开放", "not_open": "不予开放"}
SENSITIVITY = {"public": "公开", "internal": "内部", "personal": "个人信息",
               "sensitive_personal": "敏感个人信息", "trade_secret": "商业秘密", "state_secret": "国家秘密"}


def _bases(contract: Contract) -> list[str]:
    laws = {f.basis.law for f in contract.fields if f.basis and f.basis.law}
    consents = {f"同意 consent: {f.basis.consent.purpose}" for f in contract.fields
                if f.basis and f.basis.consent}
    return sorted(laws) + sorted(consents)


def _fields(contract: Contract) -> list[dict[str, Any]]:
    return [{"name": f.name, "title": f.title, "sensitivity": f.sensitivity,
             "sensitivity_zh": SENSITIVITY.get(f.sensitivity, f.sensitivity),
             "basis": (f.basis.law if f.basis and f.basis.law else
                       f"同意 consent ({f.basis.consent.purpose})" if f.basis and f.basis.consent else ""),
             "exchange": policy.on_exit(f, contract, policy.EXCHANGE),
             "open": policy.on_exit(f, contract, policy.OPEN_DATA) if contract.is_open else "—",
             "concept": getattr(f, "concept", None), "authority": getattr(f, "authority", None)}
            for f in contract.fields]


def query(view: View) -> dict[str, Any]:
    with view.engine.connect() as conn:
        loaded = _last_loaded(conn)
    now = _when(view.now)
    datasets = []
    for c in sorted(view.contracts.values(), key=lambda c: (c.department.code, c.id)):
        last = loaded.get(c.id)
        allowed = UPDATE_CYCLES.get(c.update_cycle)
        datasets.append({
            "id": c.id, "title": c.title, "description": c.description,
            "department": c.department.name, "department_code": c.department.code,
            "subject": c.subject, "sharing": c.sharing.class_, "sharing_zh": SHARING[c.sharing.class_],
            "condition": c.sharing.condition or c.sharing.legal_basis or "",
            "open": c.open.class_, "open_zh": OPEN[c.open.class_], "livelihood": c.open.livelihood,
            "cycle": c.update_cycle, "cycle_zh": CYCLE_WORDS.get(c.update_cycle, ""),
            "last_loaded": last, "late": bool(allowed and (last is None or now - last > allowed)),
            "bases": _bases(c), "fields": _fields(c),
        })
    return {"datasets": datasets}


PAGE = Page(slug="catalog", zh="数据目录", en="Catalog", order=10, query=query)
