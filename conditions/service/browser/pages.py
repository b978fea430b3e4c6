"""Jinja2 rendering of the browser's pages and its HTML error pages.

Every browser route is an :class:`HtmlRoute`: a domain error (unknown tag, bad time, ...) raised
while building a page becomes an HTML page with the error's status (404 / 409 / 422) and its
one-line message and hint, never the JSON error body of the API.

Jinja2 is imported, and the template environment built, at the first render (:func:`_env`), not
when the app is imported: each ``conddb serve`` worker imports the app before it answers its
first health check.
"""

from __future__ import annotations

import datetime as dt
import functools
import math
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlencode

from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from conditions.errors import ConddbError

if TYPE_CHECKING:
    from jinja2 import Environment

HERE = Path(__file__).parent
STATIC_DIR = HERE / "static"

#: HTML pages may change at every write: revalidate each time.
PAGE_CACHE = "no-cache"


def fmt_time(value: dt.datetime | None) -> str:
    """A UTC time to the millisecond (two appends can fall in one second; ``-`` for none)."""
    if value is None:
        return "-"
    return value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3] + " UTC"


def iso(value: dt.datetime | None) -> str:
    """ISO 8601 UTC with microseconds (for ``as_of`` links that replay exactly this time)."""
    return "" if value is None else value.astimezone(dt.UTC).isoformat(timespec="microseconds")


def fmt_num(value: Any, digits: int = 6) -> str:
    """A number with ``digits`` significant digits (``-`` for None / NaN)."""
    if value is None or isinstance(value, bool):
        return "-" if value is None else str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return f"{value:.{digits}g}" if math.isfinite(value) else "-"
    return str(value)


def url(path: str, **query: Any) -> str:
    """``path`` with the query parameters that are not None (values URL-encoded)."""
    given = {k: v for k, v in query.items() if v is not None and v != ""}
    return path + ("?" + urlencode(given) if given else "")


def seg(name: str) -> str:
    """A name as one URL path segment."""
    return quote(name, safe="")


@functools.cache
def _env() -> Environment:
    """The template environment (built once, at the first render)."""
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    env = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters.update(time=fmt_time, iso=iso, num=fmt_num, seg=seg)
    env.globals.update(url=url)
    return env


def render(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """The page ``template`` filled with ``context`` (``title``, ``crumbs``, ``json`` ...)."""
    context.setdefault("crumbs", [])
    context.setdefault("json", None)
    body = _env().get_template(template).render(**context)
    return HTMLResponse(body, status, headers={"Cache-Control": PAGE_CACHE})


def error_page(status: int, error: str, message: str, hint: str = "") -> HTMLResponse:
    """An HTML error page (``no-store``, like the API's errors)."""
    response = render(
        "error.html", status, title=f"{status} {error}", error=error, message=message, hint=hint
    )
    response.headers["Cache-Control"] = "no-store"
    return response


def wants_html(request: Request) -> bool:
    """Whether the client prefers HTML (a browser) to JSON."""
    accept = request.headers.get("accept", "")
    return "text/html" in accept and "application/json" not in accept.split(",")[0]


class HtmlRoute(APIRoute):
    """A route whose domain errors are rendered as HTML error pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def html_errors(request: Request) -> Response:
            try:
                return await handler(request)
            except ConddbError as exc:
                return error_page(exc.http_status, type(exc).__name__, exc.message, exc.hint)
            except RequestValidationError as exc:
                first: dict[str, Any] = next(iter(exc.errors()), {})
                where = ".".join(str(p) for p in first.get("loc", ()) if p != "query")
                message = f"{where or 'request'}: {first.get('msg', 'invalid')}"
                return error_page(422, "InvalidInput", message, "correct the address")

        return html_errors
