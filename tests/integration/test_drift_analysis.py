"""Drift detection as pure functions: steps, slow drifts, the significance guard, thresholds,
per-channel outliers.  No database: these run once, not per backend."""

from __future__ import annotations

import math

import numpy as np
import pytest

from conditions import drift
from conditions.drift import ChannelCorrections, DriftMethod, Thresholds, analyse
from conditions.errors import InvalidInput

from .test_drift_support import fit_sigma, true_drift

Y0_THRESHOLDS = drift.QUANTITIES["Y0"].thresholds


@pytest.mark.parametrize("method", ["fit", "points"])
def test_noise_free_step_and_slow_drift_are_flagged_exactly_where_injected(
    method: DriftMethod,
) -> None:
    n, rate, step_at, step = 52, -0.005 / 52, 20, -0.004  # mock truth: -0.5 %/year, -0.4 % step
    k = np.arange(n)
    values = 1345.0 * (1.0 + rate) ** k * np.where(k >= step_at, 1.0 + step, 1.0)
    result = analyse(
        list(values), [None] * n, relative=True, thresholds=Y0_THRESHOLDS, method=method
    )
    assert result.flagged("step") == [step_at]
    expected = true_drift(n, rate, step_at, method)
    first_crossing = int(np.argmax(np.abs(expected) > Y0_THRESHOLDS.drift))
    assert first_crossing > step_at  # the step itself never counts as drift
    assert result.flagged("drift") == [first_crossing]
    flag = result.flags[-1]
    assert flag.reference == 0
    assert flag.change == pytest.approx(expected[first_crossing], rel=1e-9)
    # to_reference keeps the step; drift (steps excluded) does not
    assert result.to_reference[-1] == pytest.approx(values[-1] / values[0] - 1.0, rel=1e-12)
    assert result.drift[first_crossing] == pytest.approx(expected[first_crossing], rel=1e-9)
    assert result.drift[first_crossing + 1] == pytest.approx(rate, rel=1e-6)  # re-referenced


@pytest.mark.parametrize("seed", range(5))
def test_noisy_step_and_drift_found_and_nothing_else_points(seed: int) -> None:
    n, rate, step_at, step, sigma = 52, -0.005 / 52, 20, -0.004, 1e-4
    rng = np.random.default_rng(seed)
    k = np.arange(n)
    truth = 1345.0 * (1.0 + rate) ** k * np.where(k >= step_at, 1.0 + step, 1.0)
    values = truth * (1.0 + sigma * rng.standard_normal(n))
    errors = list(values * sigma)
    result = analyse(
        list(values), errors, relative=True, thresholds=Y0_THRESHOLDS, method="points"
    )
    # the step is 0.4 % against a consecutive noise of sqrt(2) x 0.01 %: 28 sigma, always found
    assert result.flagged("step") == [step_at]
    # The accumulated drift at point i depends on 4 noisy points (i, the reference, and the two
    # sides of the removed step): sigma_d = 2 sigma.  Its crossing of the threshold lies where
    # the true drift is within +-4 sigma_d of the threshold (false-alarm odds ~1e-4 per side).
    expected = np.abs(true_drift(n, rate, step_at, "points"))
    band = 4.0 * 2.0 * sigma
    earliest = int(np.argmax(expected > Y0_THRESHOLDS.drift - band))
    latest = int(np.argmax(expected > Y0_THRESHOLDS.drift + band))
    flagged = result.flagged("drift")
    assert len(flagged) == 1
    assert earliest <= flagged[0] <= latest


