"""Event-level checks (fitting.toymc.events): dark noise, PE scale, g, trigger, determinism."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from fitting.toymc.events import (
    EVENT_COLUMNS,
    PROCESS_CODES,
    TRIGGER_THRESHOLD_PE,
    b12_events,
    electron_events,
    positron_events,
    random_trigger_events,
    source_events,
)
from fitting.toymc.gammas import GAMMA_SOURCES, secondary_electrons
from fitting.toymc.truth import DetectorTruth

TRUTH = DetectorTruth.default()


def test_random_triggers_have_poisson_dark_noise() -> None:
    """Mean 184.8 PE (350 ns x 17,600 x 30 kHz) and Poisson variance."""
    n = 40_000
    cols = random_trigger_events(TRUTH, n, np.random.default_rng(1))
    x = cols["pe_lpmt"]
    mu = TRUTH.lpmt_dark_noise_pe
    # 5 sigma: sd of the mean sqrt(mu/n); sd of the sample variance sqrt((mu + 2 mu^2)/n)
    assert abs(x.mean() - mu) < 5.0 * np.sqrt(mu / n)
    assert abs(x.var(ddof=1) - mu) < 5.0 * np.sqrt((mu + 2 * mu**2) / n)
    assert np.all(cols["mc_process"] == PROCESS_CODES["random"])
    s = cols["pe_spmt"]
    assert abs(s.mean() - TRUTH.spmt_dark_noise_pe) < 5.0 * np.sqrt(TRUTH.spmt_dark_noise_pe / n)


def test_dark_noise_variance_includes_spe_smearing() -> None:
    t = dataclasses.replace(TRUTH, spe_resolution=0.3)
    n = 40_000
    x = random_trigger_events(t, n, np.random.default_rng(2))["pe_lpmt"]
    mu = t.lpmt_dark_noise_pe
    expected_var = mu * (1 + 0.3**2)
    assert abs(x.mean() - mu) < 5.0 * np.sqrt(expected_var / n)
    assert abs(x.var(ddof=1) - expected_var) < 5.0 * np.sqrt(2 * expected_var**2 / n + mu / n)


def test_centre_cs137_pe_scale_is_y0_times_evis_plus_dark_noise() -> None:
    rng = np.random.default_rng(3)
    n = 20_000
    cols = source_events(TRUTH, "Cs137", (0.0, 0.0, 0.0), n, rng)
    assert set(cols) == set(EVENT_COLUMNS)
    assert cols["pe_total"].size == n  # all full-absorption events pass the trigger
    e, idx = secondary_electrons("Cs137", n, np.random.default_rng(4))
    vis_ref = np.bincount(idx, TRUTH.electron_visible_energy(e), minlength=n)
    np.testing.assert_allclose(cols["mc_edep_mev"], GAMMA_SOURCES["Cs137"].total_energy)
    dark = TRUTH.lpmt_dark_noise_pe + TRUTH.spmt_dark_noise_pe
    expected = TRUTH.y0_pe_per_mev * vis_ref.mean() + dark
    # Q(0) = 1 to 1e-6; errors: event PE spread / sqrt(n) and the reference MC mean
    sd = np.sqrt(cols["pe_total"].var() / n + (TRUTH.y0_pe_per_mev * vis_ref.std()) ** 2 / n)
    assert abs(cols["pe_total"].mean() - expected) < 5.0 * sd
    assert np.all(np.diff(cols["time_s"]) >= 0.0)


def test_off_centre_nh_peak_follows_g_and_q() -> None:
    """n-H of an AmC source at (6, 0, 8) m: mean PE = Y0 * 2.2232 * g * Q + dark (1e-3)."""
    rng = np.random.default_rng(5)
    pos = np.array([6000.0, 0.0, 8000.0])
    cols = source_events(TRUTH, "AmC", pos, 20_000, rng, use_library=True)
    nh = cols["mc_process"] == PROCESS_CODES["nH"]
    r = np.linalg.norm(pos)
    g = float(TRUTH.g(r, np.arccos(pos[2] / r)))
    from fitting.toymc.pmts import lpmt_channels

    q = float(lpmt_channels(TRUTH).collection_factor(pos[None, :])[0])
    fs = TRUTH.spmt_fraction
    dark = TRUTH.lpmt_dark_noise_pe + TRUTH.spmt_dark_noise_pe
    expected = TRUTH.y0_pe_per_mev * 2.2232 * g * ((1 - fs) * q + fs) + dark
    # the neutron displacement (0.25 m) averages g over a small region: second-order effect
    # < 2e-4 here; statistical sd of the mean ~ 1.7e-4 -> tolerance 1e-3 is > 5 sigma
    assert cols["pe_total"][nh].mean() == pytest.approx(expected, rel=1e-3)
    assert np.count_nonzero(cols["mc_process"] == PROCESS_CODES["prompt"]) > 0
    assert np.count_nonzero(cols["mc_process"] == PROCESS_CODES["nC"]) > 0


def test_boundary_source_has_leakage_and_trigger() -> None:
    """A Guide-Tube source outside the LS deposits only part of the energy."""
    rng = np.random.default_rng(6)
    cols = source_events(TRUTH, "Co60", (17_900.0, 0.0, 0.0), 5_000, rng)
    assert cols["pe_total"].size < 5_000
    assert np.all(cols["pe_total"] >= TRIGGER_THRESHOLD_PE)
    assert np.all(cols["mc_edep_mev"] <= GAMMA_SOURCES["Co60"].total_energy + 1e-9)
    assert np.mean(cols["mc_edep_mev"] < 2.5) > 0.3  # leakage tail


def test_events_are_deterministic_for_a_seed() -> None:
    a = source_events(TRUTH, "AmC", (0.0, 0.0, 5000.0), 2_000, np.random.default_rng(9))
    b = source_events(TRUTH, "AmC", (0.0, 0.0, 5000.0), 2_000, np.random.default_rng(9))
    for k in EVENT_COLUMNS:
        np.testing.assert_array_equal(a[k], b[k])


def test_b12_positron_and_electron_samples() -> None:
    rng = np.random.default_rng(10)
    b = b12_events(TRUTH, 2_000, rng)
    assert np.all(b["mc_process"] == PROCESS_CODES["B12"])
    assert np.all(np.linalg.norm(np.stack([b["mc_x_mm"], b["mc_y_mm"], b["mc_z_mm"]], 1),
                                 axis=1) <= TRUTH.gmap.r_ls_mm)
    p = positron_events(TRUTH, 3.0, 1_000, rng, (0.0, 0.0, 0.0))
    # kinetic energy + 1.022 MeV annihilation, all contained at the centre
    np.testing.assert_allclose(p["mc_edep_mev"], 3.0 + 2 * 0.51099895, rtol=1e-12)
    el = electron_events(TRUTH, 3.0, 1_000, rng, (0.0, 0.0, 0.0))
    np.testing.assert_allclose(el["mc_evis_mev"], TRUTH.electron_visible_energy(3.0))


def test_amc_prompt_gamma_carries_the_proton_recoil_bias() -> None:
    """Mean visible energy of the 6.13 MeV events is raised by amc_recoil_bias (0.4 %)."""
    rng = np.random.default_rng(12)
    with_recoil = source_events(TRUTH, "AmC", (0.0, 0.0, 0.0), 20_000, rng)
    no_recoil = source_events(dataclasses.replace(TRUTH, amc_recoil_bias=0.0), "AmC",
                              (0.0, 0.0, 0.0), 20_000, rng)
    code = PROCESS_CODES["prompt"]
    a = with_recoil["mc_evis_mev"][with_recoil["mc_process"] == code]
    b = no_recoil["mc_evis_mev"][no_recoil["mc_process"] == code]
    # the recoil adds an exponential of mean 0.4 % E_vis: sd of the difference of means from
    # the two samples (E_vis spread ~0.3 % per event plus the exponential's own spread)
    diff = a.mean() / b.mean() - 1.0
    sd = np.sqrt(a.var() / a.size + b.var() / b.size) / b.mean()
    assert abs(diff - TRUTH.amc_recoil_bias) < 5.0 * sd


def test_realistic_detector_lowers_the_centre_peak() -> None:
    """Shadowing, enclosure loss and 1 % dead channels all reduce the Cs137 response."""
    rng = np.random.default_rng(13)
    real = DetectorTruth.realistic()
    nominal = source_events(TRUTH, "Cs137", (0.0, 0.0, 0.0), 10_000, rng)
    realistic = source_events(real, "Cs137", (0.0, 0.0, 0.0), 10_000, rng)
    # median of the full-absorption peak: the dead channels alone remove 1 % of the LPMT light
    drop = 1.0 - np.median(realistic["pe_total"]) / np.median(nominal["pe_total"])
    assert 0.008 < drop < 0.05
    # enclosure loss: a few % of events lose energy outside the LS
    lost = realistic["mc_edep_mev"] < GAMMA_SOURCES["Cs137"].total_energy - 1e-6
    assert 0.01 < np.mean(lost) < 0.10


@pytest.mark.parametrize("r_mm", [10_000.0, 16_500.0])
def test_library_and_fresh_cascades_agree(r_mm: float) -> None:
    """The deposit library (fast path below 14 m, deposit by deposit above) reproduces fresh
    cascades: n-H mean PE and, at the edge, the leaked fraction (5 sigma, two samples)."""
    pos = (0.0, 0.0, r_mm)
    code = PROCESS_CODES["nH"]
    res = []
    for use in (True, False):
        cols = source_events(TRUTH, "AmC", pos, 15_000, np.random.default_rng(14),
                             use_library=use)
        sel = cols["mc_process"] == code
        res.append((cols["pe_total"][sel], cols["mc_edep_mev"][sel]))
    (a, ea), (b, eb) = res
    sd = np.sqrt(a.var() / a.size + b.var() / b.size)
    assert abs(a.mean() - b.mean()) < 5.0 * sd
    pa, pb = np.mean(ea < 2.2), np.mean(eb < 2.2)
    p = 0.5 * (pa + pb)
    assert abs(pa - pb) < 5.0 * np.sqrt(p * (1 - p) * (1 / ea.size + 1 / eb.size)) + 1e-12
    if r_mm > 16_000.0:
        assert p > 0.003  # the edge point (1.2 m from the acrylic) does leak (~1 %)


def test_event_variance_is_poisson_plus_dark_plus_cherenkov_fluctuation() -> None:
    """Electrons at the centre: var(PE) = Y0 E_vis + dark + (k Y0 E_cherenkov)^2 (section 3.1:
    the Cherenkov track-length term makes the constant b of Eq. 3.1)."""
    n = 40_000
    t_kin = 5.0
    for kappa in (0.0, 0.12):
        truth = dataclasses.replace(TRUTH, cherenkov_fluctuation=kappa)
        cols = electron_events(truth, t_kin, n, np.random.default_rng(15), (0.0, 0.0, 0.0))
        y0 = truth.y0_pe_per_mev
        vis = float(truth.electron_visible_energy(t_kin))
        cher = float(truth.electron_cherenkov_energy(t_kin))
        dark = truth.lpmt_dark_noise_pe + truth.spmt_dark_noise_pe
        expected = y0 * vis + dark + (kappa * y0 * cher) ** 2
        # the sample variance of n near-Gaussian values has a relative sd of sqrt(2/n)
        assert cols["pe_total"].var(ddof=1) == pytest.approx(expected, rel=5 * np.sqrt(2 / n))
