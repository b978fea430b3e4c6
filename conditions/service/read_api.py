"""Read API (GET, no authentication): lookups, payloads, listings, schemas, trend series.

Every response carries ``Cache-Control`` and ``ETag`` (see :mod:`.caching`), so an HTTP cache in
front (nginx, Squid, Varnish) can serve thousands of batch jobs that ask for the same runs.

The hot route, ``GET /v1/resolve/{global_tag}/{run}[?record=R]``, is answered by
:class:`LookupApp` before FastAPI sees it: no middleware, routing table, dependency injection
or pydantic validation; it sends the segment's pre-rendered bytes
(:meth:`.lookup.Lookups.fast_resolution`).  Under a frozen global tag that is memory only;
under an open one the change check (a database round trip) is awaited off the loop, one check
at a time per global tag shared by the lookups that arrived before it was launched
(:mod:`.flights`: read-your-writes holds), so the loop keeps serving meanwhile (a counter that
moved brings the index up to date in that thread).  Whatever it cannot answer from the index
(``as_of``, another parameter, a bad run, an unknown global tag or one not loaded yet, a segment
not covered, a failed check) goes on to the FastAPI route below, which documents the endpoint,
validates, explains errors and builds in a thread - the same answer, slower.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, FastAPI, Path, Query
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Receive, Scope, Send

from conditions import store
from conditions.db import read_session
from conditions.errors import InvalidInput
from conditions.services.documents import decode_document, typed_types

from . import serializers, wire
from .caching import IMMUTABLE, cached_response, if_none_match, public
from .lookup import Body, Lookups
from .state import ServiceState, get_state

router = APIRouter(prefix="/v1", tags=["read"])

JSON = "application/json"
State = Annotated[ServiceState, Depends(get_state)]
AsOf = Annotated[
    str | None,
    Query(description="replay the lookup as it was at this ISO 8601 time (with its zone, e.g. Z)"),
]
Record = Annotated[str | None, Query(description="only this record")]
Hash = Annotated[str, Path(description="full 64-digit lowercase hex SHA-256 of the payload")]

#: Most points one trend series returns.
MAX_TREND_POINTS = 5000


def _json(request: Request, doc: Any, max_age: int) -> Response:
    content = wire.dumps(doc)
    return cached_response(
        request,
        content,
        etag=wire.body_etag(content),
        cache_control=public(max_age),
        media_type=JSON,
    )


# --- lookups ------------------------------------------------------------------------------------
@router.get("/resolve/{global_tag}/{run}", summary="payloads of every record for one run")
async def resolve_run(
    request: Request,
    st: State,
    global_tag: str,
    run: int,
    record: Record = None,
    as_of: AsOf = None,
) -> Response:
    """Per record: tag, payload type, payload hash and the IOV bounds ``since``..``until``
    (inclusive; ``until`` null = open-ended).  Frozen global tags: long ``max-age``; open
    ones: short ``max-age`` and revalidation by ETag (``304``)."""
    store.check_run(run)
    when = wire.parse_time(as_of)
    # frozen answers come from memory on the event loop; anything else queries in a thread
    body = st.lookups.cached_resolution(global_tag, run, record, when)
    if body is None:
        body = await run_in_threadpool(st.lookups.resolve, global_tag, run, record, when)
    max_age = st.settings.frozen_max_age if body.frozen else st.settings.open_max_age
    return deprecated(body, cached_response(
        request, body.content, etag=body.etag, cache_control=public(max_age), media_type=JSON
    ))


def deprecated(body: Body, response: Response) -> Response:
    """Mark the answer under an invalid global tag: ``Deprecation: true`` (RFC 9745) and
    ``Warning: 299 - "global tag G is invalid: REASON; use G2"`` (the JSON has it too)."""
    if body.deprecation is not None:
        line = body.deprecation.encode("ascii", "replace").decode().replace('"', "'")
        response.headers["Deprecation"] = "true"
        response.headers["Warning"] = f'299 - "{line}"'
    return response


_RESOLVE = "/v1/resolve/"
_MAX_RUN_DIGITS = len(str(store.MAX_RUN))


class LookupApp(FastAPI):
    """The service's FastAPI app with the lean path of ``GET|HEAD /v1/resolve/{global_tag}/{run}``
    in front of FastAPI's own middleware (module docstring): a lookup answerable from memory
    never enters the framework; every other request, and every lookup the lean path cannot
    answer at once, is FastAPI's.  The headers are those of :func:`.caching.cached_response`
    (200, or 304 on ``If-None-Match``)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].startswith(_RESOLVE):
            answer = await _fast_answer(scope, self.state.conddb)
            if answer is not None:
                start, body = answer
                await send(start)
                await send({"type": "http.response.body", "body": body})
                return
        await super().__call__(scope, receive, send)