@pytest.mark.parametrize("seed", range(10))
def test_mock_like_year_fit_finds_step_and_one_drift_near_its_crossing(seed: int) -> None:
    # the mock detector's year: -0.5 %/year, -0.4 % step, weekly Y0 at 0.03 % (section 5.2)
    n, rate, step_at, step, sigma = 52, -0.005 / 52, 20, -0.004, 3e-4
    rng = np.random.default_rng(1000 + seed)
    k = np.arange(n)
    truth = 1345.0 * (1.0 + rate) ** k * np.where(k >= step_at, 1.0 + step, 1.0)
    values = truth * (1.0 + sigma * rng.standard_normal(n))
    result = analyse(list(values), list(values * sigma), relative=True, thresholds=Y0_THRESHOLDS)
    assert result.flagged("step") == [step_at]  # 0.4 % vs sqrt(2) x 0.03 %: 9 sigma
    expected = np.abs(true_drift(n, rate, step_at, "fit"))
    # the flag falls where the true drift is within 4 fit-sigma of the threshold
    lo = np.array([expected[i] + 4 * fit_sigma(i, step_at, sigma) for i in range(n)])
    hi = np.array([expected[i] - 4 * fit_sigma(i, step_at, sigma) for i in range(n)])
    earliest = int(np.argmax(lo > Y0_THRESHOLDS.drift))
    latest = int(np.argmax(hi > Y0_THRESHOLDS.drift))
    (flagged,) = result.flagged("drift")  # the rest of the year (~0.2 %) stays below 0.3 %
    assert earliest <= flagged <= latest
    # (the point-to-point estimate has sigma_d = 2 sigma = 0.06 %; the fit ~1 sigma at week 27
    # and 0.6 sigma at week 40, which keeps the rest of the year from flagging a second time)


@pytest.mark.parametrize("seed", range(10))
def test_clean_series_with_noise_at_its_errors_flags_nothing(seed: int) -> None:
    n, sigma = 52, 3e-4
    rng = np.random.default_rng(100 + seed)
    values = 1345.0 * (1.0 + sigma * rng.standard_normal(n))
    errors = list(values * sigma)
    assert analyse(list(values), errors, relative=True, thresholds=Y0_THRESHOLDS).flags == ()
    # even with every threshold at 0 only the 4-sigma guard stands between noise and a flag:
    # 52 steps + 51 drifts x p(4 sigma) = 6e-3 expected false flags per seed
    bare = analyse(list(values), errors, relative=True, thresholds=Thresholds(0.0, 0.0))
    assert bare.flags == ()


def test_significance_guard_false_alarm_rate_matches_gaussian_tails() -> None:
    # With the threshold off, a step is flagged when |change| > n_sigma x sigma_change: for
    # Gaussian noise that happens with probability 2 (1 - Phi(n_sigma)) per point.  400 yearly
    # series of 50 weekly points.
    n_sigma, n_series, n = 2.0, 400, 50
    rng = np.random.default_rng(7)
    sigma = 1e-3
    flagged = 0
    for _ in range(n_series):
        values = 100.0 * (1.0 + sigma * rng.standard_normal(n))
        result = analyse(
            list(values),
            list(values * sigma),
            relative=True,
            thresholds=Thresholds(0.0, math.inf),
            n_sigma=n_sigma,
        )
        flagged += len(result.flagged("step"))
        assert result.flagged("drift") == []
    p = math.erfc(n_sigma / math.sqrt(2.0))  # 4.55 %
    expected = p * (n - 1) * n_series  # ~890
    # consecutive changes share a point (correlation -1/2), which roughly doubles the variance
    # of the count; 5 x sqrt(2 x binomial variance) is a safe tolerance (~23 %), while a sigma
    # wrong by a factor sqrt(2) would change the count by a factor ~3-10
    tolerance = 5.0 * math.sqrt(2.0 * expected * (1.0 - p))
    assert abs(flagged - expected) < tolerance


def test_absolute_quantity_uses_differences() -> None:
    q = drift.QUANTITIES["p3"]
    assert not q.relative
    values = [-0.005, -0.005, -0.005 + 2 * q.thresholds.step, -0.005 + 2 * q.thresholds.step]
    result = analyse(values, [1e-5] * 4, relative=False, thresholds=q.thresholds)
    assert result.flagged("step") == [2]
    assert result.change[2] == pytest.approx(2 * q.thresholds.step)
    assert result.change_sigma[2] == pytest.approx(math.sqrt(2) * 1e-5)


def test_reference_index_and_unusable_points() -> None:
    values = [100.0, 101.0, float("nan"), 102.0, 102.0]
    result = analyse(
        values, [None] * 5, relative=True, thresholds=Thresholds(0.5, 0.5), reference=1
    )
    assert result.to_reference[0] is None and result.drift[0] is None
    assert result.to_reference[1] == 0.0
    assert result.change[2] is None and result.to_reference[2] is None
    assert result.change[3] == pytest.approx(102.0 / 101.0 - 1.0)  # vs the last usable point
    assert result.to_reference[4] == pytest.approx(102.0 / 101.0 - 1.0)
    with pytest.raises(ValueError):
        analyse(values, [None] * 5, relative=True, thresholds=Thresholds(0.5, 0.5), reference=9)


