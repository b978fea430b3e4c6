"""EnergyScales over the conditions-source protocol, with caches that are objects."""

from __future__ import annotations

from dataclasses import dataclass

from conditions import energy
from conditions.energy import EnergyScale, EnergyScales, ScaleCache
from conditions.payloads import encode_payload, examples, payload_hash


@dataclass(frozen=True)
class Item:
    record: str
    payload_type: str
    payload_hash: str
    since: int
    until: int | None


@dataclass(frozen=True)
class Resolution:
    records: dict[str, Item]


class Source:
    """A minimal ConditionsSource: resolve + payload bytes (what Resolver and the client do)."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.records: dict[str, Item] = {}
        for name in (*energy.REQUIRED_RECORDS, *energy.OPTIONAL_RECORDS):
            data = encode_payload(examples.all_payloads()[name])
            digest = payload_hash(data)
            self.blobs[digest] = data
            self.records[name] = Item(name, name, digest, 1, None)
        self.fetched = 0

    def resolve(self, global_tag: str, run: int) -> Resolution:
        return Resolution(self.records)

    def payload(self, payload_hash: str) -> bytes:
        self.fetched += 1
        return self.blobs[payload_hash]


def test_scales_of_a_source_use_their_own_cache() -> None:
    src = Source()
    a, b = EnergyScales(src), EnergyScales(src)
    first = a.for_run("GT", 1)
    assert a.for_run("GT", 2) is first  # same hashes: the same object, nothing fetched again
    assert src.fetched == len(src.records)
    other = b.for_run("GT", 1)
    assert other is not first  # another EnergyScales has another cache
    assert a.cache.stats()["scales"] == (1, 1)
    energy.clear_caches()  # the default cache does not touch theirs
    assert a.for_run("GT", 3) is first


def test_explicit_cache_is_used_by_from_resolved() -> None:
    src = Source()
    cache = ScaleCache()
    s1 = EnergyScale.from_resolved(src.records, src.payload, cache=cache)
    s2 = EnergyScale.from_resolved(src.records, src.payload, cache=cache)
    assert s1 is s2 and cache.stats()["payloads"][1] == len(src.records)
