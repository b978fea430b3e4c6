"""Write API (bearer tokens with roles): payloads, tags, IOVs, global tags, campaign uploads.

Each request is one database transaction (:func:`conditions.db.write_session`) that holds the
change and its audit record (:func:`apply`): it lands whole or not at all.  The gate
(:mod:`.gate`) authenticates before the body is read (without a valid token nothing is read and
nothing changes) and audits every other outcome: refusals (401/403/405/411/413/429/4xx) and
failures (5xx).  ``Require``, ``Reader``, ``Uploader`` and ``Admin`` live in :mod:`.access`
and are importable from here too.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header
from sqlalchemy.orm import Session
from starlette.requests import Request
from starlette.responses import JSONResponse

from conditions import store
from conditions.db import write_session
from conditions.errors import InvalidInput
from conditions.services import audit, campaigns
from conditions.services.documents import check_canonical, encode_document, put_document

from . import wire
from .access import Admin, Reader, Require, Uploader
from .auth import Identity
from .bodies import (
    CampaignIn,
    CloneIn,
    GlobalTagIn,
    IOVsIn,
    PayloadIn,
    RecordIn,
    TagIn,
    TypeIn,
)
from .caching import NO_STORE
from .gate import attempt_of
from .state import state_of

__all__ = ["Admin", "Reader", "Require", "Uploader", "apply", "router"]

router = APIRouter(prefix="/v1", tags=["write"])

Work = Callable[[Session], tuple[int, dict[str, Any]]]


def apply(request: Request, who: Identity, work: Work) -> JSONResponse:
    """Run ``work`` and write its audit record in ONE transaction; answer with its detail.

    The change and its audit row commit together or not at all; an error rolls both back and
    propagates to the exception handlers, and the gate (:mod:`.gate`) audits that outcome."""
    st = state_of(request)
    attempt = attempt_of(request)
    with write_session(st.write_engine) as s:
        status, detail = work(s)
        row = audit.record(s, attempt.entry(who, status, detail))
    attempt.audited = True
    st.mirror.append(row)
    return JSONResponse(detail, status_code=status, headers={"Cache-Control": NO_STORE})


def _provenance(given: dict[str, Any], who: Identity) -> dict[str, Any]:
    return {**given, "uploaded_by": who.name}  # the authenticated name, never the client's


def _put_bytes(
    s: Session, type_name: str, data: bytes, provenance: dict[str, Any], max_bytes: int
) -> store.PutResult:
    store.get_payload_type(s, type_name)
    version = check_canonical(type_name, data)
    return store.put_payload(
        s, type_name, data, schema_version=version, provenance=provenance, max_bytes=max_bytes
    )


# --- payloads -----------------------------------------------------------------------------------
@router.post("/payloads", summary="upload a payload as a JSON document", status_code=201)
def upload_document(request: Request, who: Uploader, body: PayloadIn) -> JSONResponse:
    """Validate and store; 201 if new, 200 if the same content was already stored."""
    limit = state_of(request).settings.max_payload_bytes

    def work(s: Session) -> tuple[int, dict[str, Any]]:
        r = put_document(
            s,
            body.type,
            body.document,
            provenance=_provenance(body.provenance, who),
            max_bytes=limit,
        )
        return (201 if r.created else 200), {
            "hash": r.hash,
            "created": r.created,
            "type": body.type,
        }

    return apply(request, who, work)


@router.post("/payloads/raw", summary="upload canonical payload bytes", status_code=201)
def upload_bytes(
    request: Request,
    who: Uploader,
    type: str,
    data: Annotated[bytes, Body(media_type=wire.OCTET_STREAM)],
    x_conddb_provenance: Annotated[
        str | None, Header(description="provenance as a JSON object")
    ] = None,
) -> JSONResponse:
    """Canonical bytes (as ``GET /v1/payloads/{hash}`` returns them) of payload type ``type``."""
    limit = state_of(request).settings.max_payload_bytes
    provenance: dict[str, Any] = {}
    if x_conddb_provenance:
        try:
            provenance = json.loads(x_conddb_provenance)
        except ValueError:
            provenance = None  # type: ignore[assignment]
        if not isinstance(provenance, dict):
            raise InvalidInput("X-Conddb-Provenance is not a JSON object", "send a JSON object")

    def work(s: Session) -> tuple[int, dict[str, Any]]:
        r = _put_bytes(s, type, bytes(data), _provenance(provenance, who), limit)
        return (201 if r.created else 200), {"hash": r.hash, "created": r.created, "type": type}

    return apply(request, who, work)


@router.post("/types", summary="register a payload type (201 created, 200 if it exists)",
             status_code=201)
def register_type(request: Request, who: Admin, body: TypeIn) -> JSONResponse:
    def work(s: Session) -> tuple[int, dict[str, Any]]:
        _ptype, created = store.ensure_payload_type(s, body.name, body.description)
        return (201 if created else 200), {"type": body.name, "created": created}

    return apply(request, who, work)


# --- tags and IOVs --------------------------------------------------------------------------------
@router.post("/tags", summary="create an open tag", status_code=201)
def create_tag(request: Request, who: Uploader, body: TagIn) -> JSONResponse:
    def work(s: Session) -> tuple[int, dict[str, Any]]:
        store.create_tag(s, body.name, body.type, body.description)
        return 201, {"tag": body.name, "type": body.type, "state": "open"}

    return apply(request, who, work)


@router.post("/tags/{tag}/iovs", summary="append IOVs to an open tag")
def append_iovs(request: Request, who: Uploader, tag: str, body: IOVsIn) -> JSONResponse:
    """All IOVs in one transaction; an IOV equal to the one in force changes nothing."""

    def work(s: Session) -> tuple[int, dict[str, Any]]:
        r = store.append_iovs(s, tag, [(i.since, i.payload_hash) for i in body.iovs])
        return 200, {
            "tag": tag,
            "added": r.added,
            "unchanged": r.unchanged,
            "insertion_time": wire.fmt_time(r.insertion_time),
        }

    return apply(request, who, work)


@router.post("/tags/{tag}/lock", summary="lock a tag for good")
def lock_tag(request: Request, who: Admin, tag: str) -> JSONResponse:
    def work(s: Session) -> tuple[int, dict[str, Any]]:
        t = store.lock_tag(s, tag)
        return 200, {"tag": tag, "state": t.state.value, "locked_at": wire.fmt_time(t.locked_at)}

    return apply(request, who, work)


# --- global tags ----------------------------------------------------------------------------------
@router.post("/globaltags", summary="create an open, empty global tag", status_code=201)
def create_global_tag(request: Request, who: Admin, body: GlobalTagIn) -> JSONResponse:
    def work(s: Session) -> tuple[int, dict[str, Any]]:
        store.create_global_tag(s, body.name, body.description)
        return 201, {"global_tag": body.name, "state": "open"}

    return apply(request, who, work)


@router.put("/globaltags/{global_tag}/records/{record}", summary="point a record at a tag")
def set_record(
    request: Request, who: Admin, global_tag: str, record: str, body: RecordIn
) -> JSONResponse:
    def work(s: Session) -> tuple[int, dict[str, Any]]:
        changed = store.set_record(s, global_tag, record, body.tag)
        return 200, {
            "global_tag": global_tag,
            "record": record,
            "tag": body.tag,
            "changed": changed,
        }

    return apply(request, who, work)


# POST /globaltags/{global_tag}/freeze: the alias of .../publish (lifecycle_api, same gates)


@router.post("/globaltags/{global_tag}/clone", summary="clone a global tag", status_code=201)
def clone_global_tag(request: Request, who: Admin, global_tag: str, body: CloneIn) -> JSONResponse:
    def work(s: Session) -> tuple[int, dict[str, Any]]:
        store.clone_global_tag(s, global_tag, body.destination, body.description)
        return 201, {"global_tag": body.destination, "source": global_tag, "state": "open"}

    return apply(request, who, work)


# --- campaign upload ------------------------------------------------------------------------------
def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            "data_base64 is not valid base64", "encode the bytes with base64"
        ) from None


@router.post("/campaigns", summary="atomic campaign upload: tags, payloads and IOVs")
def upload_campaign(request: Request, who: Uploader, body: CampaignIn) -> JSONResponse:
    """Create the declared tags that are missing, store every payload, append every IOV and
    record the campaign, in ONE transaction (:func:`conditions.services.campaigns.upload`, the
    same upload as ``conddb campaign run``): a failure anywhere leaves the database unchanged.
    Re-uploading the same campaign changes nothing; the same name with other constants is 409."""
    limit = state_of(request).settings.max_payload_bytes

    def work(s: Session) -> tuple[int, dict[str, Any]]:
        store.check_name("campaign", body.campaign)  # before any other lookup: a clear 422
        items = []
        for item in body.items:
            store.get_payload_type(s, item.type)
            if item.data_base64 is not None:
                data = _b64(item.data_base64)
                version = check_canonical(item.type, data)
            else:
                data, version = encode_document(item.type, item.document)
            items.append((item.tag, item.since, item.type, data, version, item.provenance))
        declared = {t.name: (t.type, t.description) for t in body.create_tags}
        plan = campaigns.CampaignUpload.of_items(body.campaign, items, kind="http", tags=declared)
        report = campaigns.upload(s, plan, uploaded_by=who.name, max_payload_bytes=limit)
        iovs: dict[str, dict[str, int]] = {}
        for r in report.records:
            counts = iovs.setdefault(r.tag, {"added": 0, "unchanged": 0})
            counts["added" if r.new_iov else "unchanged"] += 1
        by_record = {r.record: r for r in report.records}
        return 200, {
            "campaign": body.campaign,
            "created": report.created,
            "created_tags": list(report.created_tags),
            "payloads": [by_record[i.record].payload_hash for i in plan.items],
            "new_payloads": report.payloads_added,
            "iovs": iovs,
        }

    return apply(request, who, work)


# --- who am I -----------------------------------------------------------------------------------
@router.get("/whoami", summary="the name and role of the calling token")
def whoami(who: Reader) -> JSONResponse:
    return JSONResponse(
        {"name": who.name, "role": who.role.label}, headers={"Cache-Control": "private, no-store"}
    )
