"""The conditions service: a FastAPI (Starlette) ASGI app, served by uvicorn (``conddb serve``).

``create_app(settings)`` builds one app; ``uvicorn --factory conditions.service.app:create_app``
builds it from the environment (:class:`~.settings.ServiceSettings`).  Read API: :mod:`.read_api`;
write API: :mod:`.write_api`; OpenAPI document at ``/openapi.json``, browsable at ``/docs``.

Errors: every domain error (:class:`conditions.errors.ConddbError`) becomes its ``http_status``
(404 / 409 / 413 / 422, and 401 / 403 for tokens) with a JSON body::

    {"error": "RunNotCovered", "message": "what is wrong", "hint": "what to do", "status": 404}

A malformed request is 422 with the same shape (plus ``details``); a database that cannot be
reached is 503 with ``Retry-After``; a change refused by a database guard (trigger) is 409.
Errors are never cached (``Cache-Control: no-store``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from conditions.errors import ConddbError
from conditions.migrate import require_head

from .browser import install as install_browser
from .caching import NO_STORE
from .read_api import router as read_router
from .settings import ServiceSettings
from .state import ServiceState, state_of
from .write_api import action_of, client_of
from .write_api import router as write_router

log = logging.getLogger("conddb.service")

#: HTTP methods that change something (their failures are audited).
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def error_body(
    status: int, error: str, message: str, hint: str = "", **extra: Any
) -> dict[str, Any]:
    return {"error": error, "message": message, "hint": hint, "status": status, **extra}


def error_response(
    status: int, error: str, message: str, hint: str = "", **extra: Any
) -> JSONResponse:
    headers = {"Cache-Control": NO_STORE}
    if status == 401:
        headers["WWW-Authenticate"] = "Bearer"
    if status == 503:
        headers["Retry-After"] = "5"
    return JSONResponse(error_body(status, error, message, hint, **extra), status, headers)


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
    if request.method in WRITE_METHODS:
        who = getattr(request.state, "who", None)
        state_of(request).audit.record(
            who=who,
            client=client_of(request),
            action=action_of(request),
            target=request.url.path,
            status=422,
            error=message,
        )
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
    reason = str(exc.orig or exc).strip().splitlines()[0] if str(exc.orig or exc) else ""
    if isinstance(exc, OperationalError):
        log.error("database unavailable: %s", reason)
        return error_response(
            503, "DatabaseUnavailable", "the database cannot be reached", "retry later"
        )
    return error_response(
        409,
        "RefusedByDatabase",
        f"the database refused the change ({reason})",
        "nothing was written",
    )


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

    app = FastAPI(
        title="JUNO conditions service",
        version="1",
        summary="Calibration constants by run: cacheable lookups, token-protected writes.",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc are served offline by the browser (local assets)
        redoc_url=None,
    )
    app.state.conddb = state
    app.include_router(read_router)
    app.include_router(write_router)
    app.add_exception_handler(ConddbError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(DBAPIError, _database_error)
    app.add_exception_handler(Exception, _internal_error)
    install_browser(app)  # `/`: the conditions browser; `/docs` offline

    @app.middleware("http")
    async def refuse_chunked_bodies(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        # The size limit of uploads is checked on Content-Length before the body is read; a
        # chunked body has none and could otherwise fill the worker's memory.
        chunked = "chunked" in request.headers.get("transfer-encoding", "").lower()
        if chunked and "content-length" not in request.headers:
            return error_response(
                411,
                "LengthRequired",
                "a chunked request body has no Content-Length",
                "send the body with its length (not chunked)",
            )
        return await call_next(request)

    @app.get("/healthz", tags=["health"], summary="liveness and database reachability")
    def healthz() -> Response:
        with state.lookups.reader.connect() as conn:
            conn.execute(text("SELECT 1"))
        return JSONResponse({"status": "ok"}, headers={"Cache-Control": NO_STORE})

    return app
