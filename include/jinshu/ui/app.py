"""The governance pages as a FastAPI app: mounted by ``plugins/jinshu_plugin.py`` on Airflow's
api-server at ``/jinshu/governance``, behind Airflow's login.

The app knows nothing of Airflow: the plugin passes ``guards`` (dependencies every route
runs: Airflow's own access check) and ``identify`` (a dependency that returns the
:class:`~jinshu.ui.view.Viewer`), both from :mod:`jinshu.ui.airflow_auth`. Pages are read
through the registry; actions call the services that audit them (:mod:`jinshu.share.grants`,
:mod:`jinshu.govern.incident`) as ``ui:<user>``; a form carries its session's CSRF token.
GX Data Docs and the scorecard are served from the quality store, offline.
"""

import mimetypes
import re
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs

from fastapi import Depends, FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from jinshu.catalog import Contract
from jinshu.protect.leakguard import LeakFound
from jinshu.settings import Settings
from jinshu.ui import registry
from jinshu.ui.render import render
from jinshu.ui.view import View, Viewer

DONE = {  # what a finished action says on the page it returns to
    "approved": "已批准申请 #{ref}。Request #{ref} approved.",
    "refused": "已拒绝申请 #{ref}，理由已告知申请部门。"
               "Request #{ref} refused; the requester sees the reason.",
    "opened": "已登记事件 #{ref}，数据集已暂停。Incident #{ref} opened; the dataset is suspended.",
    "closed": "事件已关闭：{ref}。Incident closed for {ref}.",
}
_DOC_PATH = re.compile(r"^[A-Za-z0-9_.\-/]+$")

@dataclass(frozen=True)
class Platform:
    """What every page reads: built once per process, on the first request."""

    engine: Any
    contracts: dict[str, Contract]
    settings: Settings

def _default_platform() -> Platform:
    from jinshu.catalog import load_catalog
    from jinshu.store.engine import engine_for
    from jinshu.store.schema import ensure_schema

    settings = Settings.from_env()
    contracts = load_catalog(settings.catalog_dir)
    engine = engine_for(settings.store_url)
    ensure_schema(engine, contracts)
    return Platform(engine, contracts, settings)

class Forbidden(Exception):
    """The viewer may not do this (HTTP 403)."""

