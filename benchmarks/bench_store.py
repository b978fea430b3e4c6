"""Benchmark of the conditions store: lookup latency vs tag size, cache, bulk append.

    python benchmarks/bench_store.py [--backend sqlite|postgresql|both] [--sizes 1000,100000]
                                     [--load 100000] [--writes-only]

For each backend and size N: a global tag with 8 records whose tags hold N IOVs each.  Prints the
p50/p99 of ``resolve(gt, run)`` in-process (uncached through a held connection; through the
``Resolver`` of an open global tag; cached under a frozen global tag) and, in the same run, of one
raw indexed ``SELECT`` of a single IOV row through the driver (psycopg / sqlite3): the floor.
Also the time to append 100k IOVs to a tag with :func:`conditions.store.append_iovs`.
The ``Resolver`` answers from its in-memory IOV index (conditions/store/index.py): under an open
global tag one change-counter query per lookup, under a frozen one none; also printed: the index
build time and its memory, and the time to load 100k IOVs x 8 records with distinct payloads
through the public write path, with (same run) the same rows inserted through the bare driver,
triggers and foreign keys on (PostgreSQL COPY, SQLite executemany): the database's own share.
``--writes-only`` runs the append and the load alone.  Targets (issues 2, 15): Resolver(open)
<= 2x the raw select, frozen <= 5 us, t(1M)/t(1k) <= 1.2, index < 100 MB per 1M IOVs,
load < 60 s, 100k appends < 10 s.  The fill itself uses COPY / executemany without the triggers (not
measured).
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import psycopg
from sqlalchemy import text
from sqlalchemy.engine import Engine

from conditions import migrate, store
from conditions.db import make_engine, write_session
from conditions.resolve import Resolver, resolve

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support: the fixtures
from tests.support.lifecycle import publish

RECORDS = 8
T = TypeVar("T")
PG_ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


def percentiles(samples: list[float]) -> tuple[float, float]:
    """p50 and p99 of samples [s] in microseconds."""
    ordered = sorted(samples)
    p99 = ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]
    return statistics.median(ordered) * 1e6, p99 * 1e6


def timed(fn: Callable[[int], object], runs: list[int]) -> list[float]:
    out = []
    for run in runs:
        t0 = time.perf_counter()
        fn(run)
        out.append(time.perf_counter() - t0)
    return out


def fill(engine: Engine, backend: str, n: int, url: str) -> list[str]:
    """8 tags of n IOVs each (since = 0, 10, 20, ...), payloads cycling over 100 hashes."""
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        hashes = [store.put_payload(s, "json", f'{{"k":{k}}}'.encode()).hash for k in range(100)]
        tag_ids = [store.create_tag(s, f"tag{r}", "json").id for r in range(RECORDS)]
        store.create_global_tag(s, "GT")
        for r in range(RECORDS):
            store.set_record(s, "GT", f"rec{r}", f"tag{r}")
    now = dt.datetime.now(dt.UTC)
    # The bulk rows skip the triggers (guards, change counters, foreign keys: ~75 us per row on
    # a loaded machine): the fill is set-up, not measured, and happens before any reader.
    if backend == "postgresql":
        copy_sql = "COPY iov (tag_id, since, insertion_time, payload_hash) FROM STDIN"
        with psycopg.connect(url) as conn, conn.cursor() as cur:
            cur.execute("SET session_replication_role = replica")
            with cur.copy(copy_sql) as cp:
                for tag_id in tag_ids:
                    buf = io.StringIO()
                    for k in range(n):
                        buf.write(f"{tag_id}\t{10 * k}\t{now.isoformat()}\t{hashes[k % 100]}\n")
                    cp.write(buf.getvalue())
            cur.execute("ANALYZE iov")
    else:
        path = url.removeprefix("sqlite:///")
        lite = sqlite3.connect(path)
        stamp = now.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")  # as SQLAlchemy writes
        triggers = lite.execute(
            "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'iov'"
        ).fetchall()
        for name, _ in triggers:
            lite.execute(f'DROP TRIGGER "{name}"')
        for tag_id in tag_ids:
            lite.executemany(
                "INSERT INTO iov (tag_id, since, insertion_time, payload_hash) VALUES (?,?,?,?)",
                ((tag_id, 10 * k, stamp, hashes[k % 100]) for k in range(n)),
            )
        for _, sql in triggers:
            lite.execute(sql)
        lite.commit()
        lite.execute("ANALYZE")
        lite.close()
    return hashes


def raw_select(backend: str, url: str) -> tuple[Callable[[int], object], Callable[[], None]]:
    """One indexed single-row SELECT through the bare driver."""
    sql = (
        "SELECT payload_hash FROM iov WHERE tag_id = {p} AND since <= {p} "
        "ORDER BY since DESC LIMIT 1"
    )
    if backend == "postgresql":
        pg = psycopg.connect(url, autocommit=True)
        cur = pg.cursor()
        q = sql.format(p="%s")
        return (lambda run: cur.execute(q, (1, run)).fetchone()), pg.close
    lite = sqlite3.connect(url.removeprefix("sqlite:///"))
    q = sql.format(p="?")
    return (lambda run: lite.execute(q, (1, run)).fetchone()), lite.close


def bench_size(backend: str, url: str, n: int, lookups: int) -> dict[str, float]:
    engine = make_engine(url)
    migrate.upgrade(engine)
    t0 = time.perf_counter()
    fill(engine, backend, n, url.replace("postgresql+psycopg", "postgresql"))
    fill_s = time.perf_counter() - t0
    rng = random.Random(1)
    runs = [rng.randrange(0, 10 * n) for _ in range(lookups)]
    raw, close_raw = raw_select(backend, url.replace("postgresql+psycopg", "postgresql"))
    with engine.connect() as conn:
        for run in runs[:50]:  # warm up: statement caches, prepared statements, buffers
            resolve(conn, "GT", run)
            raw(run)
        raw_t = timed(raw, runs)
        ours_t = timed(lambda run: resolve(conn, "GT", run), runs)
        raw_t2 = timed(raw, runs)  # again, to bracket drifts of the machine
    close_raw()
    resolver = Resolver(engine, index=True)
    rss0 = rss_mb()
    t0 = time.perf_counter()
    resolver.resolve("GT", runs[0])  # builds the index of the 8 tags
    build_s = time.perf_counter() - t0
    index = resolver.index("GT")
    assert index is not None
    index_mb = index.nbytes() / 1e6
    rss_index = rss_mb() - rss0
    fresh_runs = [rng.randrange(0, 10 * n) for _ in range(lookups)]
    resolver_t = timed(lambda run: resolver.resolve("GT", run), fresh_runs)
    with write_session(engine) as s:
        publish(s, "GT")
    frozen = Resolver(engine, index=True)
    frozen.resolve("GT", runs[0])
    first_t = timed(lambda run: frozen.resolve("GT", run), fresh_runs)  # new segments
    cached_t = timed(lambda run: frozen.resolve("GT", run), fresh_runs)  # known segments now
    engine.dispose()
    raw_p50 = min(percentiles(raw_t)[0], percentiles(raw_t2)[0])
    ours_p50, ours_p99 = percentiles(ours_t)
    res_p50, res_p99 = percentiles(resolver_t)
    first_p50, _ = percentiles(first_t)
    cached_p50, cached_p99 = percentiles(cached_t)
    per_m = 1e6 / (RECORDS * n)
    print(
        f"  N={n:>8}: fill {fill_s:6.1f}s | raw select p50 {raw_p50:7.1f} us | "
        f"resolve(conn) p50 {ours_p50:7.1f} p99 {ours_p99:7.1f} us (x{ours_p50 / raw_p50:4.1f})\n"
        f"             Resolver(open GT, counter check) p50 {res_p50:7.1f} p99 {res_p99:7.1f} us "
        f"(x{res_p50 / raw_p50:4.2f} raw) | frozen new segment p50 {first_p50:5.2f} us, "
        f"known segment p50 {cached_p50:5.2f} p99 {cached_p99:5.2f} us\n"
        f"             index of {RECORDS}x{n} IOVs: build {build_s:6.2f} s, arrays "
        f"{index_mb:7.1f} MB ({index_mb * per_m:5.1f} MB per 1M IOVs), RSS +{rss_index:6.1f} MB",
        flush=True,
    )
    return {"raw": raw_p50, "resolve": ours_p50, "resolver": res_p50, "cached": cached_p50}


def rss_mb() -> float:
    """Resident set size of this process [MB] (Linux /proc)."""
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096 / 1e6


def bench_load(url: str, n: int = 100_000) -> float:
    """Seconds to load ``n`` IOVs x 8 records, each a distinct payload, through the public write
    path (store.put_payloads + store.append_iovs, one transaction per record)."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        store.create_global_tag(s, "LOAD")
    t0 = time.perf_counter()
    for r in range(RECORDS):
        with write_session(engine) as s:
            store.create_tag(s, f"load{r}", "json")
            blobs = load_blobs(r, n)
            puts = store.put_payloads(s, "json", blobs)
            store.append_iovs(s, f"load{r}", [(k, p.hash) for k, p in enumerate(puts)])
            store.set_record(s, "LOAD", f"rec{r}", f"load{r}")
    elapsed = time.perf_counter() - t0
    engine.dispose()
    return elapsed


