"""NoPayloadDB v5.1 metadata routes under ``/api/cdb_rest/`` (the ``nopayloaddb-client`` 0.3.0).

Reads need no token.  Writes take ``Authorization: Bearer <token>`` with our roles (uploader:
payload lists, payload IOVs, uploads; admin: global tags, payload types, attaching a payload list
to a global tag) and run as one transaction each through :func:`..write_api.apply`, which also
writes the audit record.  What our immutability forbids is refused (409 / 422, see docs/HSF.md).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from conditions import store
from conditions.db import read_session
from conditions.errors import ImmutableObject, InvalidInput, InvalidIOV, PayloadNotFound

from ..read_api import State
from ..write_api import Admin, Uploader, apply
from . import mapping, views
from .answers import answer, frozen_or, query_answer
from .errors import HSFRoute

router = APIRouter(prefix="/api/cdb_rest", tags=["hsf v5.1"], route_class=HSFRoute)

Page = Annotated[int | None, Query(description="page number (from 1); with it, a paged answer")]
PageSize = Annotated[int | None, Query(description="rows per page (with it, a paged answer)")]
Search = Annotated[str | None, Query(description="case-insensitive substring of the name")]
Sort = Annotated[str, Query(description="field to sort by")]
Order = Annotated[str, Query(description="asc or desc")]


def _listing(
    request: Request,
    st: State,
    rows: list[dict[str, Any]],
    page: int | None,
    page_size: int | None,
    search: str | None,
    sort: str,
    order: str,
) -> Response:
    """A plain list, or one page of it when ``page`` or ``page_size`` is given."""
    if page is None and page_size is None:
        return answer(request, rows, st.settings.list_max_age)
    doc = views.paged(
        rows, page=page or 1, page_size=page_size or 25, search=search, sort=sort, order=order
    )
    return answer(request, doc, st.settings.list_max_age)


# --- global tags (reads) --------------------------------------------------------------------------
@router.get("/global-tags", summary="global tags (a list, or a page with page/page_size)")
def list_global_tags(
    request: Request,
    st: State,
    page: Page = None,
    page_size: PageSize = None,
    search: Search = None,
    status: Annotated[str | None, Query(description="only this status")] = None,
    sort: Sort = "name",
    order: Order = "asc",
) -> Response:
    with read_session(st.read_engine) as s:
        rows = views.global_tags(s)
    if status is not None:
        rows = [r for r in rows if r["status"] == status]
    return _listing(request, st, rows, page, page_size, search, sort, order)


@router.get("/global-tags/statuses", summary="global-tag statuses (fixed)")
def list_statuses(request: Request, st: State) -> Response:
    return answer(request, views.statuses(), st.settings.schema_max_age)


@router.get("/global-tags/{name}", summary="a global tag (light=1: without its payload lists)")
def get_global_tag(
    request: Request,
    st: State,
    name: str,
    light: Annotated[bool, Query(description="omit the payload lists")] = False,
) -> Response:
    with read_session(st.read_engine) as s:
        doc, frozen = views.global_tag(s, st.lookups, name, light=light)
    return answer(request, doc, frozen_or(st, frozen, st.settings.list_max_age))


@router.get("/global-tags/{name}/payload-lists", summary="payload type -> payload list")
def global_tag_payload_lists(request: Request, st: State, name: str) -> Response:
    with read_session(st.read_engine) as s:
        doc, frozen = views.global_tag_lists(s, name)
    return answer(request, doc, frozen_or(st, frozen, st.settings.list_max_age))


# --- payload types, lists, IOVs (reads) -----------------------------------------------------------
@router.get("/payload-types", summary="payload types (a list, or a page)")
def list_payload_types(
    request: Request,
    st: State,
    page: Page = None,
    page_size: PageSize = None,
    search: Search = None,
    sort: Sort = "name",
    order: Order = "asc",
) -> Response:
    with read_session(st.read_engine) as s:
        rows = views.payload_types(s)
    return _listing(request, st, rows, page, page_size, search, sort, order)


@router.get("/payload-lists", summary="payload lists = tags (a list, or a page)")
def list_payload_lists(
    request: Request,
    st: State,
    page: Page = None,
    page_size: PageSize = None,
    search: Search = None,
    global_tag: Annotated[str | None, Query(description="only those of this global tag")] = None,
    payload_type: Annotated[str | None, Query(description="only this payload type")] = None,
    sort: Sort = "name",
    order: Order = "asc",
) -> Response:
    f = views.ListFilter(global_tag=global_tag, payload_type=payload_type)
    with read_session(st.read_engine) as s:
        rows = views.payload_lists(s, f)
    return _listing(request, st, rows, page, page_size, search, sort, order)


@router.get("/payload-lists/by-name/{name}", summary="a payload list (tag) and its IOVs")
def get_payload_list(request: Request, st: State, name: str) -> Response:
    with read_session(st.read_engine) as s:
        doc = views.payload_list(s, st.lookups, name)
    return answer(request, doc, st.settings.list_max_age)


@router.get("/payload-iovs", summary="payload IOVs in force (a list, or a page)")
def list_payload_iovs(
    request: Request,
    st: State,
    page: Page = None,
    page_size: PageSize = None,
    search: Search = None,
    payload_list: Annotated[str | None, Query(description="only this payload list")] = None,
    global_tag: Annotated[str | None, Query(description="only those of this global tag")] = None,
    payload_type: Annotated[str | None, Query(description="only this payload type")] = None,
    sort: Sort = "id",
    order: Order = "asc",
) -> Response:
    f = views.ListFilter(global_tag, payload_type, payload_list)
    with read_session(st.read_engine) as s:
        rows = views.payload_iovs(s, st.lookups, f)
    return _listing(request, st, rows, page, page_size, search, sort, order)


@router.get("/payload-iovs/query/", summary="the payload of every type at one IOV point")
async def query_payload_iovs(
    request: Request,
    st: State,
    gt_name: Annotated[str, Query(alias="gtName", description="global tag")],
    major_iov: Annotated[int, Query(alias="majorIOV", description="run")],
    minor_iov: Annotated[int, Query(alias="minorIOV", description="sub-run (any >= 0)")] = 0,
    shape: Annotated[str, Query(description="dict: objects; anything else: rows")] = "dict",
) -> Response:
    """A type whose payload list does not cover the run is absent from the answer."""
    return await query_answer(request, st, gt_name, major_iov, minor_iov, rows=shape != "dict")


@router.get("/payload-iovs/{piov_id}", summary="a payload IOV by its id")
def get_payload_iov(request: Request, st: State, piov_id: int) -> Response:
    """Ids are handles of (since, payload): the answer needs no tag (``payload_list`` null)."""
    h = mapping.IOVHandle.decode(piov_id)
    meta = st.lookups.meta(h.payload_hash)
    doc = _pending_doc(h, meta.type_name, meta.size)
    return answer(request, doc, st.settings.list_max_age)


def _pending_doc(h: mapping.IOVHandle, type_name: str, size: int) -> dict[str, Any]:
    major_end, minor_end = mapping.iov_end(None if h.end is None else h.end - 1)
    return {
        "id": h.encode(),
        "payload_url": mapping.payload_url(type_name, h.payload_hash),
        "checksum": mapping.checksum(h.payload_hash),
        "size": size,
        "major_iov": h.since,
        "minor_iov": 0,
        "major_iov_end": major_end,
        "minor_iov_end": minor_end,
        "payload_list": None,
        "payload_type": type_name,
    }


# --- writes ---------------------------------------------------------------------------------------
class _In(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class GlobalTagIn(_In):
    name: str
    author: str | None = Field(default=None, description="kept as the description")
    status: str = "unlocked"


class NameIn(_In):
    name: str


class PayloadListIn(_In):
    payload_type: str


class AttachListIn(_In):
    global_tag: str
    payload_list: str


class PayloadIOVIn(_In):
    payload_url: str
    checksum: str
    major_iov: int
    minor_iov: int = 0
    major_iov_end: int | None = None
    minor_iov_end: int | None = None


class AttachIOVIn(_In):
    payload_list: str
    piov_id: int


def _status(status: str) -> str:
    if status not in mapping.STATUSES:
        raise InvalidInput(
            f"unknown global-tag status {status!r}", f"use one of: {', '.join(mapping.STATUSES)}"
        )
    return status


def _gt_answer(s: Session, name: str) -> dict[str, Any]:
    return views.gt_doc(s, store.get_global_tag(s, name), views.Counts(s))


def _set_status(s: Session, name: str, status: str, who: str) -> None:
    """Publish for locked/frozen, through the gates of :func:`conditions.services.lifecycle.
    publish` (validated, passing report, approvals); unlocked only when already open."""
    from conditions.services import lifecycle

    state = store.get_global_tag(s, name).state.value
    if status in mapping.FREEZING:
        if state not in ("published", "invalid"):
            lifecycle.publish(s, name, who, approvals_required=lifecycle.approvals_required())
    elif state in ("published", "invalid"):
        raise ImmutableObject(
            f"global tag {name!r} is frozen and can never be unlocked",
            "clone it (POST global-tags/<name>/clone/<new name>) and change the clone",
        )


@router.post("/gt", summary="create a global tag")
def create_global_tag(request: Request, who: Admin, body: GlobalTagIn) -> JSONResponse:
    status = _status(body.status)

    def work(s: Session) -> tuple[int, dict[str, Any]]:
        store.create_global_tag(s, body.name, body.author or "")
        _set_status(s, body.name, status, who.name)
        return 200, _gt_answer(s, body.name)

    return apply(request, who, work)


@router.post("/global-tags/statuses", summary="statuses are fixed: an existing one is returned")
def create_status(request: Request, who: Admin, body: NameIn) -> JSONResponse:
    def work(s: Session) -> tuple[int, dict[str, Any]]:
        if body.name not in mapping.STATUSES:
            raise InvalidInput(
                f"global-tag status {body.name!r} cannot be created: the statuses are fixed",
                f"use one of: {', '.join(mapping.STATUSES)}",
            )
        return 200, next(x for x in views.statuses() if x["name"] == body.name)

    return apply(request, who, work)


@router.post("/global-tags/{source}/clone/{target}", summary="clone a global tag (open)")
def clone_global_tag(request: Request, who: Admin, source: str, target: str) -> JSONResponse:
    def work(s: Session) -> tuple[int, dict[str, Any]]:
        store.clone_global_tag(s, source, target)
        return 200, _gt_answer(s, target)

    return apply(request, who, work)


@router.put("/global-tags/{name}/change-status/{status}", summary="freeze (locked/frozen)")
def change_status(request: Request, who: Admin, name: str, status: str) -> JSONResponse:
    _status(status)

    def work(s: Session) -> tuple[int, dict[str, Any]]:
        _set_status(s, name, status, who.name)
        return 200, _gt_answer(s, name)

    return apply(request, who, work)


@router.post("/payload-types", summary="register a payload type")
def create_payload_type(request: Request, who: Admin, body: NameIn) -> JSONResponse:
    def work(s: Session) -> tuple[int, dict[str, Any]]:
        p = store.register_payload_type(s, body.name)
        return 200, {"name": p.name, "description": p.description}

    return apply(request, who, work)


@router.post("/payload-lists", summary="create a payload list = an open tag <type>_<n>")
def create_payload_list(request: Request, who: Uploader, body: PayloadListIn) -> JSONResponse:
    def work(s: Session) -> tuple[int, dict[str, Any]]:
        store.get_payload_type(s, body.payload_type)
        taken = {t.name for t, _ in store.list_tags(s)}
        n = 1
        while f"{body.payload_type}_{n}" in taken:  # the first free <type>_<n>
            n += 1
        tag = store.create_tag(
            s, f"{body.payload_type}_{n}", body.payload_type, "created through the HSF API"
        )
        return 200, views.list_doc(None, tag, None, [], None)

    return apply(request, who, work)


@router.put("/payload-lists/attach", summary="attach a payload list to a global tag")
def attach_payload_list(request: Request, who: Admin, body: AttachListIn) -> JSONResponse:
    """Points the record named after the list's payload type at the list (tag)."""

    def work(s: Session) -> tuple[int, dict[str, Any]]:
        tag = store.get_tag(s, body.payload_list)
        store.set_record(s, body.global_tag, tag.type_name, tag.name)
        iovs = store.list_iovs(s, tag.name)
        return 200, views.list_doc(tag.type_name, tag, body.global_tag, iovs, None)

    return apply(request, who, work)


