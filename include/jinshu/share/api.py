"""The exchange's HTTP API (FastAPI): served by ``jinshu serve`` and mounted in Airflow's
api-server by ``plugins/jinshu_plugin.py``.

A plugin app gets no Airflow authentication, so every route authenticates
the caller's bearer token itself (:mod:`jinshu.share.principals`); there is
no anonymous route besides the OpenAPI document. Refusals are JSON
``{"error": code, "message": what to do}`` with the right status and never
carry data. A developer reads only under an authorization of its organization
that is complete (written agreement), filed (备案) and unexpired; otherwise 403
``authorization_required``, ``authorization_incomplete``, ``authorization_expired``
or ``authorization_revoked``, the message naming what is missing. Every page is
stamped: a ``provenance`` block (source, acquisition date, version, the
authorization for a developer, and the SHA-256 of the rows) and ``X-Jinshu-*``
headers. Blocking work (the store, decryption) runs in the thread pool;
the handler then awaits its access record's group commit before it sends
the data.
"""

import asyncio
import threading
from collections.abc import Callable
from typing import Annotated, Any

import orjson
from fastapi import Depends, FastAPI, Path, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException as StarletteHTTPException

from jinshu.share import grants
from jinshu.share.decision import Caller, Refused
from jinshu.share.principals import Unauthenticated
from jinshu.share.service import MAX_LIMIT, Exchange, json_default

TITLE = "jinshu 晋数 exchange"
MAX_ID = 2**63 - 1  # ids are BIGINT
DATASET = Path(pattern=r"^[a-z][a-z0-9_]*$", max_length=64, description="dataset id")


class ErrorBody(BaseModel):
    error: str = Field(description="machine-readable reason")
    message: str = Field(description="what is wrong and what to do")


class AuthorizationStamp(BaseModel):
    id: int
    agreement_no: str = Field(description="the written agreement (书面协议)")
    agreement_on: str
    filing_no: str = Field(description="the filing (备案) with the information management department")
    filed_on: str
    expires_on: str


class Provenance(BaseModel):
    source_dataset: str
    source_department: str
    source_department_code: str
    acquired_at: str | None = Field(description="acquisition time of the newest source batch among "
                                                "the rows delivered (null for no rows)")
    published_at: str = Field(description="when this version was published to the exchange")
    version: str
    delivered_at: str
    source_batches: list[str] = Field(description="the batches the rows delivered came from")
    rows: int
    checksum: str = Field(description="'sha256:' + hex SHA-256 of `rows` serialized as JSON with keys "
                                      "sorted, no whitespace, UTF-8 unescaped (Python: json.dumps(rows, "
                                      "sort_keys=True, separators=(',', ':'), ensure_ascii=False))")
    authorization: AuthorizationStamp | None = Field(description="a developer's authorization read "
                                                                 "under; null for a department")


class PageBody(BaseModel):
    dataset: str
    source_department: str
    version: str = Field(description="acquisition time of the newest batch published to the exchange")
    acquired_on: str
    fields: list[str]
    masked: list[str]
    grant: int | None
    purpose: str
    rows: list[dict[str, Any]] = Field(description="field -> value, and _subject: your pseudonym")
    next_cursor: str | None = Field(description="pass as cursor for the next page; null at the end")
    provenance: Provenance


class FieldEntry(BaseModel):
    name: str
    title: str
    sensitivity: str
    exit: str | None


class Department(BaseModel):
    code: str
    name: str


class CatalogEntry(BaseModel):
    id: str
    title: str
    department: Department
    sharing: str
    condition: str | None
    legal_basis: str | None
    access: str
    how: str
    grant: int | None
    fields: list[FieldEntry]


class NewRequest(BaseModel):
    dataset: str = Field(max_length=64)
    purpose: str = Field(max_length=500)
    fields: list[str] = Field(max_length=100)
    duration_days: int = Field(ge=1, le=grants.MAX_DAYS)
    linkable: bool = False
    link: str | None = Field(default=None, max_length=64)


class Approval(BaseModel):
    fields: list[str] | None = Field(default=None, max_length=100,
                                     description="fewer than asked, or all when omitted")
    note: str | None = Field(default=None, max_length=500)


