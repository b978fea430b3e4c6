"""Benchmark of the HTTP conditions service on loopback: lookups at random runs against the
framework floor, and (``--suite all``) a 2 MB payload with and without the nginx cache.

    python benchmarks/bench_service.py [--db URL] [--duration 4] [--connections 32]
                                       [--iovs 1000] [--workers 2] [--suite lookups|all]
                                       [--baseline DIR] [--paced-rate 1000]
                                       [--paced-connections 8]

``lookups`` (issue 15): 8 records with ``--iovs`` IOVs per tag (loaded through the public write
path), an open global tag ``L-open`` and a frozen clone ``L``.  With ``--workers`` uvicorn
workers (the ``conddb serve`` stack: uvloop, httptools, :mod:`conditions.service.protocol`):

* floor: a minimal ASGI app (:func:`floor_app`, no framework) on the same uvicorn stack that
  answers every ``/v1/resolve/L/<run>`` with fixed bytes of a lookup's size;
* ``GET /v1/resolve/L/<random run>`` (frozen: a bisection and a dict hit) and
  ``GET /v1/resolve/L-open/<random run>`` (open: plus one change-counter query);

printing req/s, p50, p99, the ratio to the floor (target >= 0.5) and p99/p50 (target <= 10),
saturated (``--connections``) and paced (about ``--paced-rate`` req/s offered: the latency of
one request, beside the floor's own p99/p50 in the same run; :func:`lookup_rows`).
``--baseline DIR`` serves the same database with another checkout's code in the same rounds
(before/after in one run).

``all`` adds the former rows: a frozen and an open lookup at one run, the 2 MB payload and the
HSF routes, direct and through nginx (``deploy/nginx/conddb-locations.conf``, warm cache), against
nginx serving the same bytes as static files.

The load generator is ``wrk`` (``--latency``; random runs by a Lua script; every run bounded by
``--duration`` seconds and ``--connections`` connections, loopback only); without wrk a bounded
Python/httpx generator is used (slower, so its figures are a lower bound).  Without nginx the
cache and floor rows of ``all`` are skipped.  Every process started here is stopped.
"""

from __future__ import annotations

import argparse
import os
import random
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
from typing import Any
from urllib.parse import urlsplit

import httpx

from conditions import migrate, store
from conditions.db import make_engine, write_session
from conditions.payloads import encode_payload, examples
from conditions.service.testing import free_socket

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support: the fixtures
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


RECORDS = 8
#: runs between two IOVs of a tag (every record changes at the same runs: one segment per IOV)
STEP = 10


def seed_lookups(url: str, n_iovs: int) -> tuple[int, int]:
    """8 records of ``n_iovs`` IOVs each, one every :data:`STEP` runs from run 0 (16 distinct
    payloads per record), in the open global tag ``L-open`` and its frozen clone ``L``; returns
    the range of runs asked (first, last)."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    with write_session(engine) as s:
        store.ensure_payload_type(s, "json")
        store.create_global_tag(s, "L-open")
        for k in range(RECORDS):
            blobs = [f'{{"k":{k},"v":{v}}}'.encode() for v in range(16)]
            hashes = [r.hash for r in store.put_payloads(s, "json", blobs)]
            store.create_tag(s, f"bench{k}-v1", "json")
            iovs = [(i * STEP, hashes[(i + k) % 16]) for i in range(n_iovs)]
            store.append_iovs(s, f"bench{k}-v1", iovs)
            store.set_record(s, "L-open", f"rec{k}", f"bench{k}-v1")
        store.clone_global_tag(s, "L-open", "L")
        publish(s, "L")
    engine.dispose()
    return 0, n_iovs * STEP - 1


#: The bytes the floor app answers (set from the environment: a lookup body of the same size).
_FLOOR_BYTES = os.environ.get("BENCH_FLOOR_BYTES", "{}").encode()
_FLOOR_START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(_FLOOR_BYTES)).encode()),
        (b"cache-control", b"public, max-age=86400"),
        (b"etag", b'"0123456789abcdef0123456789abcdef"'),
    ],
}
_FLOOR_BODY = {"type": "http.response.body", "body": _FLOOR_BYTES}


async def floor_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """The framework floor: a plain ASGI app answering fixed bytes (no routing, no framework)."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    await send(_FLOOR_START)
    await send(_FLOOR_BODY)


