"""conditions.times (one UTC policy, never OverflowError) and conditions.lru (one LRU)."""

from __future__ import annotations

import datetime as dt
import threading

import pytest

from conditions import times
from conditions.errors import InvalidInput
from conditions.lru import LRU


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0001-01-01T00:00:00+01:00", "outside the years"),
        ("9999-12-31T23:59:59-01:00", "outside the years"),
        ("2026-11-29T12:00:00", "no time zone"),
        ("2026-13-01T00:00:00Z", "not an ISO 8601 time"),
    ],
)
def test_parse_refuses_with_one_clear_domain_error(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message) as info:
        times.parse_utc(text, "as_of")
    assert info.value.hint  # says what to do


def test_parse_and_format_utc() -> None:
    parsed = times.parse_utc("2026-11-29T13:00:00+01:00")
    assert parsed == dt.datetime(2026, 11, 29, 12, tzinfo=dt.UTC) and parsed.tzinfo is dt.UTC
    assert times.parse_utc("2026-11-29T12:00:00Z") == parsed
    assert times.parse_utc(None) is None and times.parse_utc("") is None
    assert times.format_utc(parsed) == "2026-11-29T12:00:00.000000+00:00"
    assert times.format_utc(None) is None


def test_as_utc_applies_the_same_policy_to_datetimes() -> None:
    with pytest.raises(InvalidInput, match="no time zone"):
        times.as_utc(dt.datetime(2026, 1, 1))
    far = dt.datetime(1, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    with pytest.raises(InvalidInput, match="outside"):
        times.as_utc(far)


def test_lru_evicts_the_least_recently_used_by_count_and_by_weight() -> None:
    cache: LRU[str] = LRU(max_items=2)
    cache.put("a", "A")
    cache.put("b", "B")
    assert cache.get("a") == "A"  # a is now the most recent
    cache.put("c", "C")
    assert "b" not in cache and cache.get("a") == "A" and cache.get("c") == "C"
    sized: LRU[bytes] = LRU(max_items=100, max_weight=10)
    sized.put("x", b"12345", 5)
    sized.put("y", b"12345", 5)
    sized.get("x")
    sized.put("z", b"123", 3)  # over 10 bytes: y (least recent) goes
    assert "y" not in sized and "x" in sized and sized.weight == 8
    sized.put("huge", b"0" * 11, 11)  # heavier than the whole cache: not kept
    assert "huge" not in sized and sized.weight == 8


def test_lru_is_thread_safe() -> None:
    cache: LRU[int] = LRU(max_items=50, max_weight=500)

    def work(offset: int) -> None:
        for k in range(2000):
            cache.put((offset, k % 97), k, 7)
            cache.get((offset, (k * 7) % 97))

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert len(cache) <= 50 and cache.weight <= 500
    assert cache.weight == 7 * len(cache)
