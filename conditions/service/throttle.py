"""Throttling of failed authentications: a token bucket per client address.

Each client address holds up to ``per_minute`` tokens and regains ``per_minute / 60`` per
second.  Every failed attempt (a wrong, revoked or missing token, or an anonymous refused write)
takes one; with none left the client is answered 429 with ``Retry-After`` *before* its token is
looked at, so that a guessing client gets at most ``per_minute`` attempts (+ the refill) per
minute processed and audited.  The buckets live in one worker's memory (each uvicorn worker
counts on its own); the least recently seen addresses are forgotten beyond ``max_clients``.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Bucket:
    tokens: float
    stamp: float  # [s] monotonic time of the last update
    refused: int = 0  # 429s given since the bucket last ran dry


class FailureThrottle:
    """Token buckets of failed authentications per client address."""

    def __init__(
        self,
        per_minute: int,
        *,
        max_clients: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # [tokens/s]
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def _bucket(self, client: str) -> _Bucket:
        now = self._clock()
        bucket = self._buckets.get(client)
        if bucket is None:
            bucket = _Bucket(self.capacity, now)
            self._buckets[client] = bucket
            while len(self._buckets) > self.max_clients:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(client)
            bucket.tokens = min(self.capacity, bucket.tokens + (now - bucket.stamp) * self.rate)
            bucket.stamp = now
        return bucket

    def retry_after(self, client: str) -> int:
        """0 if ``client`` may try; else whole seconds until it may (and counts the refusal)."""
        with self._lock:
            bucket = self._bucket(client)
            if bucket.tokens >= 1.0:
                bucket.refused = 0
                return 0
            bucket.refused += 1
            return max(1, math.ceil((1.0 - bucket.tokens) / self.rate))

    def first_refusal(self, client: str) -> bool:
        """True for the first 429 of a throttling episode (the one worth an audit record)."""
        with self._lock:
            bucket = self._buckets.get(client)
            return bucket is not None and bucket.refused == 1

    def failed(self, client: str) -> None:
        """Take one token from ``client``'s bucket (a failed attempt)."""
        with self._lock:
            bucket = self._bucket(client)
            bucket.tokens = max(0.0, bucket.tokens - 1.0)
