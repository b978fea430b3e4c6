"""Energy scale consumer: Eq. (3.3) and Eq. (2.4) vectorised, policies, LPMT curves, caching."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel
from scipy.optimize import brentq

from conditions import energy
from conditions.energy import CHUNK, EnergyScale, Flag, InverseNonlinearity
from conditions.errors import InvalidPayload, RecordNotFound
from conditions.payloads import (
    ChannelStatus,
    EnergyNonlinearityV1,
    LightYieldV1,
    LpmtNonlinearityV1,
    NonuniformityMapV1,
    encode_payload,
    examples,
    parse_document,
    payload_hash,
)
from conditions.payloads.nonlinearity import visible_electron_energy


def changed(model: BaseModel, **changes: Any) -> Any:
    """A validated copy of ``model`` with some fields replaced."""
    fields = {k: getattr(model, k) for k in type(model).model_fields}
    return type(model).model_validate({**fields, **changes})


@pytest.fixture(scope="module")
def payloads() -> dict[str, BaseModel]:
    """The example payloads of the six records the energy scale reads."""
    wanted = (*energy.REQUIRED_RECORDS, *energy.OPTIONAL_RECORDS)
    return {k: v for k, v in examples.all_payloads().items() if k in wanted}


@pytest.fixture(scope="module")
def scale(payloads: dict[str, BaseModel]) -> EnergyScale:
    return EnergyScale.from_payloads(payloads)


def constant_map(g: float, r_max: float = 17.7) -> NonuniformityMapV1:
    """g(r, theta) = g everywhere on r <= r_max (B-splines sum to one: constant coefficients)."""
    tu = np.r_[[0.0] * 4, [r_max**3] * 4]
    tv = np.r_[[-1.0] * 4, [1.0] * 4]
    return changed(
        examples.nonuniformity_map(), knots_u=tu, knots_v=tv, coefficients=np.full((4, 4), g)
    )


# --- inverse of E * f_nonlin ---------------------------------------------------------------------
PARAMETER_SETS = [
    examples.EXAMPLE_P,
    (1.0, 0.3, 0.8, 0.01),  # p3 > 0: E f(E) -> p3/(1+p1) > 0 at E = 0
    (0.98, -0.2, 2.0, 0.0),  # p1 < 0
    (1.05, 0.05, 3.0, -0.02),
]


@pytest.mark.parametrize("p", PARAMETER_SETS)
def test_inverse_agrees_with_brentq(p: tuple[float, float, float, float]) -> None:
    """Table inverse vs scipy brentq at full precision: < 1e-9 relative (the requirement)."""
    inv = InverseNonlinearity(p, 0.05, 16.0)
    assert inv.max_error_ratio <= 1.0
    e_true = np.geomspace(0.05, 16.0, 400)
    y = visible_electron_energy(e_true, *p)
    ref = np.array(
        [
            brentq(
                lambda e, t=t: float(visible_electron_energy(np.array(e), *p)) - t,
                0.05, 16.0, xtol=1e-300, rtol=8.9e-16, maxiter=500,
            )
            for t in y
        ]
    )
    got = inv.evaluate(y)
    assert np.max(np.abs(got - ref) / ref) < 1e-9
    # and it solves the equation itself: the table's tolerance is 1e-11 relative in E, and the
    # logarithmic slope d ln(E f) / d ln E is below ~2 for these parameters -> 1e-10 in y
    assert np.max(np.abs(visible_electron_energy(got, *p) - y) / y) < 1e-10


@settings(max_examples=25, deadline=None)
@given(
    p0=st.floats(0.8, 1.2),
    p1=st.floats(-0.5, 2.0),
    p2=st.floats(0.0, 10.0),
    p3=st.floats(-0.05, 0.05),
    e_min=st.floats(0.0, 1.0),
    e_max=st.floats(5.0, 20.0),
    u=st.lists(st.floats(0.0, 1.0), min_size=1, max_size=20),
)
def test_inverse_property_any_accepted_parameters(
    p0: float, p1: float, p2: float, p3: float, e_min: float, e_max: float, u: list[float]
) -> None:
    """For any parameters the payload accepts, E_rec solves Eq. (2.4) to 1e-9 inside the range.

    Parameters the schema refuses (f_nonlin <= 0 or E f(E) not increasing on the valid range)
    must be refused with an error naming the field, never accepted silently.
    """
    base = examples.energy_nonlinearity()
    fields = {k: getattr(base, k) for k in type(base).model_fields}
    fields.update(p0=p0, p1=p1, p2=p2, p3=p3, e_min=e_min, e_max=e_max)
    try:
        nl = parse_document("energy_nonlinearity", fields)
    except InvalidPayload as exc:
        assert exc.message.startswith(
            ("energy_nonlinearity.p1:", "energy_nonlinearity.p3:", "energy_nonlinearity.p0..p3:")
        )
        return
    assert isinstance(nl, EnergyNonlinearityV1)
    scale = EnergyScale.from_payloads({**examples.all_payloads(), "energy_nonlinearity": nl})
    e_true = e_min + np.asarray(u) * (e_max - e_min)
    e_true = e_true[e_true > 1e-3]  # relative accuracy is meaningless at E -> 0
    e_vis = nl.visible_electron_energy(e_true) + nl.e_vis_anni
    e_rec, flags = scale.positron_energy(e_vis)
    inside = flags == 0
    # only energies at the ends of the valid range may round to just outside it
    at_end = np.isclose(e_true, e_min, rtol=1e-12, atol=0) | np.isclose(
        e_true, e_max, rtol=1e-12, atol=0
    )
    assert np.all(inside | at_end)
    assert np.all(np.abs(e_rec[inside] - e_true[inside]) <= 1e-9 * e_true[inside])


def test_inverse_refines_its_table_until_accurate() -> None:
    """A steep non-linearity needs more nodes; the build-time check adds them."""
    p = (1.0, 0.9, 25.0, 0.0)
    inv = InverseNonlinearity(p, 0.0, 12.0)
    assert inv.n > 1024 and inv.max_error_ratio <= 1.0
    e = np.linspace(0.001, 12.0, 5000)
    assert np.max(np.abs(inv.evaluate(visible_electron_energy(e, *p)) - e) / e) < 1e-9


# --- golden test on hand-made constants ---------------------------------------------------------
def test_golden_e_rec_hand_made_constants(payloads: dict[str, BaseModel]) -> None:
    """p1 = 0 makes Eq. (2.5) E f(E) = p0 E + p3, so Eq. (2.4) is E = (y - p3) / p0 by hand.

    Y0 = 1000 PE/MeV, Delta Q_DR = 60 + 40 = 100 PE, g = 1.25, E_anni = 1.0 MeV,
    p0 = 1.1, p3 = 0.05 MeV:  PE = 2600 -> E_vis = 2500 / 1000 / 1.25 = 2.0 MeV,
    y = 1.0 MeV -> E_rec = 0.95 / 1.1 MeV.
    """
    ly = changed(payloads["light_yield"], y0=1000.0, pe_source="lpmt+spmt")
    dn = changed(payloads["dark_noise"], offset_lpmt=60.0, offset_spmt=40.0)
    nl = changed(payloads["energy_nonlinearity"], p0=1.1, p1=0.0, p2=0.0, p3=0.05,
                 e_vis_anni=1.0, e_min=0.01, e_max=12.0)
    scale = EnergyScale(ly, dn, nl, uniformity=constant_map(1.25))
    pe = np.array([2600.0, 100.0 + 1250.0 * (1.0 + 1.1 * 3.0 + 0.05), 100.0 + 1250 * 9.0])
    x = np.array([0.0, 3.0, -6.0])
    res = scale.reconstruct(pe, x, 2 * x, 0.5 * x)
    assert res.e_vis[0] == pytest.approx(2.0, rel=1e-14)
    assert res.e_rec[0] == pytest.approx(0.95 / 1.1, rel=1e-12)
    assert res.e_rec[1] == pytest.approx(3.0, rel=1e-12)
    assert res.e_rec[2] == pytest.approx((8.0 - 0.05) / 1.1, rel=1e-12)
    assert not res.flags.any()
    # Eq. (2.4) read literally: E_rec = (E_vis - E_anni) / f_nonlin(E_rec)
    f = nl.f_nonlin(res.e_rec)
    assert np.allclose(res.e_rec, (res.e_vis - 1.0) / f, rtol=1e-12, atol=0)


def test_pe_source_selects_the_dark_noise_offset(payloads: dict[str, BaseModel]) -> None:
    dn = payloads["dark_noise"]
    for source, offset in [
        ("lpmt", dn.offset_lpmt),  # type: ignore[attr-defined]
        ("spmt", dn.offset_spmt),  # type: ignore[attr-defined]
        ("lpmt+spmt", dn.offset_lpmt + dn.offset_spmt),  # type: ignore[attr-defined]
    ]:
        ly = changed(payloads["light_yield"], pe_source=source)
        scale = EnergyScale.from_payloads({**payloads, "light_yield": ly})
        assert scale.delta_q_dr == offset


# --- closure of the full chain ------------------------------------------------------------------
def test_full_chain_closure(payloads: dict[str, BaseModel], scale: EnergyScale) -> None:
    """Forward-simulate PE from known (E, vertex) with the same constants; reconstruct exactly.

    PE = (E f(E) + E_anni) Y0 g(r, theta) + Delta Q_DR (Eq. 2.2-2.5, 3.3 inverted), no
    fluctuations, so the only error is floating point: 1e-9 relative is the requirement.
    """
    rng = np.random.default_rng(11)
    n = 3 * CHUNK + 17  # several chunks and a partial one
    e_true = rng.uniform(0.25, 11.5, n)
    r = 17.0 * np.cbrt(rng.uniform(0, 1, n))
    cos_t = rng.uniform(-1, 1, n)
    phi = rng.uniform(0, 2 * np.pi, n)
    sin_t = np.sqrt(1 - cos_t**2)
    x, y, z = r * sin_t * np.cos(phi), r * sin_t * np.sin(phi), r * cos_t
    nl = payloads["energy_nonlinearity"]
    assert isinstance(nl, EnergyNonlinearityV1)
    g, outside = scale.g(x, y, z)
    assert not outside.any()
    assert np.allclose(g, examples.g_truth(r, cos_t), rtol=2e-3)  # spline vs its truth
    e_vis = nl.visible_electron_energy(e_true) + nl.e_vis_anni
    pe = e_vis * scale.light_yield.y0 * g + scale.delta_q_dr
    res = scale.reconstruct(pe, x, y, z)
    assert np.max(np.abs(res.e_vis - e_vis) / e_vis) < 1e-12
    assert np.max(np.abs(res.e_rec - e_true) / e_true) < 1e-9
    assert not res.flags.any()
    # chunking does not matter: the same events one by one give the same bits
    sample = rng.choice(n, 50, replace=False)
    for i in sample:
        one = scale.reconstruct(pe[i : i + 1], x[i : i + 1], y[i : i + 1], z[i : i + 1])
        assert one.e_rec[0] == res.e_rec[i]
    # the separate steps agree with the chain
    e_vis_only, _ = scale.visible_energy(pe, x, y, z)
    e_rec_only, _ = scale.positron_energy(e_vis_only)
    assert np.array_equal(e_rec_only, res.e_rec)


def test_shapes_are_preserved(scale: EnergyScale) -> None:
    pe = np.full((3, 4), 5000.0)
    res = scale.reconstruct(pe, 1.0, 2.0, np.zeros((3, 4)))
    assert res.e_vis.shape == res.e_rec.shape == res.flags.shape == (3, 4)
    assert res.flags.dtype == np.uint8


# --- out-of-range behaviour ----------------------------------------------------------------------
def _scale_with(payloads: dict[str, BaseModel], **policy: Any) -> EnergyScale:
    return EnergyScale.from_payloads(payloads, **policy)


def test_vertex_outside_map(payloads: dict[str, BaseModel]) -> None:
    pe = np.full(3, 5000.0)
    x = np.array([0.0, 17.69, 18.5])  # centre, inside, outside the r = 17.7 m map
    z = np.zeros(3)
    strict = _scale_with(payloads)
    res = strict.reconstruct(pe, x, z, z)
    assert list(res.flags) == [0, 0, Flag.VERTEX_OUTSIDE_MAP]
    assert np.isfinite(res.e_rec[:2]).all() and np.isnan(res.e_vis[2]) and np.isnan(res.e_rec[2])
    clamp = _scale_with(payloads, outside_map="clamp")
    res_c = clamp.reconstruct(pe, x, z, z)
    assert res_c.flags[2] == Flag.VERTEX_OUTSIDE_MAP
    edge = clamp.reconstruct(pe[:1], np.array([17.7]), z[:1], z[:1])
    assert res_c.e_vis[2] == edge.e_vis[0]


def test_map_coordinates_and_radius_scale(payloads: dict[str, BaseModel]) -> None:
    """The same g expressed with u = (r/17.7 m)^3, with u = r^3 [m^3], and in (r, theta)."""
    from scipy.interpolate import RectBivariateSpline

    rng = np.random.default_rng(4)
    x, y, z = rng.uniform(-10.0, 10.0, (3, 2000))
    r = np.sqrt(x * x + y * y + z * z)
    g_m3, _ = EnergyScale.from_payloads(payloads).g(x, y, z)
    unit = {**payloads, "nonuniformity_map": examples.nonuniformity_map(r_ref=examples.R_LS)}
    g_unit, _ = EnergyScale.from_payloads(unit).g(x, y, z)
    # the interpolating spline of the same grid values on a rescaled axis is the same function
    assert np.allclose(g_unit, g_m3, rtol=1e-12, atol=0)
    # an (r, theta) spline of the truth agrees with the truth to interpolation accuracy
    r_nodes = np.linspace(0.0, examples.R_LS, 30)
    t_nodes = np.linspace(0.0, np.pi, 25)
    rr, tt = np.meshgrid(r_nodes, t_nodes, indexing="ij")
    spline = RectBivariateSpline(r_nodes, t_nodes, examples.g_truth(rr, np.cos(tt)))
    tu, tv, c = spline.tck
    polar = changed(
        payloads["nonuniformity_map"], coordinates="r_theta", r_ref=1.0, knots_u=tu,
        knots_v=tv, coefficients=np.reshape(c, (tu.size - 4, tv.size - 4)),
    )
    g_polar, outside = EnergyScale.from_payloads({**payloads, "nonuniformity_map": polar}).g(
        x, y, z
    )
    assert not outside.any()
    # bicubic interpolation error of a function varying by ~10 % over 17.7 m on 0.6 m cells
    assert np.allclose(g_polar, examples.g_truth(r, z / r), rtol=1e-4, atol=0)


def test_energy_outside_valid_range_policies(payloads: dict[str, BaseModel]) -> None:
    nl = payloads["energy_nonlinearity"]
    assert isinstance(nl, EnergyNonlinearityV1)
    e_true = np.array([0.1, 1.0, 14.0])  # below, inside, above [0.2, 12] MeV
    e_vis = nl.visible_electron_energy(e_true) + nl.e_vis_anni
    below, above = Flag.BELOW_VALID_RANGE, Flag.ABOVE_VALID_RANGE

    e, flags = _scale_with(payloads).positron_energy(e_vis)
    assert list(flags) == [below, 0, above]
    assert np.isnan(e[[0, 2]]).all() and e[1] == pytest.approx(1.0, rel=1e-9)

    e, flags = _scale_with(payloads, outside_range="clamp").positron_energy(e_vis)
    assert list(flags) == [below, 0, above]
    assert list(e[[0, 2]]) == [nl.e_min, nl.e_max]

    e, flags = _scale_with(payloads, outside_range="extrapolate").positron_energy(e_vis)
    assert list(flags) == [below, 0, above]
    assert np.allclose(e, e_true, rtol=1e-9, atol=0)
    # beyond the extrapolation domain [0, 2 e_max]: NaN, still flagged
    far = nl.visible_electron_energy(np.array([30.0])) + nl.e_vis_anni
    e_far, f_far = _scale_with(payloads, outside_range="extrapolate").positron_energy(far)
    assert np.isnan(e_far[0]) and f_far[0] == above


def test_no_solution_and_bad_input(payloads: dict[str, BaseModel]) -> None:
    """E_vis below E_anni + E f(E)|_(E=0): no positron energy solves Eq. (2.4)."""
    nl = changed(payloads["energy_nonlinearity"], p3=0.01, e_min=0.0)
    p = {**payloads, "energy_nonlinearity": nl}
    y0 = float(visible_electron_energy(np.array(0.0), *nl.parameters))  # p3 / (1 + p1) > 0
    e_vis = nl.e_vis_anni + np.array([0.5 * y0, 2 * y0, np.nan, np.inf])
    for policy in ("nan", "clamp", "extrapolate"):
        e, flags = _scale_with(p, outside_range=policy).positron_energy(e_vis)
        assert flags[0] == Flag.BELOW_VALID_RANGE | Flag.NO_SOLUTION
        assert flags[1] == 0 and np.isfinite(e[1])
        assert flags[2] & Flag.BAD_INPUT and flags[3] & Flag.BAD_INPUT
        assert np.isnan(e[2:]).all()
        assert np.isnan(e[0]) == (policy != "clamp")
    res = _scale_with(p).reconstruct(
        np.array([np.nan, 5000.0, 5000.0, 5000.0]),
        np.array([0.0, np.inf, np.nan, 1.0]),
        0.0,
        np.array([0.0, 0.0, 0.0, -np.inf]),
    )
    assert (res.flags & Flag.BAD_INPUT).all()
    assert np.isnan(res.e_rec).all() and np.isnan(res.e_vis).all()


def test_missing_optional_records(payloads: dict[str, BaseModel]) -> None:
    required = {k: payloads[k] for k in ("light_yield", "dark_noise", "energy_nonlinearity")}
    scale = EnergyScale.from_payloads(required)
    res = scale.reconstruct(np.array([5000.0, 5000.0]), np.array([0.0, 30.0]), 0.0, 0.0)
    assert (res.flags == Flag.NO_UNIFORMITY_MAP).all()
    assert res.e_vis[0] == res.e_vis[1] == pytest.approx(
        (5000.0 - scale.delta_q_dr) / scale.light_yield.y0, rel=1e-15
    )
    assert not scale.has_lpmt_correction
    q = np.array([1.0, 50.0])
    assert np.array_equal(scale.correct_lpmt_charges(np.array([0, 1]), q), q)
    with pytest.raises(RecordNotFound, match="energy_resolution"):
        scale.sigma_over_e(np.array([1.0]))


@pytest.mark.parametrize("record", ["light_yield", "dark_noise", "energy_nonlinearity"])
def test_missing_required_record(payloads: dict[str, BaseModel], record: str) -> None:
    partial = {k: v for k, v in payloads.items() if k != record}
    with pytest.raises(RecordNotFound, match=record) as info:
        EnergyScale.from_payloads(partial)
    assert record in info.value.hint


def test_wrong_type_under_record_and_old_versions(payloads: dict[str, BaseModel]) -> None:
    with pytest.raises(InvalidPayload, match="holds a 'light_yield' payload"):
        EnergyScale.from_payloads({**payloads, "dark_noise": payloads["light_yield"]})
    old = EnergyScale.from_payloads({**payloads, "dark_noise": examples.dark_noise(version=1)})
    assert old.delta_q_dr == EnergyScale.from_payloads(payloads).delta_q_dr
    with pytest.raises(ValueError, match="outside_range"):
        EnergyScale.from_payloads(payloads, outside_range="ignore")  # type: ignore[arg-type]


def test_sigma_over_e_eq_3_1(scale: EnergyScale) -> None:
    e = np.array([1.0, 4.0])
    a, b, c = 0.0257, 0.0073, 0.0125
    expected = np.sqrt((a / np.sqrt(e)) ** 2 + b**2 + (c / e) ** 2)
    assert np.allclose(scale.sigma_over_e(e), expected, rtol=1e-14)


# --- LPMT channel correction --------------------------------------------------------------------
def test_lpmt_correction_matches_per_channel_interpolation(
    payloads: dict[str, BaseModel], scale: EnergyScale
) -> None:
    lp = payloads["lpmt_nonlinearity"]
    assert isinstance(lp, LpmtNonlinearityV1)
    rng = np.random.default_rng(2)
    good = np.flatnonzero(lp.status == ChannelStatus.GOOD)
    rows = rng.choice(good, 2000)
    q = rng.uniform(0.0, 150.0, rows.size)
    got = scale.correct_lpmt_charges(lp.channel_ids[rows], q)
    want = np.array(
        [np.interp(qi, lp.charge_grid, lp.true_charge[r].astype(np.float64)) for qi, r in
         zip(q, rows, strict=True)]
    )
    assert np.allclose(got, want, rtol=1e-13, atol=1e-12)
    # beyond the grid the last segment continues (linear extrapolation)
    r0 = int(good[0])
    t = lp.true_charge[r0].astype(np.float64)
    g = lp.charge_grid
    slope = (t[-1] - t[-2]) / (g[-1] - g[-2])
    assert scale.correct_lpmt_charges(lp.channel_ids[[r0]], np.array([200.0]))[0] == (
        pytest.approx(t[-1] + slope * (200.0 - g[-1]), rel=1e-12)
    )
    dead = lp.channel_ids[lp.status == ChannelStatus.DEAD][:3]
    no_curve = lp.channel_ids[lp.status == ChannelStatus.NO_CURVE][:3]
    q3 = np.array([3.0, 40.0, 170.0])
    assert not scale.correct_lpmt_charges(dead, q3).any()
    assert np.allclose(scale.correct_lpmt_charges(no_curve, q3), q3, rtol=1e-15)
    with pytest.raises(ValueError, match="unknown LPMT channel ids"):
        scale.correct_lpmt_charges(np.array([0, 999_999, -1]), np.ones(3))


def test_lpmt_pe_per_event(scale: EnergyScale) -> None:
    event = np.array([0, 0, 2, 2, 2])
    channel = np.array([5, 6, 5, 7, 8])
    q = np.array([10.0, 20.0, 30.0, 40.0, 50.0])
    per_event = scale.lpmt_pe_per_event(event, channel, q, n_events=4)
    corrected = scale.correct_lpmt_charges(channel, q)
    assert per_event.shape == (4,)
    assert per_event[0] == pytest.approx(corrected[:2].sum()) and per_event[1] == 0.0
    assert per_event[2] == pytest.approx(corrected[2:].sum()) and per_event[3] == 0.0


# --- from_resolved and caching ------------------------------------------------------------------
@dataclass(frozen=True)
class FakeResolved:
    record: str
    payload_type: str
    payload_hash: str
    since: int
    until: int | None


class FakeStore:
    """Bytes by hash, counting fetches."""

    def __init__(self) -> None:
        self.blobs: dict[str, bytes] = {}
        self.fetches: list[str] = []

    def put(self, model: BaseModel) -> str:
        data = encode_payload(model)
        digest = payload_hash(data)
        self.blobs[digest] = data
        return digest

    def fetch(self, digest: str) -> bytes:
        self.fetches.append(digest)
        return self.blobs[digest]


def test_from_resolved_reuses_builds(payloads: dict[str, BaseModel]) -> None:
    energy.clear_caches()
    store = FakeStore()
    hashes = {name: store.put(model) for name, model in payloads.items()}
    ly2 = changed(payloads["light_yield"], y0=1350.0)
    ly2_hash = store.put(ly2)

    def resolved(run: int) -> dict[str, FakeResolved]:
        out = {
            name: FakeResolved(name, name, digest, 1, None) for name, digest in hashes.items()
        }
        if run >= 100:  # a new light-yield IOV from run 100
            out["light_yield"] = FakeResolved("light_yield", "light_yield", ly2_hash, 100, None)
        out["other_record"] = FakeResolved("other_record", "something", "0" * 64, 1, None)
        return out

    first = EnergyScale.from_resolved(resolved(1), store.fetch)
    assert sorted(store.fetches) == sorted(hashes.values())
    assert first.light_yield == payloads["light_yield"]
    for run in range(2, 100):
        assert EnergyScale.from_resolved(resolved(run), store.fetch) is first
    assert len(store.fetches) == len(hashes)  # nothing fetched for runs 2..99
    later = EnergyScale.from_resolved(resolved(100), store.fetch)
    assert later is not first and later.light_yield.y0 == 1350.0
    assert store.fetches[len(hashes):] == [ly2_hash]  # only the changed record
    assert later.inverse is first.inverse  # tables of unchanged payloads are reused
    assert EnergyScale.from_resolved(resolved(150), store.fetch) is later
    # other policies are other objects
    clamp = EnergyScale.from_resolved(resolved(1), store.fetch, outside_map="clamp")
    assert clamp is not first and clamp.outside_map == "clamp"
    energy.clear_caches()


def test_from_resolved_checks_the_hash(payloads: dict[str, BaseModel]) -> None:
    energy.clear_caches()
    store = FakeStore()
    hashes = {name: store.put(model) for name, model in payloads.items()}
    victim = hashes["light_yield"]
    store.blobs[victim] = encode_payload(changed(payloads["light_yield"], y0=1.0))
    resolved = {n: FakeResolved(n, n, h, 1, None) for n, h in hashes.items()}
    with pytest.raises(InvalidPayload, match="do not hash to"):
        EnergyScale.from_resolved(resolved, store.fetch)
    energy.clear_caches()


def test_light_yield_payload_is_used(payloads: dict[str, BaseModel]) -> None:
    """Doubling Y0 halves E_vis (Eq. 2.1): the consumer reads the payload, not a constant."""
    base = EnergyScale.from_payloads(payloads)
    ly = payloads["light_yield"]
    assert isinstance(ly, LightYieldV1)
    double = EnergyScale.from_payloads(
        {**payloads, "light_yield": changed(ly, y0=2 * ly.y0)}
    )
    pe, x = np.array([4000.0]), np.array([1.0])
    assert double.reconstruct(pe, x, x, x).e_vis[0] == pytest.approx(
        0.5 * base.reconstruct(pe, x, x, x).e_vis[0], rel=1e-15
    )