async def _fast_answer(scope: Scope, st: ServiceState) -> tuple[dict[str, Any], bytes] | None:
    """``(response start message, body)`` of a lookup answerable from the index, else None
    (under an open global tag after its change check, awaited off the loop: :mod:`.flights`)."""
    method = scope["method"]
    if method not in ("GET", "HEAD"):
        return None
    global_tag, _, run_text = scope["path"][len(_RESOLVE) :].partition("/")
    if not (global_tag and run_text.isascii() and run_text.isdigit()):
        return None
    if len(run_text) > _MAX_RUN_DIGITS or int(run_text) > store.MAX_RUN:
        return None
    record = None
    if scope["query_string"]:
        # as Starlette parses it; anything but one `record` goes to the full route
        query = parse_qsl(scope["query_string"].decode("latin-1"), keep_blank_values=True)
        if len(query) != 1 or query[0][0] != "record":
            return None
        record = query[0][1]
    try:
        body = await st.lookups.fast_resolution(global_tag, int(run_text), record)
    except Exception:  # e.g. the database is down: the full route answers (503, ...)
        return None
    if body is None or body.deprecation is not None:  # deprecation headers: the full route
        return None
    max_age = st.settings.frozen_max_age if body.frozen else st.settings.open_max_age
    headers = [(b"etag", body.etag.encode()), (b"cache-control", public(max_age).encode())]
    inm = next((v for k, v in scope["headers"] if k == b"if-none-match"), None)
    if inm is not None and if_none_match(inm.decode("latin-1"), body.etag):
        return {"type": "http.response.start", "status": 304, "headers": headers}, b""
    headers += [
        (b"content-length", b"%d" % len(body.content)),
        (b"content-type", JSON.encode()),
    ]
    start = {"type": "http.response.start", "status": 200, "headers": headers}
    return start, b"" if method == "HEAD" else body.content


def _runs(runs: str | None, first: int | None, last: int | None, limit: int) -> list[int]:
    if runs is not None:
        if first is not None or last is not None:
            raise InvalidInput("give runs=... or first=..&last=.., not both", "choose one form")
        try:
            parsed = sorted({int(x) for x in runs.split(",") if x.strip()})
        except ValueError:
            raise InvalidInput(
                f"runs={runs!r} is not a list of integers", "e.g. runs=1,5,9"
            ) from None
        return [store.check_run(r) for r in parsed]
    if first is None or last is None:
        raise InvalidInput("no runs given", "give runs=1,5,9 or first=100&last=200")
    store.check_run(first, "first run")
    store.check_run(last, "last run")
    if last < first:
        raise InvalidInput(f"last run {last} is before first run {first}", "swap them")
    if last - first + 1 > limit:
        raise InvalidInput(
            f"{last - first + 1} runs asked in one batch, the limit is {limit}",
            "split the range (or raise CONDDB_MAX_BATCH_RUNS)",
        )
    return list(range(first, last + 1))


@router.get("/resolve/{global_tag}", summary="batch lookup of many runs")
def resolve_batch(
    request: Request,
    st: State,
    global_tag: str,
    runs: Annotated[str | None, Query(description="comma-separated run numbers")] = None,
    first: Annotated[int | None, Query(description="first run of a range (inclusive)")] = None,
    last: Annotated[int | None, Query(description="last run of a range (inclusive)")] = None,
    record: Record = None,
    as_of: AsOf = None,
) -> Response:
    """``segments``: the requested runs grouped into ``first_run``..``last_run`` stretches that
    resolve to the same payloads; one database query for the whole batch."""
    wanted = _runs(runs, first, last, st.settings.max_batch_runs)
    body = st.lookups.resolve_batch(global_tag, wanted, record, wire.parse_time(as_of))
    max_age = st.settings.frozen_max_age if body.frozen else st.settings.open_max_age
    return deprecated(body, cached_response(
        request, body.content, etag=body.etag, cache_control=public(max_age), media_type=JSON
    ))


