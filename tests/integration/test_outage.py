"""Database outage while the service runs (PostgreSQL): lookups answer 503 with Retry-After,
payloads already cached by hash are still served, and the service recovers by itself.

The outage is made by refusing new connections to the service's database and terminating the
open ones (``ALTER DATABASE ... ALLOW_CONNECTIONS false`` + ``pg_terminate_backend``): to the
service it looks like a server that went away, without stopping the shared server of the machine.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from conditions.db import make_engine
from conditions.service.testing import running_service
from tests.conftest import Backend
from tests.integration.test_service_read import seed


@pytest.fixture
def pg_url(backends: dict[str, Backend]) -> Iterator[str]:
    backend = backends["postgresql"]
    backend.setup()
    url = backend.new_url()
    yield url
    set_connections(backend, url, allowed=True)
    backend.drop(url)


def set_connections(backend: Backend, url: str, *, allowed: bool) -> None:
    assert backend.admin is not None
    name = make_url(url).database
    with backend.admin.connect() as conn:
        conn.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS {str(allowed).lower()}'))
        if not allowed:
            conn.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :d"),
                {"d": name},
            )


def test_outage_503_cached_payloads_and_recovery(
    pg_url: str, backends: dict[str, Backend], tmp_path: Path
) -> None:
    engine = make_engine(pg_url)
    hashes, _ = seed(engine)
    engine.dispose()
    with running_service(pg_url, tmp_path) as svc, httpx.Client(base_url=svc.base_url,
                                                                timeout=30) as http:
        assert http.get("/v1/resolve/OPEN/22").status_code == 200
        payload = http.get(f"/v1/payloads/{hashes[0]}")
        assert payload.status_code == 200

        set_connections(backends["postgresql"], pg_url, allowed=False)
        down = http.get("/v1/resolve/OPEN/23")
        assert down.status_code == 503, down.text
        assert int(down.headers["Retry-After"]) > 0
        assert down.json()["status"] == 503 and "Traceback" not in down.text
        cached = http.get(f"/v1/payloads/{hashes[0]}")
        assert cached.status_code == 200 and cached.content == payload.content
        assert http.get("/v1/resolve/OPEN/24").status_code == 503

        set_connections(backends["postgresql"], pg_url, allowed=True)
        statuses = []
        for _ in range(20):  # recovers without a restart (the pool reconnects)
            statuses.append(http.get("/v1/resolve/OPEN/25").status_code)
            if statuses[-1] == 200:
                break
            time.sleep(0.25)
        assert statuses[-1] == 200, statuses
        assert statuses.count(503) <= 1, statuses
