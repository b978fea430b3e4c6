"""Thread-safe read side of the service: resolutions and payloads with caches that cannot be stale.

Same policy as :class:`conditions.resolve.Resolver` (resolutions cached only under *frozen*
global tags; payload bytes cached by hash), but every cache is guarded by a lock, because the
sync endpoints run in a thread pool; and the resolution cache holds the finished response body
(JSON bytes + ETag), so a repeated frozen lookup costs no database query and no serialisation.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Engine

from conditions.db import autocommit_reader
from conditions.errors import InvalidInput, PayloadNotFound
from conditions.model import Payload
from conditions.resolve import resolve, resolve_many

from . import wire

HASH_RE = re.compile(r"^[0-9a-f]{64}$")


def check_hash(payload_hash: str) -> str:
    """Return ``payload_hash`` if it is 64 lowercase hex digits, else raise InvalidInput."""
    if not HASH_RE.match(payload_hash):
        raise InvalidInput(
            f"invalid payload hash {payload_hash!r}", "give the full 64-digit lowercase hex hash"
        )
    return payload_hash


@dataclass(frozen=True)
class Body:
    """A finished JSON response: bytes, strong ETag and whether it may be cached for long."""

    content: bytes
    etag: str
    frozen: bool


@dataclass(frozen=True)
class PayloadMeta:
    """The immutable description of a stored payload."""

    hash: str
    type_name: str
    schema_version: int
    size: int
    created_at: dt.datetime
    provenance: dict[str, Any]

    def to_json(self) -> dict[str, Any]:
        return {
            "hash": self.hash,
            "type": self.type_name,
            "schema_version": self.schema_version,
            "size": self.size,
            "created_at": wire.fmt_time(self.created_at),
            "provenance": self.provenance,
        }


class _LRU:
    """Bounded LRU by entry count and total weight, guarded by a lock."""

    def __init__(self, max_items: int, max_weight: int) -> None:
        self.max_items = max_items
        self.max_weight = max_weight
        self.weight = 0
        self._items: OrderedDict[Any, tuple[Any, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return None
            self._items.move_to_end(key)
            return hit[0]

    def put(self, key: Any, value: Any, weight: int = 1) -> None:
        if weight > self.max_weight:
            return
        with self._lock:
            if key in self._items:
                return
            self._items[key] = (value, weight)
            self.weight += weight
            while len(self._items) > self.max_items or self.weight > self.max_weight:
                _, (_, w) = self._items.popitem(last=False)
                self.weight -= w

    def __len__(self) -> int:
        return len(self._items)


class Lookups:
    """Resolutions and payloads read from ``engine`` (the read replica when there is one)."""

    def __init__(self, engine: Engine, *, payload_cache_bytes: int, max_batch_runs: int) -> None:
        self.engine = engine
        self.reader = autocommit_reader(engine)
        self.max_batch_runs = max_batch_runs
        self._bodies = _LRU(100_000, 512 * 1024 * 1024)
        self._payloads = _LRU(100_000, payload_cache_bytes)
        self._meta = _LRU(100_000, 100_000)

    def cached_resolution(
        self, global_tag: str, run: int, record: str | None, as_of: dt.datetime | None
    ) -> Body | None:
        """The cached body of a frozen lookup, or None (no I/O: safe on the event loop)."""
        cached: Body | None = self._bodies.get(("one", global_tag, run, record, as_of))
        return cached

    def cached_payload(self, payload_hash: str) -> bytes | None:
        """Payload bytes from the in-process cache, or None (no I/O: safe on the event loop)."""
        data: bytes | None = self._payloads.get(payload_hash)
        return data

    def resolve(
        self, global_tag: str, run: int, record: str | None, as_of: dt.datetime | None
    ) -> Body:
        """The resolution body of ``(global_tag, run[, record][, as_of])``."""
        key = ("one", global_tag, run, record, as_of)
        cached: Body | None = self._bodies.get(key)
        if cached is not None:
            return cached
        with self.reader.connect() as conn:
            res = resolve(conn, global_tag, run, record=record, as_of=as_of)
        content = wire.dumps(wire.resolution_to_json(res))
        body = Body(content, wire.body_etag(content), res.frozen)
        if res.frozen:
            self._bodies.put(key, body, len(content))
        return body

    def resolve_batch(
        self,
        global_tag: str,
        runs: list[int],
        record: str | None,
        as_of: dt.datetime | None,
    ) -> Body:
        """The batch resolution of ``runs`` as segments (see :func:`wire.segments_to_json`)."""
        if len(runs) > self.max_batch_runs:
            raise InvalidInput(
                f"{len(runs)} runs asked in one batch, the limit is {self.max_batch_runs}",
                "split the range (or raise CONDDB_MAX_BATCH_RUNS)",
            )
        if not runs:
            raise InvalidInput("no run given", "give runs=1,2,3 or first=..&last=..")
        key = ("many", global_tag, tuple(runs), record, as_of)
        cached: Body | None = self._bodies.get(key)
        if cached is not None:
            return cached
        with self.reader.connect() as conn:
            many = resolve_many(conn, global_tag, runs, record=record, as_of=as_of)
        frozen = any(r.frozen for r in many.values())
        doc = {
            "global_tag": global_tag,
            "as_of": wire.fmt_time(as_of),
            "frozen": frozen,
            "segments": wire.segments_to_json(many),
        }
        content = wire.dumps(doc)
        body = Body(content, wire.body_etag(content), frozen)
        if frozen:
            self._bodies.put(key, body, len(content))
        return body

    def payload(self, payload_hash: str) -> bytes:
        """Canonical bytes of a payload (immutable: cached by hash)."""
        check_hash(payload_hash)
        data: bytes | None = self._payloads.get(payload_hash)
        if data is not None:
            return data
        with self.reader.connect() as conn:
            raw = conn.scalar(select(Payload.data).where(Payload.hash == payload_hash))
        if raw is None:
            raise PayloadNotFound(f"no payload with hash {payload_hash!r}", "check the hash")
        data = bytes(raw)
        self._payloads.put(payload_hash, data, len(data))
        return data

    def meta(self, payload_hash: str) -> PayloadMeta:
        """Type, schema version, size, creation time and provenance of a payload."""
        check_hash(payload_hash)
        cached: PayloadMeta | None = self._meta.get(payload_hash)
        if cached is not None:
            return cached
        with self.reader.connect() as conn:
            row = conn.execute(
                select(
                    Payload.type_name,
                    Payload.schema_version,
                    Payload.size,
                    Payload.created_at,
                    Payload.provenance,
                ).where(Payload.hash == payload_hash)
            ).first()
        if row is None:
            raise PayloadNotFound(f"no payload with hash {payload_hash!r}", "check the hash")
        meta = PayloadMeta(payload_hash, row[0], int(row[1]), int(row[2]), row[3], row[4] or {})
        self._meta.put(payload_hash, meta)
        return meta
