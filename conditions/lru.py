"""One thread-safe least-recently-used cache, bounded by entry count and by total weight.

Used by every in-process cache: :class:`conditions.resolve.Resolver` (resolutions, payload
bytes), the service's response bodies and payload metadata
(:class:`conditions.service.lookup.Lookups`), and the HTTP client's payloads in memory.  Only
immutable values (payload bytes by hash, answers under frozen global tags) belong in it, so an
entry is never stale; eviction is by least recent use (``get`` refreshes an entry).
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

V = TypeVar("V")


class LRU(Generic[V]):
    """At most ``max_items`` entries whose weights (e.g. sizes in bytes) sum to at most
    ``max_weight`` (None: no weight bound).  Every method holds one lock."""

    def __init__(self, max_items: int, max_weight: int | None = None) -> None:
        if max_items < 0 or (max_weight is not None and max_weight < 0):
            raise ValueError("cache bounds must be >= 0")
        self.max_items = max_items
        self.max_weight = max_weight
        self.weight = 0
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Hashable) -> V | None:
        """The value under ``key`` (now the most recently used), or None."""
        with self._lock:
            hit = self._items.get(key)
            if hit is None:
                return None
            self._items.move_to_end(key)
            return hit[0]

    def put(self, key: Hashable, value: V, weight: int = 1) -> None:
        """Add ``value`` (an existing key keeps its value: entries are immutable); a value
        heavier than the whole cache is not kept.  Evicts the least recently used entries."""
        if self.max_weight is not None and weight > self.max_weight:
            return
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return
            self._items[key] = (value, weight)
            self.weight += weight
            while len(self._items) > self.max_items or (
                self.max_weight is not None and self.weight > self.max_weight
            ):
                _, (_, w) = self._items.popitem(last=False)
                self.weight -= w

    def clear(self) -> None:
        with self._lock:
            self._items.clear()
            self.weight = 0

    def __len__(self) -> int:
        return len(self._items)

    def __contains__(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._items
