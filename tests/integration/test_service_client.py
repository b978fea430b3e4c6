"""The job-side client over real HTTP, both backends: disk cache by hash, 304 revalidation,
typed errors, and the energy scale built from service payloads (Eq. 3.3, 2.4)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy.engine import Engine

from conditions import store
from conditions.db import make_engine, write_session
from conditions.energy import EnergyScale, clear_caches
from conditions.errors import GlobalTagNotFound, InvalidInput, RunNotCovered
from conditions.payloads import encode_payload, examples
from conditions.resolve import resolve, resolve_many
from conditions.service.client import ConditionsClient, ServiceUnavailable
from conditions.service.testing import RunningService, free_socket, running_service
from tests.support.lifecycle import publish


@dataclass
class Setup:
    svc: RunningService
    engine: Engine
    hashes: dict[str, str]  # record -> payload hash of the energy payloads


@pytest.fixture
def setup(db_url: str, tmp_path: Path) -> Iterator[Setup]:
    """Global tags 'E' (frozen) and 'E-open' with the six energy records from the paper's
    reference numbers (IOV since 100), plus a json record 'x' in 'E-open' (sinces 100, 200)."""
    engine = make_engine(db_url)
    hashes: dict[str, str] = {}
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        store.create_global_tag(s, "E-open")
        for record, model in examples.all_payloads().items():
            store.register_payload_type(s, record)
            hashes[record] = store.put_payload(s, record, encode_payload(model)).hash
            store.create_tag(s, f"{record}-v1", record)
            store.append_iovs(s, f"{record}-v1", [(100, hashes[record])])
            store.set_record(s, "E-open", record, f"{record}-v1")
        store.clone_global_tag(s, "E-open", "E")
        publish(s, "E")
        x = [store.put_payload(s, "json", f'{{"x":{k}}}'.encode()).hash for k in range(2)]
        store.create_tag(s, "tx", "json")
        store.append_iovs(s, "tx", [(100, x[0]), (200, x[1])])
        store.set_record(s, "E-open", "x", "tx")
    with running_service(db_url, tmp_path / "svc") as svc:
        yield Setup(svc, engine, hashes)
    engine.dispose()


def test_restarted_job_fetches_nothing_again(setup: Setup, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with ConditionsClient(setup.svc.base_url, cache) as job:
        res = job.resolve("E", 150)
        assert res == resolve(setup.engine, "E", 150)  # same typed result as the library
        for item in res.records.values():
            assert store.sha256_hex(job.payload(item.payload_hash)) == item.payload_hash
        assert job.requests == 1 + len(res.records)
    lpmt = cache / "payloads" / setup.hashes["lpmt_nonlinearity"][:2]
    assert (lpmt / setup.hashes["lpmt_nonlinearity"]).stat().st_size > 2_000_000

    with ConditionsClient(setup.svc.base_url, cache) as restarted:
        res2 = restarted.resolve("E", 150)
        data = {h.payload_hash: restarted.payload(h.payload_hash) for h in res2.records.values()}
        assert res2 == res and len(data) == len(res.records)  # one payload per record
        assert restarted.requests == 0  # frozen lookup and payloads: all from the disk cache

    # a corrupt cache entry is detected by its hash and fetched again
    (lpmt / setup.hashes["lpmt_nonlinearity"]).write_bytes(b"garbage")
    with ConditionsClient(setup.svc.base_url, cache) as repaired:
        fixed = repaired.payload(setup.hashes["lpmt_nonlinearity"])
        assert store.sha256_hex(fixed) == setup.hashes["lpmt_nonlinearity"]
        assert repaired.requests == 1


def test_open_global_tag_is_revalidated_with_304(setup: Setup, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with ConditionsClient(setup.svc.base_url, cache) as first:
        before = first.resolve("E-open", 250)
    with ConditionsClient(setup.svc.base_url, cache) as second:
        assert second.resolve("E-open", 250) == before
        assert (second.requests, second.not_modified) == (1, 1)
        # a new IOV for run 250 must be seen at once (revalidation), not after a TTL
        with write_session(setup.engine) as s:
            h = store.put_payload(s, "json", b'{"x":9}').hash
            store.append_iovs(s, "tx", [(240, h)])
        after = second.resolve("E-open", 250)
        assert after["x"].payload_hash == h and after["x"].since == 240
        assert second.not_modified == 1


def test_batch_resolve_matches_the_library(setup: Setup) -> None:
    runs = [100, 101, 150, 199, 200, 201, 5000]
    with ConditionsClient(setup.svc.base_url) as job:
        assert job.resolve_many("E-open", runs) == resolve_many(setup.engine, "E-open", runs)
        span = range(180, 230)
        assert job.resolve_many("E-open", span, record="x") == resolve_many(
            setup.engine, "E-open", span, record="x"
        )
        assert job.requests == 2


def test_energy_scale_from_the_service_equals_the_local_one(setup: Setup, tmp_path: Path) -> None:
    clear_caches()
    rng = np.random.default_rng(1)
    n = 1000
    e_true = rng.uniform(1.0, 8.0, n)  # [MeV]
    x, y, z = (rng.uniform(-10.0, 10.0, n) for _ in range(3))  # [m], inside the map
    local = EnergyScale.from_payloads(examples.all_payloads())
    pe = e_true * 1345.0 + 184.8  # Y0 = 1345 PE/MeV, dark noise 184.8 PE (paper, sec. 2.1/2.3)
    expected = local.reconstruct(pe, x, y, z)
    clear_caches()
    with ConditionsClient(setup.svc.base_url, tmp_path / "cache") as job:
        scale = job.energy_scale("E", 150)
        got = scale.reconstruct(pe, x, y, z)
    # same payload bytes -> same numbers, bit for bit
    np.testing.assert_array_equal(got.e_vis, expected.e_vis)
    np.testing.assert_array_equal(got.e_rec, expected.e_rec)
    np.testing.assert_array_equal(got.flags, expected.flags)
    # ...and the comparison is between numbers, not between NaNs (a few events may be flagged)
    assert np.count_nonzero(np.isfinite(got.e_rec)) > 0.9 * n


def test_client_raises_typed_errors(setup: Setup) -> None:
    with ConditionsClient(setup.svc.base_url) as job:
        with pytest.raises(RunNotCovered, match="run 99"):
            job.resolve("E", 99)
        with pytest.raises(GlobalTagNotFound):
            job.resolve("NOPE", 150)
        with pytest.raises(InvalidInput):
            job.payload("zz")
    sock = free_socket()  # a port nobody listens on
    port = sock.getsockname()[1]
    sock.close()
    with (
        ConditionsClient(f"http://127.0.0.1:{port}", retries=2, timeout=2) as down,
        pytest.raises(ServiceUnavailable, match="cannot reach"),
    ):
        down.resolve("E", 150)
