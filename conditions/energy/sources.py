"""Energy scales of runs from any conditions source (a local ``Resolver`` or the HTTP
``ConditionsClient``), each :class:`EnergyScales` with its own cache."""

from __future__ import annotations

from typing import Any, Protocol

from .cache import ScaleCache
from .scale import EnergyScale, OutsideMap, OutsideRange


class ConditionsSource(Protocol):
    """Anything that resolves a global tag and run and serves payload bytes: the local
    :class:`conditions.resolve.Resolver` and the HTTP :class:`ConditionsClient` both are."""

    def resolve(self, global_tag: str, run: int) -> Any: ...

    def payload(self, payload_hash: str) -> bytes: ...


class EnergyScales:
    """Energy scales of runs from a :class:`ConditionsSource`, with their own cache."""

    def __init__(
        self,
        source: ConditionsSource,
        *,
        outside_map: OutsideMap = "nan",
        outside_range: OutsideRange = "nan",
        cache: ScaleCache | None = None,
    ) -> None:
        self.source = source
        self.outside_map: OutsideMap = outside_map
        self.outside_range: OutsideRange = outside_range
        self.cache = cache or ScaleCache()

    def for_run(self, global_tag: str, run: int) -> EnergyScale:
        """The energy scale of ``run`` under ``global_tag`` (built once per set of hashes)."""
        res = self.source.resolve(global_tag, run)
        return EnergyScale.from_resolved(
            res.records,
            self.source.payload,
            outside_map=self.outside_map,
            outside_range=self.outside_range,
            cache=self.cache,
        )
