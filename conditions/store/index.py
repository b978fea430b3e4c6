"""In-memory IOV index: a global tag's records as sorted ``since`` arrays, checked by counters.

A :class:`TagIndex` holds the IOVs *in force* of one tag as of one snapshot (the rules are those
of :func:`conditions.iov.winners` / :func:`conditions.iov.index_of`): three flat arrays (since,
insertion time in µs since the epoch, payload hash as 32 raw bytes), 48 bytes per IOV, so
1M IOVs take ~48 MB instead of ~300 MB of row objects.  A lookup is one bisection.  The arrays
are views of the first ``n`` rows of buffers with spare capacity (:class:`_Columns`, +1/8 and
geometric growth): rows appended after the last ``since`` are written in place beyond every view
handed out, so extending a tag by k rows costs O(k), not a copy of its n rows.

A :class:`GlobalTagIndex` is the map in force of one global tag (no ``as_of``) over tag indexes,
stamped with the *change counters* of migration 0005 (:func:`versions`): the global tag's own
counter and the counter of every tag its map ever named.  The triggers bump them in the writing
transaction of every append, lock, map change and freeze, so comparing the stamp with one
indexed query per lookup is exact: the stamp is read *before* the rows, so an index can only be
older than its stamp says (rebuilt once more), never newer.

Resolutions are memoised per **segment**: the run range over which every record keeps its IOV
(the intersection of their bounds); every run of the segment gets the same records.  The
segments of a global tag are numbered by its *merged starts* (:class:`_Merged`): the sorted
union of the ``since`` arrays of its records, built once per index (an appended index inherits
its predecessor's and adds the new starts), so segment ``k`` runs from ``starts[k]`` to
``starts[k + 1] - 1``.  Any lookup is one bisection of the merged starts plus a dict lookup by
``k``; a segment not seen before is created with lazy records (:class:`SegmentRecords`: the
record's IOV is found, one bisection, when first read), and its renderings are memoised on it.
"""

from __future__ import annotations

import bisect
import datetime as dt
import functools
import threading
from collections.abc import Callable, Hashable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, TypeVar

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
    "SegmentRecords",
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
T = TypeVar("T")


@functools.lru_cache(maxsize=4096)
def _inserted_at(micros: int) -> dt.datetime:
    """The aware UTC datetime of an insertion time [µs since 1970], memoised for the records of
    new segments (the rows of a bulk load share their time; making one costs ~0.3 µs)."""
    return _EPOCH + micros * _US


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


