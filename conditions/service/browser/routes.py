"""The browser's routes: thin handlers that read a page's data (:mod:`.views`) in a read session
and render it (:mod:`.pages`); plots are separate SVG URLs (:mod:`.plots`).

Stable URLs (names as path segments, hashes in full)::

    /                                  global tags
    /gt/{name}[?as_of=T]               a global tag: map, map history, diff form
    /gt/{name}/diff?other=B            diff against another global tag
    /gt/{name}/run/{run}[?as_of=T]     the payloads in force for one run (the lookup)
    /gt/{name}/trend                   drift flags of every record
    /gt/{name}/validation[?runs=A-B]   validation reports and the run-coverage timeline
    /tags[?type=T]                     tags
    /tag/{name}[?as_of=T]              IOVs with superseded rows and insertion times
    /tag/{name}/trend                  drift flags of the tag
    /tag/{name}/plots/{quantity}.svg   a quantity across the tag's IOVs
    /payload/{hash}[?tag=&channel=]    metadata, provenance, content, users
    /payload/{hash}/plots/{kind}.svg   f_nonlin, g_map, resolution, lpmt_channel, lpmt_corrections
    /search?q=TEXT                     names and hash prefixes
"""

from __future__ import annotations

from typing import Annotated

import numpy as np
from fastapi import APIRouter, Depends, Query
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from conditions import drift, store
from conditions.db import read_session
from conditions.errors import InvalidInput
from conditions.payloads import (
    EnergyNonlinearityV1,
    EnergyResolutionV1,
    LpmtNonlinearityV1,
    NonuniformityMapV1,
)

from ..caching import IMMUTABLE
from ..state import ServiceState, get_state
from ..wire import parse_time
from . import lifecycle_views, plots, views
from .pages import HtmlRoute, render, seg, url

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)
State = Annotated[ServiceState, Depends(get_state)]
AsOf = Annotated[str | None, Query(description="ISO 8601 time (UTC if no zone)")]
SVG = "image/svg+xml"


@router.get("/")
def index(st: State) -> Response:
    with read_session(st.read_engine) as s:
        ctx = views.global_tags(s)
    return render("index.html", title="Global tags", json="/v1/globaltags", **ctx)


@router.get("/tags")
def tag_list(st: State, type: Annotated[str | None, Query()] = None) -> Response:
    with read_session(st.read_engine) as s:
        if type:
            store.get_payload_type(s, type)
        ctx = views.tags(s, type or None)
    crumbs = [("Global tags", "/"), ("Tags", None)]
    return render("tags.html", title="Tags", crumbs=crumbs, json=url("/v1/tags", type=type), **ctx)


@router.get("/gt/{name}")
def global_tag(st: State, name: str, as_of: AsOf = None) -> Response:
    when = parse_time(as_of)
    with read_session(st.read_engine) as s:
        ctx = views.global_tag(s, name, when)
    return render(
        "global_tag.html",
        title=f"Global tag {name}",
        crumbs=[("Global tags", "/"), (name, None)],
        json=url(f"/v1/globaltags/{seg(name)}", as_of=as_of),
        **ctx,
    )


@router.get("/gt/{name}/validation")
def gt_validation(
    st: State, name: str, runs: Annotated[str | None, Query(description="A-B")] = None
) -> Response:
    with read_session(st.read_engine) as s:
        ctx = lifecycle_views.validation_page(s, name, runs)
    return render(
        "validation.html",
        title=f"Validation of {name}",
        crumbs=[("Global tags", "/"), (name, f"/gt/{seg(name)}"), ("validation", None)],
        json=f"/v1/globaltags/{seg(name)}/validation",
        **ctx,
    )


@router.get("/gt/{name}/diff")
def gt_diff(st: State, name: str, other: Annotated[str, Query()]) -> Response:
    with read_session(st.read_engine) as s:
        ctx = views.gt_diff(s, name, other)
    return render(
        "gt_diff.html",
        title=f"{name} vs {other}",
        crumbs=[("Global tags", "/"), (name, f"/gt/{seg(name)}"), (f"diff {other}", None)],
        json=f"/v1/globaltags/{seg(other)}",
        **ctx,
    )


@router.get("/gt/{name}/run")
def lookup_form(name: str, run: Annotated[int, Query()], as_of: AsOf = None) -> Response:
    """The lookup form's target: redirect to the stable URL of the run."""
    store.check_run(run)
    return RedirectResponse(url(f"/gt/{seg(name)}/run/{run}", as_of=as_of), 303)


@router.get("/gt/{name}/run/{run}")
def lookup(st: State, name: str, run: int, as_of: AsOf = None) -> Response:
    when = parse_time(as_of)
    with read_session(st.read_engine) as s:
        ctx = views.lookup(s, name, run, when)
    return render(
        "lookup.html",
        title=f"{name} at run {run}",
        crumbs=[("Global tags", "/"), (name, f"/gt/{seg(name)}"), (f"run {run}", None)],
        json=url(f"/v1/resolve/{seg(name)}/{run}", as_of=as_of),
        **ctx,
    )


