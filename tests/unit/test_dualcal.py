"""Dual calorimetry (paper section 2.2): model pieces, closure, flags, Figure 3 closure."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.typing import NDArray
from scipy.stats import chi2 as chi2_dist
from scipy.stats import poisson

from fitting.dualcal import (
    ChannelStatus,
    DualCalConfig,
    LaserScan,
    fit_dual_calorimetry,
    invert_response,
    linearise_charge,
    moment_matrix,
    poly_eval,
    spe_moments,
    status_reasons,
)

FloatArray = NDArray[np.float64]

# ------------------------------------------------------------------ truth helpers (mock)


def saturating_response(q0: FloatArray, q_sat: FloatArray) -> FloatArray:
    """Truth f(q0) = q0 (1 + 1/q_sat) / (1 + q0/q_sat): f(1) = 1 (SPE gain calibrated) and
    f(100)/100 = 0.505 for q_sat = 100 PE -- the paper's extreme "50 % over 100 PE"."""
    return q0 * (1.0 + 1.0 / q_sat) / (1.0 + q0 / q_sat)


def make_scan(
    n_ch: int,
    n_flashes: float,
    seed: int,
    mu_top: float = 130.0,
    n_steps: int = 30,
    q_sat_mean: float = 100.0,
) -> tuple[LaserScan, FloatArray, FloatArray]:
    """Mock central laser scan: per-channel relative efficiency (7 % spread, section 3.7),
    per-channel saturation scale (10 % spread); mean and error of the charge per step are the
    exact Poisson expectation of the truth response plus Gaussian noise of the mean of
    ``n_flashes`` flashes.  Returns (scan, q_sat, mu at top step)."""
    rng = np.random.default_rng(seed)
    eff = 1.0 + 0.07 * rng.standard_normal(n_ch)
    q_sat = q_sat_mean * (1.0 + 0.1 * rng.standard_normal(n_ch))
    spmt = np.geomspace(0.01, 1.0, n_steps) * 4.0e4  # SPMT total PE per flash
    mu = (mu_top * eff)[:, None] * (spmt / spmt.max())[None, :]
    n = np.arange(int(mu.max() + 12 * np.sqrt(mu.max()) + 30))
    mean = np.empty_like(mu)
    var = np.empty_like(mu)
    fn = saturating_response(n[None, :].astype(float), q_sat[:, None])
    for k in range(n_steps):
        p = poisson.pmf(n[None, :], mu[:, k : k + 1])
        mean[:, k] = (p * fn).sum(axis=1)
        var[:, k] = (p * fn**2).sum(axis=1) - mean[:, k] ** 2
    err = np.sqrt(var / n_flashes)
    charge = mean + err * rng.standard_normal(mean.shape)
    scan = LaserScan(np.arange(n_ch, dtype=np.int64), spmt, charge, err)
    return scan, q_sat, mu[:, -1]


@pytest.fixture(scope="module")
def scan_and_truth() -> tuple[LaserScan, FloatArray, FloatArray]:
    return make_scan(n_ch=600, n_flashes=1.0e4, seed=11)


# ------------------------------------------------------------------ model pieces


def stirling2(n: int, k: int) -> int:
    if n == k:
        return 1
    if k == 0 or k > n:
        return 0
    return k * stirling2(n - 1, k) + stirling2(n - 1, k - 1)


def test_moment_matrix_is_stirling_without_spe_smearing() -> None:
    # E[n^j] of a Poisson = sum_k S(j, k) mu^k (Touchard polynomials)
    m = moment_matrix(6, 0.0, 1.0)
    expected = np.array([[stirling2(j, k) for j in range(1, 7)] for k in range(1, 7)], float)
    np.testing.assert_array_equal(m, expected)


def test_moment_matrix_matches_compound_poisson_monte_carlo() -> None:
    rng = np.random.default_rng(3)
    mu, sig, n_ev = 3.0, 0.3, 400_000
    n = rng.poisson(mu, n_ev)
    # compound Poisson: the sum of n Gaussian SPE charges is N(n, n sig^2)
    q = n + sig * np.sqrt(n) * rng.standard_normal(n_ev)
    m = moment_matrix(4, sig, 1.0)
    for j in range(1, 5):
        predicted = np.polyval(np.concatenate([m[::-1, j - 1], [0.0]]), mu)
        sample = q**j
        # tolerance: 5 standard errors of the sample mean
        assert abs(sample.mean() - predicted) < 5 * sample.std() / np.sqrt(n_ev)


