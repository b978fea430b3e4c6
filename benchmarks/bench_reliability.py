"""Benchmark of export / import: throughput of a whole-database round trip SQLite -> SQLite.

    python benchmarks/bench_reliability.py [--iovs 100000] [--tags 10]

Fills a database with TAGS tags of IOVS/TAGS IOV rows each (1,000 distinct JSON payloads, every
10th row superseding an earlier since), then times ``export_file`` and ``import_file`` into an empty
database, checks that the re-export holds byte-identical tables, and prints rows per second.  The
baseline of the same run is the fill itself (one ``append_iovs`` per tag).  The concurrency,
fuzzing and kill tests live in tests/stress/ (see its README).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from conditions import migrate, store
from conditions.db import make_engine, write_session
from conditions.transfer import export_file, import_file, read_manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iovs", type=int, default=100_000)
    parser.add_argument("--tags", type=int, default=10)
    args = parser.parse_args()
    per_tag = args.iovs // args.tags
    with tempfile.TemporaryDirectory() as tmp:
        src = make_engine(f"sqlite:///{tmp}/src.sqlite")
        dst = make_engine(f"sqlite:///{tmp}/dst.sqlite")
        migrate.upgrade(src)
        migrate.upgrade(dst)
        t0 = time.perf_counter()
        with write_session(src) as s:
            store.register_payload_type(s, "json")
            hashes = [
                store.put_payload(s, "json", f'{{"v":{j}}}'.encode()).hash for j in range(1000)
            ]
            for k in range(args.tags):
                store.create_tag(s, f"t{k}", "json")
                store.append_iovs(s, f"t{k}", [(i, hashes[i % 1000]) for i in range(per_tag)])
        with write_session(src) as s:  # superseded rows
            for k in range(args.tags):
                store.append_iovs(
                    s, f"t{k}", [(i, hashes[(i + 1) % 1000]) for i in range(0, per_tag, 10)]
                )
        fill = time.perf_counter() - t0
        t0 = time.perf_counter()
        report = export_file(src, Path(tmp) / "a.zip")
        t_export = time.perf_counter() - t0
        t0 = time.perf_counter()
        import_file(dst, Path(tmp) / "a.zip")
        t_import = time.perf_counter() - t0
        export_file(dst, Path(tmp) / "b.zip")
        a = {k: v["sha256"] for k, v in read_manifest(Path(tmp) / "a.zip")["members"].items()}
        b = {k: v["sha256"] for k, v in read_manifest(Path(tmp) / "b.zip")["members"].items()}
        rows = report.rows["iov"]
        size = (Path(tmp) / "a.zip").stat().st_size
        print(f"IOV rows {rows}, payloads {report.rows['payload']}, file {size / 1e6:.1f} MB")
        print(f"fill (baseline)  {fill:6.2f} s  {rows / fill:9.0f} rows/s")
        print(
            f"export           {t_export:6.2f} s  {rows / t_export:9.0f} rows/s  "
            f"ratio to fill {t_export / fill:.2f}"
        )
        print(
            f"import           {t_import:6.2f} s  {rows / t_import:9.0f} rows/s  "
            f"ratio to fill {t_import / fill:.2f}"
        )
        print(f"re-export identical: {a == b}")


if __name__ == "__main__":
    main()
