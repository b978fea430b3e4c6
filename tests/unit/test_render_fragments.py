"""The service's per-IOV JSON fragments and segment records (issue 15, render path).

:func:`serializers.resolved_iov_fragment` must give the bytes :func:`wire.dumps` gives for
the member ``{record: resolved_iov_json(item)}`` (the lean lookups splice fragments into the
body; the clients and caches see those bytes), for any text (quotes, backslashes, non-ASCII,
control characters), open or closed intervals and any time zone.
"""

from __future__ import annotations

import datetime as dt

from hypothesis import given
from hypothesis import strategies as st

from conditions.iov import ResolvedIOV
from conditions.service import serializers, wire

texts = st.text(min_size=1, max_size=12)
zones = st.sampled_from(
    [dt.UTC, dt.timezone(dt.timedelta(hours=5, minutes=30)), dt.timezone(-dt.timedelta(hours=8))]
)
times = st.builds(
    lambda t, z: t.replace(tzinfo=dt.UTC).astimezone(z),
    st.datetimes(min_value=dt.datetime(1971, 1, 1), max_value=dt.datetime(2999, 1, 1)),
    zones,
)


@st.composite
def resolved(draw: st.DrawFn) -> ResolvedIOV:
    since = draw(st.integers(0, 2**62))
    until = draw(st.none() | st.integers(since, 2**63 - 1))
    return ResolvedIOV(
        draw(texts), draw(texts), draw(texts), draw(texts), since, until, draw(times)
    )


@given(resolved())
def test_fragment_is_the_encoded_member(item: ResolvedIOV) -> None:
    member = wire.dumps({item.record: serializers.resolved_iov_json(item)})[1:-1]
    assert serializers.resolved_iov_fragment(item) == member


@given(st.lists(resolved(), min_size=1, max_size=5, unique_by=lambda i: i.record))
def test_joined_fragments_are_the_encoded_records(items: list[ResolvedIOV]) -> None:
    items.sort(key=lambda i: i.record)
    doc = {i.record: serializers.resolved_iov_json(i) for i in items}
    joined = b"{" + b",".join(serializers.resolved_iov_fragment(i) for i in items) + b"}"
    assert joined == wire.dumps(doc)


def test_resolved_iov_is_immutable_and_compared_by_value() -> None:
    t = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    a = ResolvedIOV("r", "t", "json", "h", 1, None, t)
    b = ResolvedIOV(
        record="r",
        tag="t",
        payload_type="json",
        payload_hash="h",
        since=1,
        until=None,
        insertion_time=t,
    )
    assert a == b and hash(a) == hash(b) and a.covers(5) and not a.covers(0)
    assert a != a._replace(until=4)
    try:
        a.since = 2  # type: ignore[misc]
    except AttributeError:
        pass
    else:
        raise AssertionError("ResolvedIOV is mutable")