# --- payloads -----------------------------------------------------------------------------------
@router.get(
    "/payloads/{payload_hash}",
    summary="canonical bytes of a payload",
    response_class=Response,
    responses={200: {"content": {wire.OCTET_STREAM: {}}}},
)
async def payload_bytes(request: Request, st: State, payload_hash: Hash) -> Response:
    """The stored canonical bytes; ``ETag`` is the hash, cached forever (``immutable``)."""
    data = st.lookups.cached_payload(payload_hash)
    if data is None:
        data = await run_in_threadpool(st.lookups.payload, payload_hash)
    return cached_response(
        request,
        data,
        etag=f'"{payload_hash}"',
        cache_control=IMMUTABLE,
        media_type=wire.OCTET_STREAM,
    )


router.add_api_route(
    "/payloads/{payload_hash}", payload_bytes, methods=["HEAD"], include_in_schema=False
)


@router.get("/payloads/{payload_hash}/json", summary="JSON view of a payload")
def payload_json(request: Request, st: State, payload_hash: Hash) -> Response:
    """The decoded content as JSON (typed payloads: binary arrays as nested lists)."""
    meta = st.lookups.meta(payload_hash)
    doc = decode_document(meta.type_name, st.lookups.payload(payload_hash))
    content = wire.dumps(doc)
    return cached_response(
        request, content, etag=f'"{payload_hash}.json"', cache_control=IMMUTABLE, media_type=JSON
    )


@router.get("/payloads/{payload_hash}/meta", summary="type, size, provenance of a payload")
def payload_meta(request: Request, st: State, payload_hash: Hash) -> Response:
    content = wire.dumps(st.lookups.meta_json(payload_hash))
    return cached_response(
        request, content, etag=f'"{payload_hash}.meta"', cache_control=IMMUTABLE, media_type=JSON
    )


# --- listings for dashboards ----------------------------------------------------------------------
@router.get("/types", summary="registered payload types")
def list_types(request: Request, st: State) -> Response:
    typed = typed_types()
    with read_session(st.read_engine) as s:
        doc = [serializers.payload_type_json(p, typed) for p in store.list_payload_types(s)]
    return _json(request, doc, st.settings.list_max_age)


@router.get("/schemas", summary="typed payload types and their schema versions")
def list_schemas(request: Request, st: State) -> Response:
    doc = {name: sorted(versions) for name, versions in sorted(typed_types().items())}
    return _json(request, doc, st.settings.schema_max_age)


@router.get("/schemas/{type_name}", summary="JSON Schema of a payload type")
def show_schema(
    request: Request,
    st: State,
    type_name: str,
    version: Annotated[int | None, Query(description="schema version (default: latest)")] = None,
) -> Response:
    from conditions.payloads import json_schema

    return _json(request, json_schema(type_name, version), st.settings.schema_max_age)


@router.get("/tags", summary="tags with their state and number of IOV rows")
def list_tags(
    request: Request,
    st: State,
    type: Annotated[str | None, Query(description="only tags of this payload type")] = None,
) -> Response:
    with read_session(st.read_engine) as s:
        doc = [serializers.tag_json(t, n) for t, n in store.list_tags(s, type)]
    return _json(request, doc, st.settings.list_max_age)


@router.get("/tags/{tag}", summary="a tag and its IOVs in force")
def show_tag(
    request: Request,
    st: State,
    tag: str,
    as_of: AsOf = None,
    history: Annotated[bool, Query(description="include superseded IOV rows")] = False,
) -> Response:
    when = wire.parse_time(as_of)
    with read_session(st.read_engine) as s:
        doc = serializers.tag_json(store.get_tag(s, tag))
        rows = store.list_iovs(s, tag, as_of=when, history=history)
        doc["iovs"] = [serializers.iov_row_json(i) for i in rows]
    max_age = st.settings.frozen_max_age if doc["state"] == "locked" and when is None else 0
    return _json(request, doc, max_age or st.settings.list_max_age)


