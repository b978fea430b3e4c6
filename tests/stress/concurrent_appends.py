"""8 processes x 1,000 IOV appends at the same time, into one tag and into different tags.

Each append is its own write transaction (the worst case for lock traffic).  Process k appends
since = k * 1,000_000 + i (i = 0..N-1) with a payload chosen by i, so every expected IOV is known.
Printed per scenario: IOV rows found / expected, duplicates (same tag and since twice), missing,
wall time, appends per second, resolve checks, and whether any writer hung (join timeout).

    .venv/bin/python -m tests.stress.concurrent_appends                       # SQLite temp file
    .venv/bin/python -m tests.stress.concurrent_appends --db postgresql://postgres@127.0.0.1/x
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import tempfile
import time
from collections import Counter

from sqlalchemy import select

from conditions import migrate, store
from conditions.db import make_engine, read_session, write_session
from conditions.model import IOV, Tag
from conditions.resolve import resolve

STRIDE = 1_000_000  # since offset between processes


def _writer(url: str, k: int, n: int, tag: str, hashes: list[str], start: float) -> None:
    engine = make_engine(url)
    while time.time() < start:  # all writers start together
        time.sleep(0.001)
    for i in range(n):
        with write_session(engine) as s:
            store.append_iovs(s, tag, [(k * STRIDE + i, hashes[i % len(hashes)])])
    engine.dispose()


def scenario(url: str, procs: int, n: int, shared: bool, timeout: float) -> dict[str, object]:
    engine = make_engine(url)
    label = "one" if shared else "many"
    tags = [f"stress-{label}"] if shared else [f"stress-{label}-{k}" for k in range(procs)]
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        hashes = [store.put_payload(s, "json", f'{{"v":{j}}}'.encode()).hash for j in range(16)]
        for tag in tags:
            store.create_tag(s, tag, "json")
        store.create_global_tag(s, f"G-{label}")
        for k, tag in enumerate(tags):
            store.set_record(s, f"G-{label}", f"r{k}", tag)
    ctx = mp.get_context("spawn")
    start = time.time() + 3.0  # spawn start-up time
    workers = [
        ctx.Process(target=_writer, args=(url, k, n, tags[0 if shared else k], hashes, start))
        for k in range(procs)
    ]
    for w in workers:
        w.start()
    hung = 0
    for w in workers:
        w.join(timeout=max(1.0, start + timeout - time.time()))
        if w.is_alive():
            hung += 1
            w.kill()
            w.join()
    wall = time.time() - start
    with read_session(engine) as s:
        rows = s.execute(
            select(Tag.name, IOV.since, IOV.payload_hash)
            .join(Tag, Tag.id == IOV.tag_id)
            .where(Tag.name.in_(tags))
        ).all()
    seen = Counter((t, since) for t, since, _h in rows)
    expected = {
        (tags[0 if shared else k], k * STRIDE + i): hashes[i % len(hashes)]
        for k in range(procs)
        for i in range(n)
    }
    wrong = sum(1 for t, since, h in rows if expected.get((t, since)) != h)
    bad_resolve = 0
    for k in range(procs):
        for i in (0, n // 2, n - 1):
            record = "r0" if shared else f"r{k}"
            got = resolve(engine, f"G-{label}", k * STRIDE + i, record=record)
            bad_resolve += got[record].payload_hash != hashes[i % len(hashes)]
    engine.dispose()
    return {
        "scenario": f"{procs} x {n} appends into {'one tag' if shared else 'different tags'}",
        "rows": len(rows),
        "expected": len(expected),
        "duplicates": sum(c - 1 for c in seen.values() if c > 1),
        "missing": len(set(expected) - set(seen)),
        "wrong_payload": wrong,
        "resolve_mismatches": bad_resolve,
        "hung_writers": hung,
        "exit_codes": sorted(w.exitcode for w in workers if w.exitcode is not None),
        "wall_s": round(wall, 1),
        "appends_per_s": round(len(rows) / wall, 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None, help="database URL (default: a temp SQLite file)")
    parser.add_argument("--procs", type=int, default=8)
    parser.add_argument("--appends", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=600.0, help="[s] before a writer hangs")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/stress.sqlite"
        migrate.upgrade(make_engine(url))
        print(f"backend {make_engine(url).dialect.name}")
        for shared in (True, False):
            result = scenario(url, args.procs, args.appends, shared, args.timeout)
            print("  ".join(f"{k}={v}" for k, v in result.items()))


if __name__ == "__main__":
    main()