def load_blobs(r: int, n: int) -> list[bytes]:
    """The ``n`` distinct payloads of record ``r`` that :func:`bench_load` stores."""
    return [f'{{"r":{r},"k":{k}}}'.encode() for k in range(n)]


def bench_load_floor(url: str, n: int = 100_000) -> float:
    """Seconds to insert the rows of :func:`bench_load` (same bytes, hashes, one transaction per
    record) through the bare driver, triggers and foreign keys on: PostgreSQL ``COPY``, SQLite
    ``executemany`` of prepared tuples.  What the database itself costs: the floor of the write
    path, measured in the same run as it."""
    engine = make_engine(url)
    migrate.upgrade(engine)
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        tag_ids = [store.create_tag(s, f"load{r}", "json").id for r in range(RECORDS)]
    postgres = engine.dialect.name == "postgresql"
    now = dt.datetime.now(dt.UTC)
    stamp = now if postgres else now.replace(tzinfo=None).strftime("%Y-%m-%d %H:%M:%S.%f")
    raw = engine.raw_connection()  # the engine's connection set-up (SQLite PRAGMAs) applies
    payload_sql = "payload (hash, type_name, schema_version, data, size, provenance, created_at)"
    iov_sql = "iov (tag_id, since, insertion_time, payload_hash)"
    t0 = time.perf_counter()
    try:
        cur = raw.cursor()
        for r, tag_id in enumerate(tag_ids):
            blobs = load_blobs(r, n)
            hashes = [hashlib.sha256(b).hexdigest() for b in blobs]
            payloads = [
                (h, "json", 1, b, len(b), "{}", stamp)
                for h, b in zip(hashes, blobs, strict=True)
            ]
            iovs = [(tag_id, k, stamp, h) for k, h in enumerate(hashes)]
            if postgres:
                for table, rows in ((payload_sql, payloads), (iov_sql, iovs)):
                    with cur.copy(f"COPY {table} FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
            else:
                cur.execute("BEGIN IMMEDIATE")
                cur.executemany(f"INSERT INTO {payload_sql} VALUES (?, ?, ?, ?, ?, ?, ?)", payloads)
                cur.executemany(f"INSERT INTO {iov_sql} VALUES (?, ?, ?, ?)", iovs)
            raw.commit()
    finally:
        raw.close()
    elapsed = time.perf_counter() - t0
    engine.dispose()
    return elapsed


def bench_append(url: str, count: int = 100_000) -> float:
    engine = make_engine(url)
    migrate.upgrade(engine)
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        hashes = [store.put_payload(s, "json", f'{{"k":{k}}}'.encode()).hash for k in range(100)]
        store.create_tag(s, "bulk", "json")
    t0 = time.perf_counter()
    with write_session(engine) as s:
        store.append_iovs(s, "bulk", [(k, hashes[k % 100]) for k in range(count)])
    elapsed = time.perf_counter() - t0
    engine.dispose()
    return elapsed


class Database:
    """A scratch database of one backend, dropped at the end."""

    def __init__(self, backend: str, workdir: Path) -> None:
        self.backend = backend
        self.name = f"conddb_bench_{uuid.uuid4().hex[:8]}"
        if backend == "postgresql":
            self.admin = make_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
            with self.admin.connect() as conn:
                conn.execute(text(f'CREATE DATABASE "{self.name}"'))
            self.url = f"postgresql+psycopg://postgres@127.0.0.1:5432/{self.name}"
        else:
            self.url = f"sqlite:///{workdir / (self.name + '.sqlite')}"

    def drop(self) -> None:
        if self.backend == "postgresql":
            with self.admin.connect() as conn:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)'))
            self.admin.dispose()


