"""The spare-capacity buffers of conditions.store.index: views handed out never change.

``_Columns`` (a tag index's rows) and ``_Merged`` (a global tag's merged segment starts) are
shared by successive indexes: an append writes in place only beyond the newest view, and only
when there is room; anything else copies.  Random sequences of appends from the newest and from
stale indexes must leave every earlier view equal to what it was, and every new one equal to
the plain concatenation/union (numpy as the oracle).  Also: the lazy records of a segment equal
the eager answer of ``conditions.iov`` for every run of the segment.
"""

from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conditions import iov
from conditions.store.index import (
    GlobalTagIndex,
    SegmentRecords,
    _Columns,
    _Merged,
    _Rows,
    _tag_index,
)

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def _rows(sinces: list[int], salt: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    s = np.array(sinces, dtype=np.int64)
    m = s * 7 + salt
    h = (np.arange(32 * len(s), dtype=np.int64).reshape(-1, 32) * (salt + 1) % 256).astype(np.uint8)
    return s, m, h


@settings(max_examples=60, deadline=None)
@given(
    first=st.integers(0, 20),
    steps=st.lists(st.tuples(st.integers(0, 30), st.integers(0, 5)), min_size=1, max_size=15),
    spare=st.sampled_from([0, 1, 64]),
)
def test_appends_never_change_a_view_handed_out(
    first: int, steps: list[tuple[int, int]], spare: int
) -> None:
    # a history of (columns, n, expected rows); each step appends k rows to the view `pick`
    # steps back (0: the newest, else a stale one whose successor already wrote beyond it)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_Columns, "MIN_SPARE", spare)
        s, m, h = _rows(list(range(first)), 0)
        views = [(_Columns(s, m, h), first, (s, m, h))]
        for salt, (k, back) in enumerate(steps, 1):
            cols, n, (s0, m0, h0) = views[max(0, len(views) - 1 - back)]
            add = _rows(list(range(1000 * salt, 1000 * salt + k)), salt)
            grown = cols.append(n, *add)
            joined = (
                np.concatenate([s0, add[0]]),
                np.concatenate([m0, add[1]]),
                np.concatenate([h0, add[2]]),
            )
            views.append((grown, n + k, joined))
            for c, nv, (es, em, eh) in views:
                assert np.array_equal(c.sinces[:nv], es)
                assert np.array_equal(c.micros[:nv], em)
                assert np.array_equal(c.hashes[:nv], eh)
            assert grown.capacity >= n + k


@settings(max_examples=60, deadline=None)
@given(
    first=st.lists(st.integers(0, 200), max_size=30, unique=True),
    steps=st.lists(
        # starts relative to the last one of the view extended: mostly after it (in place)
        st.tuples(st.lists(st.integers(-40, 60), max_size=6, unique=True), st.integers(0, 3)),
        min_size=1,
        max_size=10,
    ),
    spare=st.sampled_from([0, 1, 64]),
)
def test_merged_starts_are_the_union(
    first: list[int], steps: list[tuple[list[int], int]], spare: int
) -> None:
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(_Merged, "MIN_SPARE", spare)
        views = [(_Merged(np.array(sorted(first), dtype=np.int64)), sorted(first))]
        for added, back in steps:
            merged, want = views[max(0, len(views) - 1 - back)]
            added = [(want[-1] if want else 0) + a for a in added]
            grown = merged.extended(np.array(sorted(added), dtype=np.int64))
            views.append((grown, sorted(set(want) | set(added))))
            for v, expected in views:
                assert list(v.view) == expected and v.m == len(expected)


@settings(max_examples=40, deadline=None)
@given(
    tags=st.lists(
        st.lists(st.integers(0, 60), min_size=1, max_size=8, unique=True), min_size=1, max_size=4
    ),
    run=st.integers(0, 70),
)
def test_segment_is_the_intersection_and_its_lazy_records_the_rules(
    tags: list[list[int]], run: int
) -> None:
    records = {}
    rows = {}
    for k, sinces in enumerate(tags):
        s, m, h = _rows(sorted(sinces), k)
        records[f"r{k}"] = _tag_index(k, f"t{k}", "json", None, _Rows(s, m, h, s), 0, len(s))
        rows[f"r{k}"] = [
            iov.Row(int(a), bytes(c).hex(), _EPOCH + dt.timedelta(microseconds=int(b)))
            for a, b, c in zip(s, m, h, strict=True)
        ]
    index = GlobalTagIndex("GT", (1, frozenset()), False, records)
    seg = index.segment(run)
    hits = {r: iov.locate(iov.in_force(rs), run) for r, rs in rows.items()}
    if any(hit is None for hit in hits.values()):
        assert seg is None
        return
    assert seg is not None and isinstance(seg.records, SegmentRecords)
    assert list(seg.records) == sorted(records)
    assert seg.first == max(h.since for h in hits.values() if h)
    untils = [h.until for h in hits.values() if h and h.until is not None]
    assert seg.last == (min(untils) if untils else None)
    for probe in {seg.first, run, seg.last if seg.last is not None else run + 5}:
        assert index.segment(probe) is seg
        for r, hit in hits.items():
            got = seg.records[r]
            assert hit is not None
            assert (got.since, got.until, got.payload_hash, got.insertion_time) == (
                hit.since,
                hit.until,
                hit.payload_hash,
                hit.insertion_time,
            )
