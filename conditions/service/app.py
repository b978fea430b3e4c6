"""The conditions service: a FastAPI (Starlette) ASGI app, served by uvicorn (``conddb serve``).

``create_app(settings)`` builds one app; ``uvicorn --factory conditions.service.app:create_app``
builds it from the environment (:class:`~.settings.ServiceSettings`).  Read API: :mod:`.read_api`;
write API: :mod:`.write_api`; OpenAPI document at ``/openapi.json``, browsable at ``/docs``.

Errors: every domain error (:class:`conditions.errors.ConddbError`) becomes its ``http_status``
(404 / 409 / 413 / 422, and 401 / 403 for tokens) with a JSON body::

    {"error": "RunNotCovered", "message": "what is wrong", "hint": "what to do", "status": 404}

A malformed request is 422 with the same shape (plus ``details``); a database that cannot be
reached is 503 with ``Retry-After``; a change refused by a database guard (trigger) is 409
(one mapping: :func:`conditions.errors.from_db_error`).
Errors are never cached (``Cache-Control: no-store``).

The gate (:mod:`.gate`, pure ASGI) runs before FastAPI reads a body: it authenticates, throttles
failed authentications, checks ``Content-Length`` and audits every write attempt.
``X-Forwarded-For`` is honoured only from ``CONDDB_FORWARDED_ALLOW_IPS`` (the app applies it
itself: run uvicorn with ``--no-proxy-headers``, as ``conddb serve`` does).
"""

from __future__ import annotations

import logging
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from uvicorn.middleware.proxy_headers import ProxyHeadersMiddleware

from conditions.db.migrate import require_head
from conditions.errors import ConddbError, DatabaseUnavailable, from_db_error

from .browser import install as install_browser
from .caching import NO_STORE
from .gate import Gate
from .hsf import ERROR_SHAPES as HSF_ERROR_SHAPES
from .hsf import router as hsf_router
from .lifecycle_api import router as lifecycle_router
from .read_api import LookupApp
from .read_api import router as read_router
from .responses import error_body, error_response
from .settings import ServiceSettings
from .state import ServiceState
from .write_api import router as write_router

log = logging.getLogger("conddb.service")

__all__ = ["create_app", "error_body", "error_response"]


async def _domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, ConddbError)
    return error_response(exc.http_status, type(exc).__name__, exc.message, exc.hint)


def _location(loc: Any) -> str:
    parts = [str(p) for p in loc if p not in ("body", "query", "path", "header")]
    return ".".join(parts) or "request"


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    first = errors[0] if errors else {"loc": (), "msg": "invalid request"}
    message = f"{_location(first.get('loc', ()))}: {first.get('msg', 'invalid')}"
    details = [
        {"loc": _location(e.get("loc", ())), "msg": str(e.get("msg", ""))} for e in errors[:20]
    ]
    return error_response(
        422, "InvalidInput", message, "see the OpenAPI document at /docs", details=details
    )


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    hint = "see the OpenAPI document at /docs" if exc.status_code in (404, 405) else ""
    return error_response(exc.status_code, "HTTPError", str(exc.detail), hint)


async def _database_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DBAPIError)
    mapped = from_db_error(exc)
    if isinstance(mapped, DatabaseUnavailable):
        log.error("database unavailable: %s", mapped.message)
        return error_response(
            503, "DatabaseUnavailable", "the database cannot be reached", "retry later"
        )
    return error_response(mapped.http_status, type(mapped).__name__, mapped.message, mapped.hint)


async def _internal_error(request: Request, exc: Exception) -> Response:
    log.exception("internal error on %s %s", request.method, request.url.path)
    return error_response(500, "InternalError", "internal error", "report it to the admins")


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """The service app; settings default to the environment (``CONDDB_*``)."""
    settings = settings or ServiceSettings()
    state = ServiceState.from_settings(settings)
    if settings.check_schema:
        require_head(state.write_engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        state.dispose()

    app = LookupApp(  # FastAPI + the lean lookup path in front of it (see .read_api)
        title="JUNO conditions service",
        version="1",
        summary="Calibration constants by run: cacheable lookups, token-protected writes.",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc are served offline by the browser (local assets)
        redoc_url=None,
    )
    app.state.conddb = state
    # hsf: the NoPayloadDB API, docs/HSF.md; lifecycle: issue 18
    routers = (read_router, write_router, lifecycle_router, hsf_router)
    for router in routers:
        app.include_router(router)
    app.add_exception_handler(ConddbError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _internal_error)
    install_browser(app)  # `/`: the conditions browser; `/docs` offline

    # Innermost first: the gate decides before any body is read (see .gate); the proxy
    # headers are honoured only from the configured proxies, outside the gate.
    app.add_middleware(Gate, routers=routers, error_shapes=HSF_ERROR_SHAPES)
    if settings.forwarded_allow_ips:
        app.add_middleware(ProxyHeadersMiddleware, trusted_hosts=settings.forwarded_allow_ips)

    @app.get("/healthz", tags=["health"], summary="liveness and database reachability")
    def healthz() -> Response:
        with state.lookups.reader.connect() as conn:
            conn.execute(text("SELECT 1"))
        # pid: which worker process answered (tests check that every worker stays alive)
        body = {"status": "ok", "pid": os.getpid()}
        return JSONResponse(body, headers={"Cache-Control": NO_STORE})

    return app