def on_scratch(backend: str, workdir: Path, fn: Callable[[str], T]) -> T:
    """``fn(url)`` on a scratch database of ``backend``, dropped afterwards."""
    db = Database(backend, workdir)
    try:
        return fn(db.url)
    finally:
        db.drop()


def per_size(
    backend: str, sizes: list[int], workdir: Path, bench: Callable[[str, str, int], T]
) -> dict[int, T]:
    """``bench(backend, url, n)`` for each size on a scratch database of its own."""

    def one(n: int) -> T:
        return on_scratch(backend, workdir, lambda url: bench(backend, url, n))

    return {n: one(n) for n in sizes}


def common_arguments(description: str) -> argparse.ArgumentParser:
    """The options shared by the store benchmarks."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--backend", default="both", choices=["sqlite", "postgresql", "both"])
    parser.add_argument("--sizes", default="1000,100000,1000000")
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--load", type=int, default=100_000, help="IOVs per record to load")
    return parser


def run_all(
    args: argparse.Namespace,
    lookups: str,
    bench: Callable[[str, str, int], dict[str, float]],
    after: Callable[[str, Path], None],
) -> None:
    """``bench`` per backend and size (``--backend``, ``--sizes``), the flatness of every
    figure it returns between the smallest and the largest size, then ``after(backend, dir)``."""
    sizes = [int(x) for x in args.sizes.split(",")]
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory() as tmp:
        for backend in backends:
            print(f"{backend}: global tag of {RECORDS} records, tags of N IOVs each ({lookups})")
            results = per_size(backend, sizes, Path(tmp), bench)
            if len(sizes) > 1:
                lo, hi = results[sizes[0]], results[sizes[-1]]
                flat = ", ".join(f"{k} {hi[k] / lo[k]:.2f}" for k in lo)
                print(f"  flatness t({sizes[-1]})/t({sizes[0]}) (target <= 1.2): {flat}")
            after(backend, Path(tmp))


def main() -> None:
    parser = common_arguments(__doc__.splitlines()[0])
    parser.add_argument("--writes-only", action="store_true", help="the append and load only")
    args = parser.parse_args()

    def writes(backend: str, workdir: Path) -> None:
        append_s = on_scratch(backend, workdir, bench_append)
        print(f"  append 100k IOVs in one transaction: {append_s:.2f} s")
        load_s = on_scratch(backend, workdir, lambda url: bench_load(url, args.load))
        floor_s = on_scratch(backend, workdir, lambda url: bench_load_floor(url, args.load))
        print(
            f"  load {args.load}x{RECORDS} IOVs + distinct payloads through the write "
            f"path: {load_s:.1f} s (target < 60 s); the same rows through the bare driver "
            f"(triggers on): {floor_s:.1f} s (x{load_s / floor_s:.2f})",
            flush=True,
        )

    if args.writes_only:
        backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
        with tempfile.TemporaryDirectory() as tmp:
            for backend in backends:
                print(f"{backend}:", flush=True)
                writes(backend, Path(tmp))
        return
    run_all(
        args,
        f"{args.lookups} lookups at random runs",
        lambda b, u, n: bench_size(b, u, n, args.lookups),
        writes,
    )


if __name__ == "__main__":
    main()