def start_floor(workers: int, port: int, body: bytes) -> subprocess.Popen[bytes]:
    env = {**os.environ, "BENCH_FLOOR_BYTES": body.decode()}
    cmd = [
        sys.executable, "-m", "uvicorn", "--app-dir", str(REPO / "benchmarks"),
        "bench_service:floor_app", *_STACK, "--host", "127.0.0.1", "--port", str(port),
        "--workers", str(workers),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env)
    wait_http(f"http://127.0.0.1:{port}/v1/resolve/L/1", proc, "the floor app")
    return proc


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


#: The uvicorn stack of ``conddb serve`` (uvloop + httptools, TCP_NODELAY), for app and floor.
_STACK = [
    "--loop", "uvloop", "--log-level", "warning", "--no-access-log",
    "--http", "conditions.service.protocol:NoDelayHTTPProtocol",
]  # fmt: skip


def start_app(
    url: str, workers: int, port: int, checkout: Path | None = None
) -> subprocess.Popen[bytes]:
    """``conddb serve``'s app on ``port``; ``checkout``: the ``conditions`` package of another
    source tree (e.g. ``git archive main``) is imported instead of this one (PYTHONPATH first)."""
    env = {**os.environ, "CONDDB_URL": url}
    if checkout is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(checkout), env.get("PYTHONPATH", "")])
    cmd = [
        sys.executable, "-m", "uvicorn", "--factory", "conditions.service.app:create_app",
        *_STACK, "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers),
    ]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env, cwd=checkout)  # cwd: first on sys.path
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


#: A ``url`` ending in ``{run}`` asks for uniformly random runs ``RUNS`` = (first, last).
RANDOM_RUN = "{run}"
RUNS = (0, 0)

_WRK_RANDOM = """
local prefix, lo, hi = "%s", %d, %d
local n = 0
setup = function(thread) n = n + 1; thread:set("seed", n) end
init = function(args) math.randomseed(seed * 7919 + os.time()) end
request = function() return wrk.format("GET", prefix .. math.random(lo, hi)) end
"""
#: Pacing (``--paced-rate``): each connection waits this many ms before each request (wrk
#: starts a request's latency clock when it is sent, so the wait is not counted).
_WRK_DELAY = """
delay = function() return %g end
"""


def run_wrk(url: str, duration: float, connections: int, delay_ms: float = 0.0) -> Result:
    """``wrk`` on ``url`` (``{run}``: random runs); ``delay_ms`` > 0: paced connections."""
    threads = min(2, connections)
    cmd = [
        "wrk", f"-t{threads}", f"-c{connections}", f"-d{duration:g}s", "--latency",
        "--timeout", "10s",
    ]  # fmt: skip
    script = None
    if url.endswith(RANDOM_RUN):
        prefix = urlsplit(url.removesuffix(RANDOM_RUN)).path
        script = tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False)  # noqa: SIM115
        script.write(_WRK_RANDOM % (prefix, *RUNS))
        if delay_ms > 0:
            script.write(_WRK_DELAY % delay_ms)
        script.close()
        cmd += ["-s", script.name]
        url = url.removesuffix(RANDOM_RUN)
    try:
        run = subprocess.run([*cmd, url], capture_output=True, text=True, timeout=duration + 60)
    finally:
        if script is not None:
            os.unlink(script.name)
    out = run.stdout
    if "Latency Distribution" not in out:
        raise SystemExit(f"wrk failed on {url}:\n{out}\n{run.stderr}")
    lat = dict(re.findall(r"^\s+(50|99)%\s+(\S+)\s*$", out, re.M))
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    total = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    sock_err = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = int(bad.group(1)) if bad else 0
    errors += sum(int(x) for x in sock_err.groups()) if sock_err else 0
    return Result(rps, _ms(lat["50"]), _ms(lat["99"]), errors, total)


