"""HTTP caching of read responses: ``Cache-Control``, ``ETag`` and ``304 Not Modified``.

Policy (issue 8):

* payload bytes and their metadata are immutable (the URL holds the SHA-256 of the bytes):
  ``public, max-age=31536000, immutable``, ``ETag: "<hash>"``;
* lookups under a frozen global tag never change (frozen map + snapshot time): ``public,
  max-age=<CONDDB_FROZEN_MAX_AGE>``;
* lookups under an open global tag and listings may change at any write: ``public,
  max-age=<short>``, plus a strong ETag of the body, so a client or cache that revalidates with
  ``If-None-Match`` gets ``304 Not Modified`` without the body;
* errors are ``no-store``: a missing run may be covered by the next append.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from .settings import ONE_YEAR

IMMUTABLE = f"public, max-age={ONE_YEAR}, immutable"
NO_STORE = "no-store"


def public(max_age: int) -> str:
    """``Cache-Control`` of a shared-cacheable response fresh for ``max_age`` seconds."""
    return f"public, max-age={max_age}" if max_age > 0 else "public, no-cache"


def etag_matches(request: Request, etag: str) -> bool:
    """True if the request's ``If-None-Match`` names ``etag`` (weak comparison, RFC 9110)."""
    return if_none_match(request.headers.get("if-none-match"), etag)


def if_none_match(header: str | None, etag: str) -> bool:
    """True if an ``If-None-Match`` header value names ``etag`` (weak comparison, RFC 9110)."""
    if not header:
        return False
    if header.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == bare for tag in header.split(","))


def cached_response(
    request: Request,
    content: bytes,
    *,
    etag: str,
    cache_control: str,
    media_type: str,
) -> Response:
    """200 with ``content``, or 304 without a body when the client already holds ``etag``."""
    headers = {"ETag": etag, "Cache-Control": cache_control}
    if etag_matches(request, etag):
        return Response(status_code=304, headers=headers)
    if request.method == "HEAD":
        headers["Content-Length"] = str(len(content))
        return Response(status_code=200, headers=headers, media_type=media_type)
    return Response(content=content, headers=headers, media_type=media_type)