class Reason(BaseModel):
    reason: str = Field(max_length=500)


class Lookup(BaseModel):
    id_number: str = Field(max_length=64, description="the subject's identifier (ID number, USCC)")
    fields: list[str] | None = Field(default=None, max_length=100)
    grant: int | None = Field(default=None, ge=1, le=MAX_ID)


class RequestBody(BaseModel):
    id: int
    dataset: str
    owner: str
    requester: str
    purpose: str
    fields: list[str]
    duration_days: int
    linkable: bool
    link: str | None
    status: str
    received_at: str
    due_on: str
    decided_at: str | None
    reason: str | None
    granted_fields: list[str] | None
    expires_at: str | None
    revoked_at: str | None
    revoke_reason: str | None
    escalated: bool


BEARER = HTTPBearer(auto_error=False, description="the token `jinshu principals add` printed")


def _token(credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(BEARER)]) -> str | None:
    return credentials.credentials if credentials else None


Token = Annotated[str | None, Depends(_token)]


def _errors(*statuses: int) -> dict:
    return {s: {"model": ErrorBody} for s in (401, *statuses)}


def _request_body(row) -> dict:
    import json

    def iso(value):
        return value.isoformat() if value is not None else None

    return {"id": row.id, "dataset": row.dataset_id, "owner": row.owner, "requester": row.requester,
            "purpose": row.purpose, "fields": json.loads(row.fields),
            "duration_days": row.duration_days, "linkable": bool(row.linkable), "link": row.link,
            "status": row.status, "received_at": iso(row.received_at), "due_on": iso(row.due_on),
            "decided_at": iso(row.decided_at), "reason": row.reason,
            "granted_fields": json.loads(row.granted_fields) if row.granted_fields else None,
            "expires_at": iso(row.expires_at), "revoked_at": iso(row.revoked_at),
            "revoke_reason": row.revoke_reason, "escalated": row.escalated_at is not None}


def _default_exchange() -> Exchange:
    from jinshu.catalog import load_catalog
    from jinshu.protect import keys
    from jinshu.settings import Settings
    from jinshu.store.engine import engine_for
    from jinshu.store.schema import ensure_schema

    settings = Settings.from_env()
    contracts = load_catalog(settings.catalog_dir)
    engine = engine_for(settings.store_url)
    ensure_schema(engine, contracts)
    return Exchange(engine, contracts, keys.protector(settings), keys.pseudonym_key(settings),
                    settings.holidays)