def _read_rows(conn: Connection, tag_id: int, after_id: int, by_key: bool = False) -> _Rows:
    """The rows of tag ``tag_id`` with id > ``after_id``: one statement, no row objects kept.

    PostgreSQL: a binary ``COPY`` parsed by numpy (fixed-width rows); SQLite: ``fetchmany``
    chunks turned into arrays (insertion times parsed once per distinct value).  ``by_key``:
    read the primary-key range ``id > after_id`` (``tag_id + 0`` keeps the planners off the
    tag's index, all of whose rows they would scan for the id filter): the better plan when
    fewer rows of all tags lie above ``after_id`` than the tag has.
    """
    tag_id, after_id = int(tag_id), int(after_id)  # inlined below: integers only
    raw: Any = conn.connection.driver_connection
    of_tag = "tag_id + 0" if by_key else "tag_id"
    if conn.dialect.name == "postgresql":
        sql = (
            "COPY (SELECT since, insertion_time, decode(payload_hash, 'hex'), id FROM iov "
            f"WHERE {of_tag} = {tag_id} AND id > {after_id} "
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
        f"SELECT since, insertion_time, payload_hash, id FROM iov WHERE {of_tag} = ? AND id > ? "
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


class _Columns:
    """Growable ``since`` / insertion-time / hash buffers of one tag index with spare capacity.

    Successive indexes of one tag share the buffers: an index holds views of the first ``n``
    rows; :meth:`append` writes beyond ``used`` (the rows of the newest index) only, so no view
    handed out ever changes.  Capacity: ``n + n // 8 + 64`` when built, grown by 5/4 (so
    amortised O(1) per appended row; ~12 % more memory than the rows need).
    """

    SPARE_NUM, SPARE_DEN, GROWTH = 1, 8, 1.25
    MIN_SPARE = 64  # rows

    def __init__(self, sinces: np.ndarray, micros: np.ndarray, hashes: np.ndarray, cap: int = 0):
        n = len(sinces)
        cap = max(cap, n + n * self.SPARE_NUM // self.SPARE_DEN + self.MIN_SPARE)
        self.sinces = np.empty(cap, np.int64)
        self.micros = np.empty(cap, np.int64)
        self.hashes = np.empty((cap, 32), np.uint8)
        self.sinces[:n], self.micros[:n], self.hashes[:n] = sinces, micros, hashes
        self.used = n
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        return len(self.sinces)

    def nbytes(self) -> int:
        """Memory of the buffers, spare capacity included [bytes]."""
        return int(self.sinces.nbytes + self.micros.nbytes + self.hashes.nbytes)

    def append(
        self, n: int, sinces: np.ndarray, micros: np.ndarray, hashes: np.ndarray
    ) -> _Columns:
        """The buffers holding the first ``n`` rows followed by the given rows: these buffers
        (rows written in place, O(rows)) when row ``n`` is free and there is room, else new
        buffers (the first ``n`` rows copied, capacity grown by :attr:`GROWTH`)."""
        k = len(sinces)
        if not k:
            return self  # views of the first n rows stay valid whatever ``used`` is
        with self._lock:
            if n == self.used and n + k <= self.capacity:
                self.sinces[n : n + k], self.micros[n : n + k] = sinces, micros
                self.hashes[n : n + k] = hashes
                self.used = n + k
                return self
        cap = max(n + k, int(self.GROWTH * self.capacity))
        grown = _Columns(self.sinces[:n], self.micros[:n], self.hashes[:n], cap)
        return grown.append(n, sinces, micros, hashes)


def _count_upto(conn: Connection, tag_id: int, max_id: int) -> int:
    """Rows of the tag with id <= ``max_id`` (an index-only count)."""
    found = conn.execute(
        select(func.count()).select_from(IOV).where(IOV.tag_id == tag_id, IOV.id <= max_id)
    ).scalar_one()
    return int(found)


@dataclass(frozen=True, eq=False)
class TagIndex:
    """The IOVs in force of tag ``name`` (as of ``snapshot``), ascending ``since``: the first
    ``n`` rows of ``columns``.

    ``max_id`` / ``rows``: the greatest IOV id read and the number of the tag's rows with an id
    up to it (visible or not): what :func:`extend_tag_index` needs to read only newer rows.
    """

    tag_id: int
    name: str
    type_name: str
    snapshot: dt.datetime | None
    columns: _Columns
    n: int
    max_id: int = -1
    rows: int = 0
    sinces: np.ndarray = field(init=False, repr=False)  # int64: first run of each interval
    micros: np.ndarray = field(init=False, repr=False)  # int64: insertion time, µs since 1970
    hashes: np.ndarray = field(init=False, repr=False)  # uint8, shape (n, 32)
    _view: memoryview = field(init=False, repr=False)
    _micro_view: memoryview = field(init=False, repr=False)
    _hash_view: memoryview = field(init=False, repr=False)

    def __post_init__(self) -> None:
        c, n, put = self.columns, self.n, object.__setattr__
        put(self, "sinces", c.sinces[:n])
        put(self, "micros", c.micros[:n])
        put(self, "hashes", c.hashes[:n])
        # memoryviews: bisect and item access on them are ~3x faster than on numpy arrays
        put(self, "_view", memoryview(self.sinces))  # type: ignore[arg-type]
        put(self, "_micro_view", memoryview(self.micros))  # type: ignore[arg-type]
        put(self, "_hash_view", memoryview(self.hashes.reshape(-1)))  # type: ignore[arg-type]

    def __len__(self) -> int:
        return self.n

    def nbytes(self) -> int:
        """Memory of the rows [bytes] (spare capacity not counted: :meth:`_Columns.nbytes`)."""
        return 48 * self.n

    def at(self, k: int) -> tuple[int, int | None, str, dt.datetime]:
        """(since, until, payload hash, insertion time) of interval ``k`` (until None: open)."""
        since, until, phash, micros = self.at_micros(k)
        return since, until, phash, _EPOCH + micros * _US

    def at_micros(self, k: int) -> tuple[int, int | None, str, int]:
        """:meth:`at` with the insertion time in µs since 1970 (UTC)."""
        view = self._view
        until = view[k + 1] - 1 if k + 1 < self.n else None
        return view[k], until, self._hash_view[32 * k : 32 * k + 32].hex(), self._micro_view[k]

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
    columns = _Columns(won.sinces, won.micros, won.hashes)
    return TagIndex(tag_id, name, type_name, snapshot, columns, len(won), max_id, rows)


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
    Cost: the count (an index-only scan of the tag's rows, the one O(n) step left), the newer
    rows read by whichever of the primary key or the tag's index visits fewer rows, and the
    arrays: O(rows added) when they land after the last ``since`` (in place), else O(n).
    """
    if held.max_id >= 0 and _count_upto(conn, held.tag_id, held.max_id) != held.rows:
        return None
    top = conn.execute(select(func.max(IOV.id))).scalar_one()  # one probe of the primary key
    by_key = top is not None and int(top) - held.max_id < held.rows  # fewer rows to visit
    new = _read_rows(conn, held.tag_id, held.max_id, by_key).sorted()
    if not len(new):
        return held
    max_id, rows = int(new.ids.max()), held.rows + len(new)
    cand = new.winners(held.snapshot)
    sinces, n = held.sinces, held.n
    pos = np.searchsorted(sinces, cand.sinces)
    same = pos < n
    same[same] = sinces[pos[same]] == cand.sinces[same]
    wins = same.copy()
    wins[same] = cand.micros[same] >= held.micros[pos[same]]
    fresh = ~same
    if not wins.any() and not (pos[fresh] < n).any():
        # new sinces after the last one only (the usual append): written in place, O(rows)
        columns = held.columns.append(n, cand.sinces[fresh], cand.micros[fresh], cand.hashes[fresh])
        return TagIndex(
            held.tag_id,
            held.name,
            held.type_name,
            held.snapshot,
            columns,
            n + int(fresh.sum()),
            max_id,
            rows,
        )
    # a newer row for a since already held, or a since inside the held range: copied, O(n)
    micros, hashes = held.micros.copy(), held.hashes.copy()
    micros[pos[wins]] = cand.micros[wins]  # a newer row for a held since supersedes it
    hashes[pos[wins]] = cand.hashes[wins]
    if fresh.any():
        at = pos[fresh]
        sinces = np.insert(sinces, at, cand.sinces[fresh])
        micros = np.insert(micros, at, cand.micros[fresh])
        hashes = np.insert(hashes, at, cand.hashes[fresh], axis=0)
    won = _Rows(sinces, micros, hashes, np.zeros(0, np.int64))
    return _tag_index(held.tag_id, held.name, held.type_name, held.snapshot, won, max_id, rows)


class SegmentRecords(Mapping[str, ResolvedIOV]):
    """The records of one segment, each :class:`ResolvedIOV` made when first read and kept;
    iteration in record order.

    The segment is number ``k`` of the merged starts and begins at run ``first``.  A tag whose
    interval ``k`` begins at ``first`` holds it (its starts are among the merged ones, so its
    ``k + 1`` starts up to ``first`` are exactly the merged ones and its next start is at least
    the next segment's): one array read instead of a bisection (every tag of the global tag
    shares the starts, the usual case); otherwise one bisection.  The resolved IOVs and their
    renderings (:meth:`rendered`) are shared by the segments of the index through ``shared``,
    keyed by (record, interval number): a coarse record's IOV is made once for all the
    segments it spans.
    """

    __slots__ = ("_first", "_got", "_k", "_shared", "_tags")

    def __init__(
        self,
        tags: Mapping[str, TagIndex],
        k: int,
        first: int,
        shared: dict[tuple[Any, ...], Any] | None = None,
    ) -> None:
        self._tags = tags  # sorted by record
        self._k = k  # the segment's number among the merged starts
        self._first = first  # the segment's first run
        self._got: dict[str, ResolvedIOV] = {}
        self._shared: dict[tuple[Any, ...], Any] = {} if shared is None else shared

    def _position(self, record: str) -> tuple[TagIndex, int]:
        """The tag index of ``record`` and the number of its interval holding the segment."""
        tix = self._tags[record]  # KeyError: no such record
        k = self._k
        if k >= tix.n or tix._view[k] != self._first:
            k = tix.find(self._first)
        return tix, k

    def __getitem__(self, record: str) -> ResolvedIOV:
        got = self._got.get(record)
        if got is None:
            tix, k = self._position(record)
            key = (record, k)
            got = self._shared.get(key)
            if got is None:
                since, until, phash, micros = tix.at_micros(k)
                inserted = _inserted_at(micros)
                got = ResolvedIOV(record, tix.name, tix.type_name, phash, since, until, inserted)
                self._shared[key] = got
            self._got[record] = got
        return got

    def rendered(self, record: str, what: Hashable, render: Callable[[ResolvedIOV], T]) -> T:
        """``render(self[record])``, kept per IOV under ``what`` (e.g. the service's JSON
        fragment of it) and shared with the other segments holding that IOV."""
        _, k = self._position(record)
        key = (record, k, what)
        done: T | None = self._shared.get(key)
        if done is None:
            done = render(self[record])
            self._shared[key] = done
        return done

    def __contains__(self, record: object) -> bool:
        return record in self._tags

    def __iter__(self) -> Iterator[str]:
        return iter(self._tags)

    def __len__(self) -> int:
        return len(self._tags)

    def __repr__(self) -> str:
        return f"SegmentRecords({dict(self)!r})"


@dataclass(eq=False)
class Segment:
    """Runs ``first``..``last`` (None: open-ended) resolving to ``records``; ``memo`` holds
    renderings of it (e.g. the service's response bytes), dropped with the index."""

    first: int
    last: int | None
    records: SegmentRecords
    memo: dict[Hashable, Any] = field(default_factory=dict)

    def covers(self, run: int) -> bool:
        return self.first <= run and (self.last is None or run <= self.last)


def _union(arrays: list[np.ndarray]) -> np.ndarray:
    """The sorted distinct values of int64 arrays (not ``np.unique``: its first call imports
    ``numpy.ma``, ~70 ms, inside the first lookup after an append)."""
    union = np.concatenate(arrays) if arrays else np.zeros(0, np.int64)
    union.sort(kind="stable")  # sorted runs: merged
    keep = np.ones(len(union), dtype=bool)
    keep[1:] = union[1:] != union[:-1]
    return union[keep]


class _Merged:
    """The merged segment starts of a global tag's records: the sorted union of their ``since``
    arrays, ``m`` entries of a buffer with spare capacity (shared with the successor built by
    :meth:`extended` when the new starts all lie after the last one: written in place)."""

    MIN_SPARE = 64  # starts

    def __init__(self, starts: np.ndarray, buf: np.ndarray | None = None) -> None:
        m = len(starts)
        if buf is None:
            buf = np.empty(m + m // 8 + self.MIN_SPARE, np.int64)
            buf[:m] = starts
        self.buf, self.m = buf, m
        self.used = [m]  # the length of the newest user of ``buf`` (shared, boxed)
        self.view = memoryview(buf[:m])  # type: ignore[arg-type]

    @classmethod
    def of(cls, tags: Iterable[TagIndex]) -> _Merged:
        """Built from the tag indexes (the union of their sinces; O(M log M), one sort)."""
        arrays: list[np.ndarray] = []
        for t in tags:
            if not any(len(a) == len(t.sinces) and np.array_equal(a, t.sinces) for a in arrays):
                arrays.append(t.sinces)
        if len(arrays) == 1:
            return cls(arrays[0])
        return cls(_union(arrays))

    def extended(self, added: np.ndarray) -> _Merged:
        """These starts and ``added`` (sorted, unique among themselves): the new ones after the
        last start are appended in place when this is the newest user of the buffer and there
        is room (O(added)); otherwise, or for a start inside the range, a copy (O(M))."""
        m = self.m
        if m:
            pos = np.searchsorted(self.buf[:m], added)
            held = pos < m
            held[held] = self.buf[:m][pos[held]] == added[held]
            added, pos = added[~held], pos[~held]
        if not len(added):
            return self
        k = len(added)
        if (not m or pos[0] == m) and self.used[0] == m and m + k <= len(self.buf):
            self.buf[m : m + k] = added
            grown = _Merged(self.buf[: m + k], self.buf)
            grown.used = self.used
            grown.used[0] = m + k
            return grown
        if not m or pos[0] == m:
            return _Merged(np.concatenate([self.buf[:m], added]))
        return _Merged(np.insert(self.buf[:m], pos, added))

    def nbytes(self) -> int:
        return int(self.buf.nbytes)


def _added_sinces(prev: Mapping[str, TagIndex], now: Mapping[str, TagIndex]) -> np.ndarray | None:
    """The sinces of ``now``'s tag indexes beyond those of ``prev`` (sorted, unique), or None
    when a record changed tag or an index is not ``prev``'s with rows after its end."""
    if prev.keys() != now.keys():
        return None
    tails: list[np.ndarray] = []
    for rec, t in now.items():
        p = prev[rec]
        if t is p:
            continue
        if t.tag_id != p.tag_id or t.snapshot != p.snapshot or t.n < p.n:
            return None
        if t.columns.sinces is not p.columns.sinces and not np.array_equal(
            t.sinces[: p.n], p.sinces
        ):
            return None  # a since inserted inside the held range (copied index)
        tails.append(t.sinces[p.n :])
    return _union(tails)


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
    _merged: _Merged | None = None
    _segments: dict[int, Segment] = field(default_factory=dict)  # by merged segment number
    _by_run: dict[int, Segment] = field(default_factory=dict)  # by run asked
    #: IOVs resolved and their renderings, by (record, interval number[, what]): shared by the
    #: segments (:class:`SegmentRecords`), cleared with them
    _iovs: dict[tuple[Any, ...], Any] = field(default_factory=dict)
    #: renderings of the index as a whole (e.g. the frame of the service's bodies)
    memo: dict[Hashable, Any] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    gt_id: int = field(init=False)
    stamp: int = field(init=False)
    #: time.monotonic() after which a published global tag's own counter is read again: it may
    #: still be invalidated (issue 18) by another process (:meth:`Resolver.frozen_index`)
    recheck_at: float = field(default=0.0, init=False)
    #: the records in record order, and the first run every record covers
    _sorted: dict[str, TagIndex] = field(init=False, repr=False)
    _covered_from: int = field(init=False, repr=False)

    @property
    def gt_counter(self) -> int:
        """The global tag's own change counter when the index was built (state and map)."""
        return next((n for s, o, n in self.version[1] if s == "gt" and o == self.gt_id), 0)

    def merged(self) -> _Merged:
        """The merged segment starts (built on first use)."""
        merged = self._merged
        if merged is None:
            with self._lock:
                merged = self._merged
                if merged is None:
                    merged = self._merged = _Merged.of(self._sorted.values())
        return merged

    def inherit(self, previous: GlobalTagIndex) -> None:
        """Take ``previous``'s merged starts plus the new sinces of this index's records when
        they only grew at their ends (an append); else leave them to be built on first use."""
        if previous._merged is None or self._merged is not None:
            return
        added = _added_sinces(previous.records, self.records)
        if added is not None:
            self._merged = previous._merged.extended(added)

    def segment(self, run: int) -> Segment | None:
        """The segment of ``run``, or None if a record does not cover it (no records: None).

        A run asked before: one dict hit (independent of the tags' sizes: a bisection of 1M
        starts misses the CPU caches); else one bisection of the merged starts, and a segment
        not seen before is made (its records resolved when read).
        """
        seg = self._by_run.get(run)
        if seg is not None:
            return seg
        merged = self._merged or self.merged()
        k = bisect.bisect_right(merged.view, run) - 1
        seg = self._segments.get(k)
        if seg is None:
            if k < 0 or merged.view[k] < self._covered_from:
                return None
            first = merged.view[k]
            last = merged.view[k + 1] - 1 if k + 1 < merged.m else None
            seg = Segment(first, last, SegmentRecords(self._sorted, k, first, self._iovs))
            with self._lock:
                if len(self._segments) >= self.max_segments:
                    self._segments.clear()
                    self._iovs.clear()
                seg = self._segments.setdefault(k, seg)
        if len(self._by_run) >= self.max_segments:
            self._by_run.clear()
        self._by_run[run] = seg
        return seg

    def __post_init__(self) -> None:
        self.gt_id = self.version[0]
        #: the sum of the counters of :attr:`version`, compared per lookup with
        #: :meth:`conditions.store.stamps.ChangeCheck.counter_sum`
        self.stamp = stamp_of(self.version)
        self._sorted = {r: self.records[r] for r in sorted(self.records)}
        tags = list(self.records.values())
        # no records, or a record whose tag is empty: no run is covered
        self._covered_from = (
            max(t._view[0] for t in tags) if tags and all(t.n for t in tags) else 2**63 - 1
        )

    def nbytes(self) -> int:
        """Memory of the tag indexes' rows (each tag counted once) and of the merged starts
        [bytes], spare capacity included."""
        cols = {id(t.columns): t.columns for t in self.records.values()}
        return sum(c.nbytes() for c in cols.values()) + self.merged().nbytes()


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
    previous: GlobalTagIndex | None = None,
) -> tuple[GlobalTagIndex, dict[tuple[int, dt.datetime | None], tuple[int, TagIndex]]]:
    """Load the map in force of ``gt_name`` (newest row per record) and an index per tag.

    ``reuse``: (tag id, snapshot) -> (counter, index) built earlier; an index whose tag counter
    has not moved is kept, one whose counter moved is extended with the newer rows
    (:func:`extend_tag_index`), else rebuilt.  Returns the global-tag index and the tag indexes
    it uses.  ``previous``: the index of the global tag this one replaces; its merged segment
    starts are extended instead of rebuilt when the records' tags only grew at their ends.
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
    index = GlobalTagIndex(
        gt_name, version, frozen, records, tuple(sorted(named)), deprecation=deprecation
    )
    if previous is not None and previous.gt_id == index.gt_id:
        index.inherit(previous)
    return index, used
