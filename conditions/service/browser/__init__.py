"""The read-only conditions browser: server-rendered HTML pages at ``/`` (Jinja2 templates, SVG
plots drawn by the server), and offline API documentation at ``/docs``.

``install(app)`` adds the pages (:mod:`.routes`), their static files, the offline docs
(:mod:`.docs`), and HTML 404 pages for browsers asking for unknown URLs; the JSON API under
``/v1`` is unchanged and every page links its JSON twin there.
"""

from __future__ import annotations

import inspect

from fastapi import FastAPI
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.staticfiles import StaticFiles

from .docs import install_docs
from .pages import STATIC_DIR, error_page, wants_html
from .routes import router


def install(app: FastAPI) -> None:
    """Mount the browser on ``app`` (created with ``docs_url=None, redoc_url=None``)."""
    app.include_router(router)
    app.mount("/static/browser", StaticFiles(directory=STATIC_DIR), name="browser-static")
    install_docs(app)
    json_handler = app.exception_handlers[HTTPException]

    async def http_error(request: Request, exc: Exception) -> Response:
        if isinstance(exc, HTTPException) and wants_html(request):
            hint = "start from the global tags" if exc.status_code == 404 else ""
            return error_page(exc.status_code, "HTTPError", str(exc.detail), hint)
        result = json_handler(request, exc)
        response: Response = await result if inspect.isawaitable(result) else result
        return response

    app.add_exception_handler(HTTPException, http_error)


__all__ = ["install", "router"]
