"""Study of the f_nonlin / positron-scale bias on the mock detector (issue 14 item 2).

Run: ``nice -n 10 .venv/bin/python benchmarks/nonlinearity_study.py [--scale 1.0] [--seed 1]
[--kb 0.0055 --kc 0.30 --y0 1345]``

Generates the calibration inputs of the comprehensive campaign with the mock detector
(:func:`fitting.toymc.events.source_events` at the centre: 100,000 decays per source, AmC /
AmBe per neutron; one month of 12B uniform in r < 15 m corrected with the true g*Q; positrons
at the centre and uniform in r < 15 m) and refits f_nonlin with one candidate cause switched at a
time, printing for each variant:

* ``max|df|``  max |f_fit / f_true - 1| over 0.5-8 MeV [%] (truth scaled by Y0_true / Y0_fit);
* ``in1s``     fraction of energies 0.5-8 MeV where the truth lies inside the fit's own 1 sigma
  band (statistical covariance + Table 2 band);
* ``e+ c``     positron bias mean(E_rec) / T - 1 at 1, 2, 4, 6, 8 MeV at the centre [%];
* ``e+ u``     the same, uniform in r < 15 m (E_vis corrected with the true g*Q at the
  reconstructed vertex);
* chi2 of the gamma peaks and of 12B.

Candidates (each row changes one thing relative to the row named in brackets):

* ``job``         the campaign chain today: Gaussian centroids, AmC as measured, Eq 2.6 per
  electron, 12B smeared with the job's gamma-width (a, b, c), Neyman chi2;
* ``peak=mean``   peak estimator = truncated mean (the quantity Eq 2.6 predicts) instead of the
  Gaussian centroid of a skewed peak;
* ``amc corr``    AmC corrected by the (alpha, n) recoil input (+0.4 % +- 0.4 %);
* ``corr+regX``   Eq 2.6 with the electron response continued linearly below E_reg (the p3/E
  term of Eq 2.5 applied per electron);
* ``b12 abc``     12B smeared with the positron-equivalent electron resolution;
* ``b12 poisson`` Poisson likelihood for 12B instead of Neyman's chi2;
* ``new``         all of the adopted changes (the production default after this study).

Figures (2026-12-01, default truth; ``--scale 1`` for the first five, ``--scale 0.5`` below):

=============  =======  ========================  ========================  =====  ======
variant        max|df|  e+ centre 1,2,4,6,8 MeV   e+ uniform 1,2,4,6,8      in1s   chi2 g
=============  =======  ========================  ========================  =====  ======
job            0.36 %   +.14 -.15 -.32 -.28 -.30  +.15 -.13 -.33 -.32 -.28  0.01   1094/9
peak=mean      0.40 %   +.14 -.13 -.33 -.30 -.32  +.16 -.11 -.33 -.34 -.30  0.01   1266/9
b12 abc        0.36 %   as job                    as job                    0.01   1094/9
b12 poisson    0.36 %   as job                    as job                    0.01   1094/9
amc drop       0.21 %   +.01 -.18 +.05 +.21 +.21  +.03 -.16 +.05 +.17 +.22  0.03     81/8
job (x0.5)     0.45 %   +.16 -.13 -.31 -.30 -.31  +.20 -.11 -.34 -.31 -.28  0.01    552/9
amc corr       0.23 %   +.03 -.16 +.08 +.21 +.22  +.08 -.15 +.05 +.19 +.25  0.05   19.5/9
corr+reg0.05   0.14 %   +.03 -.11 +.05 +.14 +.12  +.08 -.10 +.02 +.12 +.15  0.11    6.6/9
new (reg 0.1)  0.08 %   +.02 -.06 +.02 +.05 +.01  +.06 -.05 -.01 +.04 +.04  1.00*   3.5/9
=============  =======  ========================  ========================  =====  ======

(* with the Table 2 band; the other rows count the statistical band only.) The gamma
centroids themselves (Gaussian or truncated mean) agree with Eq 2.6 to 0.01-0.06 % except AmC,
+0.42 % (the recoil of section 2.3.4): the AmC shift is the main cause of the -0.3 % positron
scale, the per-electron p3 term of Eq 2.6 the second (chi2 19.5 -> 3.5).
"""

