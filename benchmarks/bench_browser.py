"""Render times of the conditions browser's pages, with the JSON API as the same-run baseline.

    python benchmarks/bench_browser.py [--repeat 5] [--campaigns FILE]

Fills a temporary SQLite database with the browser tests' dataset (three mock campaigns fitted
at reduced statistics, see tests/browser/dataset.py; ``--campaigns`` reuses a pickle of them),
serves it with the real service on 127.0.0.1 and times, per URL, the median of ``--repeat`` GETs
(server render + transfer; SVG plots are drawn by matplotlib on each request).  The baseline is
``/v1/globaltags`` (one query, JSON): each figure is printed with its ratio to it.
"""

from __future__ import annotations

import argparse
import pickle
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from conditions import migrate  # noqa: E402
from conditions.db import make_engine  # noqa: E402
from conditions.service.testing import running_service  # noqa: E402
from tests.browser.dataset import GT, GT_NEXT, fit_campaigns, populate  # noqa: E402


def median_ms(client: httpx.Client, path: str, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        r = client.get(path)
        times.append(time.perf_counter() - t0)
        r.raise_for_status()
    return 1000.0 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--campaigns", type=Path, help="pickle of the fitted campaigns")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if args.campaigns and args.campaigns.exists():
            constants = pickle.loads(args.campaigns.read_bytes())
        else:
            constants = fit_campaigns(work / "campaigns")
        url = f"sqlite:///{work / 'bench.sqlite'}"
        engine = make_engine(url)
        migrate.upgrade(engine)
        data = populate(engine, constants)
        engine.dispose()
        paths = [
            "/v1/globaltags",
            "/",
            f"/gt/{GT}",
            f"/gt/{GT}/diff?other={GT_NEXT}",
            f"/gt/{GT}/run/1500",
            "/tag/juno-light_yield",
            f"/payload/{data.nonlinearity_hash}",
            f"/payload/{data.lpmt_hash}",
            f"/payload/{data.nonlinearity_hash}/plots/f_nonlin.svg",
            f"/payload/{data.lpmt_hash}/plots/lpmt_channel.svg?channel=7",
            "/tag/juno-light_yield/plots/Y0.svg",
            f"/gt/{GT}/trend",
            "/docs",
        ]
        with running_service(url, work) as svc, httpx.Client(
            base_url=svc.base_url, headers={"Accept": "text/html"}, timeout=120
        ) as client:
            for path in paths:  # warm up: imports, first decode
                client.get(path)
            figures = {p: median_ms(client, p, args.repeat) for p in paths}
    base = figures[paths[0]]
    print(f"median of {args.repeat} GETs per URL (SQLite, one service thread pool)")
    for path, ms in figures.items():
        print(f"{ms:9.1f} ms  x{ms / base:7.1f}  {path[:90]}")


if __name__ == "__main__":
    main()
