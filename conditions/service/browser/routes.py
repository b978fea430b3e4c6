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

:mod:`conditions.drift`, :mod:`.plots` (numpy, the payload models, matplotlib) are imported by
the handlers that need them, not with the app: each ``conddb serve`` worker imports the app
before its first health check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from conditions import store
from conditions.db import read_session
from conditions.errors import InvalidInput

from ..caching import IMMUTABLE
from ..state import ServiceState, get_state
from ..wire import parse_time
from . import lifecycle_views, views
from .pages import HtmlRoute, render, seg, url

router = APIRouter(route_class=HtmlRoute, include_in_schema=False)
State = Annotated[ServiceState, Depends(get_state)]
AsOf = Annotated[str | None, Query(description="ISO 8601 time (UTC if no zone)")]
SVG = "image/svg+xml"


Crumbs = list[tuple[str, str | None]]


def _page(
    st: ServiceState,
    template: str,
    view: Callable[[Session], dict[str, Any]],
    *,
    title: str,
    crumbs: Crumbs,
    json: str | None,
) -> Response:
    """Every HTML page: its data from ``view`` in one read session, then the template (with a
    link to the same object in the read API's JSON, ``json``)."""
    with read_session(st.read_engine) as s:
        ctx = view(s)
    return render(template, title=title, crumbs=crumbs, json=json, **ctx)


def _gt_crumbs(name: str, page: str | None = None) -> Crumbs:
    """Global tags > NAME [> page]."""
    if page is None:
        return [("Global tags", "/"), (name, None)]
    return [("Global tags", "/"), (name, f"/gt/{seg(name)}"), (page, None)]


def _tag_crumbs(name: str, page: str | None = None) -> Crumbs:
    """Global tags > Tags > NAME [> page]."""
    if page is None:
        return [("Global tags", "/"), ("Tags", "/tags"), (name, None)]
    return [("Global tags", "/"), ("Tags", "/tags"), (name, f"/tag/{seg(name)}"), (page, None)]


@router.get("/")
def index(st: State) -> Response:
    return _page(
        st, "index.html", views.global_tags, title="Global tags", crumbs=[], json="/v1/globaltags"
    )


@router.get("/tags")
def tag_list(st: State, type: Annotated[str | None, Query()] = None) -> Response:
    def view(s: Session) -> dict[str, Any]:
        if type:
            store.get_payload_type(s, type)
        return views.tags(s, type or None)

    return _page(
        st,
        "tags.html",
        view,
        title="Tags",
        crumbs=[("Global tags", "/"), ("Tags", None)],
        json=url("/v1/tags", type=type),
    )


@router.get("/gt/{name}")
def global_tag(st: State, name: str, as_of: AsOf = None) -> Response:
    when = parse_time(as_of)
    return _page(
        st,
        "global_tag.html",
        lambda s: views.global_tag(s, name, when),
        title=f"Global tag {name}",
        crumbs=_gt_crumbs(name),
        json=url(f"/v1/globaltags/{seg(name)}", as_of=as_of),
    )


@router.get("/gt/{name}/validation")
def gt_validation(
    st: State, name: str, runs: Annotated[str | None, Query(description="A-B")] = None
) -> Response:
    return _page(
        st,
        "validation.html",
        lambda s: lifecycle_views.validation_page(s, name, runs),
        title=f"Validation of {name}",
        crumbs=_gt_crumbs(name, "validation"),
        json=f"/v1/globaltags/{seg(name)}/validation",
    )


@router.get("/gt/{name}/diff")
def gt_diff(st: State, name: str, other: Annotated[str, Query()]) -> Response:
    return _page(
        st,
        "gt_diff.html",
        lambda s: views.gt_diff(s, name, other),
        title=f"{name} vs {other}",
        crumbs=_gt_crumbs(name, f"diff {other}"),
        json=f"/v1/globaltags/{seg(other)}",
    )


@router.get("/gt/{name}/run")
def lookup_form(name: str, run: Annotated[int, Query()], as_of: AsOf = None) -> Response:
    """The lookup form's target: redirect to the stable URL of the run."""
    store.check_run(run)
    return RedirectResponse(url(f"/gt/{seg(name)}/run/{run}", as_of=as_of), 303)


@router.get("/gt/{name}/run/{run}")
def lookup(st: State, name: str, run: int, as_of: AsOf = None) -> Response:
    when = parse_time(as_of)
    return _page(
        st,
        "lookup.html",
        lambda s: views.lookup(s, name, run, when),
        title=f"{name} at run {run}",
        crumbs=_gt_crumbs(name, f"run {run}"),
        json=url(f"/v1/resolve/{seg(name)}/{run}", as_of=as_of),
    )


@router.get("/gt/{name}/trend")
def gt_trend(st: State, name: str) -> Response:
    from conditions import drift

    return _page(
        st,
        "trend.html",
        lambda s: views.trend(s, drift.SeriesSource(global_tag=name)),
        title=f"Drift of {name}",
        crumbs=_gt_crumbs(name, "trend"),
        json=f"/v1/globaltags/{seg(name)}",
    )


@router.get("/tag/{name}")
def tag(st: State, name: str, as_of: AsOf = None) -> Response:
    when = parse_time(as_of)
    return _page(
        st,
        "tag.html",
        lambda s: views.tag(s, name, when),
        title=f"Tag {name}",
        crumbs=_tag_crumbs(name),
        json=url(f"/v1/tags/{seg(name)}", history="true", as_of=as_of),
    )


@router.get("/tag/{name}/trend")
def tag_trend(st: State, name: str) -> Response:
    from conditions import drift

    return _page(
        st,
        "trend.html",
        lambda s: views.trend(s, drift.SeriesSource(tag=name)),
        title=f"Drift of {name}",
        crumbs=_tag_crumbs(name, "trend"),
        json=f"/v1/tags/{seg(name)}",
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
    from . import plots

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
    from conditions.payloads import (
        EnergyNonlinearityV1,
        EnergyResolutionV1,
        LpmtNonlinearityV1,
        NonuniformityMapV1,
    )

    from . import plots

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
    import numpy as np

    from conditions import drift

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
