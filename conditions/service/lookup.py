"""Thread-safe read side of the service: resolutions and payloads with caches that cannot be stale.

Single-run lookups without ``as_of`` go through the :class:`conditions.resolve.Resolver`'s
in-memory IOV index (exact: change counters, see :mod:`conditions.store.index`); the response
bytes are rendered once per IOV *segment* (kept in the segment's memo, dropped with the index)
by joining per-IOV JSON fragments, each rendered once and shared by the segments holding that
IOV (:func:`_render`), and only the run number is spliced in per request, so a lookup in a
known segment costs no serialisation, and under a frozen global tag no database query either.
:meth:`Lookups.fast_resolution` is the event-loop path of :mod:`.read_api`'s lean route: memory
only under a frozen global tag, one change-counter query under an open one whose index is
loaded and current: awaited without blocking the loop (PostgreSQL: an async connection, one
check at a time per global tag shared by the lookups that arrived before it began,
:mod:`.flights`; SQLite: ``PRAGMA data_version`` inline), a rebuild in a thread, never on the
loop.  Batch lookups without ``as_of`` are cut from the same index segments
(:meth:`Lookups.resolve_batch`); ``as_of`` lookups use the reader statements
(:mod:`conditions.store.reader`), their bodies cached only under *frozen* global tags.
Payload bytes are cached by hash.  Every cache is a :class:`conditions.lru.LRU` (thread-safe:
the sync endpoints run in a thread pool).
"""

from __future__ import annotations

import asyncio
import bisect
import datetime as dt
import re
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Engine

from conditions.db import autocommit_reader
from conditions.errors import InvalidInput
from conditions.iov import Resolution
from conditions.lru import LRU
from conditions.resolve import Resolver, resolve, resolve_many
from conditions.states import Deprecation
from conditions.store.index import GlobalTagIndex, Segment
from conditions.store.reader import PayloadMeta, payload_meta
from conditions.store.stamps import AsyncChangeCheck, ChangeCheck

from . import serializers, wire
from .flights import SingleFlight, check_pool

__all__ = ["Body", "Lookups", "PayloadMeta", "check_hash"]

HASH_RE = re.compile(r"[0-9a-f]{64}")


def check_hash(payload_hash: str) -> str:
    """Return ``payload_hash`` if it is 64 lowercase hex digits, else raise InvalidInput."""
    if not HASH_RE.fullmatch(payload_hash):
        raise InvalidInput(
            f"invalid payload hash {payload_hash!r}", "give the full 64-digit lowercase hex hash"
        )
    return payload_hash


#: The run member of a rendered resolution (``"run":-1``), replaced by the asked run.
_RUN_MARK = wire.dumps({"run": -1})[1:-1]
#: The records member of a resolution without records, replaced by the records' fragments.
_NO_RECORDS = wire.dumps({"records": {}})[1:-1]


@dataclass(frozen=True)
class _Template:
    """A resolution body rendered once per segment: ``head + "run":N + tail``."""

    head: bytes
    tail: bytes
    etag: str  # the ETag stem: first 16 hex digits of the template's SHA-256


@dataclass(frozen=True)
class Body:
    """A finished JSON response: bytes, strong ETag and whether it may be cached for long."""

    content: bytes
    etag: str
    frozen: bool
    #: one line when the global tag is invalid (the ``Deprecation``/``Warning`` headers)
    deprecation: str | None = None


def _render(index: GlobalTagIndex, seg: Segment, record: str | None) -> _Template:
    """The template of a segment's body (all records, or ``record``), the bytes
    ``wire.dumps(serializers.resolution_json(...))`` gives (tests compare): the frame of the
    global tag (rendered once per index, kept in its memo) around the records' fragments
    (:func:`serializers.resolved_iov_fragment`, rendered once per IOV through the segment's
    :class:`~conditions.store.index.SegmentRecords`, shared by the segments holding that IOV)."""
    frame: tuple[bytes, bytes] | None = index.memo.get("frame")
    if frame is None:
        res = Resolution(index.name, -1, None, index.frozen, {}, index.deprecation)
        before, after = wire.dumps(serializers.resolution_json(res)).split(_NO_RECORDS)
        frame = index.memo["frame"] = (before + b'"records":{', b"}" + after)
    recs = seg.records
    names = list(recs) if record is None else [record]
    parts = [recs.rendered(r, "json", serializers.resolved_iov_fragment) for r in names]
    head, tail = (frame[0] + b",".join(parts) + frame[1]).split(_RUN_MARK)
    return _Template(head, tail, wire.body_etag(head + _RUN_MARK + tail)[1:17])


