"""Calibration point layouts (paper section 3.5, Figure 12, section 4.3)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fitting.layouts import (
    R_LS_MM,
    acu_axis_points,
    cable_tensions,
    cls_reachable,
    cls_region,
    gt_boundary_points,
    nominal_layout,
    template_points,
)


def test_acu_axis_27_points() -> None:
    p = acu_axis_points()
    assert len(p) == 27
    assert np.allclose(p.rho_mm, 0.0, atol=1e-6)
    z = np.sort(p.z_mm) / 1000.0
    up = np.concatenate([[2, 4, 6, 8, 10], np.arange(12, 18), [17.2, 17.5]])
    np.testing.assert_allclose(z, np.concatenate([-up[::-1], [0.0], up]), atol=1e-9)


def test_gt_boundary_23_points() -> None:
    p = gt_boundary_points()
    assert len(p) == 23
    np.testing.assert_allclose(p.r_mm, R_LS_MM)
    assert np.all((p.theta_rad > 0) & (p.theta_rad < np.pi))
    # one per acrylic layer: equal spacing in theta
    np.testing.assert_allclose(np.diff(p.theta_rad), np.pi / 23)


def test_template_1300_points() -> None:
    t = template_points()
    assert len(t) == 1300
    lines = t.subset(np.arange(300))
    assert np.all((lines.r_mm >= 15_000) & (lines.r_mm <= 17_000))
    assert len(np.unique(np.round(lines.theta_rad, 9))) == 10
    rand = t.subset(np.arange(300, 1300))
    assert np.all(rand.r_mm <= 17_500) and np.all(rand.rho_mm >= 0)
    # uniform in the half-disc area: half the points within r_max / sqrt(2); binomial
    # sigma = sqrt(1000 / 4) = 16 -> 4 sigma window
    inner = np.count_nonzero(rand.r_mm < 17_500 / np.sqrt(2))
    assert abs(inner - 500) < 4 * 16
    # the template is reproducible (fixed seed)
    np.testing.assert_array_equal(template_points().r_mm, t.r_mm)


@settings(max_examples=60, deadline=None)
@given(
    r=st.floats(500.0, 17_000.0),
    theta=st.floats(0.05, np.pi - 0.05),
    anchor=st.floats(0.3, 1.5),
)
def test_tensions_balance_the_weight(r: float, theta: float, anchor: float) -> None:
    t1, t2 = cable_tensions(np.array([r]), np.array([theta]), anchor)
    rho, z = r * np.sin(theta), r * np.cos(theta)
    u1 = np.array([-rho, R_LS_MM - z])
    u2 = np.array([R_LS_MM * np.sin(anchor) - rho, R_LS_MM * np.cos(anchor) - z])
    force = t1[0] * u1 / np.linalg.norm(u1) + t2[0] * u2 / np.linalg.norm(u2)
    if t1[0] != -1.0:  # not the degenerate collinear case
        np.testing.assert_allclose(force, [0.0, 1.0], atol=1e-9)


def test_cls_reach() -> None:
    anchor = np.radians(48.0)
    rho_anchor = R_LS_MM * np.sin(anchor)
    # on the axis the side cable is slack; beyond the anchor's vertical line: unreachable
    r = np.array([5_000.0, rho_anchor + 500.0, 6_000.0])
    th = np.array([0.0, np.pi / 2, np.radians(100.0)])
    reach = cls_reachable(r, th, anchor)
    assert not reach[0] and not reach[1] and reach[2]


def test_nominal_layout_250_points() -> None:
    lay = nominal_layout()
    assert len(lay) == 250
    assert (lay.count("ACU"), lay.count("GT"), lay.count("CLS")) == (27, 23, 200)
    cls = lay.subset(lay.system == "CLS")
    anchors = (np.radians(48.0), np.radians(78.0))
    assert np.all(cls_region(cls, anchors))
    # CLS points are template points, without repetition
    t = template_points()
    pairs = {(round(a, 6), round(b, 9)) for a, b in zip(t.r_mm, t.theta_rad, strict=True)}
    chosen = {(round(a, 6), round(b, 9)) for a, b in zip(cls.r_mm, cls.theta_rad, strict=True)}
    assert len(chosen) == 200 and chosen <= pairs


def test_layout_with_unreachable_request_fails_clearly() -> None:
    with pytest.raises(ValueError, match="reachable"):
        nominal_layout(anchors_deg=(5.0, 6.0), n_cls=200)


def test_search_anchors_finds_the_known_optimum() -> None:
    from fitting.layouts import search_anchors

    # synthetic figure of merit: minus the mean radius of the CLS points -- large-radius
    # coverage needs anchors near the equator, so the best pair has the largest theta2
    def fom(lay: object) -> float:
        from fitting.layouts import CalibPoints

        assert isinstance(lay, CalibPoints)
        cls = lay.subset(lay.system == "CLS")
        return -float(np.mean(cls.rho_mm))

    res = search_anchors(fom, [30.0, 60.0, 90.0], n_draws=2, seed=1)
    assert res.table.shape == (3, 4)  # 3 pairs, each reachable
    assert res.best_anchors_deg[1] == 90.0
    assert res.best_value == pytest.approx(res.table[:, 2].min())
    assert len(res.best) == 250