from __future__ import annotations

import argparse
import dataclasses
import math
import time

import numpy as np

from fitting.lightyield import fit_light_yield
from fitting.nonlinearity import (
    PAPER_ALPHA_N_CORRECTIONS,
    B12Histogram,
    BetaSpectrum,
    GammaPeak,
    NonlinFitConfig,
    NonlinFitResult,
    SecondarySpectrum,
    b12_histogram_from_events,
    f_nonlin_sigma,
    fit_nonlinearity,
    measure_gamma_peak,
    reconstruct_positron_energy,
    systematics_band,
)
from fitting.peaks import fit_gaussian
from fitting.toymc.beta12b import b12_spectrum
from fitting.toymc.events import PROCESS_CODES, b12_events, positron_events, source_events
from fitting.toymc.gammas import GAMMA_SOURCES, secondary_electrons
from fitting.toymc.gmap import g_truth_xyz
from fitting.toymc.pmts import lpmt_channels
from fitting.toymc.truth import DetectorTruth

SOURCES = ("Cs137", "Mn54", "Ge68", "K40", "nH", "Co60", "AmBe", "nC", "AmC")
RUN_OF = {"nH": ("AmC", "nH"), "nC": ("AmBe", "nC"), "AmBe": ("AmBe", "prompt"),
          "AmC": ("AmC", "prompt")}
E_POS = (1.0, 2.0, 4.0, 6.0, 8.0)
GRID = np.linspace(0.5, 8.0, 76)


def beta_spectrum() -> BetaSpectrum:
    edges = np.linspace(0.0, 13.369, 1338)
    return BetaSpectrum.from_density(edges, b12_spectrum(0.5 * (edges[1:] + edges[:-1])))


