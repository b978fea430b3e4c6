"""Study: positron energy resolution (Eq 3.1, 3.2) from gamma-source widths on the mock detector.

Run: ``nice -n 10 .venv/bin/python benchmarks/resolution_study.py [--scale 0.3] [--seed 3]``

Prints
* the truth: (a, b, c) and a-tilde of mono-energetic positrons at the centre and uniform in
  r < 15 m (E_vis of Eq 3.3 with the true g*Q at the reconstructed vertex), Gaussian fits
  (figure 9) and the Eq 3.1 fit -- the rows of Table 3 the calibration must reproduce;
* the campaign chain before: Eq 3.1 fitted to the gamma-peak widths at the centre;
* after: :func:`fitting.resolution.fit_positron_resolution` -- the widths minus the simulated
  energy-sharing variance (fitted f_nonlin), c of electrons fixed by the dark-noise rms of the
  random triggers, c of positrons = that (+) the 68Ge sharing term -- with pulls against the
  positron truth and the conversion systematic.
"""

from __future__ import annotations

import argparse
import math
import time

import numpy as np
from scipy.optimize import curve_fit

from fitting.peaks import fit_gaussian
from fitting.physics.nonlinearity import f_nonlin
from fitting.physics.resolution import CHERENKOV_T0_MEV, cherenkov_proxy, sharing_deviations
from fitting.resolution import (
    SHARING_E_REG_MEV,
    GammaWidth,
    fit_positron_resolution,
    fit_resolution,
    resolution_points,
)
from fitting.toymc.events import (
    PROCESS_CODES,
    positron_events,
    random_trigger_events,
    source_events,
)
from fitting.toymc.gammas import secondary_electrons
from fitting.toymc.gmap import g_truth_xyz
from fitting.toymc.pmts import lpmt_channels
from fitting.toymc.variants import truth_variant

SOURCES = ("Cs137", "Mn54", "Ge68", "K40", "nH", "Co60", "AmBe", "nC", "AmC")
RUN_OF = {"nH": ("AmC", "nH"), "nC": ("AmBe", "nC"), "AmBe": ("AmBe", "prompt"),
          "AmC": ("AmC", "prompt")}
E_POS = (0.5, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0)


