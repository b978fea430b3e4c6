"""Benchmark of the in-memory IOV index behind ``Resolver(index=True)`` (issue 15), in-process.

    python benchmarks/bench_resolve.py [--backend sqlite|postgresql|both] [--sizes 1000,...]
    python benchmarks/bench_resolve.py --quick        # CI smoke run: small sizes, no targets

For each backend and size N: a global tag of 8 records whose tags hold N IOVs each (filled with
COPY / executemany by ``bench_store.fill``, not measured).  Printed, with ratios in the same run:

* one raw indexed ``SELECT`` of one IOV row through the bare driver: the floor (PostgreSQL:
  after ``VACUUM (ANALYZE) iov``, the state autovacuum would leave after the bulk fill);
* ``Resolver`` on the open global tag, change check included: at fresh random runs (mostly new
  IOV segments: one bisection of the merged segment starts; the records are resolved when read,
  so "read" also reads all 8 of them, ``Resolution.hashes()``) and over a working set of 1000
  runs seen before (known segments); ratio to the raw select (target <= 2);
* the same under the frozen global tag (no check; target <= 5 us in known segments);
* flatness t(largest N) / t(smallest N) (target <= 1.2);
* the index: build time (first lookup; against fetching the same rows through the bare
  driver, tuples and all) and memory of the arrays and as traced by
  ``tracemalloc`` (retained and peak while building), per 1M IOVs (target < 100 MB);
* one IOV appended through ``store.append_iovs``: the next lookup extends the tag index with
  the new row only (time, against the build; twice: the second append lands in the spare
  capacity of the first's buffers too), and the floor of its exactness guard: the count of the
  tag's rows up to the greatest id read, through the bare driver;
* 100k IOVs x 8 records with distinct payloads loaded through the public write path
  (``store.put_payloads`` + ``store.append_iovs``; target < 60 s).
"""

from __future__ import annotations

import contextlib
import random
import sqlite3
import sys
import time
import tracemalloc
from pathlib import Path

import psycopg
from bench_store import (
    RECORDS,
    bench_load,
    common_arguments,
    fill,
    on_scratch,
    percentiles,
    raw_select,
    run_all,
    timed,
)

from conditions import migrate, store
from conditions.db import make_engine, write_session
from conditions.resolve import Resolver

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support: the fixtures
from tests.support.lifecycle import publish


def driver_fetch(backend: str, url: str) -> float:
    """Seconds to fetch every row of one tag through the bare driver (a build's floor)."""
    sql = "SELECT since, insertion_time, payload_hash, id FROM iov WHERE tag_id = 1"
    t0 = time.perf_counter()
    if backend == "postgresql":
        with psycopg.connect(url) as conn:
            conn.execute(sql).fetchall()
    else:
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as lite:
            lite.execute(sql).fetchall()
    return time.perf_counter() - t0


def driver_count(backend: str, url: str) -> float:
    """Seconds of the extension's count guard (rows of one tag up to an id) through the driver."""
    sql = "SELECT count(*) FROM iov WHERE tag_id = 1 AND id <= (SELECT max(id) FROM iov)"
    if backend == "postgresql":
        with psycopg.connect(url) as conn:
            t0 = time.perf_counter()
            conn.execute(sql).fetchone()
            return time.perf_counter() - t0
    with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as lite:
        t0 = time.perf_counter()
        lite.execute(sql).fetchone()
        return time.perf_counter() - t0


def traced_build(engine: object, run: int) -> tuple[float, float]:
    """Memory [MB] retained by a fresh index and the peak while building it (tracemalloc)."""
    tracemalloc.start()
    base = tracemalloc.get_traced_memory()[0]
    resolver = Resolver(engine, index=True)  # type: ignore[arg-type]
    resolver.resolve("GT", run)
    current, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    resolver.clear()
    return (current - base) / 1e6, (peak - base) / 1e6


