"""A read-only conditions source over the HTTP service, for ``conddb --db https://host``.

A thin adapter over :class:`~conditions.service.client.ConditionsClient`'s public methods: the
same JSON shapes as the read API (``conditions/service/serializers.py``), the same typed errors
(a 404 comes back as ``TagNotFound`` and so on), payload bytes checked against their SHA-256.
It imports no SQLAlchemy.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote, urlencode

from conditions.iov import Resolution
from conditions.times import format_utc as wire_time

from .client import ConditionsClient


class RemoteSource:
    """Read commands' view of a remote service: listings, tags, payloads and lookups."""

    def __init__(self, url: str, **client_options: Any) -> None:
        self.client = ConditionsClient(url, **client_options)

    def close(self) -> None:
        self.client.close()

    def _get(self, path: str, **params: Any) -> Any:
        query = urlencode({k: v for k, v in params.items() if v is not None})
        return self.client.post(path + (f"?{query}" if query else ""), method="GET")

    def tags(self, type_name: str | None = None) -> list[dict[str, Any]]:
        """Tags with their state and number of IOV rows (``GET /v1/tags``)."""
        result: list[dict[str, Any]] = self._get("/v1/tags", type=type_name)
        return result

    def tag(self, name: str, as_of: dt.datetime | None = None) -> dict[str, Any]:
        """A tag and its IOVs in force (``GET /v1/tags/NAME``)."""
        result: dict[str, Any] = self._get(
            f"/v1/tags/{quote(name, safe='')}", as_of=wire_time(as_of)
        )
        return result

    def global_tags(self) -> list[dict[str, Any]]:
        """Global tags (``GET /v1/globaltags``)."""
        result: list[dict[str, Any]] = self._get("/v1/globaltags")
        return result

    def global_tag(self, name: str, as_of: dt.datetime | None = None) -> dict[str, Any]:
        """A global tag and its record -> tag map (``GET /v1/globaltags/NAME``)."""
        result: dict[str, Any] = self._get(
            f"/v1/globaltags/{quote(name, safe='')}", as_of=wire_time(as_of)
        )
        return result

    def payload_meta(self, payload_hash: str) -> dict[str, Any]:
        """Type, schema version, size, provenance of a payload (full 64-digit hash)."""
        result: dict[str, Any] = self._get(f"/v1/payloads/{payload_hash}/meta")
        return result

    def payload_bytes(self, payload_hash: str) -> bytes:
        """The canonical bytes of a payload, checked against their hash."""
        return self.client.payload(payload_hash)

    def resolve(
        self, global_tag: str, run: int, *, record: str | None, as_of: dt.datetime | None
    ) -> Resolution:
        return self.client.resolve(global_tag, run, record=record, as_of=as_of)