def test_spe_moments_gaussian() -> None:
    s = 0.3
    expected = [1, 1, 1 + s**2, 1 + 3 * s**2, 1 + 6 * s**2 + 3 * s**4]
    np.testing.assert_allclose(spe_moments(4, s), expected)


@settings(max_examples=40, deadline=None)
@given(
    b2=st.floats(-0.4, 0.0),
    b3=st.floats(-0.05, 0.1),
    y=st.floats(0.0, 0.6),
)
def test_invert_response_roundtrip(b2: float, b3: float, y: float) -> None:
    coeffs = np.array([1.0, b2, b3])
    # only test where the response is increasing up to the solution
    x = invert_response(coeffs, np.array(y))
    grid = np.linspace(0, float(x), 50)
    if np.all(1 + 2 * b2 * grid + 3 * b3 * grid**2 > 0.05):
        assert abs(float(poly_eval(coeffs, x)) - y) < 1e-10


def test_linearise_charge_interpolates_rows() -> None:
    grid = np.linspace(0.0, 10.0, 11)
    curves = np.stack([grid, 2.0 * grid, grid**2])
    ch = np.array([0, 1, 2, 2, 1])
    q = np.array([2.5, 2.5, 3.0, 12.0, -1.0])
    out = linearise_charge(grid, curves, ch, q)
    # row 2 is piecewise linear between grid points; beyond the grid: last segment extended
    np.testing.assert_allclose(out, [2.5, 5.0, 9.0, 100.0 + 2 * 19.0, -2.0])


# ------------------------------------------------------------------ closure of the fit


def test_fit_closure_single_event_response(
    scan_and_truth: tuple[LaserScan, FloatArray, FloatArray],
) -> None:
    scan, q_sat, _ = scan_and_truth
    res = fit_dual_calorimetry(scan)
    assert res.n_good == len(q_sat), res.reasons()
    # chi2/ndf: mean over channels must be 1 within 5 sigma (sigma = sqrt(2/ndf/N))
    ndf = res.ndf[0]
    assert abs(np.mean(res.chi2 / res.ndf) - 1.0) < 5 * np.sqrt(2.0 / ndf / len(q_sat))
    # single-event closure: the linearised charge of a true PE count n must be n
    n_true = np.array([1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 100.0])
    n_true = n_true[None, :] * np.ones((len(q_sat), 1))
    q_meas = saturating_response(n_true, q_sat[:, None])
    ch = np.repeat(np.arange(len(q_sat))[:, None], n_true.shape[1], axis=1)
    rel = res.linearise(ch, q_meas) / n_true - 1.0
    # mean over channels: statistical part ~0.6 %/sqrt(600) = 0.03 %, model (degree 6)
    # part < 0.06 % (noise-free study) -> 0.15 % leaves a 2x margin and is 2x below the
    # paper's 0.3 % event-level requirement
    assert np.all(np.abs(rel.mean(axis=0)) < 1.5e-3), rel.mean(axis=0)
    # channel by channel the error is statistical: < 3 % everywhere at 1e4 flashes
    assert np.max(np.abs(rel)) < 0.03
    # the truth is strongly non-linear: without correction the error at 100 PE is ~50 %
    assert np.mean(q_meas[:, -1] / n_true[:, -1]) < 0.6


def test_tabulated_curves_match_exact_inversion(
    scan_and_truth: tuple[LaserScan, FloatArray, FloatArray],
) -> None:
    scan, _, _ = scan_and_truth
    res = fit_dual_calorimetry(scan)
    rng = np.random.default_rng(4)
    ch = rng.integers(0, len(res.channel_ids), 5000)
    q = rng.uniform(0.3, 0.95 * res.valid_max_charge[ch])
    exact = res.pe_ref * invert_response(res.response_coeffs[ch], q / res.pe_ref)
    table = res.linearise(ch, q)
    # 64 nodes, power 1.5: interpolation error ~0.1 % at most (design, see DualCalConfig;
    # measured 0.095 %, and 0.06 % below 5 PE), well below the 0.3 % requirement
    err = np.abs(table / exact - 1.0)
    assert np.max(err) < 1.5e-3
    assert np.max(err[q < 5.0]) < 1e-3
    # the payload requires strictly increasing curves
    assert np.all(np.diff(res.linearised_charge, axis=1) > 0)


