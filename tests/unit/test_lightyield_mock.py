"""Y0 closure on mock-detector n-H capture gammas at the centre (section 2.1.3). Slow (~5 s)."""

from __future__ import annotations

import numpy as np
import pytest

from fitting.darknoise import offset_from_random_triggers
from fitting.lightyield import fit_light_yield
from fitting.toymc.gammas import secondary_electrons
from fitting.toymc.truth import DetectorTruth

pytestmark = pytest.mark.slow


def test_y0_closure_on_mock_nh_captures() -> None:
    """100k n-H events: PE = Poisson(Y0 E_vis) + Poisson dark noise; dQ_DR from 100k random
    triggers. The mock's N_vis makes the mean n-H E_vis 2.2232 MeV to its own precision
    (2e-5, DetectorTruth.default), so Y0 must match the injected 1345 PE/MeV within
    3 x (quoted error ~0.006 %) + 2e-5 -- i.e. the issue's 0.01 % at the ~1.5 sigma level."""
    truth = DetectorTruth.default()
    rng = np.random.default_rng(123)
    n = 100_000
    e, idx = secondary_electrons("nH", n, rng)
    ev = np.bincount(idx, weights=truth.electron_visible_energy(e), minlength=n)
    pe = rng.poisson(truth.y0_pe_per_mev * ev) + rng.poisson(truth.lpmt_dark_noise_pe, n)
    dark = offset_from_random_triggers(rng.poisson(truth.lpmt_dark_noise_pe, n))
    res = fit_light_yield(pe, dark["dQ_DR"], dark.error("dQ_DR"))
    tol = 3 * res.error("Y0") + 2e-5 * truth.y0_pe_per_mev
    assert abs(res["Y0"] - truth.y0_pe_per_mev) < tol
    assert res.error("Y0") / res["Y0"] < 1e-4
