"""Resolver's payload cache is the one LRU (conditions.lru): least recently USED goes first
(it used to be first-in-first-out), bounded by bytes; the service's Lookups share it."""

from __future__ import annotations

from sqlalchemy.engine import Engine

from conditions import store
from conditions.db import write_session
from conditions.resolve import Resolver
from conditions.service.lookup import Lookups


def test_resolver_payload_cache_is_lru_by_bytes(engine: Engine) -> None:
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        a, b, c = (store.put_payload(s, "json", f'{{"v":"{k * 5}"}}'.encode()) for k in "abc")
    size = len(b'{"v":"aaaaa"}')
    resolver = Resolver(engine, payload_cache_bytes=2 * size + 1)
    resolver.payload(a.hash)
    resolver.payload(b.hash)
    resolver.payload(a.hash)  # a is now the most recently used
    resolver.payload(c.hash)  # over the bound: b goes (FIFO would have dropped a)
    assert resolver.cached_payload(a.hash) is not None
    assert resolver.cached_payload(b.hash) is None
    assert resolver.cached_payload(c.hash) is not None

    lookups = Lookups(engine, payload_cache_bytes=10 * size, max_batch_runs=10)
    assert lookups.cached_payload(a.hash) is None
    assert lookups.payload(a.hash) == lookups.resolver.cached_payload(a.hash)