def test_gain_is_recovered(scan_and_truth: tuple[LaserScan, FloatArray, FloatArray]) -> None:
    scan, _, mu_top = scan_and_truth
    res = fit_dual_calorimetry(scan)
    gain_true = mu_top / scan.spmt_total.max()
    rel = res.gain / gain_true - 1.0
    # the low-light slope is the least constrained coefficient: ~0.5 % per channel
    assert abs(rel.mean()) < 1e-3
    assert rel.std() < 0.01


def test_curves_shape_and_identity_for_flagged() -> None:
    scan, _, _ = make_scan(n_ch=40, n_flashes=1.0e4, seed=5)
    q = scan.lpmt_charge.copy()
    q[3] = 0.0  # dead
    q[7, 10:] *= 1.2  # a jump: bad fit
    q[9, :28] = np.nan  # few points (2 < min_degree + 1)
    q[15, :25] = np.nan  # 5 points: fitted at a lower degree
    dark = np.full(40, 0.01)
    dark[12] = 3.0  # noisy
    bad = LaserScan(scan.channel_ids, scan.spmt_total, q, scan.lpmt_charge_err, dark)
    res = fit_dual_calorimetry(bad, DualCalConfig(penalties=()))  # the plain AICc ladder
    assert res.status[3] & ChannelStatus.DEAD
    assert res.status[7] & ChannelStatus.BAD_FIT
    assert res.status[9] & ChannelStatus.FEW_POINTS
    assert res.status[12] & ChannelStatus.NOISY
    flagged = {3, 7, 9, 12}
    good = [i for i in range(40) if i not in flagged]
    assert np.all(res.status[good] == 0)
    assert set(res.reasons()) == flagged
    assert "dead" in status_reasons(int(res.status[3]))[0]
    assert res.degree[15] <= 4 and res.status[15] == 0
    assert np.all(res.degree[[3, 9]] == 0) and res.degree[0] == 6
    from conditions.services.jobs.lpmt_nonlinearity import payload_status

    ps = payload_status(res.status)
    assert ps[3] == 2 and ps[7] == ps[9] == ps[12] == 1 and np.all(ps[good] == 0)
    # flagged channels carry the identity curve, good ones a non-linear one
    for i in flagged:
        np.testing.assert_allclose(res.linearised_charge[i], res.charge_grid)
    assert np.all(res.linearised_charge[good, -1] > 1.5 * res.charge_grid[-1])
    assert res.linearised_charge.shape == (40, len(res.charge_grid))


def test_scan_validation() -> None:
    with pytest.raises(ValueError, match="shape"):
        LaserScan(np.arange(3), np.ones(4), np.ones((3, 5)), np.ones((3, 5)))
    with pytest.raises(ValueError, match="spmt_total"):
        LaserScan(np.arange(3), np.array([0.0, 1.0]), np.ones((3, 2)), np.ones((3, 2)))


