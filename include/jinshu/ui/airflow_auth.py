"""Who is looking, as Airflow's auth manager says: the governance pages behind Airflow's login.

A plugin's FastAPI app inherits no authentication from the api-server (see
AIRFLOW-NOTES), so :func:`guards` puts Airflow's own check on every route:
``requires_access_view(AccessView.PLUGINS)``, which reads the user from the
``Authorization: Bearer`` token or the UI's ``_token`` JWT cookie (what the
pages get inside the UI's iframe). If those imports break, every route answers
503: the pages fail closed, never open.

:func:`identify` turns the Airflow user into a :class:`~jinshu.ui.view.Viewer`:
its department (``JINSHU_UI_DEPARTMENTS``, or a user named after a department
code) and what the auth manager lets it do. Deciding exchange requests needs a
role above viewer (or, with an auth manager without roles, its permission to
POST on the custom view ``jinshu-exchange``); opening and closing incidents
needs op or admin (or POST on ``jinshu-incidents``).
"""

import hashlib
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request

from jinshu.settings import Settings
from jinshu.ui.view import Viewer, department_of

ROLES = ("viewer", "user", "op", "admin")  # SimpleAuthManager's roles, lowest first
DECIDE, OPERATE = "user", "op"  # the least role that decides requests / opens incidents

def _airflow() -> tuple[Any, Any, Any, Any]:
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.models.resource_details import AccessView
    from airflow.api_fastapi.core_api.security import get_user, requires_access_view

    return get_auth_manager, AccessView, get_user, requires_access_view

def _closed() -> None:
    raise HTTPException(status_code=503, detail="Airflow's authentication is not available: the "
                                                "governance pages stay closed")

def guards() -> list[Any]:
    """Airflow's access check for plugin views, on every route (fail closed)."""
    try:
        _, access_view, _, requires_access_view = _airflow()
        return [Depends(requires_access_view(access_view.PLUGINS))]
    except Exception:  # an Airflow without these hooks: nothing is served
        return [Depends(_closed)]

def _at_least(role: str | None, least: str) -> bool:
    """>>> _at_least("op", "user"), _at_least("viewer", "user"), _at_least(None, "user")
    (True, False, False)
    """
    role = (role or "").lower()
    return role in ROLES and ROLES.index(role) >= ROLES.index(least)

def _may(manager: Any, user: Any, role: str | None, least: str, resource: str) -> bool:
    if role is not None:  # an auth manager with roles (SimpleAuthManager): the role decides
        return _at_least(role, least)
    return bool(manager.is_authorized_custom_view(method="POST", resource_name=resource, user=user))

def csrf_token(session: str) -> str:
    """What this session's forms carry back: derived from its JWT, which a page of another
    site cannot read (the cookie is HttpOnly, SameSite=Lax); empty without a session."""
    return hashlib.sha256(b"jinshu-ui-form\x00" + session.encode()).hexdigest()[:32] if session else ""

def _session(request: Request) -> str:
    auth = request.headers.get("authorization", "")
    return auth[7:] if auth.lower().startswith("bearer ") else request.cookies.get("_token", "")

def identify_with(known_departments: set[str] | None = None):
    """The FastAPI dependency that returns the :class:`Viewer` of a request."""
    try:
        get_auth_manager, _, get_user, _ = _airflow()
    except Exception:
        return _closed

    async def identify(request: Request, user: Annotated[Any, Depends(get_user)]) -> Viewer:
        settings = Settings.from_env()
        known = known_departments if known_departments is not None else _departments(settings)
        name = user.get_name()
        role = getattr(user, "role", None)
        manager = get_auth_manager()
        session = _session(request)
        return Viewer(name=name, role=role,
                      department=department_of(name, dict(settings.ui_departments), known),
                      may_decide=_may(manager, user, role, DECIDE, "jinshu-exchange"),
                      may_operate=_may(manager, user, role, OPERATE, "jinshu-incidents"),
                      csrf=csrf_token(session))

    return identify

@cache
def _catalog_departments(catalog_dir: str) -> frozenset[str]:
    from jinshu.catalog import load_catalog

    return frozenset(c.department.code for c in load_catalog(Path(catalog_dir)).values())

def _departments(settings: Settings) -> set[str]:
    return set(_catalog_departments(str(settings.catalog_dir)))

def login_redirect(request: Request) -> str:
    """Airflow's login page, coming back to this page."""
    get_auth_manager, *_ = _airflow()
    return get_auth_manager().get_url_login(next_url=str(request.url))