def show(label: str, fit_values: np.ndarray, errors: np.ndarray, at: float, at_err: float,
         chi2: float, ndf: int) -> None:
    a, b, c = (100 * v for v in fit_values)
    ea, eb, ec = (100 * v for v in errors)
    print(f"{label:<34s} a {a:5.2f}({ea:4.2f}) b {b:5.2f}({eb:4.2f}) c {c:5.2f}({ec:4.2f})"
          f"  a~ {100 * at:5.2f}({100 * at_err:4.2f})  chi2/ndf {chi2:7.1f}/{ndf}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=0.3)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--t0", type=float, default=CHERENKOV_T0_MEV,
                    help="offset T0 [MeV] of the Cherenkov proxy (systematic: +- 0.1)")
    ap.add_argument("--truth", default="nominal", help="truth variant")
    args = ap.parse_args()
    truth = truth_variant(args.truth)
    rng = np.random.default_rng(args.seed)
    # f_nonlin: Eq 2.5 fitted to the truth over 0.1-10 MeV (stands for the calibrated curve)
    grid = np.geomspace(0.1, 10.0, 200)
    p_fit, _ = curve_fit(lambda x, *p: f_nonlin(x, p), grid, truth.nonlin_true(grid),
                         p0=(1.0, 0.1, 1.0, 0.0))
    t0 = time.perf_counter()
    dq = truth.lpmt_dark_noise_pe + truth.spmt_dark_noise_pe
    y0 = truth.y0_pe_per_mev
    rt = random_trigger_events(truth, 20_000, rng)["pe_total"]
    c_dark, c_dark_err = float(rt.std()) / y0, float(rt.std()) / y0 / math.sqrt(2 * rt.size)
    print(f"dark noise: c_dark = {100 * c_dark:.3f} +- {100 * c_dark_err:.3f} %  "
          f"(GUIDE: sqrt(184.8)/1345 = {100 * math.sqrt(184.8) / 1345:.3f} %)")
    # positron truth
    ch = lpmt_channels(truth)
    fs = truth.spmt_fraction
    n_pos = int(20_000 * args.scale)
    cen, uni = [], []
    for t in E_POS:
        cen.append((positron_events(truth, t, n_pos, rng, np.zeros(3))["pe_total"] - dq) / y0)
        u = positron_events(truth, t, n_pos, rng)
        xyz = np.stack([u["x_mm"], u["y_mm"], u["z_mm"]], axis=1)
        ins = np.linalg.norm(xyz, axis=1) < 15_000.0
        gq = g_truth_xyz(xyz[ins], truth.gmap) * (fs + (1 - fs) * ch.collection_factor(xyz[ins]))
        uni.append((u["pe_total"][ins] - dq) / y0 / gq)
    for label, samples in (("truth e+ centre", cen), ("truth e+ uniform r<15 m", uni)):
        m, r, e = resolution_points(samples)
        res = fit_resolution(m, r, e)
        show(label, res.fit.values, res.fit.errors, res.a_tilde, res.a_tilde_err, res.fit.chi2,
             res.fit.ndf)
        if label.startswith("truth e+ uniform"):
            truth_uni = res
        else:
            truth_cen = res
    print("Table 3 nominal row (QE variations)   a  2.61        b  0.82        c  1.23"
          "         a~  3.02")
    # gamma widths at the centre
    runs = {s: source_events(truth, s, np.zeros(3), int(100_000 * args.scale), rng,
                             use_library=False)
            for s in ("Cs137", "Mn54", "Ge68", "K40", "Co60", "AmBe", "AmC")}
    widths = []
    means, rel, err = [], [], []
    srng = np.random.default_rng(args.seed + 99)
    for name in SOURCES:
        run, proc = RUN_OF.get(name, (name, "gamma"))
        cols = runs[run]
        x = (cols["pe_total"][cols["mc_process"] == PROCESS_CODES[proc]] - dq) / y0
        g = fit_gaussian(x)
        mu, sg = g["mu"], g["sigma"]
        means.append(mu)
        rel.append(sg / mu)
        err.append(float(np.sqrt(np.array([-sg / mu**2, 1 / mu]) @ g.covariance[1:, 1:]
                                 @ np.array([-sg / mu**2, 1 / mu]))))
        e, idx = secondary_electrons(name, 50_000, srng)
        widths.append(GammaWidth(name, mu, sg, g.error("sigma"),
                                 sharing_deviations(e, idx, 50_000, p_fit, SHARING_E_REG_MEV),
                                 cherenkov_proxy(e, idx, 50_000, args.t0)))
    before = fit_resolution(np.array(means), np.array(rel), np.array(err))
    show("before: Eq 3.1 on gamma widths", before.fit.values, before.fit.errors, before.a_tilde,
         before.a_tilde_err, before.fit.chi2, before.fit.ndf)
    for excl in (("AmBe", "AmC"), ()):
        used = [w for w in widths if w.source not in excl]
        after = fit_positron_resolution(used, c_dark, c_dark_err, p_nonlin=p_fit,
                                        cherenkov_t0_mev=args.t0)
        lab = "after: converted" + (" (no AmBe/AmC)" if excl else " (all peaks)")
        el = after.electron
        show("   Gaussian part (electrons)", el.values, el.errors, 0.0, 0.0, el.chi2, el.ndf)
        show(lab, after.fit.values, after.fit.errors, after.a_tilde, after.a_tilde_err,
             after.fit.chi2, after.fit.ndf)
        for lab_t, tr in (("centre", truth_cen), ("uniform", truth_uni)):
            pl = (after.fit.values - tr.fit.values) / np.hypot(after.fit.errors, tr.fit.errors)
            print(f"   pulls vs {lab_t} truth a {pl[0]:+.2f} b {pl[1]:+.2f} c {pl[2]:+.2f}")
        pulls = (after.fit.values - truth_uni.fit.values) / np.hypot(after.fit.errors,
                                                                     truth_uni.fit.errors)
        print(f"   pulls vs uniform truth a {pulls[0]:+.2f} b {pulls[1]:+.2f} c {pulls[2]:+.2f};"
              f"  a~ - 3.02 = {100 * after.a_tilde - 3.02:+.3f}; "
              f"conversion syst (a,b,c) % {np.round(100 * after.systematic, 3)}")
    print(f"done in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
