"""The pure IOV rules (conditions.iov): value types, visibility, in force, locate, segments."""

from __future__ import annotations

import datetime as dt

import pytest

from conditions import iov
from conditions.errors import InvalidIOV

T0 = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def t(seconds: int) -> dt.datetime:
    return T0 + dt.timedelta(seconds=seconds)


ROWS = [
    iov.Row(10, "a", t(1)),
    iov.Row(20, "b", t(1)),
    iov.Row(10, "c", t(2)),  # supersedes since 10 from t=2
    iov.Row(30, "d", t(3)),
]


def test_newest_row_per_since_wins_and_until_is_next_since_minus_one() -> None:
    assert iov.in_force(ROWS) == [
        iov.Interval(10, 19, "c", t(2)),
        iov.Interval(20, 29, "b", t(1)),
        iov.Interval(30, None, "d", t(3)),
    ]


def test_as_of_and_snapshot_hide_later_rows_the_earlier_one_rules() -> None:
    then = [(i.since, i.until, i.payload_hash) for i in iov.in_force(ROWS, as_of=t(1))]
    assert then == [(10, 19, "a"), (20, None, "b")]
    assert iov.in_force(ROWS, as_of=t(3), snapshot=t(1)) == iov.in_force(ROWS, as_of=t(1))
    assert iov.in_force(ROWS, as_of=t(1), snapshot=t(3)) == iov.in_force(ROWS, as_of=t(1))
    assert iov.in_force(ROWS, as_of=t(0)) == []


def test_equal_insertion_times_the_later_row_wins() -> None:
    rows = [iov.Row(5, "x", t(1)), iov.Row(5, "y", t(1))]
    assert iov.in_force(rows)[0].payload_hash == "y"


def test_locate_greatest_since_at_boundaries() -> None:
    intervals = iov.in_force(ROWS)
    assert iov.locate(intervals, 9) is None
    assert [iov.locate(intervals, r).payload_hash for r in (10, 19, 20, 29, 30, 10**12)] == [  # type: ignore[union-attr]
        "c",
        "c",
        "b",
        "b",
        "d",
        "d",
    ]
    bounded = iov.in_force(ROWS, following=40)
    assert bounded[-1].until == 39 and iov.locate(bounded, 40) is None


def test_interval_refuses_an_empty_range_and_says_which() -> None:
    with pytest.raises(InvalidIOV, match=r"\[5, 4\]"):
        iov.Interval(5, 4, "abcdef", t(0))


def test_segments_merge_equal_neighbours_and_mark_uncovered_runs() -> None:
    a = [iov.Interval(0, 9, "p", t(0)), iov.Interval(10, None, "q", t(0))]
    b = [iov.Interval(5, 14, "p", t(0)), iov.Interval(15, None, "q", t(0))]
    segs = [(s.first, s.last, s.keys) for s in iov.segments([a, b], 0, 20)]
    assert segs == [
        (0, 4, ("p", None)),
        (5, 9, ("p", "p")),
        (10, 14, ("q", "p")),
        (15, 20, ("q", "q")),
    ]
    assert iov.segments([a], 3, None)[-1].last is None


def test_visible_until() -> None:
    assert iov.visible_until(None, None) is None
    assert iov.visible_until(t(2), None) == t(2)
    assert iov.visible_until(None, t(2)) == t(2)
    assert iov.visible_until(t(3), t(2)) == t(2)
