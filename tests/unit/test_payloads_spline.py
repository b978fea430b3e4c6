"""The fast g(r, theta) spline evaluator agrees with scipy's FITPACK evaluation."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.interpolate import LSQBivariateSpline, RectBivariateSpline

from conditions.payloads.spline import MAX_LOOKUP_BINS, TensorSpline

#: Both evaluators sum the same B-spline; differences are float64 round-off of a polynomial of
#: O(1) values in local coordinates: 1e-12 absolute on g ~ 1 is ~1e4 ulp, generous but far below
#: any physical effect (1e-4 of g).
ATOL = 1e-12


def _knots(rng: np.random.Generator, lo: float, hi: float, n: int, uniform: bool) -> np.ndarray:
    """n interior knots of the domain [lo, hi]: equally spaced, or random."""
    if uniform:
        return np.linspace(lo, hi, n + 2)[1:-1]
    width = hi - lo
    return np.sort(rng.uniform(lo + 0.05 * width, hi - 0.05 * width, n))


@pytest.mark.parametrize(
    ("ku", "kv", "uniform"),
    [(3, 3, True), (3, 3, False), (1, 2, False), (5, 3, True), (2, 4, False), (1, 1, True)],
)
def test_matches_scipy(ku: int, kv: int, uniform: bool) -> None:
    rng = np.random.default_rng(ku * 10 + kv + uniform)
    ulo, uhi, vlo, vhi = 0.0, 5545.0, -1.0, 1.0
    pu = rng.uniform(ulo, uhi, 4000)
    pv = rng.uniform(vlo, vhi, 4000)
    g = 1.0 + 0.05 * np.sin(pu / 900.0) * pv + 0.01 * rng.normal(size=pu.size)
    tu = _knots(rng, ulo, uhi, 7, uniform)
    tv = _knots(rng, vlo, vhi, 5, uniform)
    ref = LSQBivariateSpline(pu, pv, g, tu, tv, kx=ku, ky=kv, bbox=[ulo, uhi, vlo, vhi])
    full_u, full_v = ref.get_knots()
    coef = ref.get_coeffs().reshape(full_u.size - ku - 1, full_v.size - kv - 1)
    fast = TensorSpline(full_u, full_v, coef, ku, kv)
    assert fast.u.uniform == uniform and fast.v.uniform == uniform
    qu = np.concatenate([rng.uniform(ulo, uhi, 20000), full_u, [ulo, uhi] * 3])
    qv = np.concatenate(
        [rng.uniform(vlo, vhi, 20000), np.resize(full_v, full_u.size), [vlo, vhi, 0.0] * 2]
    )
    assert np.max(np.abs(fast(qu, qv) - ref.ev(qu, qv))) < ATOL


def test_interpolating_spline_and_clamping() -> None:
    rng = np.random.default_rng(5)
    u = np.sort(np.r_[0.0, rng.uniform(0, 10, 12), 10.0])
    v = np.linspace(0.0, np.pi, 9)
    z = rng.normal(size=(u.size, v.size))
    ref = RectBivariateSpline(u, v, z)
    tu, tv, c = ref.tck
    fast = TensorSpline(tu, tv, np.reshape(c, (tu.size - 4, tv.size - 4)), 3, 3)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    assert np.max(np.abs(fast(uu.ravel(), vv.ravel()) - z.ravel())) < 1e-10
    # outside the domain: the value at the nearest edge, and inside() says so
    out_u = np.array([-1.0, 11.0, 5.0, 5.0])
    out_v = np.array([1.0, 1.0, -0.5, 4.0])
    edge = fast(np.clip(out_u, 0, 10), np.clip(out_v, 0, np.pi))
    assert np.array_equal(fast(out_u, out_v), edge)
    assert not fast.inside(out_u, out_v).any()
    assert fast.inside(uu.ravel(), vv.ravel()).all()
    # NaN coordinates give NaN (and no out-of-range cell index)
    got = fast(np.array([np.nan, 5.0, 5.0]), np.array([1.0, np.nan, 1.0]))
    assert np.isnan(got[:2]).all() and np.isfinite(got[2])


def test_searchsorted_fallback_for_extreme_knot_spacing() -> None:
    """A knot vector whose smallest cell needs more than MAX_LOOKUP_BINS bins still works."""
    ku = kv = 1
    interior = np.array([1e-7, 0.5])
    tu = np.r_[[0.0] * 2, interior, [1.0] * 2]
    tv = np.r_[[0.0] * 2, [1.0] * 2]
    coef = np.arange((tu.size - 2) * (tv.size - 2), dtype=float).reshape(tu.size - 2, -1)
    fast = TensorSpline(tu, tv, coef, ku, kv)
    assert fast.u.lookup is None and MAX_LOOKUP_BINS < 2 / 1e-7
    x = np.linspace(0, 1, 1001)
    y = np.full_like(x, 0.3)
    # bilinear: along u piecewise linear through coef rows, along v linear between columns
    col = coef[:, 0] * 0.7 + coef[:, 1] * 0.3
    assert np.allclose(fast(x, y), np.interp(x, np.r_[0.0, interior, 1.0], col), atol=1e-12)