@router.get("/gt/{name}/trend")
def gt_trend(st: State, name: str) -> Response:
    with read_session(st.read_engine) as s:
        ctx = views.trend(s, drift.SeriesSource(global_tag=name))
    return render(
        "trend.html",
        title=f"Drift of {name}",
        crumbs=[("Global tags", "/"), (name, f"/gt/{seg(name)}"), ("trend", None)],
        json=f"/v1/globaltags/{seg(name)}",
        **ctx,
    )


@router.get("/tag/{name}")
def tag(st: State, name: str, as_of: AsOf = None) -> Response:
    when = parse_time(as_of)
    with read_session(st.read_engine) as s:
        ctx = views.tag(s, name, when)
    return render(
        "tag.html",
        title=f"Tag {name}",
        crumbs=[("Global tags", "/"), ("Tags", "/tags"), (name, None)],
        json=url(f"/v1/tags/{seg(name)}", history="true", as_of=as_of),
        **ctx,
    )


@router.get("/tag/{name}/trend")
def tag_trend(st: State, name: str) -> Response:
    with read_session(st.read_engine) as s:
        ctx = views.trend(s, drift.SeriesSource(tag=name))
    return render(
        "trend.html",
        title=f"Drift of {name}",
        crumbs=[("Global tags", "/"), ("Tags", "/tags"), (name, f"/tag/{seg(name)}"),
                ("trend", None)],
        json=f"/v1/tags/{seg(name)}",
        **ctx,
    )


def _svg(content: bytes, cache: str) -> Response:
    return Response(content, media_type=SVG, headers={"Cache-Control": cache})


@router.get("/tag/{name}/plots/{quantity}.svg")
def tag_history_plot(
    st: State,
    name: str,
    quantity: str,
    as_of: AsOf = None,
    mark: Annotated[str | None, Query(description="payload hash to ring")] = None,
) -> Response:
    when = parse_time(as_of)
    with read_session(st.read_engine) as s:
        trend = views.history_trend(s, name, quantity, when)
    return _svg(plots.history(trend, mark), "no-cache")


@router.get("/payload/{payload_hash}")
def payload(
    st: State,
    payload_hash: str,
    tag: Annotated[str | None, Query()] = None,
    channel: Annotated[int | None, Query()] = None,
) -> Response:
    with read_session(st.read_engine) as s:
        if len(payload_hash) != 64:  # a prefix: redirect to the stable URL of the full hash
            full = store.find_payload(s, payload_hash).hash
            return RedirectResponse(url(f"/payload/{full}", tag=tag, channel=channel), 307)
        ctx = views.payload(s, payload_hash, tag, channel)
    short = payload_hash[:12]
    crumbs: list[tuple[str, str | None]] = [("Global tags", "/"), ("Tags", "/tags")]
    if ctx["history_tag"]:
        crumbs.append((ctx["history_tag"], f"/tag/{seg(ctx['history_tag'])}"))
    crumbs.append((f"payload {short}", None))
    return render(
        "payload.html",
        title=f"Payload {short} ({ctx['p'].type_name})",
        crumbs=crumbs,
        json=f"/v1/payloads/{payload_hash}/meta",
        **ctx,
    )


def _content_plot(st: ServiceState, payload_hash: str, kind: str, channel: int | None) -> bytes:
    with read_session(st.read_engine) as s:
        _, model = views.payload_model(s, payload_hash)
    if kind not in plots.plot_kinds(model):
        raise InvalidInput(
            f"payload {payload_hash[:12]} has no plot {kind!r}",
            f"plots of this payload: {', '.join(plots.plot_kinds(model)) or 'none'}",
        )
    if isinstance(model, EnergyNonlinearityV1):
        return plots.f_nonlin_band(model)
    if isinstance(model, NonuniformityMapV1):
        return plots.g_map(model)
    if isinstance(model, EnergyResolutionV1):
        return plots.resolution_curve(model)
    assert isinstance(model, LpmtNonlinearityV1)
    if kind == "lpmt_channel":
        if channel is None:
            raise InvalidInput("no channel given", "add ?channel=N")
        return plots.lpmt_channel(model, views.check_channel(model, channel))
    cc = drift.channel_corrections(model)
    return plots.lpmt_corrections(np.asarray(cc.correction[cc.good]), drift.LPMT_REFERENCE_CHARGE)


@router.get("/payload/{payload_hash}/plots/{kind}.svg")
async def payload_plot(
    request: Request,
    st: State,
    payload_hash: str,
    kind: str,
    channel: Annotated[int | None, Query()] = None,
) -> Response:
    content = await run_in_threadpool(_content_plot, st, payload_hash, kind, channel)
    return _svg(content, IMMUTABLE)  # the payload is immutable, so is its plot


@router.get("/search")
def search(st: State, q: Annotated[str, Query()] = "") -> Response:
    with read_session(st.read_engine) as s:
        ctx = views.search(s, q)
    hits = ctx["hits"]
    if len(hits) == 1:
        return RedirectResponse(hits[0][1], 303)
    return render(
        "search.html",
        title=f"Search {q}" if q else "Search",
        crumbs=[("Global tags", "/"), ("search", None)],
        json=None,
        **ctx,
    )
