"""Closure matrix (issue 14): every job on every truth variant at nominal statistics.

For each variant of :mod:`fitting.toymc.variants` a comprehensive campaign (Table 5 event counts,
``--scale 1``) is simulated, every job is run on its files (nothing from the mock but the files),
and the fitted constants are compared with the variant's truth
(:func:`fitting.studies.closure.closure_figures`).  Prints the variant x quantity matrix and the
targets of issue 14.  Long: tens of minutes per variant on a shared machine.

    python benchmarks/closure_matrix.py [--scale 1.0] [--flashes N] [--variants a,b] [--out DIR]
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

from conditions.services.jobs import JobSettings, run_campaign_jobs
from fitting.studies.closure import closure_figures
from fitting.toymc.campaign import write_campaign
from fitting.toymc.variants import VARIANTS, truth_variant

#: quantity -> (target text, check) for the printed verdict
TARGETS = {
    "y0_pull": ("|pull| < 3", lambda v: abs(v) < 3),
    "dq_lpmt_pull": ("|pull| < 3", lambda v: abs(v) < 3),
    "fnonlin_max_dev": ("< 0.003", lambda v: v < 0.003),
    "fnonlin_in_band": (">= 0.68", lambda v: v >= 0.68),
    "gmap_rms": ("<= 0.003", lambda v: v <= 0.003),
    "lpmt_median": ("<= 0.003", lambda v: v <= 0.003),
    "lpmt_p95": ("<= 0.015", lambda v: v <= 0.015),
    "lpmt_event": ("< 0.003", lambda v: v < 0.003),
    "positron_bias_centre": ("<= 0.002", lambda v: v <= 0.002),
    "positron_bias_uniform": ("<= 0.002", lambda v: v <= 0.002),
    "res_a_pull": ("|pull| < 3", lambda v: abs(v) < 3),
    "res_b_pull": ("|pull| < 3", lambda v: abs(v) < 3),
    "res_c_pull": ("|pull| < 3", lambda v: abs(v) < 3),
    # the job's a-tilde is that of positrons at the centre (converted from centre gamma
    # widths): closure against the mock's own centre positrons (a_tilde_true), and the
    # paper's centre row (Table 3 "Central IBDs", 2.99(1) %) within 0.05 % on nominal only;
    # Table 3's 3.02 % is uniform events after the 250-point map (not what the job measures)
    "a_tilde_pull": ("|pull| < 3", lambda v: abs(v) < 3),
    "a_tilde_dev": ("|job - centre truth| <= 0.0005", lambda v: abs(v) <= 0.0005),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--flashes", type=int, default=None,
                    help="laser flashes per step (default: nominal, Table 5: 100,000)")
    ap.add_argument("--variants", default=",".join(VARIANTS))
    ap.add_argument("--band-toys", type=int, default=50)
    ap.add_argument("--positrons", type=int, default=20_000)
    ap.add_argument("--out", type=Path, default=None)
    args = ap.parse_args()
    names = [v for v in args.variants.split(",") if v]
    base = args.out or Path(tempfile.mkdtemp(prefix="closure-"))
    out_json = base / "closure_matrix.json"
    # rows of earlier invocations on the same --out are kept (one variant per run is allowed)
    matrix: dict[str, dict[str, float]] = (json.loads(out_json.read_text())
                                           if out_json.exists() else {})
    for name in names:
        i = VARIANTS.index(name)  # seeds and run numbers per variant, whatever the selection
        t0 = time.perf_counter()
        truth = truth_variant(name)
        out = base / name
        manifest = out / "manifest.json"
        if not manifest.exists():
            write_campaign("comprehensive", 1000 + 1000 * i, out, seed=7 + i, truth=truth,
                           scale=args.scale, n_flashes=args.flashes)
        t_sim = time.perf_counter() - t0
        constants = run_campaign_jobs(manifest, JobSettings(band_toys=args.band_toys))
        matrix[name] = closure_figures(out, truth, constants, positrons=args.positrons)
        matrix[name]["seconds"] = time.perf_counter() - t0
        print(f"# {name}: simulated in {t_sim:.0f} s, total {matrix[name]['seconds']:.0f} s",
              flush=True)
        out_json.write_text(json.dumps(matrix, indent=1))
    if "nominal" in matrix:
        at = matrix["nominal"].get("a_tilde", math.nan)
        print(f"nominal a_tilde {100 * at:.3f} % against Table 3 central row 2.99(1) % "
              f"(target within 0.05 %: {'ok' if abs(at - 0.0299) <= 0.0005 else 'MISS'}); "
              f"mock centre truth {100 * matrix['nominal'].get('a_tilde_true', math.nan):.3f} %")
    shown = [n for n in VARIANTS if n in matrix]
    keys = sorted({k for row in matrix.values() for k in row if not k.startswith("detail_")})
    width = max(len(k) for k in keys)
    print(f"{'quantity':{width}} " + " ".join(f"{n:>11}" for n in shown) + "  target")
    for k in keys:
        cells = []
        for n in shown:
            v = matrix[n].get(k, math.nan)
            ok = TARGETS[k][1](v) if k in TARGETS and math.isfinite(v) else None
            mark = "" if ok is None else (" " if ok else "*")
            cells.append(f"{v:>10.4g}{mark}")
        print(f"{k:{width}} " + " ".join(cells) + f"  {TARGETS.get(k, ('',))[0]}")
    print("(* = misses the issue-14 target; detail_* rows (per-energy bias, resolution chi2) "
          "are in the json)")
    print(f"matrix written to {out_json}")


if __name__ == "__main__":
    main()