@router.post("/payload-iovs", summary="describe a payload IOV (stored when attached)")
def create_payload_iov(request: Request, who: Uploader, body: PayloadIOVIn) -> JSONResponse:
    """Checks the payload, the start and the end; the id it returns names the IOV, which is
    stored (in one transaction) by ``PUT payload-iovs/attach``."""

    def work(s: Session) -> tuple[int, dict[str, Any]]:
        since = mapping.check_start(body.major_iov, body.minor_iov)
        end = mapping.check_end(body.major_iov_end, body.minor_iov_end)
        if end is not None and end <= since:
            raise InvalidIOV(f"IOV end {end} is not after its start {since}", "give end > start")
        key = mapping.parse_key(body.payload_url)
        digest = mapping.digest_of(body.checksum)
        payload = store.get_payload(s, digest)
        if payload.type_name != key.type_name:
            raise InvalidIOV(
                f"payload {digest[:12]} is of type {payload.type_name!r}, not {key.type_name!r}",
                f"use payload_url {mapping.payload_url(payload.type_name, digest)}",
            )
        if key.digest not in (None, digest):
            raise PayloadNotFound(
                f"payload_url {body.payload_url!r} and checksum name different payloads",
                "send the payload_url and checksum returned by upload_payload",
            )
        h = mapping.IOVHandle(since, digest, end)
        return 200, _pending_doc(h, payload.type_name, payload.size)

    return apply(request, who, work)


