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
from collections.abc import Hashable, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np
from sqlalchemy import String, and_, bindparam, func, literal, select, union_all
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
    "build_tag_index",
    "extend_tag_index",
    "stamp_of",
    "versions",
]

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_US = dt.timedelta(microseconds=1)

#: A global tag's change stamp: its id, and (scope, object id, counter) of it and its tags.
Version = tuple[int, frozenset[tuple[str, int, int]]]


def _micros(t: dt.datetime) -> int:
    return (t - _EPOCH) // _US


#: PostgreSQL binary timestamps count µs from 2000-01-01 UTC.
_PG_EPOCH_US = 946_684_800_000_000
_PG_SIGNATURE = b"PGCOPY\n\xff\r\n\x00"
#: One row of the binary COPY below: field count, then (length, value) per column.
_PG_ROW = np.dtype(
    [
        ("nf", ">i2"),
        ("l1", ">i4"),
        ("since", ">i8"),
        ("l2", ">i4"),
        ("at", ">i8"),
        ("l3", ">i4"),
        ("hash", "V32"),
        ("l4", ">i4"),
        ("id", ">i8"),
    ]
)
_FETCH = 65_536  # rows per fetchmany on SQLite


@dataclass(frozen=True)
class _Rows:
    """IOV rows of one tag as columns, ascending (since, insertion time, id)."""

    sinces: np.ndarray  # int64
    micros: np.ndarray  # int64, µs since 1970-01-01 UTC
    hashes: np.ndarray  # uint8, shape (n, 32)
    ids: np.ndarray  # int64

    def __len__(self) -> int:
        return len(self.sinces)

    def sorted(self) -> _Rows:
        """The same rows in (since, insertion time, id) order (already so unless the stored
        time strings do not sort like the times, e.g. rows written by hand on SQLite)."""
        s, m, i = self.sinces, self.micros, self.ids
        later = (s[1:] > s[:-1]) | (
            (s[1:] == s[:-1]) & ((m[1:] > m[:-1]) | ((m[1:] == m[:-1]) & (i[1:] > i[:-1])))
        )
        if bool(later.all()):
            return self
        order = np.lexsort((i, m, s))
        return _Rows(s[order], m[order], self.hashes[order], i[order])

    def winners(self, snapshot: dt.datetime | None) -> _Rows:
        """The row in force per ``since`` (the rule of :func:`iov.winners`: among the rows
        inserted by ``snapshot``, the greatest insertion time, then the greatest id)."""
        rows = self
        if snapshot is not None:
            keep = rows.micros <= _micros(snapshot)
            rows = _Rows(rows.sinces[keep], rows.micros[keep], rows.hashes[keep], rows.ids[keep])
        last = np.ones(len(rows), dtype=bool)
        last[:-1] = rows.sinces[1:] != rows.sinces[:-1]
        return _Rows(rows.sinces[last], rows.micros[last], rows.hashes[last], rows.ids[last])


def _read_rows(conn: Connection, tag_id: int, after_id: int) -> _Rows:
    """The rows of tag ``tag_id`` with id > ``after_id``: one statement, no row objects kept.

    PostgreSQL: a binary ``COPY`` parsed by numpy (fixed-width rows); SQLite: ``fetchmany``
    chunks turned into arrays (insertion times parsed once per distinct value).
    """
    tag_id, after_id = int(tag_id), int(after_id)  # inlined below: integers only
    raw: Any = conn.connection.driver_connection
    if conn.dialect.name == "postgresql":
        sql = (
            "COPY (SELECT since, insertion_time, decode(payload_hash, 'hex'), id FROM iov "
            f"WHERE tag_id = {tag_id} AND id > {after_id} "
            "ORDER BY since, insertion_time, id) TO STDOUT (FORMAT binary)"
        )
        buf = bytearray()
        with raw.cursor() as cur, cur.copy(sql) as copy:
            for chunk in copy:
                buf += chunk
        if buf[:11] != _PG_SIGNATURE or buf[11:19] != bytes(8):
            raise ValueError("unexpected COPY header")
        n = (len(buf) - 21) // _PG_ROW.itemsize
        if len(buf) != 21 + n * _PG_ROW.itemsize:
            raise ValueError("COPY rows of unexpected width (a payload hash not 64 hex digits?)")
        rec = np.frombuffer(buf, dtype=_PG_ROW, count=n, offset=19)
        if n and not (rec["l3"] == 32).all():
            raise ValueError("a payload hash is not 64 hex digits")
        return _Rows(
            rec["since"].astype(np.int64),
            rec["at"].astype(np.int64) + _PG_EPOCH_US,
            np.frombuffer(rec["hash"].tobytes(), dtype=np.uint8).reshape(n, 32),
            rec["id"].astype(np.int64),
        )
    cur = raw.cursor()
    cur.execute(
        "SELECT since, insertion_time, payload_hash, id FROM iov WHERE tag_id = ? AND id > ? "
        "ORDER BY since, insertion_time, id",
        (tag_id, after_id),
    )
    parts: list[_Rows] = []
    while chunk := cur.fetchmany(_FETCH):
        sinces, stamps, hexes, ids = (list(map(itemgetter(k), chunk)) for k in range(4))
        # rows of one append share one time: parse each distinct time string once
        distinct, where = np.unique(np.array(stamps), return_inverse=True)
        parsed = [_micros(dt.datetime.fromisoformat(t).replace(tzinfo=dt.UTC)) for t in distinct]
        micros = np.array(parsed, dtype=np.int64)[where.reshape(-1)]
        digest = bytes.fromhex("".join(hexes))
        if len(digest) != 32 * len(chunk):
            raise ValueError("a payload hash is not 64 hex digits")
        parts.append(
            _Rows(
                np.array(sinces, dtype=np.int64),
                np.array(micros, dtype=np.int64),
                np.frombuffer(digest, dtype=np.uint8).reshape(-1, 32),
                np.array(ids, dtype=np.int64),
            )
        )
    cur.close()
    if not parts:
        empty = np.zeros(0, np.int64)
        return _Rows(empty, empty, np.zeros((0, 32), np.uint8), empty)
    return _Rows(
        np.concatenate([p.sinces for p in parts]),
        np.concatenate([p.micros for p in parts]),
        np.concatenate([p.hashes for p in parts]),
        np.concatenate([p.ids for p in parts]),
    )