def test_continuing_drift_is_flagged_each_threshold() -> None:
    n, rate = 40, 0.001
    values = list(100.0 * (1.0 + rate) ** np.arange(n))
    result = analyse(values, [None] * n, relative=True, thresholds=Thresholds(0.01, 0.0095))
    # (1.001)^10 - 1 = 1.0045 % > 0.95 % > (1.001)^9 - 1: a flag every 10 points
    assert result.flagged("drift") == [10, 20, 30]
    assert [f.reference for f in result.flags] == [0, 10, 20]


def test_parse_threshold() -> None:
    y0 = drift.QUANTITIES["Y0"].thresholds
    assert drift.parse_threshold("Y0=0.5%") == ("Y0", Thresholds(0.005, y0.drift))
    assert drift.parse_threshold("y0=0.3%:1%") == ("Y0", Thresholds(0.003, 0.01))
    assert drift.parse_threshold("Y0=:2%") == ("Y0", Thresholds(y0.step, 0.02))
    assert drift.parse_threshold("p3=0.002") == ("p3", Thresholds(0.002, 0.005))
    assert drift.parse_threshold("Y0=off:OFF") == ("Y0", Thresholds(math.inf, math.inf))
    merged = drift.override_thresholds(["Y0=1%", "Y0=:3%"])
    assert merged == {"Y0": Thresholds(0.01, 0.03)}
    for bad in ("Y0", "Y0=", "Y0=abc", "nope=1%", "Y0=-1%", "Y0=%"):
        with pytest.raises(InvalidInput):
            drift.parse_threshold(bad)


def test_every_payload_type_has_tracked_quantities_and_examples_extract() -> None:
    from conditions.payloads.examples import all_payloads

    for model in all_payloads().values():
        qs = drift.quantities_for(model.TYPE_NAME)
        assert qs, model.TYPE_NAME
        for q in qs:
            value, error = drift.extract(q, model)
            assert math.isfinite(value)
            assert error is None or error >= 0
    y0 = drift.extract(drift.quantity("Y0"), all_payloads()["light_yield"])
    assert y0 == (1345.0, 0.4)


def test_g_map_summary_matches_its_points() -> None:
    # The example map interpolates g_truth at its 12 x 9 grid points: the spline evaluated at the
    # points reproduces points_g to interpolation round-off, so mean/RMS equal those of points_g.
    from conditions.payloads.examples import nonuniformity_map

    m = nonuniformity_map()
    mean, err = drift.extract(drift.quantity("g_mean"), m)
    rms, _ = drift.extract(drift.quantity("g_spread"), m)
    assert mean == pytest.approx(float(np.mean(m.points_g)), abs=1e-9)
    assert rms == pytest.approx(float(np.std(m.points_g)), abs=1e-9)
    assert err == pytest.approx(1e-3 / math.sqrt(m.points_g.size))


def _channels(corr: np.ndarray, good: np.ndarray | None = None) -> ChannelCorrections:
    ids = np.arange(corr.size, dtype=np.int32)
    return ChannelCorrections(ids, corr, np.ones(corr.size, bool) if good is None else good)


def test_channel_outliers_found_exactly() -> None:
    rng = np.random.default_rng(11)
    n = 17612
    before = 1.02 + 0.01 * rng.standard_normal(n)
    after = before * (1.0 + 2e-4 * rng.standard_normal(n)) + 5e-4  # common shift + noise
    moved = [5, 777, 17000]
    after[moved] += 0.01  # 0.01 / (1.02 x 2e-4) ~ 49 robust sigma
    good_after = np.ones(n, bool)
    good_after[[42, 43]] = False
    found = drift.channel_outliers(_channels(before), _channels(after, good_after))
    assert list(found.channel_ids) == moved
    assert found.newly_bad == (42, 43)
    assert found.n_compared == n - 2
    assert found.median == pytest.approx(5e-4, abs=2e-5)
    assert found.robust_sigma == pytest.approx(1.02 * 2e-4, rel=0.05)
    # an unchanged population gives no outliers from float round-off
    same = drift.channel_outliers(_channels(before), _channels(before + 1e-9))
    assert same.channel_ids == ()