def simulate(truth: DetectorTruth, scale: float, seed: int) -> dict[str, object]:
    rng = np.random.default_rng(seed)
    dq = truth.lpmt_dark_noise_pe + truth.spmt_dark_noise_pe
    runs: dict[str, dict[str, np.ndarray]] = {}
    for src in ("Cs137", "Mn54", "Ge68", "K40", "Co60", "AmBe", "AmC"):
        runs[src] = source_events(truth, src, np.zeros(3), int(100_000 * scale), rng,
                                  use_library=False)
    pe: dict[str, np.ndarray] = {}
    for name in SOURCES:
        run, proc = RUN_OF.get(name, (name, "gamma"))
        cols = runs[run]
        sel = cols["mc_process"] == PROCESS_CODES[proc]
        pe[name] = cols["pe_total"][sel] - dq
    b12 = b12_events(truth, int(30_000 * scale), rng)  # one month, 61 % in r < 15 m
    ch = lpmt_channels(truth)
    q0 = float(ch.collection_factor(np.zeros((1, 3)))[0])

    def corr(cols: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        xyz = np.stack([cols["x_mm"], cols["y_mm"], cols["z_mm"]], axis=1)
        r = np.linalg.norm(xyz, axis=1)
        inside = r < 15_000.0
        # effective g seen by the n-H map: g(x) * (f_S + (1 - f_S) Q(x) / Q(0))
        fs = truth.spmt_fraction
        gq = g_truth_xyz(xyz[inside], truth.gmap) * (
            fs + (1 - fs) * ch.collection_factor(xyz[inside]) / q0)
        return (cols["pe_total"][inside] - dq) / gq, inside

    b12_pe, _ = corr(b12)
    pos_c = {}
    pos_u = {}
    for t in E_POS:
        c = positron_events(truth, t, int(20_000 * max(scale, 0.25)), rng, np.zeros(3))
        pos_c[t] = c["pe_total"] - dq
        u = positron_events(truth, t, int(20_000 * max(scale, 0.25)), rng)
        pos_u[t], _ = corr(u)
    return {"pe": pe, "b12_pe": b12_pe, "pos_c": pos_c, "pos_u": pos_u, "dq": dq}


def spectra(n: int, seed: int) -> dict[str, SecondarySpectrum]:
    rng = np.random.default_rng(seed)
    out = {}
    for name in SOURCES:
        e, _ = secondary_electrons(name, n, rng)
        out[name] = SecondarySpectrum.from_electrons(name, GAMMA_SOURCES[name].total_energy, e, n)
    return out


def mean_in_window(x: np.ndarray, k: float = 4.0) -> tuple[float, float]:
    g = fit_gaussian(x)
    sel = np.abs(x - g["mu"]) < k * g["sigma"]
    return float(x[sel].mean()), float(x[sel].std() / math.sqrt(sel.sum()))


def evaluate(label: str, truth: DetectorTruth, y0: float, fit: NonlinFitResult,
             data: dict[str, object], anni: float, band: bool = False,
             gammas: list[GammaPeak] | None = None, b12: B12Histogram | None = None) -> None:
    f_true = truth.nonlin_true(GRID) * truth.y0_pe_per_mev / y0
    f_fit = fit.f(GRID)
    dev = f_fit / f_true - 1.0
    sig = f_nonlin_sigma(GRID, fit.p, fit.fit.covariance) / f_fit
    if band and gammas is not None:
        b = systematics_band(fit, gammas, b12, n_toys=100, grid_mev=GRID, per_effect="none",
                             n_jobs=1)
        sig = np.sqrt(sig**2 + b.sigma_rel**2)
    in1s = float(np.mean(np.abs(dev) <= sig))
    pc = []
    pu = []
    for t in E_POS:
        for store, out in ((data["pos_c"], pc), (data["pos_u"], pu)):
            x = store[t] / y0  # type: ignore[index]
            e = reconstruct_positron_energy(x, anni, fit.p)
            out.append(100 * (float(np.nanmean(e)) / t - 1.0))
    print(f"{label:<14s} max|df| {100 * np.max(np.abs(dev)):5.2f} %  dev@(0.5,1,2,4,8) "
          + " ".join(f"{100 * dev[np.argmin(np.abs(GRID - e))]:+.2f}" for e in (0.5, 1, 2, 4, 8))
          + f"  in1s {in1s:4.2f}  e+c " + " ".join(f"{v:+.2f}" for v in pc)
          + "  e+u " + " ".join(f"{v:+.2f}" for v in pu)
          + f"  chi2 g {fit.chi2_gamma:6.1f}/{len(fit.sources_used) - 1} b12 {fit.chi2_b12:5.1f}"
          f"/{fit.n_b12_groups}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--kb", type=float, default=None)
    ap.add_argument("--kc", type=float, default=None)
    ap.add_argument("--y0", type=float, default=None)
    ap.add_argument("--band", action="store_true")
    ap.add_argument("--all", action="store_true", help="every candidate variant")
    args = ap.parse_args()
    truth = DetectorTruth.default()
    if args.kb is not None or args.kc is not None:
        truth = dataclasses.replace(
            truth, birks_kb_g_cm2_per_mev=args.kb or truth.birks_kb_g_cm2_per_mev,
            cherenkov_coeff_mev_cm2_g=args.kc if args.kc is not None
            else truth.cherenkov_coeff_mev_cm2_g).renormalised(100_000)
    if args.y0 is not None:
        truth = dataclasses.replace(truth, y0_pe_per_mev=args.y0)
    t0 = time.perf_counter()
    data = simulate(truth, args.scale, args.seed)
    sp = spectra(200_000, args.seed + 1000)
    print(f"simulated in {time.perf_counter() - t0:.0f} s")
    pe: dict[str, np.ndarray] = data["pe"]  # type: ignore[assignment]
    y0 = fit_light_yield(pe["nH"], method="gauss")["Y0"]
    print(f"Y0 fit {y0:.2f} (truth {truth.y0_pe_per_mev:.2f})")
    # --- peak estimators against the Eq 2.6 truth (mean over events of sum E_vis^e) ---------
    print("source  E_g    gauss/true-1  mean/true-1   [%]  (true = Eq 2.6 with the true f)")
    truth_mean = {}
    for name in SOURCES:
        e, _ = secondary_electrons(name, 200_000, np.random.default_rng(args.seed + 2000))
        truth_mean[name] = float(np.sum(truth.electron_visible_energy(e)) / 200_000)
    for name in SOURCES:
        x = pe[name] / y0
        g = fit_gaussian(x)
        m, _ = mean_in_window(x)
        tm = truth_mean[name] * truth.y0_pe_per_mev / y0
        print(f"{name:6s} {GAMMA_SOURCES[name].total_energy:6.3f}  {100 * (g['mu'] / tm - 1):+8.3f}"
              f"     {100 * (m / tm - 1):+8.3f}")

    def peaks(method: str, amc_corr: bool) -> list[GammaPeak]:
        out = []
        for name in SOURCES:
            x = pe[name] / y0
            if method == "gauss":
                gp = measure_gamma_peak(name, x, sp[name])
            else:
                m, s = mean_in_window(x)
                gp = GammaPeak(name, m, s, sp[name])
            if amc_corr:
                gp = dataclasses.replace(gp, correction=PAPER_ALPHA_N_CORRECTIONS.get(name))
            out.append(gp)
        return out

    beta = beta_spectrum()
    b12 = b12_histogram_from_events(data["b12_pe"] / y0, beta)  # type: ignore[operator]
    abc_job = (0.0285, 0.0, 0.0012)   # the demo's gamma-width fit (issue 14 item 6)
    abc_pos = (0.0273, 0.0073, 0.0101)
    variants: list[tuple[str, str, bool, NonlinFitConfig]] = [
        ("job", "gauss", False, NonlinFitConfig(resolution_abc=abc_job, e_reg_mev=0.0)),
        ("peak=mean", "mean", False, NonlinFitConfig(resolution_abc=abc_job, e_reg_mev=0.0)),
        ("b12 abc", "gauss", False, NonlinFitConfig(resolution_abc=abc_pos, e_reg_mev=0.0)),
        ("b12 poisson", "gauss", False, NonlinFitConfig(resolution_abc=abc_job, e_reg_mev=0.0,
                                                         b12_cost="poisson")),
        ("amc drop", "gauss", False, NonlinFitConfig(
            resolution_abc=abc_job, e_reg_mev=0.0,
            gamma_sources=tuple(s for s in SOURCES if s != "AmC"))),
        ("amc corr", "gauss", True, NonlinFitConfig(resolution_abc=abc_job, e_reg_mev=0.0)),
    ]
    if not args.all:  # the first study: these change < 0.03 % (figures in the docstring)
        variants = [v for v in variants if v[0] in ("job", "amc drop", "amc corr")]
    for ereg in (0.05, 0.1, 0.2) if args.all else (0.05,):
        variants.append((f"corr+reg{ereg:g}", "gauss", True,
                         NonlinFitConfig(resolution_abc=abc_job, e_reg_mev=ereg)))
    variants.append(("new", "gauss", True, NonlinFitConfig()))
    for label, method, amc, cfg in variants:
        g = peaks(method, amc)
        fit = fit_nonlinearity(g, b12, cfg)
        anni = next(p.e_vis_mev for p in g if p.source == "Ge68")
        evaluate(label, truth, y0, fit, data, anni, band=args.band and label == "new",
                 gammas=g, b12=b12)


if __name__ == "__main__":
    main()