def _count_upto(conn: Connection, tag_id: int, max_id: int) -> int:
    """Rows of the tag with id <= ``max_id`` (an index-only count)."""
    found = conn.execute(
        select(func.count()).select_from(IOV).where(IOV.tag_id == tag_id, IOV.id <= max_id)
    ).scalar_one()
    return int(found)


@dataclass(frozen=True, eq=False)
class TagIndex:
    """The IOVs in force of tag ``name`` (as of ``snapshot``), ascending ``since``.

    ``max_id`` / ``rows``: the greatest IOV id read and the number of the tag's rows with an id
    up to it (visible or not): what :func:`extend_tag_index` needs to read only newer rows.
    """

    tag_id: int
    name: str
    type_name: str
    snapshot: dt.datetime | None
    sinces: np.ndarray  # int64: first run of each interval
    micros: np.ndarray  # int64: insertion time, µs since 1970-01-01 UTC
    hashes: bytes  # 32 raw bytes per interval
    max_id: int = -1
    rows: int = 0
    _view: memoryview = field(init=False, repr=False)
    _micro_view: memoryview = field(init=False, repr=False)

    def __post_init__(self) -> None:
        # memoryviews: bisect and item access on them are ~3x faster than on numpy arrays
        object.__setattr__(self, "_view", memoryview(self.sinces))  # type: ignore[arg-type]
        object.__setattr__(self, "_micro_view", memoryview(self.micros))  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.sinces)

    def nbytes(self) -> int:
        """Memory of the arrays [bytes]."""
        return int(self.sinces.nbytes + self.micros.nbytes) + len(self.hashes)

    def at(self, k: int) -> tuple[int, int | None, str, dt.datetime]:
        """(since, until, payload hash, insertion time) of interval ``k`` (until None: open)."""
        view = self._view
        until = view[k + 1] - 1 if k + 1 < len(view) else None
        phash = self.hashes[32 * k : 32 * k + 32].hex()
        return view[k], until, phash, _EPOCH + self._micro_view[k] * _US

    def find(self, run: int) -> int:
        """Index of the interval holding ``run`` (−1: the run lies before the first one)."""
        return iov.index_of(self._view, run)


def _tag_index(
    tag_id: int,
    name: str,
    type_name: str,
    snapshot: dt.datetime | None,
    won: _Rows,
    max_id: int,
    rows: int,
) -> TagIndex:
    return TagIndex(
        tag_id,
        name,
        type_name,
        snapshot,
        np.ascontiguousarray(won.sinces),
        np.ascontiguousarray(won.micros),
        won.hashes.tobytes(),
        max_id,
        rows,
    )


def build_tag_index(
    conn: Connection, tag_id: int, name: str, type_name: str, snapshot: dt.datetime | None
) -> TagIndex:
    """Read the rows of one tag (one statement) and keep the winners of :func:`iov.winners`."""
    rows = _read_rows(conn, tag_id, -1).sorted()
    max_id = int(rows.ids.max()) if len(rows) else -1
    return _tag_index(tag_id, name, type_name, snapshot, rows.winners(snapshot), max_id, len(rows))


