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
:class:`Resolver` answers from an in-memory IOV index (:mod:`conditions.store.index`) for
lookups without ``as_of``: per global tag, sorted since arrays per record, stamped with the
change counters that triggers bump in every writing transaction (migration 0005).  Open global
tags cost one tiny counter statement per lookup on a raw driver connection
(:mod:`conditions.store.stamps`; on SQLite usually just ``PRAGMA data_version``); when a counter
moved, the tags whose counter moved are extended with their newer rows only; frozen global
tags (fixed map + snapshot time) cost none.  Resolutions are memoised per IOV segment, not per run:
the segments are numbered by the merged ``since`` starts of the records (one bisection), and a
segment seen for the first time resolves each record when it is read (one bisection each).
Lookups with ``as_of`` go to the SQL reader (frozen ones cached).  Payload bytes are cached by
hash (immutable).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterable

from sqlalchemy.engine import Connection, Engine

from .db import autocommit_reader
from .iov import Resolution, ResolvedIOV
from .lru import LRU
from .states import check_required_state
from .store.common import check_run
from .store.index import (
    GlobalTagIndex,
    Segment,
    TagIndex,
    Version,
    build_global_tag_index,
    stamp_of,
    versions,
)
from .store.reader import payload_data, resolve, resolve_many
from .store.stamps import ChangeCheck

__all__ = ["Resolution", "ResolvedIOV", "Resolver", "resolve", "resolve_many"]


