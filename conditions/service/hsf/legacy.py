"""The older read routes of the C++ ``nopayloadclient`` (sPHENIX), under ``/api/cdb_rest/``.

==============================================  ==============================================
``GET globalTags``, ``GET globalTag/{name}``    ``[{name, status, payload_iov_count, ...}]``
``GET gtstatus``, ``GET pt``                    ``[{id, name}]``, ``[{name, ...}]``
``GET gtPayloadLists/{gt}``                     ``{payload type: payload list name}``
``GET payloadiovs/?gtName=&majorIOV=&minorIOV=``  rows ``[type, url, checksum, size, major,
                                                minor, major_end, minor_end]``
``GET pl``, ``GET piov``                        payload lists, payload IOVs (v5.1 shapes)
==============================================  ==============================================

The client never downloads: it finds ``payload_url`` under local directories, which
``conddb export-files`` fills.  Same documents as :mod:`.v51`, from :mod:`.views`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from conditions.db import read_session

from ..read_api import State
from . import views
from .answers import answer, frozen_or, query_answer
from .errors import HSFRoute

router = APIRouter(prefix="/api/cdb_rest", tags=["hsf legacy"], route_class=HSFRoute)


@router.get("/globalTags", summary="global tags")
def global_tags(request: Request, st: State) -> Response:
    with read_session(st.read_engine) as s:
        return answer(request, views.global_tags(s), st.settings.list_max_age)


@router.get("/globalTag/{name}", summary="a global tag with its payload lists")
def global_tag(request: Request, st: State, name: str) -> Response:
    with read_session(st.read_engine) as s:
        doc, frozen = views.global_tag(s, st.lookups, name, light=False)
    return answer(request, doc, frozen_or(st, frozen, st.settings.list_max_age))


@router.get("/gtstatus", summary="global-tag statuses")
def statuses(request: Request, st: State) -> Response:
    return answer(request, views.statuses(), st.settings.schema_max_age)


@router.get("/pt", summary="payload types")
def payload_types(request: Request, st: State) -> Response:
    with read_session(st.read_engine) as s:
        return answer(request, views.payload_types(s), st.settings.list_max_age)


@router.get("/gtPayloadLists/{name}", summary="payload type -> payload list of a global tag")
def payload_lists_of(request: Request, st: State, name: str) -> Response:
    with read_session(st.read_engine) as s:
        doc, frozen = views.global_tag_lists(s, name)
    return answer(request, doc, frozen_or(st, frozen, st.settings.list_max_age))


@router.get("/pl", summary="payload lists (tags)")
def payload_lists(request: Request, st: State) -> Response:
    with read_session(st.read_engine) as s:
        return answer(request, views.payload_lists(s, views.ListFilter()), st.settings.list_max_age)


@router.get("/piov", summary="payload IOVs in force")
def payload_iovs(request: Request, st: State) -> Response:
    with read_session(st.read_engine) as s:
        doc = views.payload_iovs(s, st.lookups, views.ListFilter())
    return answer(request, doc, st.settings.list_max_age)


@router.get("/payloadiovs/", summary="rows of the payloads in force at one IOV point")
async def payload_iovs_at(
    request: Request,
    st: State,
    gt_name: Annotated[str, Query(alias="gtName", description="global tag")],
    major_iov: Annotated[int, Query(alias="majorIOV", description="run")],
    minor_iov: Annotated[int, Query(alias="minorIOV", description="sub-run (any >= 0)")] = 0,
) -> Response:
    """A type whose payload list does not cover the run is absent from the answer."""
    return await query_answer(request, st, gt_name, major_iov, minor_iov, rows=True)