def run_python(url: str, duration: float, connections: int, delay_ms: float = 0.0) -> Result:
    """Bounded fallback load: ``connections`` threads, each one keep-alive client, for
    ``duration`` seconds or 200,000 requests in all, whichever comes first (``delay_ms``: a
    pause before each request, not timed)."""
    samples: list[float] = []
    errors = [0]
    lock = threading.Lock()
    deadline = time.monotonic() + duration

    def worker() -> None:
        local: list[float] = []
        rng = random.Random(threading.get_ident())
        with httpx.Client(timeout=10) as http:
            while time.monotonic() < deadline and len(samples) + len(local) < 200_000:
                target = url.replace(RANDOM_RUN, str(rng.randint(*RUNS)))
                if delay_ms > 0:
                    time.sleep(delay_ms / 1e3)
                t0 = time.perf_counter()
                r = http.get(target)
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


def lookup_rows(args: argparse.Namespace, load: Any) -> None:
    """Random-run lookups (open, frozen) against the framework floor, same stack, same run.

    The app (and, with ``--baseline``, the app of another checkout on the same database) and
    the floor run side by side; the targets are measured in turn, ``--rounds`` times, so a
    shared machine's changing load hits all of them alike; the figures are the medians over
    the rounds, the ratio the median of the per-round ratios.  Two tables:

    * saturated: ``--connections`` connections as fast as they go (req/s and its ratio to the
      floor's; latencies include queueing behind the other connections);
    * paced (``--paced-rate`` > 0): ``--paced-connections`` connections, each waiting before
      every request so that all of them offer about ``--paced-rate`` req/s, well below the
      floor's capacity: the latencies are then those of one request, not of a queue, and
      the floor's own p99/p50 in the same run shows what the machine (its load, the
      scheduler) adds; judge the p99/p50 target here, against the floor's."""
    global RUNS
    workers = int(args.workers.split(",")[-1])
    with tempfile.TemporaryDirectory(prefix="bench_service_") as tmp:
        url = args.db or f"sqlite:///{Path(tmp) / 'bench.sqlite'}"
        t0 = time.perf_counter()
        RUNS = seed_lookups(url, args.iovs)
        print(
            f"seeded {RECORDS} records x {args.iovs:,} IOVs in {time.perf_counter() - t0:.1f} s"
            f" ({url.split('://')[0]}); random runs {RUNS[0]}..{RUNS[1]}"
        )
        procs: list[subprocess.Popen[bytes]] = []
        try:
            app_port, floor_port = free_port(), free_port()
            procs.append(start_app(url, workers, app_port))
            direct = f"http://127.0.0.1:{app_port}"
            # the first lookup builds the index of the global tag (seconds for 1M IOVs)
            body = httpx.get(f"{direct}/v1/resolve/L/{RUNS[0] + 1}", timeout=300).content
            procs.append(start_floor(workers, floor_port, body))
            targets = {
                FLOOR: f"http://127.0.0.1:{floor_port}/v1/resolve/L/{RANDOM_RUN}",
                "lookup frozen": f"{direct}/v1/resolve/L/{RANDOM_RUN}",
                "lookup open": f"{direct}/v1/resolve/L-open/{RANDOM_RUN}",
            }
            if args.baseline is not None:
                base_port = free_port()
                procs.append(start_app(url, workers, base_port, args.baseline))
                base = f"http://127.0.0.1:{base_port}"
                targets["frozen [baseline]"] = f"{base}/v1/resolve/L/{RANDOM_RUN}"
                targets["open [baseline]"] = f"{base}/v1/resolve/L-open/{RANDOM_RUN}"
            for target in targets.values():  # warm: every worker loads its index
                load(target, min(args.duration, 3.0), args.connections)
            loads = [os.getloadavg()[0]]
            saturated: dict[str, list[Result]] = {name: [] for name in targets}
            paced: dict[str, list[Result]] = {name: [] for name in targets}
            delay_ms = 1e3 * args.paced_connections / args.paced_rate if args.paced_rate else 0
            for _ in range(args.rounds):
                for name, target in targets.items():
                    saturated[name].append(load(target, args.duration, args.connections))
                loads.append(os.getloadavg()[0])
                if delay_ms:
                    for name, target in targets.items():
                        paced[name].append(
                            load(target, args.duration, args.paced_connections, delay_ms)
                        )
                    loads.append(os.getloadavg()[0])
        finally:
            for proc in reversed(procs):
                stop(proc)
    print(
        f"\n{workers} workers, {len(body)}-byte answers, medians of {args.rounds} rounds of "
        f"{args.duration:g} s; 1-min load average during the rounds: "
        + ", ".join(f"{x:.1f}" for x in loads)
    )
    print(f"baseline: {args.baseline}" if args.baseline else "no baseline checkout")
    print_table(f"saturated: {args.connections} connections", saturated)
    if delay_ms:
        print_table(
            f"paced: {args.paced_connections} connections, {delay_ms:g} ms wait before each "
            f"request (about {args.paced_rate:g} req/s offered)",
            paced,
        )
    print(
        "x floor: req/s divided by the floor's in the same round (target >= 0.5, saturated); "
        "p99/p50 target <= 10 (paced: compare with the floor's own)"
    )