def create_app(make_exchange: Callable[[], Exchange] = _default_exchange) -> FastAPI:
    """The exchange app; the service is built on the first call (nothing at import)."""
    app = FastAPI(title=TITLE, version="1", description=__doc__)
    lock, built = threading.Lock(), []

    def exchange() -> Exchange:
        if not built:
            with lock:
                if not built:
                    built.append(make_exchange())
        return built[0]

    app.state.exchange = exchange

    @app.exception_handler(Refused)
    async def refused(_: Request, error: Refused) -> JSONResponse:
        return JSONResponse({"error": error.code, "message": error.message}, status_code=error.status)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, error: StarletteHTTPException) -> JSONResponse:
        """Errors raised by the framework (an unparsable body...) in the same shape as ours."""
        return JSONResponse({"error": f"http_{error.status_code}", "message": str(error.detail)},
                            status_code=error.status_code, headers=error.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(_: Request, error: RequestValidationError) -> JSONResponse:
        """A malformed query or body: where and what, in the documented shape, never the input
        (a misspelled key may carry an ID number)."""
        detail = [{"loc": list(e["loc"]), "msg": e["msg"], "type": e["type"]} for e in error.errors()]
        where = "; ".join(f"{'.'.join(map(str, d['loc']))}: {d['msg']}" for d in detail)
        return JSONResponse({"error": "invalid_request", "detail": detail,
                             "message": f"{where}. Fix: send the fields the API documents "
                                        "(see /openapi.json)"}, status_code=422)

    @app.exception_handler(Unauthenticated)
    async def unauthenticated(_: Request, error: Unauthenticated) -> JSONResponse:
        return JSONResponse({"error": "unauthenticated", "message": str(error)}, status_code=401,
                            headers={"WWW-Authenticate": "Bearer"})

    def caller_of(tok: str | None) -> tuple[Exchange, Caller]:
        ex = exchange()
        with ex.engine.connect() as conn:
            return ex, ex.caller(conn, tok)

    async def send(page_and_record) -> Response:
        page, record = page_and_record
        await asyncio.wrap_future(exchange().log.submit(record))  # recorded before it is sent
        return Response(orjson.dumps(page.body(), default=json_default), media_type="application/json",
                        headers=page.headers())

    @app.get("/v1/catalog", response_model=list[CatalogEntry], responses=_errors(),
             summary="Datasets, what you may read of each, and how to ask for the rest")
    def catalog(tok: Token) -> list[dict]:
        return exchange().catalog(tok)

    @app.get("/v1/datasets/{dataset_id}/records", response_model=PageBody,
             responses=_errors(400, 403, 404, 409, 423),
             summary="One page of records in natural-key order (keyset pagination)")
    async def records(
        tok: Token,
        dataset_id: Annotated[str, DATASET],
        cursor: Annotated[str | None, Query(max_length=512, description="next_cursor of the "
                                            "previous page")] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 100,
        fields: Annotated[str | None, Query(max_length=2000, description="comma-separated "
                                            "field names (minimum necessary)")] = None,
        grant: Annotated[int | None, Query(ge=1, le=MAX_ID, description="the grant to read under")] = None,
    ) -> Response:
        wanted = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
        return await send(await run_in_threadpool(exchange().read_page, tok, dataset_id, cursor,
                                                  limit, wanted, grant))

    @app.post("/v1/datasets/{dataset_id}/lookup", response_model=PageBody,
              responses=_errors(400, 403, 404, 409, 423),
              summary="The records of one subject, by ID number, under a grant")
    async def lookup(tok: Token, dataset_id: Annotated[str, DATASET], body: Lookup) -> Response:
        return await send(await run_in_threadpool(exchange().lookup, tok, dataset_id, body.id_number,
                                                  body.fields, body.grant))

    @app.get("/v1/requests", response_model=list[RequestBody], responses=_errors(),
             summary="Requests your department made or must decide")
    def list_requests(tok: Token) -> list[dict]:
        ex, caller = caller_of(tok)
        with ex.engine.connect() as conn:
            return [_request_body(r) for r in grants.listing(conn, caller.department)]

    @app.post("/v1/requests", response_model=RequestBody, status_code=201,
              responses=_errors(400, 403, 404, 409), summary="Request a dataset")
    def create_request(tok: Token, body: NewRequest) -> dict:
        ex, caller = caller_of(tok)
        row = grants.create(ex.engine, ex.contract(body.dataset), caller, body.purpose, body.fields,
                            body.duration_days, body.linkable, body.link, ex.clock(), ex.holidays)
        return _request_body(row)

    @app.post("/v1/requests/{request_id}/approve", response_model=RequestBody,
              responses=_errors(400, 403, 404, 409), summary="Approve (the owner; maybe fewer fields)")
    def approve(tok: Token, request_id: Annotated[int, Path(ge=1, le=MAX_ID)], body: Approval) -> dict:
        ex, caller = caller_of(tok)
        return _request_body(grants.approve(ex.engine, request_id, caller, body.fields, body.note,
                                            ex.clock()))

    @app.post("/v1/requests/{request_id}/refuse", response_model=RequestBody,
              responses=_errors(400, 403, 404, 409), summary="Refuse (the owner; a reason is required)")
    def refuse(tok: Token, request_id: Annotated[int, Path(ge=1, le=MAX_ID)], body: Reason) -> dict:
        ex, caller = caller_of(tok)
        return _request_body(grants.refuse(ex.engine, request_id, caller, body.reason, ex.clock()))

    @app.post("/v1/requests/{request_id}/revoke", response_model=RequestBody,
              responses=_errors(400, 404, 409), summary="End a grant at once (owner or holder)")
    def revoke(tok: Token, request_id: Annotated[int, Path(ge=1, le=MAX_ID)], body: Reason) -> dict:
        ex, caller = caller_of(tok)
        return _request_body(grants.revoke(ex.engine, request_id, caller, body.reason, ex.clock()))

    return app
