"""The caches of :meth:`conditions.energy.EnergyScale.from_resolved`, as objects: built scales,
decoded payloads and tables derived from one payload (the one LRU, :mod:`conditions.lru`, with
hit counts).  Entries are immutable: a derived entry holds its payload, so the payload's id
cannot be reused while the entry lives, and ``put`` of an existing key keeping the first value
(the LRU's rule) changes nothing."""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any

from pydantic import BaseModel

from conditions.errors import InvalidPayload
from conditions.lru import LRU
from conditions.payloads import decode_payload, payload_hash


class _CountingLRU(LRU[Any]):
    """The one LRU (:class:`conditions.lru.LRU`, bounded by entry count) that also counts its
    hits and misses, for :func:`cache_stats`."""

    def __init__(self, max_items: int) -> None:
        super().__init__(max_items)
        self._count_lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any:
        value = super().get(key)
        with self._count_lock:
            if value is None:
                self.misses += 1
            else:
                self.hits += 1
        return value

    def clear(self) -> None:
        super().clear()
        with self._count_lock:
            self.hits = self.misses = 0


class ScaleCache:
    """The caches of :meth:`EnergyScale.from_resolved`, as one object: built scales keyed by
    (record, type, hash) tuples and policies, decoded payloads keyed by (type, hash), and objects
    derived from one payload (inverse tables, LPMT tables)."""

    def __init__(self, scales: int = 32, payloads: int = 128, derived: int = 64) -> None:
        self.scales = _CountingLRU(scales)
        self.payloads = _CountingLRU(payloads)
        self._derived = _CountingLRU(derived)

    def derived(self, payload: BaseModel, what: Hashable, build: Callable[[], Any]) -> Any:
        """``build()``, memoised per payload object and ``what``; the entry holds the payload
        itself, so its id cannot be reused while the entry lives."""
        key = (id(payload), what)
        hit = self._derived.get(key)
        if hit is not None and hit[0] is payload:
            return hit[1]
        value = build()
        self._derived.put(key, (payload, value))
        return value

    def fetch_payload(
        self, type_name: str, digest: str, fetch: Callable[[str], bytes]
    ) -> BaseModel:
        """Decoded payload of ``digest``: cached, else fetched, hash-checked and decoded."""
        key = (type_name, digest)
        model = self.payloads.get(key)
        if model is not None:
            return model
        data = fetch(digest)
        if payload_hash(data) != digest:
            raise InvalidPayload(
                f"{type_name}: fetched bytes do not hash to {digest}",
                hint="the stored payload is corrupt; re-upload it",
            )
        model = decode_payload(type_name, data)
        self.payloads.put(key, model)
        return model

    def clear(self) -> None:
        for lru in (self.scales, self.payloads, self._derived):
            lru.clear()

    def stats(self) -> dict[str, tuple[int, int]]:
        """(hits, misses) of the energy-scale and the payload caches."""
        return {
            "scales": (self.scales.hits, self.scales.misses),
            "payloads": (self.payloads.hits, self.payloads.misses),
        }


#: The cache :meth:`EnergyScale.from_resolved` uses when given none (compatibility default).
DEFAULT_CACHE = ScaleCache()


def clear_caches() -> None:
    """Forget every cached energy scale and decoded payload of :data:`DEFAULT_CACHE`."""
    DEFAULT_CACHE.clear()


def cache_stats() -> dict[str, tuple[int, int]]:
    """(hits, misses) of :data:`DEFAULT_CACHE`'s energy-scale and payload caches."""
    return DEFAULT_CACHE.stats()