def test_degree_is_chosen_by_aicc_not_by_the_number_of_steps() -> None:
    # a 10-step log scan 0.02-100 PE (the toymc campaign) has only 4 steps above 3 % of the
    # top: the AICc keeps the low degrees for them, while a 24-step scan of the same channels
    # supports higher ones; both give usable curves
    rng = np.random.default_rng(1)
    q_sat = 100.0 * (1.0 + 0.1 * rng.standard_normal(30))
    n = np.arange(250)

    def scan_of(levels: np.ndarray) -> LaserScan:
        mean = np.stack([(poisson.pmf(n[None, :], levels[:, None])
                          * saturating_response(n[None, :].astype(float), qs)).sum(axis=1)
                         for qs in q_sat])
        err = np.sqrt(mean / 1e4) + 1e-6
        return LaserScan(np.arange(30), levels * 400.0,
                         mean + err * rng.standard_normal(mean.shape), err)

    plain = DualCalConfig(penalties=())  # the plain AICc ladder
    sparse = fit_dual_calorimetry(scan_of(np.geomspace(0.3 * 1345.0 / 17_612.0, 100.0, 10)),
                                  plain)
    dense = fit_dual_calorimetry(scan_of(np.linspace(1.0, 100.0, 24)), plain)
    assert sparse.n_good == 30 and dense.n_good == 30
    assert np.all(sparse.degree <= 5) and np.median(dense.degree) > np.median(sparse.degree)
    q30 = saturating_response(np.full(30, 30.0), q_sat)
    for res, tol in ((sparse, 0.03), (dense, 0.003)):
        rel = res.linearise(np.arange(30), q30) / 30.0
        assert abs(np.mean(rel) - 1.0) < tol
    assert np.mean(q30) / 30.0 < 0.8


def test_wide_gap_between_steps_is_bridged_by_the_smoothed_response() -> None:
    # 8 log steps 0.02-100 PE (the extreme variant's layout): only 30 and 100 PE above 10 PE.
    # Plain polynomials (AICc) follow the precise low steps and swing between 30 and 100 PE;
    # the smoothed response (P1, penalty by PRESS) bridges the gap
    rng = np.random.default_rng(3)
    q_sat = 100.0 * (1.0 + 0.3 * rng.random(40))
    n = np.arange(300)
    levels = np.geomspace(0.02, 100.0, 8)
    mean = np.stack([(poisson.pmf(n[None, :], levels[:, None])
                      * saturating_response(n[None, :].astype(float), qs)).sum(axis=1)
                     for qs in q_sat])
    err = np.sqrt(mean / 1e5) + 1e-7
    scan = LaserScan(np.arange(40), levels * 400.0, mean + err * rng.standard_normal(mean.shape),
                     err)
    smooth = fit_dual_calorimetry(scan)
    plain = fit_dual_calorimetry(scan, DualCalConfig(penalties=()))
    assert smooth.n_good == 40 and np.all(smooth.degree == 6)
    worst = {}
    for name, res in (("smooth", smooth), ("plain", plain)):
        dev = [np.abs(res.linearise(np.arange(40), saturating_response(np.full(40, m), q_sat))
                      / m - 1.0) for m in (50.0, 70.0, 90.0)]
        worst[name] = float(np.max(dev))
    # 1e5 flashes: each step to ~0.03 % at 100 PE; issue 14's p95 target is 1.5 %
    assert worst["smooth"] < 0.015 < worst["plain"], worst


def test_degree_config_changes_model() -> None:
    scan, _, _ = make_scan(n_ch=20, n_flashes=1.0e4, seed=2)
    r4 = fit_dual_calorimetry(scan, DualCalConfig(degree=4, max_degree=4, penalties=()))
    r6 = fit_dual_calorimetry(scan, DualCalConfig(degree=6, max_degree=6, penalties=()))
    assert r4.response_coeffs.shape == (20, 4) and r6.response_coeffs.shape == (20, 6)
    # degree 4 cannot follow a 50 % saturation: its chi2 is much worse
    assert np.median(r4.chi2 / r4.ndf) > 3 * np.median(r6.chi2 / r6.ndf)
    # with the default ladder a channel degree 4 fits badly (p < min_pvalue) steps up to the
    # lowest degree that fits it instead of being flagged and left uncorrected
    cfg = DualCalConfig(degree=4, penalties=())
    up = fit_dual_calorimetry(scan, cfg)
    p4 = chi2_sf(r4.chi2, r4.ndf)
    bad4 = (p4 < cfg.min_pvalue) & (r4.degree == 4)
    assert np.any(bad4)
    assert np.all(up.degree[bad4] > 4)
    assert np.all(up.degree[~bad4 & (r4.status == 0)] == 4)
    assert up.n_good > r4.n_good


def chi2_sf(chi2: FloatArray, ndf: NDArray[np.int64]) -> FloatArray:
    return np.asarray(chi2_dist.sf(chi2, np.maximum(ndf, 1)))


