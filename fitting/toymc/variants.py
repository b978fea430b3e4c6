"""Truth variants of the mock detector: a family of detectors that differ in every knob.

Each variant changes, relative to ``nominal`` (:meth:`DetectorTruth.default`), the light yield,
Birks kB, Cherenkov weight and form (coefficient, refractive index, power of the Frank-Tamm
factor), dark rates, the g(r, theta) shape and asymmetry, the channel non-linearity form and
spread, the single-PE resolution, the QE spread, dead channels, the (alpha, n) recoil and the
laser-scan layout, so that closure on all of them tests the fits against data they were not
tuned on.  ``conddb simulate campaign --truth NAME`` selects one.

The electron response is renormalised for each variant (N_vis keeps Y0's n-H definition), which
costs one 400,000-gamma simulation per variant and process (cached).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from functools import lru_cache
from typing import Any

import numpy as np

from fitting.toymc.gmap import GMapParams
from fitting.toymc.truth import DetectorTruth, DriftModel


def _log_steps(lo: float, hi: float, n: int) -> tuple[float, ...]:
    return tuple(float(x) for x in np.geomspace(lo, hi, n))


#: variant name -> the fields of :class:`DetectorTruth` it changes (all others nominal).
VARIANT_OVERRIDES: dict[str, dict[str, Any]] = {
    "nominal": {},
    "bright": dict(
        y0_pe_per_mev=1600.0, birks_kb_g_cm2_per_mev=0.0065, cherenkov_coeff_mev_cm2_g=0.20,
        refractive_index=1.50, lpmt_dark_noise_pe=92.4, spmt_dark_noise_pe=4.5,
        gmap=GMapParams(a2=0.10, a6=0.04, edge_depth=0.22, edge_radius_mm=16_800.0,
                        edge_width_mm=300.0, a_cos=0.04, a_cos3=-0.010),
        lpmt_nonlin_form="exp", lpmt_nonlin_max=0.20, spe_resolution=0.30, qe_spread=0.10,
        dead_fraction=0.01, amc_recoil_bias=0.006, cherenkov_fluctuation=0.10,
        laser_scan_pe=_log_steps(0.05, 100.0, 12), channel_seed=11,
    ),
    "dim": dict(
        y0_pe_per_mev=1150.0, birks_kb_g_cm2_per_mev=0.0045, cherenkov_coeff_mev_cm2_g=0.40,
        refractive_index=1.47, cherenkov_power=1.5, lpmt_dark_noise_pe=277.2,
        spmt_dark_noise_pe=13.4,
        gmap=GMapParams(a2=0.05, a6=0.08, edge_depth=0.32, edge_radius_mm=16_400.0,
                        edge_width_mm=420.0, a_cos=-0.02, a_cos3=0.015),
        lpmt_nonlin_form="power", lpmt_nonlin_max=0.30, lpmt_nonlin_gamma_range=(0.6, 1.2),
        spe_resolution=0.15, qe_spread=0.05, dead_fraction=0.02, amc_recoil_bias=0.003,
        cherenkov_fluctuation=0.14,
        laser_scan_pe=(0.1, 0.3, 1.0, 3.0, *np.linspace(10.0, 110.0, 11).tolist()),
        channel_seed=22,
    ),
    "extreme": dict(
        y0_pe_per_mev=1300.0, birks_kb_g_cm2_per_mev=0.0060, cherenkov_coeff_mev_cm2_g=0.25,
        refractive_index=1.48, cherenkov_power=0.8, lpmt_dark_noise_pe=221.8,
        spmt_dark_noise_pe=10.7,
        gmap=GMapParams(a2=0.09, a6=0.07, edge_depth=0.35, edge_radius_mm=16_500.0,
                        edge_width_mm=380.0, a_cos=0.03, a_cos3=0.020),
        lpmt_nonlin_form="power", lpmt_nonlin_max=0.50, lpmt_nonlin_gamma_range=(0.9, 1.1),
        spe_resolution=0.35, qe_spread=0.08, dead_fraction=0.005, amc_recoil_bias=0.005,
        cherenkov_fluctuation=0.11,
        laser_scan_pe=_log_steps(0.02, 100.0, 8), channel_seed=33,
    ),
    "asymmetric": dict(
        y0_pe_per_mev=1420.0, birks_kb_g_cm2_per_mev=0.0050, cherenkov_coeff_mev_cm2_g=0.35,
        refractive_index=1.51, cherenkov_power=1.2, lpmt_dark_noise_pe=147.8,
        spmt_dark_noise_pe=7.2,
        gmap=GMapParams(a2=0.07, a6=0.05, edge_depth=0.25, edge_radius_mm=16_700.0,
                        edge_width_mm=330.0, a_cos=0.06, a_cos3=-0.025),
        lpmt_nonlin_form="exp", lpmt_nonlin_max=0.15, spe_resolution=0.25, qe_spread=0.12,
        dead_fraction=0.015, amc_recoil_bias=0.002, cherenkov_fluctuation=0.13,
        laser_scan_pe=_log_steps(0.03, 110.0, 20), channel_seed=44,
        drift=DriftModel(gain_steps=((500, 10.0, 0.06), (9000, 20.0, -0.07))),
    ),
}


def _factory(name: str) -> Callable[[], DetectorTruth]:
    overrides = VARIANT_OVERRIDES[name]
    return lambda: dataclasses.replace(DetectorTruth(), **overrides)


#: variant name -> factory of its (not yet renormalised) truth.
VARIANT_FACTORIES: dict[str, Callable[[], DetectorTruth]] = {
    n: _factory(n) for n in VARIANT_OVERRIDES
}
VARIANTS: tuple[str, ...] = tuple(VARIANT_FACTORIES)


@lru_cache(maxsize=8)
def truth_variant(name: str) -> DetectorTruth:
    """The truth of variant ``name`` (renormalised; ``nominal`` is :meth:`default`)."""
    if name not in VARIANT_FACTORIES:
        raise ValueError(f"unknown truth variant {name!r}: use one of {', '.join(VARIANTS)}")
    if name == "nominal":
        return DetectorTruth.default()
    return VARIANT_FACTORIES[name]().renormalised()
