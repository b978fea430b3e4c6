"""The caching tier for real (issue 15): the service (uvicorn) behind nginx with the locations of
``deploy/nginx/conddb-locations.conf``, on SQLite and PostgreSQL.

* a frozen lookup is fetched from the service once, then served by nginx (``X-Cache-Status:
  HIT``);
* an open one is revalidated once its ``max-age`` (``CONDDB_OPEN_MAX_AGE``) has passed: nginx
  sends ``If-None-Match``, the service answers ``304`` (its access log says so) and nginx
  reports ``REVALIDATED``;
* an IOV appended under the open global tag is visible through nginx within that max-age
  (plus the second nginx rounds it to);
* 2,000 clients asking at once for a run nobody asked before (and again once the answer has
  expired) make at most a handful of requests to the service, counted in its access log;
* the HSF API's lookups and payload bytes are cached by the same rules.

nginx is Debian's (``scripts/install-nginx``, run by ``scripts/test``), started as the current
user with a prefix and cache in a temporary folder.  Without nginx the test is skipped on a
developer's machine and fails under ``CI=true``.
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from conditions import store
from conditions.db import make_engine, write_session
from conditions.service.testing import free_socket
from tests.conftest import IN_CI, Backend, _backend_params
from tests.support.lifecycle import publish

REPO = Path(__file__).resolve().parents[2]
LOCATIONS = REPO / "deploy" / "nginx" / "conddb-locations.conf"
NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
OPEN_MAX_AGE = 2  # [s] CONDDB_OPEN_MAX_AGE of the service under test
#: nginx keeps time in whole seconds: an entry is fresh until the end of the second in which
#: max-age runs out, i.e. for up to max-age + 1 s [s]
EXPIRED = OPEN_MAX_AGE + 1.2
CLIENTS = 2000
HANDFUL = 5  # most requests that may reach the service for one URL asked by CLIENTS at once


def _port() -> int:
    sock = free_socket()
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def _nginx_conf(work: Path, port: int, app_port: int) -> Path:
    """A test nginx.conf: deploy/nginx's locations, upstream = the service, all paths in work."""
    for sub in ("cache", "tmp", "logs"):
        (work / sub).mkdir(exist_ok=True)
    user = "user root;" if os.geteuid() == 0 else ""  # workers stay root: the cache is ours
    conf = f"""
{user}
daemon off;
worker_processes 2;
worker_rlimit_nofile 16384;
pid {work}/nginx.pid;
error_log {work}/logs/error.log warn;
events {{ worker_connections 8192; }}
http {{
    access_log off;
    client_body_temp_path {work}/tmp/body;
    proxy_temp_path {work}/tmp/proxy;
    fastcgi_temp_path {work}/tmp/fastcgi;
    uwsgi_temp_path {work}/tmp/uwsgi;
    scgi_temp_path {work}/tmp/scgi;
    proxy_cache_path {work}/cache levels=1:2 keys_zone=conddb:8m max_size=256m inactive=1h
                     use_temp_path=off;
    upstream conddb_app {{ server 127.0.0.1:{app_port}; keepalive 16; }}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        include {LOCATIONS};
    }}
}}
"""
    path = work / "nginx.conf"
    path.write_text(conf)
    return path


def _wait(url: str, proc: subprocess.Popen[bytes], what: str, log: Path) -> None:
    deadline = time.monotonic() + 120
    while True:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"{what} did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class Tier:
    url: str  # nginx
    db_url: str
    log: Path  # the service's output, with its access log
    hashes: list[str]

    def upstream(self, path: str, status: int | None = None) -> int:
        """Requests for ``path`` the service has answered (with ``status``), from its log."""
        pattern = rf'"GET {re.escape(path)} HTTP/1\.1" {status or ""}'
        return len(re.findall(pattern, self.log.read_text()))

    def get(self, path: str) -> httpx.Response:
        response = httpx.get(self.url + path, timeout=30)
        assert response.status_code == 200, (path, response.status_code, response.text)
        return response


