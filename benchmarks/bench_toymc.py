"""Benchmark of the mock-campaign generator (issue 4): time and peak memory per campaign.

    python benchmarks/bench_toymc.py [--kinds weekly,comprehensive] [--keep DIR] [--scale S]

Each campaign runs in a fresh child process (so its peak resident memory is its own), writes
into a temporary directory (or ``--keep DIR``) and reports wall time, peak RSS, number of runs,
events and bytes written. Targets of the issue: weekly < 10 s, comprehensive < 60 s, < 2 GB.
A same-run baseline: one boundary AmC run (30,000 neutrons at r = 16 m) generated with fresh
gamma cascades versus the cached deposit library, to show what the library buys.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = {"weekly": 10.0, "comprehensive": 60.0, "monthly": 60.0}
TARGET_RSS_MB = 2048.0


def _child(kind: str, out: Path, scale: float) -> None:
    from fitting.toymc.campaign import write_campaign

    t0 = time.perf_counter()
    manifest = write_campaign(kind, 1000, out, seed=1, scale=scale)
    elapsed = time.perf_counter() - t0
    m = json.loads(manifest.read_text())
    size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"kind": kind, "seconds": elapsed, "rss_mb": rss_mb,
                      "runs": len(m["runs"]),
                      "events": sum(r["n_events"] for r in m["runs"] if r["data_kind"] == "events"),
                      "bytes": size}))


def _baseline() -> tuple[float, float]:
    import numpy as np

    from fitting.toymc.events import source_events
    from fitting.toymc.library import library_summary, response_key
    from fitting.toymc.truth import DetectorTruth

    truth = DetectorTruth.default()
    pos = (0.0, 0.0, 16_000.0)
    t0 = time.perf_counter()
    source_events(truth, "AmC", pos, 30_000, np.random.default_rng(1), use_library=False)
    fresh = time.perf_counter() - t0
    library_summary("nH", 300_000, 7 + sum(map(ord, "nH")), 0.0, response_key(truth))
    library_summary("AmC", 100_000, 7 + sum(map(ord, "AmC")), 0.0, response_key(truth))
    t0 = time.perf_counter()
    source_events(truth, "AmC", pos, 30_000, np.random.default_rng(1), use_library=True)
    lib = time.perf_counter() - t0
    return fresh, lib


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kinds", default="weekly,comprehensive")
    ap.add_argument("--keep", type=Path, default=None, help="write campaigns here and keep them")
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--out", type=Path, default=None, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        _child(args.child, args.out, args.scale)
        return
    with tempfile.TemporaryDirectory() as tmp:
        base = args.keep if args.keep is not None else Path(tmp)
        for kind in args.kinds.split(","):
            out = base / kind
            proc = subprocess.run(
                [sys.executable, __file__, "--child", kind, "--out", str(out),
                 "--scale", str(args.scale)],
                check=True, capture_output=True, text=True,
            )
            r = json.loads(proc.stdout.strip().splitlines()[-1])
            print(f"{kind:14s} {r['seconds']:6.1f} s (target {TARGET_S[kind]:.0f} s, "
                  f"ratio {r['seconds'] / TARGET_S[kind]:.2f})  peak RSS {r['rss_mb']:6.0f} MB "
                  f"(ratio to 2 GB {r['rss_mb'] / TARGET_RSS_MB:.2f})  {r['runs']} runs, "
                  f"{r['events']:,} events, {r['bytes'] / 1e6:.0f} MB written")
    fresh, lib = _baseline()
    print(f"baseline: boundary AmC run of 30,000 neutrons: fresh cascades {fresh:.2f} s, "
          f"library {lib:.2f} s (speed-up x{fresh / lib:.1f})")


if __name__ == "__main__":
    main()