class Resolver:
    """Lookups with in-process caches that cannot serve a stale answer.

    * with ``index=True`` and without ``as_of``: an index per global tag
      (:class:`conditions.store.index.GlobalTagIndex`)
      checked against the change counters with one query per lookup under an open global tag,
      none under a frozen one; answers memoised per IOV segment;
    * otherwise the SQL reader, one statement per lookup; frozen answers cached
      (key: global tag, run, record, as_of);
    * payload bytes are cached by hash (immutable), bounded by ``payload_cache_bytes``;
    * the caches are :class:`conditions.lru.LRU` (least recently used goes first).
    """

    def __init__(
        self,
        engine: Engine,
        *,
        payload_cache_bytes: int = 256 * 1024 * 1024,
        max_resolutions: int = 100_000,
        max_global_tags: int = 64,
        index: bool = False,
        recheck_published_s: float = 1.0,
    ) -> None:
        self.engine = engine
        #: a published global tag can still be invalidated (issue 18), by any process: its own
        #: change counter is read again at most this often (0: every lookup), so answers carry
        #: the deprecation within this many seconds; an invalid one never changes again
        self.recheck_published_s = recheck_published_s
        #: answer lookups without ``as_of`` from the in-memory index (a service: built once,
        #: then one counter query per lookup); off, each lookup is one SQL statement (a job
        #: doing few lookups must not load whole tags: one statement per tag, about what
        #: fetching its rows through the driver costs)
        self.use_index = index
        self._reader = autocommit_reader(engine)
        # thread-safe LRUs: the caches are shared by the threads of a service
        self._resolutions: LRU[Resolution] = LRU(max_resolutions)
        self._payloads: LRU[bytes] = LRU(max_resolutions, payload_cache_bytes)
        # global tag -> its current index (replaced when rebuilt; the oldest built goes first)
        self._indexes: dict[str, GlobalTagIndex] = {}
        self._max_global_tags = max_global_tags
        self._tags: dict[tuple[int, dt.datetime | None], tuple[int, TagIndex]] = {}
        self._build_lock = threading.Lock()
        self._check = ChangeCheck(engine)

    # --- the index ---------------------------------------------------------------------------
    def frozen_index(self, global_tag: str) -> GlobalTagIndex | None:
        """The index of a frozen global tag when already loaded and still current (safe on an
        event loop: no I/O but one tiny counter statement per ``recheck_published_s``)."""
        held = self._indexes.get(global_tag)
        return held if held is not None and held.frozen and self._still_final(held) else None

    def _still_final(self, held: GlobalTagIndex) -> bool:
        """False when a published global tag changed state since its index was built (it was
        invalidated); only its own counter is read (appends to its tags after the snapshot do
        not change its answers), at most every ``recheck_published_s``."""
        if held.deprecation is not None:
            return True  # invalid: final for good
        now = time.monotonic()
        if now < held.recheck_at:
            return True
        if self._check.counter_sum(held.gt_id, ()) != held.gt_counter:
            return False
        held.recheck_at = now + self.recheck_published_s
        return True

    def index(self, global_tag: str) -> GlobalTagIndex | None:
        """The current index of ``global_tag`` (None: no such global tag).  Open global tags:
        one counter statement; the index is brought up to date when a counter moved."""
        held = self._indexes.get(global_tag)
        if held is not None and (
            self._still_final(held)
            if held.frozen
            else self._check.counter_sum(held.gt_id, held.tag_ids) == held.stamp
        ):
            return held
        with self._reader.connect() as conn:
            version = versions(conn, global_tag)  # read BEFORE the rows: never newer than them
            if version is None:
                return None
            return self._rebuild(conn, global_tag, version)

    def _rebuild(self, conn: Connection, global_tag: str, version: Version) -> GlobalTagIndex:
        with self._build_lock:  # one build at a time; tag indexes are shared between them
            held = self._indexes.get(global_tag)
            if held is not None and held.gt_id == version[0]:
                if held.version == version:
                    return held
                if stamp_of(held.version) > stamp_of(version):
                    return held  # another thread built from a later state: as good
            index, used = build_global_tag_index(
                conn, global_tag, version, self._tags, previous=held
            )
            self._indexes.pop(global_tag, None)
            while len(self._indexes) >= self._max_global_tags:
                self._indexes.pop(next(iter(self._indexes)))
            self._indexes[global_tag] = index
            # keep only the tag indexes that a held global-tag index uses
            live = {
                (t.tag_id, t.snapshot) for i in self._indexes.values() for t in i.records.values()
            }
            self._tags = {k: v for k, v in {**self._tags, **used}.items() if k in live}
            return index

    def segment(self, global_tag: str, run: int) -> tuple[GlobalTagIndex, Segment] | None:
        """The index and the segment holding ``run`` (None: let the SQL reader explain)."""
        index = self._indexes.get(global_tag)
        if index is None or not (index.frozen and self._still_final(index)):  # frozen: no I/O
            index = self.index(global_tag)
            if index is None:
                return None
        seg = index.segment(run)
        return None if seg is None else (index, seg)

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
        result = self._lookup(global_tag, run, record=record, as_of=as_of)
        check_required_state(result, require, global_tag)  # invalid: refused too
        return result

    def _lookup(
        self, global_tag: str, run: int, *, record: str | None, as_of: dt.datetime | None
    ) -> Resolution:
        if as_of is None and self.use_index:
            check_run(run)
            found = self.segment(global_tag, run)
            if found is not None and (record is None or record in found[1].records):
                index, seg = found
                last: Resolution | None = seg.memo.get(("resolution", record))
                if last is not None and last.run == run and last.frozen == index.frozen:
                    return last  # the same run asked again: the same object
                recs = seg.records if record is None else {record: seg.records[record]}
                last = Resolution(global_tag, run, None, index.frozen, recs, index.deprecation)
                seg.memo[("resolution", record)] = last
                return last
            # not covered, no such global tag or record: the SQL reader raises the right error
        key = (global_tag, run, record, as_of)
        cached = self._resolutions.get(key)
        if cached is not None:
            return cached
        with self._reader.connect() as conn:
            result = resolve(conn, global_tag, run, record=record, as_of=as_of)
        if result.frozen and (as_of is not None or not self.use_index):
            self._resolutions.put(key, result)  # frozen: fixed map + snapshot, never stale
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
        with self._build_lock:
            self._indexes.clear()
            self._tags.clear()
        self._check.close()