@pytest.fixture(scope="module", params=_backend_params())
def tier(
    request: pytest.FixtureRequest,
    backends: dict[str, Backend],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Tier]:
    if NGINX is None:
        message = "nginx is not installed (scripts/install-nginx)"
        if IN_CI:
            pytest.fail(message + " and CI=true: the caching-tier test must run", pytrace=False)
        pytest.skip(message)
    backend = backends[request.param]
    backend.setup()
    db_url = backend.new_url()
    work = tmp_path_factory.mktemp(f"nginx-{request.param}")
    engine = make_engine(db_url)
    with write_session(engine) as s:
        store.ensure_payload_type(s, "json")
        hashes = [
            r.hash for r in store.put_payloads(s, "json", [b'{"v":%d}' % v for v in range(8)])
        ]
        store.create_global_tag(s, "nx-open")
        for k, rec in enumerate(("a", "b")):
            store.create_tag(s, f"nx-{rec}", "json")
            store.append_iovs(s, f"nx-{rec}", [(0, hashes[k]), (100, hashes[k + 2])])
            store.set_record(s, "nx-open", rec, f"nx-{rec}")
        store.clone_global_tag(s, "nx-open", "nx-frozen")
        publish(s, "nx-frozen")
    engine.dispose()

    app_port, port = _port(), _port()
    log = work / "service.log"
    env = {**os.environ, "CONDDB_URL": db_url, "CONDDB_OPEN_MAX_AGE": str(OPEN_MAX_AGE)}
    cmd = [
        sys.executable, "-m", "uvicorn", "--factory", "conditions.service.app:create_app",
        "--host", "127.0.0.1", "--port", str(app_port), "--workers", "1", "--log-level", "info",
        "--http", "conditions.service.protocol:NoDelayHTTPProtocol", "--no-proxy-headers",
    ]  # fmt: skip
    with log.open("wb") as out:
        app = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT)
    proxy = None
    try:
        _wait(f"http://127.0.0.1:{app_port}/healthz", app, "the service", log)
        conf = _nginx_conf(work, port, app_port)
        nginx = [NGINX, "-p", str(work), "-e", str(work / "logs" / "error.log"), "-c", str(conf)]
        check = subprocess.run([*nginx, "-t"], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        proxy = subprocess.Popen(nginx)
        _wait(f"http://127.0.0.1:{port}/healthz", proxy, "nginx", work / "logs" / "error.log")
        yield Tier(f"http://127.0.0.1:{port}", db_url, log, hashes)
    finally:
        if proxy is not None:
            _stop(proxy)
        _stop(app)
        backend.drop(db_url)


def test_frozen_lookups_are_cache_hits(tier: Tier) -> None:
    path = "/v1/resolve/nx-frozen/150"
    first, second = tier.get(path), tier.get(path)
    assert first.headers["x-cache-status"] == "MISS"
    assert second.headers["x-cache-status"] == "HIT"
    assert first.content == second.content
    assert first.json()["records"]["a"]["payload_hash"] == tier.hashes[2]
    assert tier.upstream(path) == 1


def test_open_lookups_revalidate_with_304(tier: Tier) -> None:
    path = "/v1/resolve/nx-open/160"
    t0 = time.monotonic()
    first = tier.get(path)
    assert first.headers["x-cache-status"] == "MISS"
    second = tier.get(path)
    if time.monotonic() - t0 < OPEN_MAX_AGE:  # (a stalled machine may take longer)
        assert second.headers["x-cache-status"] == "HIT"  # fresh for OPEN_MAX_AGE
    assert f"max-age={OPEN_MAX_AGE}" in first.headers["cache-control"]
    time.sleep(EXPIRED)
    again = tier.get(path)
    log = tier.log.read_text()[-2000:]
    assert again.headers["x-cache-status"] == "REVALIDATED", (again.headers, log)
    assert again.content == first.content and again.headers["etag"] == first.headers["etag"]
    assert tier.upstream(path, 200) == 1, log
    assert tier.upstream(path, 304) >= 1, log  # nginx sent If-None-Match, the service said 304


def test_new_iov_is_visible_within_the_open_max_age(tier: Tier) -> None:
    path, frozen = "/v1/resolve/nx-open/250", "/v1/resolve/nx-frozen/250"
    assert tier.get(path).json()["records"]["a"]["payload_hash"] == tier.hashes[2]
    assert tier.get(frozen).json()["records"]["a"]["payload_hash"] == tier.hashes[2]
    engine = make_engine(tier.db_url)
    with write_session(engine) as s:
        store.append_iovs(s, "nx-a", [(200, tier.hashes[7])])
    engine.dispose()
    committed = time.monotonic()
    while True:
        seen = tier.get(path).json()["records"]["a"]
        elapsed = time.monotonic() - committed
        if seen["payload_hash"] == tier.hashes[7]:
            break
        assert elapsed <= EXPIRED + 0.5, f"still {seen} {elapsed:.1f} s after the commit"
        time.sleep(0.05)
    assert seen["since"] == 200
    # the frozen global tag resolves as of its snapshot: the append is not part of it
    assert tier.get(frozen).json()["records"]["a"]["payload_hash"] == tier.hashes[2]


async def _ask_at_once(url: str, path: str, clients: int) -> list[tuple[int, bytes]]:
    """``clients`` connections opened first, then the same GET sent on all of them at once;
    returns (status, body) of every answer."""
    parts = httpx.URL(url)
    opened = await asyncio.gather(
        *(asyncio.open_connection(parts.host, parts.port) for _ in range(clients))
    )
    request = f"GET {path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n".encode()
    for _, writer in opened:
        writer.write(request)

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bytes:
        data = await reader.read()
        writer.close()
        return data

    raw = await asyncio.wait_for(asyncio.gather(*(answer(r, w) for r, w in opened)), 120)
    out = []
    for data in raw:
        head, _, body = data.partition(b"\r\n\r\n")
        out.append((int(head.split(b" ", 2)[1]), body))
    return out


@pytest.mark.parametrize("gt", ["nx-frozen", "nx-open"])
def test_thousands_of_clients_make_a_handful_of_upstream_requests(tier: Tier, gt: str) -> None:
    path = f"/v1/resolve/{gt}/{350 if gt == 'nx-open' else 450}"
    answers = asyncio.run(_ask_at_once(tier.url, path, CLIENTS))
    assert [s for s, _ in answers] == [200] * CLIENTS
    assert len({b for _, b in answers}) == 1
    assert 1 <= tier.upstream(path) <= HANDFUL, tier.upstream(path)
    if gt == "nx-open":  # once expired, the herd again: one revalidation, not thousands
        before = tier.upstream(path)
        time.sleep(EXPIRED)
        answers = asyncio.run(_ask_at_once(tier.url, path, CLIENTS))
        assert [s for s, _ in answers] == [200] * CLIENTS
        assert 1 <= tier.upstream(path) - before <= HANDFUL, tier.upstream(path) - before


def test_hsf_routes_are_cached_by_the_same_rules(tier: Tier) -> None:
    frozen = "/api/cdb_rest/payload-iovs/query/?gtName=nx-frozen&majorIOV=170&minorIOV=0"
    first, second = tier.get(frozen), tier.get(frozen)
    assert (first.headers["x-cache-status"], second.headers["x-cache-status"]) == ("MISS", "HIT")
    assert tier.upstream(frozen) == 1
    payload = f"/dbstore/json/{tier.hashes[0]}"
    tier.get(payload)
    again = tier.get(payload)
    assert again.headers["x-cache-status"] == "HIT" and again.content == b'{"v":0}'
    assert "immutable" in again.headers["cache-control"]
    assert tier.upstream(payload) == 1
    missing = "/api/cdb_rest/global-tags/no-such-gt"  # errors are never cached
    for _ in range(2):
        assert httpx.get(tier.url + missing).status_code == 404
    assert tier.upstream(missing) == 2
