"""store.put_payloads: many payloads of one type in one round trip per chunk, same rules as
put_payload (same bytes -> same hash, nothing new; another type with the same bytes refused)."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from conditions import store
from conditions.db import read_session, write_session
from conditions.errors import HashCollision, PayloadTooLarge
from tests.conftest import row_counts


def test_batch_put_matches_single_puts(engine: Engine) -> None:
    blobs = [f'{{"k":{k}}}'.encode() for k in range(1203)]  # three chunks of 500
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        store.register_payload_type(s, "other")
        old = store.put_payload(s, "json", blobs[7])
    with write_session(engine) as s:
        results = store.put_payloads(s, "json", [*blobs, blobs[3]], provenance={"job": "b"})
    assert [r.hash for r in results] == [store.sha256_hex(b) for b in [*blobs, blobs[3]]]
    assert [r.created for r in results] == [k != 7 for k in range(1203)] + [False]
    assert results[7].hash == old.hash
    assert row_counts(engine)["payload"] == 1203
    with read_session(engine) as s:
        assert store.payload_bytes(s, results[1202].hash) == blobs[1202]
        assert store.get_payload(s, results[0].hash).provenance == {"job": "b"}
    before = row_counts(engine)
    with pytest.raises(HashCollision, match="already stored as type"), write_session(engine) as s:
        store.put_payloads(s, "other", [b'{"new":1}', blobs[0]])
    with pytest.raises(PayloadTooLarge), write_session(engine) as s:
        store.put_payloads(s, "json", [b'{"a":1}', b"x" * 100], max_bytes=50)
    assert row_counts(engine) == before  # nothing of a refused batch landed
