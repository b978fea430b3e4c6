"""Cacheable JSON answers of the HSF read routes, with the caching rules of our own read API.

* listings: ``max-age=CONDDB_LIST_MAX_AGE`` plus a strong ETag (``304`` on revalidation);
* a frozen global tag and its lookups: ``max-age=CONDDB_FROZEN_MAX_AGE`` (they never change);
* lookups under an open global tag: ``max-age=CONDDB_OPEN_MAX_AGE`` plus ETag revalidation.

The finished bodies of lookups under frozen global tags are also kept in memory (they cannot go
stale), like :class:`conditions.service.lookup.Lookups` does for our own lookups.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from ...lru import LRU
from .. import wire
from ..caching import cached_response, public
from ..lookup import Body
from ..read_api import _json as read_json
from ..read_api import deprecated
from ..state import ServiceState
from . import views

JSON = "application/json"

#: Bounds of the in-process cache of frozen lookup bodies (entries, bytes).
CACHE_ITEMS = 100_000
CACHE_BYTES = 128 * 1024 * 1024


def answer(request: Request, doc: Any, max_age: int) -> Response:
    """``doc`` as compact JSON with ``Cache-Control: public, max-age`` and a body ETag."""
    return read_json(request, doc, max_age)


def frozen_or(st: ServiceState, frozen: bool, max_age: int) -> int:
    """``max-age`` of an answer about a global tag: long when it is frozen."""
    return st.settings.frozen_max_age if frozen else max_age


def _cache(request: Request) -> LRU[Body]:
    cache: LRU[Body] | None = getattr(request.app.state, "hsf_bodies", None)
    if cache is None:
        cache = LRU(CACHE_ITEMS, CACHE_BYTES)
        request.app.state.hsf_bodies = cache
    return cache


def _query_body(st: ServiceState, global_tag: str, major: int, minor: int, rows: bool) -> Body:
    found, frozen, dep = views.query(st.lookups, global_tag, major, minor)
    doc = [f.as_row() if rows else f.as_dict() for f in found]
    content = wire.dumps(doc)
    # the reference's shape has no room for it: an invalid global tag says so in the headers
    return Body(content, wire.body_etag(content), frozen, None if dep is None else dep.message())


async def query_answer(
    request: Request, st: ServiceState, global_tag: str, major: int, minor: int, *, rows: bool
) -> Response:
    """The payloads in force at ``(major, minor)``: dicts (v5.1) or rows (legacy)."""
    cache = _cache(request)
    key = (rows, global_tag, major)  # our IOVs start at minor 0: every minor >= 0 is one answer
    body: Body | None = cache.get(key)
    if body is None:
        body = await run_in_threadpool(_query_body, st, global_tag, major, minor, rows)
        if body.frozen:
            cache.put(key, body, len(body.content))
    max_age = frozen_or(st, body.frozen, st.settings.open_max_age)
    return deprecated(body, cached_response(
        request, body.content, etag=body.etag, cache_control=public(max_age), media_type=JSON
    ))