# ------------------------------------------------------------------ event level (Figure 3)

R_PMT_MM = 19_400.0
R_LS = 17_700.0


def fibonacci_sphere(n: int, radius: float) -> FloatArray:
    """n nearly uniform points on a sphere (LPMT positions of the mock detector)."""
    i = np.arange(n) + 0.5
    z = 1.0 - 2.0 * i / n
    phi = np.pi * (1.0 + 5.0**0.5) * i
    s = np.sqrt(1.0 - z * z)
    return radius * np.stack([s * np.cos(phi), s * np.sin(phi), z], axis=1)


def channel_pe_fractions(
    vertex: FloatArray, pmts: FloatArray, att_mm: float = 60_000.0
) -> FloatArray:
    """Share of the detected light seen by each LPMT for a vertex: solid angle x cos(incidence)
    x attenuation, normalised to 1 (shape (n_pmt,))."""
    d = pmts - vertex[None, :]
    dist = np.linalg.norm(d, axis=1)
    cos_inc = np.einsum("ij,ij->i", d, pmts) / (dist * R_PMT_MM)
    w = np.clip(cos_inc, 0.0, None) / dist**2 * np.exp(-dist / att_mm)
    return w / w.sum()


def test_event_level_nonlinearity_closure() -> None:
    """Figure 3: electrons 1-8 MeV uniform in the CD, 50 %-over-100-PE channel response.

    Event non-linearity = total measured LPMT charge / total true PE.  Mock: 4403 LPMTs (a
    quarter of 17,612) with the light per event scaled by 1/4 so that the PE per channel --
    the only thing the channel non-linearity sees -- is that of the full detector.
    """
    rng = np.random.default_rng(2024)
    n_pmt = 17_612 // 4
    y_lpmt = 1345.0 * 0.97 / 4.0  # LPMT PE/MeV of the quarter detector
    pmts = fibonacci_sphere(n_pmt, R_PMT_MM)
    scan, q_sat, mu_top = make_scan(n_ch=n_pmt, n_flashes=1.0e4, seed=7, n_steps=24)
    res = fit_dual_calorimetry(scan)
    assert res.n_good == n_pmt
    eff = mu_top / mu_top.mean()  # relative channel efficiencies (QE spread)
    energies = np.arange(1.0, 9.0)
    n_ev = 30
    ratio_raw = np.empty((len(energies), n_ev))
    ratio_cor = np.empty_like(ratio_raw)
    ch = np.arange(n_pmt)
    for ie, e in enumerate(energies):
        for k in range(n_ev):
            v = rng.normal(size=3)
            v *= R_LS * rng.uniform() ** (1.0 / 3.0) / np.linalg.norm(v)
            lam = y_lpmt * e * channel_pe_fractions(v, pmts) * eff
            n = rng.poisson(lam).astype(float)
            q = saturating_response(n, q_sat)
            ratio_raw[ie, k] = q.sum() / n.sum()
            ratio_cor[ie, k] = res.linearise(ch, q).sum() / n.sum()
    raw = ratio_raw.mean(axis=1)
    cor = ratio_cor.mean(axis=1)
    # before: a percent-level event non-linearity growing with energy (paper: up to ~2 %)
    assert 1.0 - raw[-1] > 0.005
    assert raw[-1] < raw[0]
    # after: within the paper's 0.3 % at every energy (mean of 30 events; the per-event
    # scatter of the ratio is < 0.2 %, so the mean is known to < 0.05 %)
    assert np.all(np.abs(cor - 1.0) < 3e-3), cor


