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
``conddb export-files`` fills.  The handlers are those of :mod:`.v51`.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from ..read_api import State
from . import v51
from .answers import query_answer
from .errors import HSFRoute

router = APIRouter(prefix="/api/cdb_rest", tags=["hsf legacy"], route_class=HSFRoute)

# the same handlers (and documents) as their v5.1 twins, under the legacy paths
for path, handler in (
    ("/globalTags", v51.list_global_tags),
    ("/globalTag/{name}", v51.get_global_tag),
    ("/gtstatus", v51.list_statuses),
    ("/pt", v51.list_payload_types),
    ("/gtPayloadLists/{name}", v51.global_tag_payload_lists),
    ("/pl", v51.list_payload_lists),
    ("/piov", v51.list_payload_iovs),
):
    router.add_api_route(path, handler, methods=["GET"], name=f"legacy_{handler.__name__}")


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