def bench_size(backend: str, url: str, n: int, lookups: int) -> dict[str, float]:
    engine = make_engine(url)
    migrate.upgrade(engine)
    driver_url = url.replace("postgresql+psycopg", "postgresql")
    t0 = time.perf_counter()
    hashes = fill(engine, backend, n, driver_url)
    fill_s = time.perf_counter() - t0
    if backend == "postgresql":  # the visibility map autovacuum would set (index-only scans)
        with psycopg.connect(driver_url, autocommit=True) as conn:
            conn.execute("VACUUM (ANALYZE) iov")
    rng = random.Random(1)
    fresh = [rng.randrange(0, 10 * n) for _ in range(lookups)]
    fresh2 = [rng.randrange(0, 10 * n) for _ in range(lookups)]
    working = [rng.randrange(0, 10 * n) for _ in range(1000)]
    raw, close_raw = raw_select(backend, driver_url)
    for run in working[:100]:
        raw(run)

    resolver = Resolver(engine, index=True)
    t0 = time.perf_counter()
    resolver.resolve("GT", 0)  # builds the index of the 8 tags
    build_s = time.perf_counter() - t0
    index = resolver.index("GT")
    assert index is not None
    arrays_mb = index.nbytes() / 1e6
    fetch_s = driver_fetch(backend, driver_url) * RECORDS
    for run in working:  # the working set's segments become known
        resolver.resolve("GT", run)
    raw_a = timed(raw, working)
    open_fresh = timed(lambda run: resolver.resolve("GT", run), fresh)
    open_read = timed(lambda run: resolver.resolve("GT", run).hashes(), fresh2)
    open_known = timed(lambda run: resolver.resolve("GT", run), working * 2)
    raw_b = timed(raw, working)

    extend_s = []
    for k in (1, 2):  # one more IOV at the end of one tag, twice
        with write_session(engine) as s:
            store.append_iovs(s, "tag0", [(10 * n + k, hashes[0])])
        t0 = time.perf_counter()
        got = resolver.resolve("GT", 10 * n + k)
        extend_s.append(time.perf_counter() - t0)
        assert got["rec0"].since == 10 * n + k and got["rec0"].until is None
    count_s = driver_count(backend, driver_url)
    retained_mb, peak_mb = traced_build(engine, 0)

    with write_session(engine) as s:
        publish(s, "GT")
    frozen = Resolver(engine, index=True)
    for run in working:
        frozen.resolve("GT", run)
    frozen_fresh = timed(lambda run: frozen.resolve("GT", run), fresh)
    frozen_read = timed(lambda run: frozen.resolve("GT", run).hashes(), fresh2)
    frozen_known = timed(lambda run: frozen.resolve("GT", run), working * 2)
    close_raw()
    resolver.clear()
    frozen.clear()
    engine.dispose()

    raw_p50 = min(percentiles(raw_a)[0], percentiles(raw_b)[0])
    of50, of99 = percentiles(open_fresh)
    ok50, ok99 = percentiles(open_known)
    ff50, _ = percentiles(frozen_fresh)
    or50, _ = percentiles(open_read)
    fr50, _ = percentiles(frozen_read)
    fk50, fk99 = percentiles(frozen_known)
    per_m = 1e6 / (RECORDS * n)
    print(
        f"  N={n:>8} (fill {fill_s:5.1f} s): raw select p50 {raw_p50:6.1f} us\n"
        f"    Resolver open  (check incl.): fresh runs p50 {of50:6.1f} p99 {of99:7.1f} us "
        f"(x{of50 / raw_p50:5.2f} raw) | known segments p50 {ok50:6.1f} p99 {ok99:7.1f} us "
        f"(x{ok50 / raw_p50:5.2f} raw)\n"
        f"      fresh runs, all {RECORDS} records read: p50 {or50:6.1f} us "
        f"(x{or50 / raw_p50:5.2f} raw)\n"
        f"    Resolver frozen (no check):   fresh runs p50 {ff50:6.1f} us (read: {fr50:6.1f}) | "
        f"known segments p50 {fk50:5.2f} p99 {fk99:5.2f} us\n"
        f"    index of {RECORDS}x{n} IOVs: build {build_s:6.2f} s ({build_s * per_m:5.2f} s per 1M"
        f" IOVs; fetching the rows through the driver alone: {fetch_s * per_m:5.2f} s per 1M)\n"
        f"    memory: arrays {arrays_mb:6.1f} MB, tracemalloc retained {retained_mb:6.1f} MB, "
        f"peak {peak_mb:6.1f} MB ({retained_mb * per_m:5.1f} MB retained per 1M IOVs)\n"
        f"    one appended IOV: next lookup extends the index in {extend_s[0] * 1e3:7.2f} ms "
        f"(x{extend_s[0] / build_s:6.4f} of the build; a second one {extend_s[1] * 1e3:7.2f} ms; "
        f"the count guard alone through the driver {count_s * 1e3:7.2f} ms)",
        flush=True,
    )
    return {
        "raw": raw_p50,
        "open_fresh": of50,
        "open_known": ok50,
        "frozen_fresh": ff50,
        "frozen_known": fk50,
    }


def main() -> None:
    parser = common_arguments(__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (a CI smoke run)")
    args = parser.parse_args()
    if args.quick:
        args.sizes, args.lookups, args.load = "100,2000", 200, 500

    def load(backend: str, workdir: Path) -> None:
        load_s = on_scratch(backend, workdir, lambda url: bench_load(url, args.load))
        print(
            f"  load {args.load}x{RECORDS} IOVs + distinct payloads through the public write "
            f"path (put_payloads + append_iovs): {load_s:.1f} s (target < 60 s at 100k)",
            flush=True,
        )

    run_all(
        args,
        f"{args.lookups} fresh random runs, 1000 known ones",
        lambda b, u, n: bench_size(b, u, n, args.lookups),
        load,
    )


if __name__ == "__main__":
    main()