def _listing(request: Request, st: ServiceState, read: Callable[[Session], Any]) -> Response:
    """``read(session)``'s document, cached like a listing (``list_max_age``)."""
    with read_session(st.read_engine) as s:
        doc = read(s)
    return _json(request, doc, st.settings.list_max_age)


@router.get("/globaltags", summary="global tags")
def list_global_tags(request: Request, st: State) -> Response:
    return _listing(
        request, st, lambda s: [serializers.global_tag_json(g) for g in store.list_global_tags(s)]
    )


@router.get("/globaltags/{global_tag}", summary="a global tag and its record -> tag map")
def show_global_tag(request: Request, st: State, global_tag: str, as_of: AsOf = None) -> Response:
    with read_session(st.read_engine) as s:
        g = store.get_global_tag(s, global_tag)
        doc = serializers.global_tag_json(g)
        mapping = store.global_tag_map(s, g, as_of=wire.parse_time(as_of))
        doc["records"] = serializers.gt_records_json(mapping)
    # A frozen map never changes, but the states of its tags do (open -> locked): the body is
    # fixed only once every tag is locked too; until then it is cached like a listing.
    fixed = g.state.value == "published" and all(
        t.state.value == "locked" for t in mapping.values()
    )
    max_age = st.settings.frozen_max_age if fixed else st.settings.list_max_age
    return _json(request, doc, max_age)


@router.get("/campaigns", summary="uploaded calibration campaigns, by first run")
def list_campaigns(request: Request, st: State) -> Response:
    return _listing(
        request, st, lambda s: [serializers.campaign_json(c) for c in store.list_campaigns(s)]
    )


@router.get("/campaigns/{campaign}", summary="a campaign, its constants and input files")
def show_campaign(request: Request, st: State, campaign: str) -> Response:
    """``records``: record, tag, since and payload hash of every constant it uploaded; ``info``:
    its manifest summary (input runs with files and SHA-256)."""
    def read(s: Session) -> dict[str, Any]:
        return serializers.campaign_json(store.get_campaign(s, campaign), links=True)

    return _listing(request, st, read)


# --- trend series ---------------------------------------------------------------------------------
def _field(doc: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(doc, dict) and part in doc:
            doc = doc[part]
        elif isinstance(doc, list) and part.isdigit() and int(part) < len(doc):
            doc = doc[int(part)]
        else:
            return None
    return doc


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def trend_points(
    lookups: Lookups, type_name: str, iovs: list[store.IOVRow], field: str, error: str | None
) -> list[dict[str, Any]]:
    """One point per IOV: ``value`` (and ``error``) = the payload's fields at the dotted paths."""
    decoded: dict[str, Any] = {}
    points = []
    for i in iovs:
        if i.payload_hash not in decoded:
            decoded[i.payload_hash] = decode_document(type_name, lookups.payload(i.payload_hash))
        doc = decoded[i.payload_hash]
        value = _number(_field(doc, field))
        if value is None:
            raise InvalidInput(
                f"payload {i.payload_hash[:12]} has no number at {field!r}",
                "give a dotted path to a numeric field, e.g. field=y0",
            )
        point: dict[str, Any] = {**serializers.iov_row_json(i), "value": value}
        if error is not None:
            point["error"] = _number(_field(doc, error))
        points.append(point)
    return points


@router.get("/trend/{tag}", summary="series of one payload field across the IOVs of a tag")
def trend(
    request: Request,
    st: State,
    tag: str,
    field: Annotated[str, Query(description="dotted path of a numeric field, e.g. y0")],
    error: Annotated[str | None, Query(description="dotted path of its uncertainty")] = None,
    as_of: AsOf = None,
) -> Response:
    """``points``: since, until, payload hash, value (and error) per IOV in force, by since."""
    with read_session(st.read_engine) as s:
        t = store.get_tag(s, tag)
        type_name, state = t.type_name, t.state.value
        iovs = store.list_iovs(s, tag, as_of=wire.parse_time(as_of))
    truncated = len(iovs) > MAX_TREND_POINTS
    if truncated:
        iovs = iovs[-MAX_TREND_POINTS:]  # the newest ones
    doc = {
        "truncated": truncated,
        "tag": tag,
        "type": type_name,
        "state": state,
        "field": field,
        "points": trend_points(st.lookups, type_name, iovs, field, error),
    }
    return _json(request, doc, st.settings.list_max_age)