class Lookups:
    """Resolutions and payloads read from ``engine`` (the read replica when there is one)."""

    def __init__(self, engine: Engine, *, payload_cache_bytes: int, max_batch_runs: int) -> None:
        self.engine = engine
        self.reader = autocommit_reader(engine)
        self.max_batch_runs = max_batch_runs
        self.resolver = Resolver(engine, payload_cache_bytes=payload_cache_bytes, index=True)
        self._bodies: LRU[Body] = LRU(100_000, 512 * 1024 * 1024)
        self._meta: LRU[PayloadMeta] = LRU(100_000)
        #: open global tags whose index the resolver has built -> the last such index (the
        #: lean path checks its stamp; insertion-ordered, bounded like the resolver's)
        self._open: dict[str, GlobalTagIndex] = {}
        self._open_lock = threading.Lock()
        # the lean path's own change checks (the resolver's run in threads): SQLite inline
        # (PRAGMA data_version: microseconds, no round trip), PostgreSQL on an async connection
        sqlite = engine.dialect.name == "sqlite"
        self._inline_check = ChangeCheck(engine) if sqlite else None
        self._async_check = None if sqlite else AsyncChangeCheck(engine)
        #: one check at a time per open global tag, shared by the lookups arriving meanwhile
        self._checks: SingleFlight[str, GlobalTagIndex | None] = SingleFlight(self._checked)

    async def fast_resolution(self, global_tag: str, run: int, record: str | None) -> Body | None:
        """The body of a lookup without ``as_of`` answered on the event loop, or None.

        Frozen global tag with a loaded index: memory only.  Open global tag whose index was
        built before: its change check (one tiny statement), awaited without blocking the loop
        and shared by the lookups of that global tag that arrived before it was launched
        (:class:`.flights.SingleFlight`: never one launched before the lookup arrived, so a
        write committed before the request was sent is seen); on SQLite ``PRAGMA data_version``
        answers inline.  A counter that moved: the index is brought up to date in a check
        thread.  None (a global tag not loaded yet, a segment the index does not cover): the
        caller takes the thread-pool path (:meth:`resolve`), so a first, full build never runs
        on the event loop.
        """
        index = self.resolver.frozen_index(global_tag)
        if index is None:
            held = self._open.get(global_tag)
            if held is None:
                return None
            if self._inline_check is not None and held.stamp == self._inline_check.counter_sum(
                held.gt_id, held.tag_ids
            ):
                index = held  # checked now, on arrival: read-your-writes trivially
            else:
                index = await self._checks.fresh(global_tag)
            if index is None:
                return None
        seg = index.segment(run)
        if seg is None or (record is not None and record not in seg.records):
            return None
        return self._segment_body(index, seg, run, record)

    async def _checked(self, global_tag: str) -> GlobalTagIndex | None:
        """The current index of an open ``global_tag``, read by a check that begins now: the
        held index if the counter sum still equals its stamp (PostgreSQL: one awaited
        statement), else the resolver's (checked again and brought up to date in a thread)."""
        held = self._open.get(global_tag)
        check = self._async_check
        if (
            held is not None
            and check is not None
            and held.stamp == await check.counter_sum(held.gt_id, held.tag_ids)
        ):
            return held
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(check_pool(), self._current, global_tag)

    def _current(self, global_tag: str) -> GlobalTagIndex | None:
        """The resolver's current index of ``global_tag`` (an open one: checked, rebuilt if a
        counter moved, and remembered for :meth:`fast_resolution`)."""
        index = self.resolver.index(global_tag)
        if index is None or index.frozen:
            self._open.pop(global_tag, None)
        elif self._open.get(global_tag) is not index:
            with self._open_lock:  # threads of the pool and the event loop
                self._open.pop(global_tag, None)
                while len(self._open) >= 64:  # as many as the resolver keeps
                    self._open.pop(next(iter(self._open)), None)
                self._open[global_tag] = index
        return index

    def cached_resolution(
        self, global_tag: str, run: int, record: str | None, as_of: dt.datetime | None
    ) -> Body | None:
        """The body of a frozen lookup from memory, or None (no I/O: safe on the event loop)."""
        if as_of is None:
            index = self.resolver.frozen_index(global_tag)
            seg = None if index is None else index.segment(run)
            if index is None or seg is None or (record is not None and record not in seg.records):
                return None
            return self._segment_body(index, seg, run, record)
        cached: Body | None = self._bodies.get(("one", global_tag, run, record, as_of))
        return cached

    @staticmethod
    def _segment_body(index: GlobalTagIndex, seg: Segment, run: int, record: str | None) -> Body:
        """The body for ``run`` from the segment's template (rendered on first use)."""
        template: _Template | None = seg.memo.get(("body", record))
        if template is None:
            template = _render(index, seg, record)
            seg.memo[("body", record)] = template
        content = b'%s"run":%d%s' % (template.head, run, template.tail)
        # 32 hex digits like wire.body_etag: 64 bits of the template's digest + the run
        dep = None if index.deprecation is None else index.deprecation.message()
        return Body(content, f'"{template.etag}{run:016x}"', index.frozen, dep)

    def cached_payload(self, payload_hash: str) -> bytes | None:
        """Payload bytes from the in-process cache, or None (no I/O: safe on the event loop)."""
        return self.resolver.cached_payload(payload_hash)

    def resolve(
        self, global_tag: str, run: int, record: str | None, as_of: dt.datetime | None
    ) -> Body:
        """The resolution body of ``(global_tag, run[, record][, as_of])``."""
        if as_of is None:
            index = self._current(global_tag)
            seg = None if index is None else index.segment(run)
            if index is not None and seg is not None and (record is None or record in seg.records):
                return self._segment_body(index, seg, run, record)
            # not covered, no such global tag or record: the reader raises the right error
        key = ("one", global_tag, run, record, as_of)
        cached: Body | None = self._bodies.get(key)
        if cached is not None:
            return cached
        with self.reader.connect() as conn:
            res = resolve(conn, global_tag, run, record=record, as_of=as_of)
        content = wire.dumps(serializers.resolution_json(res))
        dep = None if res.deprecation is None else res.deprecation.message()
        body = Body(content, wire.body_etag(content), res.frozen, dep)
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
        cut = None if as_of is not None else self._index_segments(global_tag, runs, record)
        if cut is not None:
            frozen, segments, dep = cut
        else:  # as_of, or a run not covered: the reader answers (or raises the right error)
            with self.reader.connect() as conn:
                many = resolve_many(conn, global_tag, runs, record=record, as_of=as_of)
            frozen = any(r.frozen for r in many.values())
            segments = serializers.segments_json(many)
            dep = next((r.deprecation for r in many.values() if r.deprecation), None)
        doc = {
            "global_tag": global_tag,
            "as_of": wire.fmt_time(as_of),
            "frozen": frozen,
            "segments": segments,
            "deprecation": None if dep is None else dep.json(),
        }
        content = wire.dumps(doc)
        line = None if dep is None else dep.message()
        body = Body(content, wire.body_etag(content), frozen, line)
        if frozen:
            self._bodies.put(key, body, len(content))
        return body

    def _index_segments(
        self, global_tag: str, runs: list[int], record: str | None
    ) -> tuple[bool, list[dict[str, Any]], Deprecation | None] | None:
        """``(frozen, segments, deprecation)`` of the sorted ``runs`` cut from the index
        segments, in the shape and grouping of :func:`serializers.segments_json` (consecutive
        asked runs with equal records form one segment; tests compare both); None if a run or
        record is not covered.
        One change check for the whole batch, then one bisection per index segment."""
        index = self._current(global_tag)
        if index is None:
            return None
        out: list[dict[str, Any]] = []
        last_recs: object = None
        i = 0
        while i < len(runs):
            seg = index.segment(runs[i])
            if seg is None or (record is not None and record not in seg.records):
                return None
            j = len(runs) if seg.last is None else bisect.bisect_right(runs, seg.last, lo=i)
            recs = seg.records if record is None else {record: seg.records[record]}
            if recs == last_recs:
                out[-1]["last_run"] = runs[j - 1]
            else:
                rendered = {r: serializers.resolved_iov_json(recs[r]) for r in sorted(recs)}
                out.append({"first_run": runs[i], "last_run": runs[j - 1], "records": rendered})
                last_recs = recs
            i = j
        return index.frozen, out, index.deprecation

    def clear(self) -> None:
        """Drop the cached lookups (a published global tag was invalidated: issue 18)."""
        self.resolver.clear()
        self._bodies.clear()
        self._open.clear()

    def payload(self, payload_hash: str) -> bytes:
        """Canonical bytes of a payload (immutable: cached by hash)."""
        return self.resolver.payload(check_hash(payload_hash))

    def meta(self, payload_hash: str) -> PayloadMeta:
        """Type, schema version, size, creation time and provenance of a payload."""
        check_hash(payload_hash)
        cached = self._meta.get(payload_hash)
        if cached is not None:
            return cached
        with self.reader.connect() as conn:
            meta = payload_meta(conn, payload_hash)
        self._meta.put(payload_hash, meta)
        return meta

    def meta_json(self, payload_hash: str) -> dict[str, object]:
        return serializers.payload_meta_json(self.meta(payload_hash))