@pytest.mark.slow
def test_closure_on_toymc_laser_scan() -> None:
    """Closure on the mock detector's own per-flash laser simulation (Poisson PE, 3 % laser
    jitter, dark noise, SPMT photon counting), extreme 50 %-at-100-PE truth, 2000 channels.

    The toymc response n / (1 + b (n/100)^gamma) with gamma in [0.8, 1] has a non-analytic
    onset that a degree-6 polynomial describes only to ~0.36 % at 10-100 PE (noise-free
    study, degree 8: 0.17 %); that floor, not statistics, sets the per-hit tolerance.  The
    event level, which is what the paper requires (< 0.3 %), is checked as well.
    """
    import dataclasses

    from fitting.toymc.laser import relative_illumination, simulate_laser_scan
    from fitting.toymc.pmts import lpmt_channels
    from fitting.toymc.truth import DetectorTruth

    truth = dataclasses.replace(DetectorTruth.default(), lpmt_nonlin_max=0.5, n_lpmt=2000)
    ch = lpmt_channels(truth)
    levels = np.linspace(130.0 / 24, 130.0, 24)
    ts = simulate_laser_scan(truth, np.random.default_rng(8), intensities_pe=levels,
                             n_flashes=4000)
    dark = np.full(ch.n, truth.lpmt_dark_noise_pe / truth.n_lpmt)
    scan = LaserScan.from_flashes(np.arange(ch.n), ts.spmt_total, truth.spmt_dark_noise_pe,
                                  ts.lpmt_mean.T, ts.lpmt_sem.T, dark)
    res = fit_dual_calorimetry(scan)
    assert res.n_good >= 0.995 * ch.n, res.reasons()
    good = res.status == 0
    n_true = np.array([1.0, 3.0, 10.0, 30.0, 100.0])
    # charges in the SPE-calibrated unit of the laser files (one PE reads 1 PE on average)
    q_meas = ch.calibrated_response(n_true[:, None] * np.ones((1, ch.n))).T  # (C, 5)
    rows = np.repeat(np.arange(ch.n)[:, None], len(n_true), axis=1)
    rel = res.linearise(rows, q_meas) / n_true[None, :] - 1.0
    # per hit, mean over channels: the model floor of the polynomial chosen by the summed AICc
    # on this non-analytic onset (module-level note above), not statistics
    assert np.all(np.abs(rel[good].mean(axis=0)) < 9e-3), rel[good].mean(axis=0)
    # the uncorrected deficit at 100 PE is 25 % on average (uniform in [0, 50 %])
    assert np.mean(q_meas[:, -1] / 100.0) < 0.8

    # event level (Figure 3): electrons at 8 MeV uniform in the LS, light per channel as in
    # the full 17,612-channel detector (scaled by 2000 / 17,612)
    rng = np.random.default_rng(9)
    y_lpmt = truth.y0_pe_per_mev * (1.0 - truth.spmt_fraction) * ch.n / 17_612
    idx = np.arange(ch.n)
    num_raw = num_cor = den = 0.0
    for _ in range(200):
        v = rng.standard_normal(3)
        v *= truth.gmap.r_ls_mm * rng.uniform() ** (1 / 3) / np.linalg.norm(v)
        w = relative_illumination(ch, v) * ch.efficiency
        n = rng.poisson(y_lpmt * 8.0 * w / w.sum()).astype(np.float64)
        q = ch.calibrated_response(n[None, :])[0]
        num_raw += q.sum()
        num_cor += res.linearise(idx, q).sum()
        den += n.sum()
    assert num_raw / den < 0.995  # > 0.5 % event-level non-linearity before correction
    assert abs(num_cor / den - 1.0) < 3e-3  # the paper's residual requirement


def test_job_payload_adapter_validates_against_the_schema() -> None:
    import dataclasses

    from conditions.payloads.lpmt import N_LPMT
    from conditions.services.jobs.lpmt_nonlinearity import lpmt_payload

    scan, _, _ = make_scan(n_ch=40, n_flashes=1.0e4, seed=5)
    q = scan.lpmt_charge.copy()
    q[3] = 0.0  # one dead channel
    res = fit_dual_calorimetry(LaserScan(scan.channel_ids, scan.spmt_total, q,
                                         scan.lpmt_charge_err))
    reps = -(-N_LPMT // 40)
    full = dataclasses.replace(
        res,
        channel_ids=np.arange(N_LPMT, dtype=np.int64),
        status=np.tile(res.status, reps)[:N_LPMT],
        linearised_charge=np.tile(res.linearised_charge, (reps, 1))[:N_LPMT],
    )
    payload = lpmt_payload(full)
    assert int(payload.status[3]) == 2 and int(payload.status[0]) == 0
    np.testing.assert_allclose(payload.true_charge[0], res.linearised_charge[0], rtol=1e-6)
