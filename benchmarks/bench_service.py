"""Benchmark of the HTTP conditions service on loopback: lookups and a 2 MB payload, with and
without the nginx cache, against nginx serving a static file of the same size (the floor).

    python benchmarks/bench_service.py [--db URL] [--duration 4] [--connections 16]

Fills a database (default: a temporary SQLite file) with the six energy payloads of
``conditions.payloads.examples`` (the LPMT channel non-linearity is the 2.3 MB one) in a frozen
global tag ``E`` and an open one ``E-open``.  Then, for 1 and 2 uvicorn workers:

* direct: ``GET /v1/resolve/E/150`` (frozen: served from the in-process cache),
  ``GET /v1/resolve/E-open/150`` (open: one SQL query per request) and ``GET /v1/payloads/<2 MB>``;
* through nginx (``deploy/nginx/conddb-locations.conf``, warm cache): the same URLs;
* floor: nginx serving ``static/resolve.json`` (the bytes of the frozen lookup) and
  ``static/payload.bin`` (the bytes of the 2 MB payload) from disk.

The load generator is ``wrk`` (``--latency``; every run bounded by ``--duration`` seconds and
``--connections`` connections, loopback only); without wrk a bounded Python/httpx generator is used
(slower, so its figures are a lower bound).  Without nginx the cache and floor rows are skipped
(``apt-get install -y nginx`` adds them).  Loopback only; every process started here is stopped.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from conditions import migrate, store
from conditions.db import make_engine, write_session
from conditions.payloads import encode_payload, examples
from conditions.service.testing import free_socket
from tests.support.lifecycle import publish

REPO = Path(__file__).resolve().parent.parent
LOCATIONS = REPO / "deploy" / "nginx" / "conddb-locations.conf"


@dataclass(frozen=True)
class Result:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    requests: int


def seed(url: str) -> tuple[str, bytes]:
    """Fill the database; returns the 2 MB payload's hash and bytes."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    big = ""
    with write_session(engine) as s:
        store.create_global_tag(s, "E-open")
        for record, model in examples.all_payloads().items():
            store.register_payload_type(s, record)
            h = store.put_payload(s, record, encode_payload(model)).hash
            if record == "lpmt_nonlinearity":
                big = h
            store.create_tag(s, f"{record}-v1", record)
            store.append_iovs(s, f"{record}-v1", [(100, h)])
            store.set_record(s, "E-open", record, f"{record}-v1")
        store.clone_global_tag(s, "E-open", "E")
        publish(s, "E")
        data = store.payload_bytes(s, big)
    engine.dispose()
    return big, data


def free_port() -> int:
    sock = free_socket()
    port = int(sock.getsockname()[1])
    sock.close()
    return port


def wait_http(url: str, proc: subprocess.Popen[bytes], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if httpx.get(url, timeout=1).status_code < 500:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"{what} did not start")
        time.sleep(0.05)


def start_app(url: str, workers: int, port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "CONDDB_URL": url}
    cmd = [
        sys.executable, "-m", "uvicorn", "--factory", "conditions.service.app:create_app",
        "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
        "--log-level", "warning", "--no-access-log",
        "--http", "conditions.service.protocol:NoDelayHTTPProtocol",  # as `conddb serve` does
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env)
    wait_http(f"http://127.0.0.1:{port}/healthz", proc, "the conditions service")
    return proc


def nginx_config(work: Path, port: int, app_port: int) -> Path:
    """An nginx config: the deploy locations in front of the app, plus /static/ (the floor)."""
    for sub in ("cache", "tmp"):
        (work / sub).mkdir(exist_ok=True)
    user = "user root;" if os.geteuid() == 0 else ""
    conf = f"""
{user}
daemon off;
worker_processes 1;
pid {work}/nginx.pid;
error_log {work}/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    tcp_nodelay on;
    default_type application/octet-stream;
    client_body_temp_path {work}/tmp/body;
    proxy_temp_path {work}/tmp/proxy;
    fastcgi_temp_path {work}/tmp/fastcgi;
    uwsgi_temp_path {work}/tmp/uwsgi;
    scgi_temp_path {work}/tmp/scgi;
    proxy_cache_path {work}/cache levels=1:2 keys_zone=conddb:16m max_size=1g inactive=1d
                     use_temp_path=off;
    upstream conddb_app {{ server 127.0.0.1:{app_port}; keepalive 32; }}
    server {{
        listen 127.0.0.1:{port};
        location /static/ {{
            alias {work}/static/;
            add_header Cache-Control "public, max-age=31536000, immutable";
        }}
        include {LOCATIONS};
    }}
}}
"""
    path = work / "nginx.conf"
    path.write_text(conf)
    return path


def start_nginx(conf: Path, port: int) -> subprocess.Popen[bytes]:
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    check = subprocess.run([nginx, "-t", "-c", str(conf)], capture_output=True, text=True)
    if check.returncode != 0:
        raise SystemExit(f"nginx config invalid:\n{check.stderr}")
    proc = subprocess.Popen([nginx, "-c", str(conf)])
    wait_http(f"http://127.0.0.1:{port}/static/resolve.json", proc, "nginx")
    return proc


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3}


def _ms(text: str) -> float:
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    if m is None:
        raise ValueError(f"cannot parse wrk latency {text!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def run_wrk(url: str, duration: float, connections: int) -> Result:
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration:g}s", "--latency", "--timeout", "10s"]
    out = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=duration + 60).stdout
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)$", out, re.M))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock_err = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = int(bad.group(1)) if bad else 0
    errors += sum(int(x) for x in sock_err.groups()) if sock_err else 0
    return Result(rps, _ms(lat["50"]), _ms(lat["99"]), errors, total)