def extend_tag_index(conn: Connection, held: TagIndex) -> TagIndex | None:
    """``held`` with the rows appended since it was read (ids above ``held.max_id``), or None
    when rows appeared below that id (not append-only: the caller rebuilds).

    Folding the newer rows over the held winners is the rule of :func:`iov.winners` (a row
    replaces the one in force for its ``since`` when inserted at the same time or later, and
    the newer rows have the greater ids).  The count of the rows up to ``max_id`` catches a
    row that committed after others with greater ids (a writer not holding the tag's lock).
    """
    if held.max_id >= 0 and _count_upto(conn, held.tag_id, held.max_id) != held.rows:
        return None
    new = _read_rows(conn, held.tag_id, held.max_id).sorted()
    if not len(new):
        return held
    max_id, rows = int(new.ids.max()), held.rows + len(new)
    cand = new.winners(held.snapshot)
    sinces, micros = held.sinces, held.micros
    hashes = np.frombuffer(held.hashes, dtype=np.uint8).reshape(-1, 32)
    pos = np.searchsorted(sinces, cand.sinces)
    same = pos < len(sinces)
    same[same] = sinces[pos[same]] == cand.sinces[same]
    wins = same.copy()
    wins[same] = cand.micros[same] >= micros[pos[same]]
    if wins.any():  # a newer row for a since already held: it supersedes the held one
        micros, hashes = micros.copy(), hashes.copy()
        micros[pos[wins]] = cand.micros[wins]
        hashes[pos[wins]] = cand.hashes[wins]
    fresh = ~same
    if fresh.any():  # new sinces (usually after the last one: an append at the end)
        at = pos[fresh]
        sinces = np.insert(sinces, at, cand.sinces[fresh])
        micros = np.insert(micros, at, cand.micros[fresh])
        hashes = np.insert(hashes, at, cand.hashes[fresh], axis=0)
    won = _Rows(sinces, micros, hashes, np.zeros(0, np.int64))
    return _tag_index(held.tag_id, held.name, held.type_name, held.snapshot, won, max_id, rows)


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
    #: every tag any map row of the global tag ever named (the counters the check sums)
    tag_ids: tuple[int, ...] = ()
    #: set when the global tag is invalid: every answer carries it (issue 18)
    deprecation: Deprecation | None = None
    max_segments: int = 100_000
    _starts: list[int] = field(default_factory=list)
    _segments: list[Segment] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    gt_id: int = field(init=False)
    stamp: int = field(init=False)
    #: time.monotonic() after which a published global tag's own counter is read again: it may
    #: still be invalidated (issue 18) by another process (:meth:`Resolver.frozen_index`)
    recheck_at: float = field(default=0.0, init=False)

    @property
    def gt_counter(self) -> int:
        """The global tag's own change counter when the index was built (state and map)."""
        return next((n for s, o, n in self.version[1] if s == "gt" and o == self.gt_id), 0)

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

    def __post_init__(self) -> None:
        self.gt_id = self.version[0]
        #: the sum of the counters of :attr:`version`, compared per lookup with
        #: :meth:`conditions.store.stamps.ChangeCheck.counter_sum`
        self.stamp = stamp_of(self.version)

    def nbytes(self) -> int:
        """Memory of the tag indexes' arrays [bytes] (each tag counted once)."""
        return sum(t.nbytes() for t in {id(t): t for t in self.records.values()}.values())


def stamp_of(version: Version) -> int:
    """The sum of the counters of a change stamp (missing counters count 0)."""
    return sum(n for _, _, n in version[1])


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
    has not moved is kept, one whose counter moved is extended with the newer rows
    (:func:`extend_tag_index`), else rebuilt.  Returns the global-tag index and the tag indexes
    it uses.
    """
    gt = conn.execute(
        select(GlobalTag.state, GlobalTag.snapshot_time).where(GlobalTag.id == version[0])
    ).one()
    snapshot = gt.snapshot_time
    mapping: dict[str, tuple[int, str, str]] = {}
    named: set[int] = set()
    for rec, tid, tname, ttype in conn.execute(
        select(GlobalTagMap.record, Tag.id, Tag.name, Tag.type_name)
        .join(Tag, Tag.id == GlobalTagMap.tag_id)
        .where(GlobalTagMap.global_tag_id == version[0])
        .order_by(GlobalTagMap.insertion_time, GlobalTagMap.id)
    ):
        mapping[rec] = (int(tid), tname, ttype)  # the newest row per record wins
        named.add(int(tid))
    counters = {o: n for s, o, n in version[1] if s == "tag"}
    used: dict[tuple[int, dt.datetime | None], tuple[int, TagIndex]] = {}
    records: dict[str, TagIndex] = {}
    for rec, (tid, tname, ttype) in sorted(mapping.items()):
        key = (tid, snapshot)
        n = counters.get(tid, 0)
        held = used.get(key) or (reuse or {}).get(key)
        if held is not None and (held[1].name, held[1].type_name) != (tname, ttype):
            held = None
        if held is not None and held[0] != n:
            grown = extend_tag_index(conn, held[1])
            held = None if grown is None else (n, grown)
        if held is None:
            held = (n, build_tag_index(conn, tid, tname, ttype, snapshot))
        used[key] = held
        records[rec] = held[1]
    frozen = gt.state in (GlobalTagState.PUBLISHED, GlobalTagState.INVALID)  # never change again
    deprecation = deprecation_of(conn, gt_name) if gt.state == GlobalTagState.INVALID else None
    return (
        GlobalTagIndex(
            gt_name, version, frozen, records, tuple(sorted(named)), deprecation=deprecation
        ),
        used,
    )