def create_app(identify: Callable[..., Any], guards: list[Any] | None = None,
               make_platform: Callable[[], Platform] = _default_platform,
               clock: Callable[[], datetime] = lambda: datetime.now(UTC),
               login_url: Callable[[Request], str] | None = None) -> FastAPI:
    """The app; ``login_url`` sends an anonymous browser to the login page, coming back."""
    app = FastAPI(title="jinshu 晋数 governance pages", dependencies=guards or [], docs_url=None,
                  redoc_url=None, openapi_url=None)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, error: StarletteHTTPException) -> Response:
        if error.status_code == 401 and request.method == "GET" and login_url is not None:
            return RedirectResponse(login_url(request), status_code=303)
        return Response(f"{error.status_code}: {error.detail}", status_code=error.status_code,
                        media_type="text/plain; charset=utf-8", headers=error.headers)
    lock, built = threading.Lock(), []
    Who = Annotated[Viewer, Depends(identify)]

    def platform() -> Platform:
        if not built:
            with lock:
                if not built:
                    built.append(make_platform())
        return built[0]

    def view_of(request: Request, viewer: Viewer) -> View:
        p = platform()
        return View(p.engine, p.contracts, p.settings, viewer, clock(), dict(request.query_params))

    def page_response(request: Request, view: View, page: registry.Page, data: dict[str, Any],
                      template: str, status: int = 200, error: str = "") -> HTMLResponse:
        done = request.query_params.get("done", "")
        ref = request.query_params.get("ref", "")
        notice = DONE[done].format(ref=ref[:64]) if done in DONE else ""
        try:
            html = render(template, f"ui:{page.slug}", page=page, data=data, viewer=view.viewer,
                          nav=registry.pages(), base=request.scope.get("root_path", ""),
                          now=view.now, notice=notice, error=error, ready=page.ready(view),
                          department_name=view.department_name(view.viewer.department or ""))
        except LeakFound:
            return HTMLResponse("<!DOCTYPE html><title>blocked</title><p>页面含未脱敏的身份号码，已拦截。"
                                "The page carried a raw identifier and was not sent.</p>", status_code=500)
        return HTMLResponse(html, status_code=status)

    def show(request: Request, viewer: Viewer, slug: str, key: str | None = None,
             error: str = "", status: int = 200) -> HTMLResponse:
        page = registry.page(slug)
        if page is None or (key is not None and page.detail is None):
            return HTMLResponse("<!DOCTYPE html><title>not found</title><p>没有这个页面 no such page</p>",
                                status_code=404)
        view = view_of(request, viewer)
        if not page.ready(view):
            return page_response(request, view, page, {}, page.template_name, status, error)
        try:
            if key is None:
                data, template = page.query(view), page.template_name
            else:
                data, template = page.detail(view, key), f"{page.slug}_detail.html.j2"
        except LookupError:
            return HTMLResponse("<!DOCTYPE html><title>not found</title><p>没有这个批次，或不属于您的部门。"
                                "No such batch, or not your department's.</p>", status_code=404)
        return page_response(request, view, page, data, template, status, error)

    async def form_of(request: Request, viewer: Viewer) -> dict[str, str]:
        fields = {k: v[0] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()}
        if not viewer.csrf or fields.get("csrf") != viewer.csrf:
            raise Forbidden("表单已过期，请刷新页面。The form expired: reload the page.")
        return fields

    def done(request: Request, slug: str, code: str, ref: object) -> RedirectResponse:
        base = request.scope.get("root_path", "")
        return RedirectResponse(f"{base}/{slug}?done={code}&ref={ref}", status_code=303)

    @app.get("/", include_in_schema=False)
    def home(request: Request, viewer: Who) -> RedirectResponse:
        return RedirectResponse(f"{request.scope.get('root_path', '')}/{registry.pages()[0].slug}",
                                status_code=307)

    @app.get("/quality/scorecard.html")
    def scorecard(viewer: Who) -> Response:
        return _report_file(platform().settings, "scorecard.html")

    @app.get("/quality/docs/{path:path}")
    def data_docs(path: str, viewer: Who) -> Response:
        if not _DOC_PATH.match(path) or ".." in path.split("/"):
            return Response("no such file", status_code=404)
        return _report_file(platform().settings, f"data-docs/{path}")

    @app.get("/{slug}", response_class=HTMLResponse)
    def show_page(request: Request, slug: str, viewer: Who) -> HTMLResponse:
        return show(request, viewer, slug)

    @app.get("/{slug}/{key}", response_class=HTMLResponse)
    def show_detail(request: Request, slug: str, key: str, viewer: Who) -> HTMLResponse:
        return show(request, viewer, slug, key)

    @app.post("/exchange/{request_id}/{decision}")
    async def decide(request: Request, request_id: int, decision: str,
                     viewer: Who) -> Response:
        from jinshu.share import grants
        from jinshu.share.decision import Caller, Refused

        try:
            form = await form_of(request, viewer)
            if decision not in ("approve", "refuse"):
                raise Forbidden("unknown decision")
            if not viewer.may_decide or viewer.department is None:
                raise Forbidden("只有数据所属部门的用户可以决定。"
                                "Only a user of the owning department decides.")
            caller = Caller(viewer.actor, viewer.department, "department")
            engine, now = platform().engine, clock()
            if decision == "approve":
                await run_in_threadpool(grants.approve, engine, request_id, caller, None,
                                        form.get("note") or None, now)
                return done(request, "exchange", "approved", request_id)
            await run_in_threadpool(grants.refuse, engine, request_id, caller, form.get("reason", ""), now)
            return done(request, "exchange", "refused", request_id)
        except Forbidden as error:
            return show(request, viewer, "exchange", error=str(error), status=403)
        except Refused as error:
            return show(request, viewer, "exchange", error=error.message, status=error.status)

    @app.post("/incidents/open")
    async def open_incident(request: Request, viewer: Who) -> Response:
        return await _incident(request, viewer, None)

    @app.post("/incidents/{dataset_id}/close")
    async def close_incident(request: Request, dataset_id: str, viewer: Who) -> Response:
        return await _incident(request, viewer, dataset_id)

    async def _incident(request: Request, viewer: Viewer, closing: str | None) -> Response:
        from jinshu.govern import incident
        from jinshu.store.objects import open_store

        try:
            form = await form_of(request, viewer)
            if not viewer.may_operate:
                raise Forbidden("只有运维人员可以登记或关闭事件。Only operators open and close incidents.")
            p, now = platform(), clock()
            if closing is None:
                dataset = form.get("dataset", "")
                if dataset not in p.contracts:
                    raise incident.IncidentError(f"no dataset '{dataset[:64]}' in the catalog")
                store = open_store(p.settings.open_data_url, p.settings.s3_endpoint_url)
                opened = await run_in_threadpool(incident.open_incident, p.engine, store, dataset,
                                                 form.get("reason", ""), viewer.actor, now)
                return done(request, "incidents", "opened", opened.incident_id)
            await run_in_threadpool(incident.close_incident, p.engine, closing, form.get("reason", ""),
                                    viewer.actor, now)
            return done(request, "incidents", "closed", closing if closing in p.contracts else "")
        except Forbidden as error:
            return show(request, viewer, "incidents", error=str(error), status=403)
        except incident.IncidentError as error:
            return show(request, viewer, "incidents", error=str(error), status=400)

    app.state.platform = platform
    return app

def _report_file(settings: Settings, key: str) -> Response:
    """A file of the published quality reports (local folder or S3), or 404."""
    from jinshu.store.objects import open_store

    store = open_store(settings.quality_url or str(settings.quality_dir), settings.s3_endpoint_url)
    try:
        data = store.read(key)
    except (FileNotFoundError, KeyError, OSError):
        return Response("报告尚未生成 not built yet: run the ingest DAGs (build_quality_reports)",
                        status_code=404, media_type="text/plain; charset=utf-8")
    except Exception as error:  # S3 raises its own NoSuchKey
        if "NoSuchKey" in type(error).__name__ or "NoSuchKey" in str(error):
            return Response("not found", status_code=404)
        raise
    kind = mimetypes.guess_type(key)[0] or "application/octet-stream"
    return Response(data, media_type=kind + ("; charset=utf-8" if kind.startswith("text/") else ""))