FLOOR = "floor (minimal ASGI)"


def print_table(title: str, rounds: dict[str, list[Result]]) -> None:
    """One row per target: medians over the rounds; ``x floor`` per round, then the median."""
    print(f"\n{title}")
    print(f"{'target':22} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>6} "
          f"{'x floor':>8} {'p99/p50':>8}")  # fmt: skip
    base = rounds[FLOOR]
    for name, results in rounds.items():
        ratio = statistics.median(r.rps / b.rps for r, b in zip(results, base, strict=True))
        p50 = statistics.median(r.p50_ms for r in results)
        p99 = statistics.median(r.p99_ms for r in results)
        print(
            f"{name:22} {statistics.median(r.rps for r in results):9.0f} {p50:8.2f} "
            f"{p99:8.2f} {sum(r.errors for r in results):6d} {ratio:8.2f} "
            f"{statistics.median(r.p99_ms / max(r.p50_ms, 1e-6) for r in results):8.1f}"
        )


def legacy_rows(args: argparse.Namespace, load: Any, have_nginx: bool) -> None:
    """One-run lookups, the 2 MB payload and the HSF routes, direct and through nginx."""
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--db", default=None, help="database URL (default: temporary SQLite)")
    parser.add_argument("--duration", type=float, default=4.0, help="seconds per measurement")
    parser.add_argument("--connections", type=int, default=32, help="concurrent connections")
    parser.add_argument("--workers", default="2", help="uvicorn worker counts (all: 1,2)")
    parser.add_argument("--iovs", type=int, default=1000, help="IOVs per tag (lookups)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the lookup rows")
    parser.add_argument("--suite", choices=("lookups", "all"), default="lookups")
    parser.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="another source tree (e.g. `git archive main | tar -x -C DIR`): its app is "
        "measured too, on the same database, in the same rounds",
    )
    parser.add_argument(
        "--paced-rate", type=float, default=1000.0, help="paced rows: req/s offered (0: none)"
    )
    parser.add_argument("--paced-connections", type=int, default=8, help="paced rows")
    args = parser.parse_args()
    if args.baseline is not None and not (args.baseline / "conditions").is_dir():
        raise SystemExit(f"--baseline {args.baseline}: no conditions/ package there")
    if not 0 <= args.paced_rate <= 20_000 or not 0 < args.paced_connections <= 64:
        raise SystemExit("keep 0 <= --paced-rate <= 20000 and 0 < --paced-connections <= 64")
    if not 0 < args.duration <= 30 or not 0 < args.connections <= 256:
        raise SystemExit("keep --duration <= 30 s and --connections <= 256")
    if not 0 < args.iovs <= 1_000_000 or not 0 < args.rounds <= 20:
        raise SystemExit("keep 0 < --iovs <= 1000000 and 0 < --rounds <= 20")
    load = run_wrk if shutil.which("wrk") else run_python
    have_nginx = shutil.which("nginx") is not None or Path("/usr/sbin/nginx").exists()
    print(
        f"load generator: {'wrk' if load is run_wrk else 'python/httpx (no wrk found)'}; "
        f"{args.connections} connections, {args.duration:g} s per row; cores: {os.cpu_count()}"
    )
    lookup_rows(args, load)
    if args.suite == "all":
        if not have_nginx:
            print("nginx not found: through-cache and floor rows skipped (apt-get install nginx)")
        legacy_rows(args, load, have_nginx)


if __name__ == "__main__":
    main()