@router.put("/payload-iovs/attach", summary="append a payload IOV to a payload list (tag)")
def attach_payload_iov(request: Request, who: Uploader, body: AttachIOVIn) -> JSONResponse:
    def work(s: Session) -> tuple[int, dict[str, Any]]:
        h = mapping.IOVHandle.decode(body.piov_id)
        tag = store.get_tag(s, body.payload_list)
        store.append_iovs(s, tag.name, [(h.since, h.payload_hash)])
        iovs = store.list_iovs(s, tag.name)
        following = [i.since for i in iovs if i.since > h.since]
        mapping.check_end_fits(h.since, h.end, following[0] if following else None)
        row = next(i for i in iovs if i.since == h.since)
        return 200, views.iov_doc(row, tag, store.get_payload(s, h.payload_hash).size)

    return apply(request, who, work)


# --- refused: our objects are immutable -----------------------------------------------------------
def _refuse(what: str, hint: str) -> Any:
    def work(s: Session) -> tuple[int, dict[str, Any]]:
        raise ImmutableObject(f"{what} cannot be deleted: conditions are immutable", hint)

    return work


@router.delete("/global-tags/{name}/delete", summary="refused: global tags are never deleted")
def delete_global_tag(request: Request, who: Uploader, name: str) -> JSONResponse:
    return apply(request, who, _refuse(f"global tag {name!r}", "leave it; clone to evolve it"))


@router.delete("/payload-types/{name}/delete", summary="refused: payload types stay")
def delete_payload_type(request: Request, who: Uploader, name: str) -> JSONResponse:
    return apply(request, who, _refuse(f"payload type {name!r}", "stop using it"))


@router.delete("/payload-lists/{name}/delete", summary="refused: payload lists are never deleted")
def delete_payload_list(request: Request, who: Uploader, name: str) -> JSONResponse:
    return apply(
        request, who, _refuse(f"payload list {name!r}", "attach another payload list instead")
    )


@router.delete("/payload-iovs/{rest:path}", summary="refused: IOVs are append-only")
def delete_payload_iov(request: Request, who: Uploader, rest: str) -> JSONResponse:
    return apply(
        request,
        who,
        _refuse("a payload IOV", "append a new IOV with the same start to supersede it"),
    )
