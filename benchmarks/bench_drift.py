"""Benchmark of drift tracking over a year of weekly campaigns (paper section 5.2).

    python benchmarks/bench_drift.py [--db URL] [--weeks 52] [--no-lpmt]

Fills a database (default: a temporary SQLite file) with one global tag ``YEAR`` holding, per
week, a light yield (-0.5 %/year and a -0.4 % step at week 20, 0.03 % noise), a dark-noise
offset, an energy resolution and the 17,612-channel LPMT non-linearity (2.3 MB each, per-channel
noise 1e-4 and three channels moved by 2 % at week 30); a g-map every 4 weeks and one f_nonlin
(comprehensive campaign).  Then it times:

* ``track`` of the whole global tag (decode every payload once, all tracked quantities);
* the same restricted to the scalar records (without the LPMT curves);
* ``write_html_report`` (one PNG per quantity of more than one IOV, the rest as a table);
* ``gt_diff`` of the global tag against a clone whose light-yield record points at a tag that
  differs in its last week.

and prints the figures and the flags found, so a regression in either speed or detection shows.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from conditions import drift, migrate, store  # noqa: E402
from conditions.db import make_engine, read_session, write_session  # noqa: E402
from conditions.payloads import examples  # noqa: E402
from conditions.report import write_html_report  # noqa: E402
from tests.integration.test_drift_support import (  # noqa: E402
    lpmt_series,
    perturb,
    put_series,
    weekly_runs,
    y0_models,
    y0_truth,
)


def fill(url: str, weeks: int, lpmt: bool) -> float:
    """Store the year; returns the seconds spent."""
    start = time.perf_counter()
    engine = make_engine(url)
    migrate.upgrade(engine)
    runs = weekly_runs(weeks)
    rng = np.random.default_rng(1)
    truth = y0_truth(weeks, rate_per_week=-0.005 / 52, step_at=min(20, weeks - 1), step=-0.004)
    measured = truth * (1.0 + 3e-4 * rng.standard_normal(weeks))
    put_series(engine, "ly", y0_models(measured), runs)
    put_series(engine, "ly-fix", y0_models([*measured[:-1], measured[-1] * 1.001]), runs)
    dn = examples.dark_noise()
    put_series(
        engine,
        "dn",
        [perturb(dn, offset_lpmt=184.8 * (1 + 1e-3 * rng.standard_normal())) for _ in runs],
        runs,
    )
    res = examples.energy_resolution()
    put_series(engine, "res", [res] * weeks, runs)
    put_series(engine, "gmap", [examples.nonuniformity_map()] * len(runs[::4]), runs[::4])
    put_series(engine, "enl", [examples.energy_nonlinearity()], runs[:1])
    records = {"light_yield": "ly", "dark_noise": "dn", "energy_resolution": "res",
               "nonuniformity_map": "gmap", "energy_nonlinearity": "enl"}
    if lpmt:
        models = lpmt_series(weeks, noise=1e-4, outliers={min(30, weeks - 1): [5, 600, 9000]})
        put_series(engine, "lpmt", models, runs)
        records["lpmt_nonlinearity"] = "lpmt"
    with write_session(engine) as s:
        store.create_global_tag(s, "YEAR")
        for record, tag in records.items():
            store.set_record(s, "YEAR", record, tag)
        store.clone_global_tag(s, "YEAR", "YEAR-fix")
        store.set_record(s, "YEAR-fix", "light_yield", "ly-fix")
    engine.dispose()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default=None, help="database URL (default: temporary SQLite)")
    parser.add_argument("--weeks", type=int, default=52)
    parser.add_argument("--no-lpmt", action="store_true", help="skip the 2.3 MB LPMT payloads")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = args.db or f"sqlite:///{tmp}/bench.sqlite"
        filled = fill(url, args.weeks, not args.no_lpmt)
        print(f"filled {args.weeks} weeks in {filled:.1f} s ({url.split(':')[0]})")
        engine = make_engine(url)
        source = drift.SeriesSource(global_tag="YEAR")
        with read_session(engine) as s:
            t0 = time.perf_counter()
            report = drift.track(s, source)
            t_all = time.perf_counter() - t0
            scalars = [q.name for q in drift.QUANTITIES.values()
                       if q.payload_type != "lpmt_nonlinearity"]
            t0 = time.perf_counter()
            drift.track(s, source, scalars)
            t_scalars = time.perf_counter() - t0
            t0 = time.perf_counter()
            diff = drift.gt_diff(s, "YEAR", "YEAR-fix")
            t_diff = time.perf_counter() - t0
        t0 = time.perf_counter()
        files = write_html_report(report, Path(tmp) / "report.html")
        t_html = time.perf_counter() - t0
        n_iovs = sum(len(t.series.points) for t in report.trends)
        print(f"track (all records):      {t_all:7.2f} s  {len(report.trends)} series, "
              f"{n_iovs} points")
        print(f"track (scalar records):   {t_scalars:7.2f} s")
        print(f"html report:              {t_html:7.2f} s  {len(files.plots)} plots, "
              f"{sum(p.stat().st_size for p in files.plots) / 1e6:.1f} MB")
        print(f"gt diff:                  {t_diff:7.2f} s  changed: "
              f"{[r.record for r in diff.changed()]}")
        for trend, flag in report.flags():
            print(f"  flag {trend.series.key:32s} {flag.kind:5s} at run "
                  f"{trend.series.points[flag.index].since} ({100 * flag.change:+.3f} %)")
        for o in report.outliers:
            if o.outliers.channel_ids:
                print(f"  LPMT outliers at run {o.since}: {list(o.outliers.channel_ids)}")
        engine.dispose()


if __name__ == "__main__":
    main()
