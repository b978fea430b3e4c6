"""In-memory IOV index: a global tag's records as sorted ``since`` arrays, checked by counters.

A :class:`TagIndex` holds the IOVs *in force* of one tag as of one snapshot (the rules are those
of :func:`conditions.iov.winners` / :func:`conditions.iov.index_of`): three flat arrays (since,
insertion time in µs since the epoch, payload hash as 32 raw bytes), ~28 bytes per IOV, so
1M IOVs take ~28 MB instead of ~300 MB of row objects.  A lookup is one bisection.

A :class:`GlobalTagIndex` is the map in force of one global tag (no ``as_of``) over tag indexes,
stamped with the *change counters* of migration 0005 (:func:`versions`): the global tag's own
counter and the counter of every tag its map ever named.  The triggers bump them in the writing
transaction of every append, lock, map change and freeze, so comparing the stamp with one
indexed query per lookup is exact: the stamp is read *before* the rows, so an index can only be
older than its stamp says (rebuilt once more), never newer.

Resolutions are memoised per **segment**: the run range over which every record keeps its IOV
(the intersection of their bounds); every run of the segment gets the same records, so a repeated
lookup in a known segment is a bisection over the known segment starts plus a dict hit.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import threading
from array import array
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, and_, bindparam, literal, select, union_all
from sqlalchemy.engine import Connection

from .. import iov
from ..db.model import IOV, ChangeCounter, GlobalTag, GlobalTagMap, GlobalTagState, Tag
from ..iov import ResolvedIOV
from ..states import Deprecation
from .global_tags import deprecation_of

__all__ = [
    "GlobalTagIndex",
    "Segment",
    "TagIndex",
    "Version",
    "build_global_tag_index",
    "versions",
]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)

#: A global tag's change stamp: its id, and (scope, object id, counter) of it and its tags.
Version = tuple[int, frozenset[tuple[str, int, int]]]


def _micros(t: dt.datetime) -> int:
    return (t - _EPOCH) // _US


@dataclass(frozen=True, eq=False)
class TagIndex:
    """The IOVs in force of tag ``name`` (as of ``snapshot``), ascending ``since``."""

    tag_id: int
    name: str
    type_name: str
    snapshot: dt.datetime | None
    sinces: array[int]  # 'q': first run of each interval
    micros: array[int]  # 'q': insertion time, µs since 1970-01-01 UTC
    hashes: bytes  # 32 raw bytes per interval

    def __len__(self) -> int:
        return len(self.sinces)

    def nbytes(self) -> int:
        """Memory of the arrays [bytes]."""
        return (
            self.sinces.itemsize * len(self.sinces)
            + self.micros.itemsize * len(self.micros)
            + len(self.hashes)
        )

    def at(self, k: int) -> tuple[int, int | None, str, dt.datetime]:
        """(since, until, payload hash, insertion time) of interval ``k`` (until None: open)."""
        until = self.sinces[k + 1] - 1 if k + 1 < len(self.sinces) else None
        phash = self.hashes[32 * k : 32 * k + 32].hex()
        return self.sinces[k], until, phash, _EPOCH + self.micros[k] * _US

    def find(self, run: int) -> int:
        """Index of the interval holding ``run`` (−1: the run lies before the first one)."""
        return iov.index_of(self.sinces, run)


def build_tag_index(
    conn: Connection, tag_id: int, name: str, type_name: str, snapshot: dt.datetime | None
) -> TagIndex:
    """Read the rows of one tag (storage order) and keep the winners of :func:`iov.winners`."""
    rows = conn.execute(
        select(IOV.since, IOV.payload_hash, IOV.insertion_time)
        .where(IOV.tag_id == tag_id)
        .order_by(IOV.id)
    )
    best = iov.winners(rows, snapshot=snapshot)
    sinces = sorted(best)
    return TagIndex(
        tag_id,
        name,
        type_name,
        snapshot,
        array("q", sinces),
        array("q", [_micros(best[s].insertion_time) for s in sinces]),
        b"".join(bytes.fromhex(best[s].payload_hash) for s in sinces),
    )


@dataclass(eq=False)
class Segment:
    """Runs ``first``..``last`` (None: open-ended) resolving to ``records``; ``memo`` holds
    renderings of it (e.g. the service's response bytes), dropped with the index."""

    first: int
    last: int | None
    records: Mapping[str, ResolvedIOV]
    memo: dict[Hashable, Any] = field(default_factory=dict)

    def covers(self, run: int) -> bool:
        return self.first <= run and (self.last is None or run <= self.last)


@dataclass(eq=False)
class GlobalTagIndex:
    """The map in force of one global tag over tag indexes, stamped with its change counters."""

    name: str
    version: Version
    frozen: bool
    records: dict[str, TagIndex]
    #: set when the global tag is invalid: every answer carries it (issue 18)
    deprecation: Deprecation | None = None
    max_segments: int = 100_000
    _starts: list[int] = field(default_factory=list)
    _segments: list[Segment] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def segment(self, run: int) -> Segment | None:
        """The segment of ``run``, or None if a record does not cover it (no records: None)."""
        k = bisect.bisect_right(self._starts, run) - 1
        if k >= 0:
            seg = self._segments[k]
            if seg.covers(run):
                return seg
        if not self.records:
            return None
        found: dict[str, ResolvedIOV] = {}
        first, last = 0, None
        for rec, tix in self.records.items():
            j = tix.find(run)
            if j < 0:
                return None
            since, until, phash, inserted = tix.at(j)
            found[rec] = ResolvedIOV(rec, tix.name, tix.type_name, phash, since, until, inserted)
            first = max(first, since)
            last = until if last is None else (last if until is None else min(last, until))
        seg = Segment(first, last, {r: found[r] for r in sorted(found)})
        with self._lock:
            if len(self._starts) >= self.max_segments:
                self._starts.clear()
                self._segments.clear()
            at = bisect.bisect_left(self._starts, first)
            if at < len(self._starts) and self._starts[at] == first:
                return self._segments[at]
            self._starts.insert(at, first)
            self._segments.insert(at, seg)
        return seg

    def nbytes(self) -> int:
        return sum(t.nbytes() for t in self.records.values())


def versions(conn: Connection, gt_name: str) -> Version | None:
    """The change stamp of ``gt_name`` (one statement), or None if there is no such global tag.

    The counters of the global tag and of every tag any of its map rows ever named (a superset
    of the tags in force); a counter row not yet created counts as absent (0).
    """
    rows = conn.execute(_versions_statement(), {"gt_name": gt_name}).all()
    if not rows:
        return None
    return rows[0][0], frozenset((s, int(o), int(n)) for _, s, o, n in rows if s is not None)


@functools.cache
def _versions_statement() -> Any:
    """Two primary-key probes: the global tag's counter, and its tags' counters (UNION ALL)."""
    c, g, m = ChangeCounter, GlobalTag, GlobalTagMap
    name = bindparam("gt_name", type_=String())
    own = (
        select(g.id, c.scope, c.object_id, c.n)
        .select_from(g)
        .outerjoin(c, and_(c.scope == literal("gt"), c.object_id == g.id))
        .where(g.name == name)
    )
    tags = (
        select(g.id, c.scope, c.object_id, c.n)
        .select_from(g)
        .join(m, m.global_tag_id == g.id)
        .join(c, and_(c.scope == literal("tag"), c.object_id == m.tag_id))
        .where(g.name == name)
    )
    return union_all(own, tags)


def build_global_tag_index(
    conn: Connection,
    gt_name: str,
    version: Version,
    reuse: Mapping[tuple[int, dt.datetime | None], tuple[int, TagIndex]] | None = None,
) -> tuple[GlobalTagIndex, dict[tuple[int, dt.datetime | None], tuple[int, TagIndex]]]:
    """Load the map in force of ``gt_name`` (newest row per record) and an index per tag.

    ``reuse``: (tag id, snapshot) -> (counter, index) built earlier; an index whose tag counter
    has not moved is kept.  Returns the global-tag index and the tag indexes it uses.
    """
    gt = conn.execute(
        select(GlobalTag.state, GlobalTag.snapshot_time).where(GlobalTag.id == version[0])
    ).one()
    snapshot = gt.snapshot_time
    mapping: dict[str, tuple[int, str, str]] = {}
    for rec, tid, tname, ttype in conn.execute(
        select(GlobalTagMap.record, Tag.id, Tag.name, Tag.type_name)
        .join(Tag, Tag.id == GlobalTagMap.tag_id)
        .where(GlobalTagMap.global_tag_id == version[0])
        .order_by(GlobalTagMap.insertion_time, GlobalTagMap.id)
    ):
        mapping[rec] = (int(tid), tname, ttype)  # the newest row per record wins
    counters = {o: n for s, o, n in version[1] if s == "tag"}
    used: dict[tuple[int, dt.datetime | None], tuple[int, TagIndex]] = {}
    records: dict[str, TagIndex] = {}
    for rec, (tid, tname, ttype) in sorted(mapping.items()):
        key = (tid, snapshot)
        n = counters.get(tid, 0)
        held = (reuse or {}).get(key) or used.get(key)
        if held is None or held[0] != n or held[1].name != tname:
            held = (n, build_tag_index(conn, tid, tname, ttype, snapshot))
        used[key] = held
        records[rec] = held[1]
    frozen = gt.state in (GlobalTagState.PUBLISHED, GlobalTagState.INVALID)  # never change again
    deprecation = deprecation_of(conn, gt_name) if gt.state == GlobalTagState.INVALID else None
    return GlobalTagIndex(gt_name, version, frozen, records, deprecation=deprecation), used
