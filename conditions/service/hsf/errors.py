"""Every non-200 answer of the HSF routes is JSON with the message where the clients read it.

The Python client reads ``detail`` (then ``error``); the C++ client reads ``name[0]`` (then
``detail``) and aborts on a body that is not JSON.  The routes of this package use
:class:`HSFRoute`: an error raised in a handler or a dependency (a domain error, a refused token,
a malformed request, an unreachable database) is answered by the app's own handler - the same
status, audit record and ``Cache-Control: no-store`` as the rest of the service - and its JSON
body gains ``detail`` (``message - hint``) and ``name`` (``[detail]``).
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from fastapi import APIRouter
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

Handler = Callable[[Request, Exception], Awaitable[Response]]


def hsf_fields(body: dict[str, Any]) -> dict[str, Any]:
    """``body`` (our error shape: error, message, hint, status) plus ``detail`` and ``name``."""
    message = str(body.get("message") or body.get("error") or "error")
    hint = str(body.get("hint") or "")
    detail = f"{message} - {hint}" if hint else message
    return {**body, "detail": detail, "name": [detail]}


def _app_handler(request: Request, exc: Exception) -> Handler | None:
    handlers: dict[Any, Handler] = request.app.exception_handlers
    for cls in type(exc).__mro__:
        if cls in handlers:
            return handlers[cls]
    return None


def _reshape(response: Response) -> Response:
    try:
        body = json.loads(bytes(response.body))
    except ValueError:
        body = {"message": bytes(response.body).decode("utf-8", "replace")}
    if not isinstance(body, dict):
        body = {"message": str(body)}
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return JSONResponse(hsf_fields(body), response.status_code, headers)


class HSFRoute(APIRoute):
    """An API route whose errors carry the HSF clients' message fields."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            try:
                return await handler(request)
            except Exception as exc:
                app_handler = _app_handler(request, exc)
                if app_handler is None:
                    raise
                return _reshape(await app_handler(request, exc))

        return route


fallback_router = APIRouter(route_class=HSFRoute, include_in_schema=False)
ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]


@fallback_router.api_route("/api/cdb_rest/{rest:path}", methods=ALL_METHODS)
@fallback_router.api_route("/dbstore/{rest:path}", methods=ALL_METHODS)
@fallback_router.api_route("/upload/{rest:path}", methods=ALL_METHODS)
def unknown_route(request: Request, rest: str) -> Response:
    """Unknown HSF paths: a 404 in the HSF error shape (never HTML, never a bare body)."""
    raise HTTPException(
        404, f"no HSF route {request.method} {request.url.path} (see docs/HSF.md for the routes)"
    )
