"""Every payload type through the conditions store: put -> resolve -> same object and hash.

Uses the store and resolver of ``conditions`` (the lead's code) with the ``engine`` fixture of
``tests/conftest.py`` (SQLite, and PostgreSQL when reachable).
"""

from __future__ import annotations

from sqlalchemy.engine import Engine

from conditions import energy, store
from conditions.db import write_session
from conditions.energy import EnergyScale
from conditions.payloads import decode_payload, encode_payload, examples, payload_hash, type_of
from conditions.resolve import resolve


def test_put_resolve_round_trip_every_type(engine: Engine) -> None:
    models = examples.all_payloads()
    models_old = {"dark_noise": examples.dark_noise(version=1)}
    hashes: dict[str, str] = {}
    with write_session(engine) as s:
        store.create_global_tag(s, "GT")
        for record, model in models.items():
            name, version = type_of(model)
            store.register_payload_type(s, name)
            data = encode_payload(model)
            put = store.put_payload(s, name, data, schema_version=version)
            assert put.hash == payload_hash(data) and put.created
            again = store.put_payload(s, name, encode_payload(model), schema_version=version)
            assert again.hash == put.hash and not again.created
            hashes[record] = put.hash
            store.create_tag(s, f"{record}-tag", name)
            iovs = [(1, put.hash)]
            if record in models_old:  # an old-schema payload for runs 1..9, the new one from 10
                old = models_old[record]
                old_hash = store.put_payload(
                    s, name, encode_payload(old), schema_version=type_of(old)[1]
                ).hash
                iovs = [(1, old_hash), (10, put.hash)]
            store.append_iovs(s, f"{record}-tag", iovs)
            store.set_record(s, "GT", record, f"{record}-tag")

    def fetch(digest: str) -> bytes:
        with write_session(engine) as s:
            return store.payload_bytes(s, digest)

    resolution = resolve(engine, "GT", 42)
    assert set(resolution.records) == set(models)
    for record, model in models.items():
        item = resolution.records[record]
        assert item.payload_hash == hashes[record]
        data = fetch(item.payload_hash)
        assert payload_hash(data) == item.payload_hash
        back = decode_payload(item.payload_type, data)
        assert back == model and type(back) is type(model)

    energy.clear_caches()
    scale = EnergyScale.from_resolved(resolution.records, fetch)
    assert EnergyScale.from_resolved(resolve(engine, "GT", 43).records, fetch) is scale
    early = EnergyScale.from_resolved(resolve(engine, "GT", 5).records, fetch)
    assert early is not scale and early.delta_q_dr == scale.delta_q_dr  # v1 payload, upgraded
    energy.clear_caches()
