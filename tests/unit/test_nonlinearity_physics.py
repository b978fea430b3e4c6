"""fitting.physics.nonlinearity (Eq 2.5, 2.6/2.7 integrated, inverse, slope) and fitting.cost."""

from __future__ import annotations

import numpy as np
import pytest

from fitting import cost
from fitting.physics.nonlinearity import (
    electron_visible_energy,
    f_nonlin,
    gamma_visible_energy_integrated,
    invert_electron_visible_energy,
    regularised_visible_energy,
    visible_energy_and_grad,
    visible_energy_slope,
)

P = np.array([1.045, 0.09, 1.1, -0.004])


def test_regularised_form_is_continuous_and_vanishes_at_zero() -> None:
    """Below e_reg the per-electron response is E f(e_reg): continuous at e_reg, 0 at E = 0,
    while the bare form keeps p3 / (1 + p1) at E -> 0 (the misbehaviour it removes)."""
    e_reg = 0.1
    e = np.array([1e-6, 0.05, e_reg - 1e-9, e_reg + 1e-9, 1.0])
    ev, _ = regularised_visible_energy(e, P, e_reg)
    assert ev[0] == pytest.approx(1e-6 * float(f_nonlin(e_reg, P)), rel=1e-9)
    assert ev[2] == pytest.approx(ev[3], rel=1e-6)
    assert ev[4] == pytest.approx(float(electron_visible_energy(1.0, P)), rel=1e-12)
    bare, _ = regularised_visible_energy(e, P, 0.0)
    assert bare[0] == pytest.approx(P[3] / (1 + P[1]), rel=1e-3)


@pytest.mark.parametrize("e_reg", [0.0, 0.1])
def test_regularised_gradient_matches_finite_differences(e_reg: float) -> None:
    e = np.geomspace(1e-3, 10.0, 50)
    _, g = regularised_visible_energy(e, P, e_reg)
    for k in range(4):
        h = np.zeros(4)
        h[k] = 1e-6
        num = (regularised_visible_energy(e, P + h, e_reg)[0]
               - regularised_visible_energy(e, P - h, e_reg)[0]) / 2e-6
        assert np.allclose(g[:, k], num, rtol=1e-5, atol=1e-10)


def test_slope_matches_finite_differences() -> None:
    e = np.linspace(0.05, 12.0, 200)
    num = (electron_visible_energy(e + 1e-6, P) - electron_visible_energy(e - 1e-6, P)) / 2e-6
    assert np.allclose(visible_energy_slope(e, P), num, rtol=1e-6)


def test_inverse_is_exact_to_1e9() -> None:
    e = np.linspace(0.01, 19.0, 997)
    back = invert_electron_visible_energy(electron_visible_energy(e, P), P)
    assert np.max(np.abs(back - e)) < 1e-9


def test_integrated_gamma_form_of_a_linear_response_is_p0_egamma() -> None:
    """Eq 2.6/2.7: with f = p0 constant, E_vis^gamma = p0 E^gamma whatever P(E^e) (and I)."""
    e = np.array([0.05, 0.3, 0.7])
    n = np.array([2.0, 1.0, 0.5])
    val, grad = gamma_visible_energy_integrated(e, n, 1.5, [1.03, 0.0, 1.0, 0.0], e_reg_mev=0.1)
    assert val == pytest.approx(1.03 * 1.5, rel=1e-12)
    assert grad[0] == pytest.approx(1.5, rel=1e-12)


def test_integrated_gamma_form_counts_p3_per_electron_only_above_e_reg() -> None:
    """The p3 term of the bare form adds p3 / (1 + p1 e^..) per electron: 10 electrons of 10 keV
    give 10x the p3 shift of one electron of 100 keV of the same total energy; regularised, both
    give E f(e_reg)."""
    p = [1.0, 0.0, 1.0, -0.005]
    many, _ = gamma_visible_energy_integrated([0.01], [10.0], 0.1, p)
    one, _ = gamma_visible_energy_integrated([0.1], [1.0], 0.1, p)
    assert many - one == pytest.approx(9 * -0.005, rel=1e-9)
    many_r, _ = gamma_visible_energy_integrated([0.01], [10.0], 0.1, p, e_reg_mev=0.1)
    one_r, _ = gamma_visible_energy_integrated([0.1], [1.0], 0.1, p, e_reg_mev=0.1)
    assert many_r == pytest.approx(one_r, rel=1e-9)


def test_visible_energy_and_grad_shapes() -> None:
    ev, g = visible_energy_and_grad(np.array([1.0, 2.0]), P)
    assert ev.shape == (2,) and g.shape == (2, 4)


def test_costs_sum_to_their_definitions() -> None:
    rng = np.random.default_rng(1)
    n = rng.poisson(5.0, 40).astype(float)
    nu = np.full(40, 5.2)
    dnu = np.ones((40, 1))
    r = cost.poisson_deviance(nu, n)
    from scipy.special import xlogy
    assert np.sum(r**2) == pytest.approx(float(np.sum(2 * (nu - n + xlogy(n, n / nu)))))
    pos = n > 0
    rn, _ = cost.neyman(nu[pos], n[pos], dnu[pos])
    assert np.sum(rn**2) == pytest.approx(float(np.sum((nu[pos] - n[pos]) ** 2 / n[pos])))
    rp, _ = cost.pearson(nu, n, dnu)
    assert np.sum(rp**2) == pytest.approx(float(np.sum((nu - n) ** 2 / nu)))
    # Jacobians by finite differences in nu
    for fn in (cost.pearson, cost.poisson_deviance_jac):
        _, j = fn(nu, n, dnu)
        num = (fn(nu + 1e-6, n, dnu)[0] - fn(nu - 1e-6, n, dnu)[0]) / 2e-6
        assert np.allclose(j[:, 0], num, rtol=1e-5, atol=1e-8)
