"""Read path: (global tag, run[, as-of time]) -> the payload of each record, with its IOV bounds.

Semantics (GUIDE §2):

* A record's tag has IOVs ``since`` (first valid run, inclusive).  For run ``r`` the IOV in force
  is the one with the greatest ``since <= r``; it lasts until the next ``since`` - 1 (``until`` is
  ``None`` for the last IOV: open-ended).  Several rows with one ``since``: the newest wins.
* ``as_of=T`` replays a lookup as it was at time T: IOV rows and global-tag map rows inserted after
  T are ignored.  A frozen global tag resolves as of its snapshot time (and of ``as_of`` if
  earlier), always with its final map.
* A run before the first IOV of a record's tag raises :class:`RunNotCovered`.

The rules are written once in :mod:`conditions.iov`; the SQL that applies them in one statement
per lookup is :mod:`conditions.store.reader` (re-exported here: :func:`resolve`,
:func:`resolve_many`, :class:`ResolvedIOV`, :class:`Resolution`).
:class:`Resolver` adds two caches that can never be stale:
payload bytes by hash (immutable), and whole resolutions of *frozen* global tags (immutable by
construction: frozen map + snapshot time; see :func:`conditions.store.freeze_global_tag`).
Lookups under open global tags always go to the database.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from sqlalchemy.engine import Engine

from .db import autocommit_reader
from .iov import Resolution, ResolvedIOV
from .lru import LRU
from .states import check_required_state
from .store.reader import payload_data, resolve, resolve_many

__all__ = ["Resolution", "ResolvedIOV", "Resolver", "resolve", "resolve_many"]


class Resolver:
    """Lookups with in-process caches that cannot serve a stale answer.

    * resolutions under **frozen** global tags are cached forever (key: global tag, run, record,
      as_of); a frozen global tag has a fixed map and a snapshot time, so the answer never changes;
    * resolutions under open global tags always query the database;
    * payload bytes are cached by hash (immutable), bounded by ``payload_cache_bytes``;
    * both caches are :class:`conditions.lru.LRU` (least recently used goes first).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        payload_cache_bytes: int = 256 * 1024 * 1024,
        max_resolutions: int = 100_000,
    ) -> None:
        self.engine = engine
        self._reader = autocommit_reader(engine)
        # thread-safe LRUs: the caches are shared by the threads of a service
        self._resolutions: LRU[Resolution] = LRU(max_resolutions)
        self._payloads: LRU[bytes] = LRU(max_resolutions, payload_cache_bytes)

    def resolve(
        self,
        global_tag: str,
        run: int,
        *,
        record: str | None = None,
        as_of: dt.datetime | None = None,
        require: str | None = None,
    ) -> Resolution:
        """``require="published"``: refuse any other global tag (issue 18)."""
        key = (global_tag, run, record, as_of)
        cached = self._resolutions.get(key)
        if cached is not None:
            return cached
        with self._reader.connect() as conn:
            result = resolve(conn, global_tag, run, record=record, as_of=as_of)
        check_required_state(result.frozen, require, global_tag)
        if result.frozen:
            self._resolutions.put(key, result)
        return result

    def resolve_many(
        self, global_tag: str, runs: Iterable[int], *, as_of: dt.datetime | None = None
    ) -> dict[int, Resolution]:
        with self._reader.connect() as conn:
            return resolve_many(conn, global_tag, runs, as_of=as_of)

    def cached_payload(self, payload_hash: str) -> bytes | None:
        """Payload bytes from the in-process cache, or None (no I/O)."""
        return self._payloads.get(payload_hash)

    def payload(self, payload_hash: str) -> bytes:
        """The canonical bytes of a payload, from the cache when possible."""
        data = self._payloads.get(payload_hash)
        if data is not None:
            return data
        with self._reader.connect() as conn:
            data = payload_data(conn, payload_hash)
        self._payloads.put(payload_hash, data, len(data))
        return data

    def clear(self) -> None:
        self._resolutions.clear()
        self._payloads.clear()
