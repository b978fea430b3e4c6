"""The payload-file service of NoPayloadDB: ``GET /dbstore/<type>/<sha256>``, ``PUT /upload/<key>``.

Downloads are the stored canonical bytes, immutable: ``ETag: "<sha256>"`` and ``Cache-Control:
public, max-age=31536000, immutable`` (as ``GET /v1/payloads/<hash>``).  Uploads (uploader token)
store the bytes as a payload of the type named by the key's first segment, through the same
checks as ``POST /v1/payloads/raw`` (typed types: their canonical encoding; others: canonical
JSON).  A key ``<type>/<64 hex>`` must name the SHA-256 of the bytes; any other name is accepted
(the client's own file name), and the payload is then served at ``<type>/<sha256>``.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from conditions import store
from conditions.errors import InvalidPayload, PayloadNotFound

from ..lookup import check_hash
from ..read_api import State, payload_bytes
from ..state import state_of
from ..write_api import Uploader, _provenance, _put_bytes, apply
from . import mapping
from .errors import HSFRoute

router = APIRouter(tags=["hsf files"], route_class=HSFRoute)


async def download(request: Request, st: State, type_name: str, payload_hash: str) -> Response:
    """The bytes of payload ``payload_hash`` (of type ``type_name``)."""
    check_hash(payload_hash)
    meta = await run_in_threadpool(st.lookups.meta, payload_hash)
    if meta.type_name != type_name:
        raise PayloadNotFound(
            f"payload {payload_hash[:12]} is of type {meta.type_name!r}, not {type_name!r}",
            f"fetch /dbstore/{mapping.payload_url(meta.type_name, payload_hash)}",
        )
    return await payload_bytes(request, st, payload_hash)


router.add_api_route(
    "/dbstore/{type_name}/{payload_hash}",
    download,
    methods=["GET"],
    summary="payload bytes by <type>/<sha256>",
    response_class=Response,
)
router.add_api_route(
    "/dbstore/{type_name}/{payload_hash}", download, methods=["HEAD"], include_in_schema=False
)


@router.put("/upload/{key:path}", summary="upload payload bytes to <type>/<name>")
async def upload(request: Request, who: Uploader, key: str) -> JSONResponse:
    """201 if new, 200 if the same bytes were already stored; the answer names the payload."""
    st = state_of(request)
    limit = st.settings.max_payload_bytes
    data = await request.body()

    def work(s: Session) -> tuple[int, dict[str, Any]]:
        k = mapping.parse_key(key)
        digest = store.sha256_hex(data)
        if k.digest not in (None, digest):
            raise InvalidPayload(
                f"the bytes have SHA-256 {digest[:12]}..., the key names {k.name[:12]}...",
                "upload to /upload/<type>/<sha256 of the bytes>",
            )
        r = _put_bytes(s, k.type_name, data, _provenance({"hsf_key": key}, who), limit)
        return (201 if r.created else 200), {
            "payload_url": mapping.payload_url(k.type_name, r.hash),
            "checksum": mapping.checksum(r.hash),
            "size": len(data),
            "created": r.created,
        }

    return await run_in_threadpool(apply, request, who, work)
