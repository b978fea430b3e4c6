"""The pure HSF <-> conddb mapping (no database): ends, checksums, keys, payload-IOV handles."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from conditions.errors import InvalidIOV, InvalidPayload
from conditions.service.hsf.mapping import (
    MAX_IOV,
    IOVHandle,
    check_end,
    check_end_fits,
    check_start,
    digest_of,
    iov_end,
    parse_key,
)

RUNS = st.integers(min_value=0, max_value=MAX_IOV)
HASHES = st.text(alphabet="0123456789abcdef", min_size=64, max_size=64)


@given(since=RUNS, payload_hash=HASHES, end=st.none() | RUNS)
def test_handles_round_trip_and_never_collide_with_row_ids(
    since: int, payload_hash: str, end: int | None
) -> None:
    h = IOVHandle(since, payload_hash, end)
    assert IOVHandle.decode(h.encode()) == h
    assert h.encode() >= 2**384  # far above any BIGINT row id


TOO_BIG_SINCE = ((2**64 + 0) * 2**64 + 2**63) * 2**256
BAD_MARKER = ((2 * 2**64 + 0) * 2**64 + 5) * 2**256


@pytest.mark.parametrize("bad", [0, 1, 2**63, 2**300, -5, True, "12", TOO_BIG_SINCE, BAD_MARKER])
def test_foreign_ids_are_refused(bad: object) -> None:
    with pytest.raises(InvalidIOV):
        IOVHandle.decode(bad)


def test_ends_are_exclusive_next_since_or_forever() -> None:
    assert iov_end(199) == (200, 0)  # last run 199 -> ends where run 200 starts
    assert iov_end(None) == (MAX_IOV, MAX_IOV)
    assert check_end(None, None) is None
    assert check_end(MAX_IOV, MAX_IOV) is None and check_end(MAX_IOV, 0) is None
    assert check_end(200, 0) == 200 and check_end(200, None) == 200
    for major, minor in ((200, 5), (None, 0)):
        with pytest.raises(InvalidIOV, match="cannot be represented"):
            check_end(major, minor)
    check_end_fits(100, None, 200)
    check_end_fits(100, 200, 200)
    with pytest.raises(InvalidIOV, match="ends at the next since 200"):
        check_end_fits(100, 150, 200)
    with pytest.raises(InvalidIOV, match="is open-ended"):
        check_end_fits(100, 150, None)


def test_starts_are_whole_runs() -> None:
    assert check_start(7, 0) == 7
    with pytest.raises(InvalidIOV, match="minor_iov 1 is not 0"):
        check_start(7, 1)
    with pytest.raises(InvalidIOV):
        check_start(-1, 0)
    with pytest.raises(InvalidIOV):
        check_start(2**63, 0)


def test_checksums_and_keys() -> None:
    digest = "ab" * 32
    assert digest_of(f"sha256:{digest.upper()}") == digest
    for bad in ("md5:" + "0" * 32, digest, "sha256:xyz", "sha256:" + "0" * 63):
        with pytest.raises(InvalidPayload):
            digest_of(bad)
    assert parse_key(f"light_yield/{digest}").digest == digest
    assert parse_key("light_yield/calib-v1.json").digest is None
    for bad in ("noslash", "a/b/c", "/x", "a/", "../x", "a/.."):
        with pytest.raises(InvalidPayload):
            parse_key(bad)
