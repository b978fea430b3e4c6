"""The JSON shape of every error answer of the service (one place, used by the app and the gate).

{"error": "RunNotCovered", "message": "what is wrong", "hint": "what to do", "status": 404}
"""

from __future__ import annotations

from typing import Any

from starlette.responses import JSONResponse

from .caching import NO_STORE


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