def run_python(url: str, duration: float, connections: int) -> Result:
    """Bounded fallback load: ``connections`` threads, each one keep-alive client, for
    ``duration`` seconds or 200,000 requests in all, whichever comes first."""
    samples: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def worker() -> None:
        local: list[float] = []
        with httpx.Client(timeout=10) as http:
            while time.monotonic() < deadline and len(samples) + len(local) < 200_000:
                t0 = time.perf_counter()
                r = http.get(url)
                local.append(time.perf_counter() - t0)
                if r.status_code >= 400:
                    with lock:
                        errors[0] += 1
        with lock:
            samples.extend(local)

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - t0
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return Result(
        len(samples) / elapsed, statistics.median(ordered) * 1e3, p99 * 1e3, errors[0], len(samples)
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=None, help="database URL (default: temporary SQLite)")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=16, help="concurrent connections")
    parser.add_argument("--workers", default="1,2", help="uvicorn worker counts to measure")
    args = parser.parse_args()
    if not 0 < args.duration <= 30 or not 0 < args.connections <= 256:
        raise SystemExit("keep --duration <= 30 s and --connections <= 256")
    load = run_wrk if shutil.which("wrk") else run_python
    have_nginx = shutil.which("nginx") is not None or Path("/usr/sbin/nginx").exists()
    print(
        f"load generator: {'wrk' if load is run_wrk else 'python/httpx (no wrk found)'}; "
        f"{args.connections} connections, {args.duration:g} s per row; cores: {os.cpu_count()}"
    )
    if not have_nginx:
        print("nginx not found: through-cache and floor rows skipped (apt-get install -y nginx)")

    with tempfile.TemporaryDirectory(prefix="bench_service_") as tmp:
        work = Path(tmp)
        url = args.db or f"sqlite:///{work / 'bench.sqlite'}"
        big, big_bytes = seed(url)
        print(f"2 MB payload: {big[:16]}... {len(big_bytes):,} bytes")
        paths = {
            "resolve frozen": "/v1/resolve/E/150",
            "resolve open": "/v1/resolve/E-open/150",
            "payload 2 MB": f"/v1/payloads/{big}",
            # the HSF (NoPayloadDB) routes over the same data (docs/HSF.md)
            "hsf query frozen": "/api/cdb_rest/payload-iovs/query/?gtName=E&majorIOV=150",
            "hsf query open": "/api/cdb_rest/payload-iovs/query/?gtName=E-open&majorIOV=150",
            "hsf legacy rows frozen": "/api/cdb_rest/payloadiovs/?gtName=E&majorIOV=150",
            "hsf dbstore 2 MB": f"/dbstore/lpmt_nonlinearity/{big}",
        }
        rows: list[tuple[str, int, str, Result]] = []
        floor: dict[str, Result] = {}
        for workers in [int(w) for w in args.workers.split(",")]:
            app_port = free_port()
            app = start_app(url, workers, app_port)
            nginx = None
            try:
                direct = f"http://127.0.0.1:{app_port}"
                resolve_body = httpx.get(direct + paths["resolve frozen"]).content
                for name, path in paths.items():
                    httpx.get(direct + path)  # warm the in-process caches
                    rows.append(
                        (
                            "direct",
                            workers,
                            name,
                            load(direct + path, args.duration, args.connections),
                        )
                    )
                if have_nginx:
                    (work / "static").mkdir(exist_ok=True)
                    (work / "static" / "resolve.json").write_bytes(resolve_body)
                    (work / "static" / "payload.bin").write_bytes(big_bytes)
                    port = free_port()
                    nginx_work = work / f"nginx{workers}"
                    nginx_work.mkdir()
                    (nginx_work / "static").symlink_to(work / "static")
                    nginx = start_nginx(nginx_config(nginx_work, port, app_port), port)
                    cached = f"http://127.0.0.1:{port}"
                    for name, path in paths.items():
                        httpx.get(cached + path)
                        status = httpx.get(cached + path).headers.get("x-cache-status")
                        label = f"{name} [{status}]"
                        rows.append(
                            (
                                "nginx cache",
                                workers,
                                label,
                                load(cached + path, args.duration, args.connections),
                            )
                        )
                    if not floor:
                        floor["resolve"] = load(
                            cached + "/static/resolve.json", args.duration, args.connections
                        )
                        floor["payload"] = load(
                            cached + "/static/payload.bin", args.duration, args.connections
                        )
            finally:
                if nginx is not None:
                    stop(nginx)
                stop(app)

    print()
    header = f"{'path':12} {'workers':>7} {'target':34} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
    print(header + f" {'errors':>6} {'floor/rps':>9}")
    for kind, fl in floor.items():
        print(
            f"{'nginx static':12} {'-':>7} {kind + ' (same bytes)':34} {fl.rps:9.0f} "
            f"{fl.p50_ms:8.2f} {fl.p99_ms:8.2f} {fl.errors:6d} {1.0:9.2f}"
        )
    for mode, n_workers, name, r in rows:
        ref = floor.get("payload" if "payload" in name else "resolve")
        ratio = f"{ref.rps / r.rps:9.2f}" if ref is not None and r.rps > 0 else f"{'-':>9}"
        print(
            f"{mode:12} {n_workers:>7} {name:34} {r.rps:9.0f} {r.p50_ms:8.2f} {r.p99_ms:8.2f} "
            f"{r.errors:6d} {ratio}"
        )
    print(
        "\nfloor/rps: requests/s of nginx serving the same bytes as a static file, divided by the"
        " row's requests/s (1.0 = as fast as the floor)."
    )


if __name__ == "__main__":
    main()
