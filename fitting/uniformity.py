"""Position non-uniformity g(r, theta) of the CD from calibration points (paper section 3).

g is the light yield at a position relative to the centre (section 3, Eq. 3.3 divides the
PE by ``Y0 * g``).  Azimuthal symmetry (section 3.3) reduces it to the vertical half-plane;
the map is a smooth tensor-product B-spline in the paper's coordinates (Figure 11)

    u = (r / R_LS)**3   in [0, 1]  (equal-volume radial coordinate),
    v = cos(theta)      in [-1, 1],

fitted to the g values measured with a gamma source (2.22 MeV n-H capture gammas of AmC,
section 3.4) at the calibration points of :mod:`fitting.layouts` (section 3.5).  The fit
is a weighted least-squares spline with a small second-difference penalty on the
coefficients (P-spline; divided differences at the Greville abscissae, so bilinear
functions are not penalised) so that knot spans without points stay smooth; the centre
point is spread over the whole segment u = 0 (it is one physical point for every theta).

Optionally (beyond the paper) the finite extent of the source light -- gamma Compton
chain and neutron travel before capture -- is unfolded with the source simulation's
deposits (:class:`SourceKernel`): on the mock detector this removes most of the b-term
penalty of using a gamma source instead of positrons (section 3.4).

Also here: an energy-dependent stack of maps with common knots (section 3.2 "for every
energy").  The ideal 20,000 equal-volume voxel map (section 3.2) and the resolution chain of
Table 3 are study code: :mod:`fitting.studies.uniformity`.

Units: r in mm, theta in rad (polar angle from +z), phi in rad, energies in MeV.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.interpolate import BSpline, NdBSpline

from fitting.physics.detector import R_LS_MM

FloatArray = NDArray[np.float64]

#: default interior knots in u = (r/R_LS)^3: denser where g drops at the acrylic edge
#: (knots at 0.01 and 0.05 follow the u^(2/3) rise near the centre better, but with the
#: penalty normalised to the mean diagonal they loosen the edge: whole-volume rms 0.16 ->
#: 0.37 % in tests/unit/test_uniformity.py; the centre is handled by ``fix_centre``)
DEFAULT_KNOTS_U: tuple[float, ...] = (0.15, 0.35, 0.55, 0.68, 0.76, 0.82, 0.87, 0.91, 0.95)
#: default interior knots in v = cos(theta)
DEFAULT_KNOTS_V: tuple[float, ...] = (-0.5, 0.0, 0.5)


def to_uv(r_mm: ArrayLike, theta_rad: ArrayLike, r_ref_mm: float = R_LS_MM) -> tuple[
    FloatArray, FloatArray
]:
    """Map coordinates (R^3, cos theta) of Figure 11, clipped to [0, 1] x [-1, 1]."""
    r = np.asarray(r_mm, dtype=np.float64) / r_ref_mm
    u = np.clip(r * r * r, 0.0, 1.0)
    v = np.clip(np.cos(np.asarray(theta_rad, dtype=np.float64)), -1.0, 1.0)
    return u, v


def xyz_to_uv(xyz_mm: ArrayLike, r_ref_mm: float = R_LS_MM) -> tuple[FloatArray, FloatArray]:
    """(u, v) of Cartesian positions of shape (..., 3) in mm (v = 1 at the centre)."""
    xyz = np.asarray(xyz_mm, dtype=np.float64)
    r2 = np.einsum("...i,...i->...", xyz, xyz)
    r = np.sqrt(r2)
    v = np.divide(xyz[..., 2], r, out=np.ones_like(r), where=r > 0)
    rr = r / r_ref_mm
    return np.clip(rr * rr * rr, 0.0, 1.0), np.clip(v, -1.0, 1.0)


def _full_knots(interior: Sequence[float], lo: float, hi: float, k: int) -> FloatArray:
    return np.concatenate([[lo] * (k + 1), np.asarray(interior, dtype=np.float64), [hi] * (k + 1)])


def _greville(knots: FloatArray, k: int) -> FloatArray:
    """Greville abscissae (knot averages) of the B-spline basis."""
    n = len(knots) - k - 1
    return np.array([np.mean(knots[i + 1 : i + k + 1]) for i in range(n)])


def _curvature_penalty(knots: FloatArray, k: int) -> FloatArray:
    """``D^T D`` with ``D`` the second divided differences of the coefficients at the
    Greville abscissae: its null space is exactly the linear functions (non-uniform knots).
    """
    g = _greville(knots, k)
    n = len(g)
    d1 = np.zeros((n - 1, n))
    for i in range(n - 1):
        h = g[i + 1] - g[i]
        d1[i, i], d1[i, i + 1] = -1.0 / h, 1.0 / h
    d2 = np.zeros((n - 2, n - 1))
    for i in range(n - 2):
        h = 0.5 * (g[i + 2] - g[i])
        d2[i, i], d2[i, i + 1] = -1.0 / h, 1.0 / h
    d = d2 @ d1
    return np.asarray(d.T @ d)


@dataclass(frozen=True)
class GMapConfig:
    """Settings of the g-map spline fit.

    Attributes
    ----------
    knots_u, knots_v : interior knots in u = (r/R_LS)^3 and v = cos(theta)
    degree_u, degree_v : spline degrees (3 = cubic)
    penalty : weight of the second-difference penalty, relative to the mean diagonal of
        the weighted normal matrix (0 = pure least squares)
    r_ref_mm : radius R_LS of the u coordinate [mm]
    centre_spread : number of v values over which the centre point (r = 0) is spread
    fix_centre : g at u = 0 fixed to the centre point's value (1 by the definition of g,
        section 3): the u = r^3 coordinate turns the r^2 rise near the centre into u^(2/3),
        which a cubic in u over the first knot span (r < 9.4 m) cannot follow; left free,
        the spline floats +0.10 % above the centre point at r = 0 on the nominal mock, and
        central positrons come out 0.1 % low
    """

    knots_u: tuple[float, ...] = DEFAULT_KNOTS_U
    knots_v: tuple[float, ...] = DEFAULT_KNOTS_V
    degree_u: int = 3
    degree_v: int = 3
    penalty: float = 1e-3
    r_ref_mm: float = R_LS_MM
    centre_spread: int = 9
    fix_centre: bool = True


@dataclass(frozen=True)
class GMap:
    """Smooth g(r, theta) map, shaped for the non-uniformity payload.

    Attributes
    ----------
    knots_u, knots_v : ndarray, full knot vectors (boundary knots repeated degree+1 times)
    coeffs : ndarray, shape (n_u, n_v), B-spline coefficients
        (``n_u = len(knots_u) - degree_u - 1``)
    degree_u, degree_v : int
    r_ref_mm : float, R_LS of ``u = (r / r_ref_mm)**3`` [mm]
    coeff_cov : ndarray, shape (n_u * n_v, n_u * n_v), covariance of ``coeffs.ravel()``
    points_r_mm, points_theta_rad, values, errors : ndarray, shape (n,)
        Calibration points and the g values (with errors) the map was built from.
    particle : str, energy_mev : float
        Source the map was built with (e.g. "gamma", 2.223 for n-H capture).
    chi2 : float, ndf : float (points minus effective number of parameters)
    coordinates : tuple of str, names of the two coordinates
    """

    knots_u: FloatArray
    knots_v: FloatArray
    coeffs: FloatArray
    degree_u: int
    degree_v: int
    r_ref_mm: float
    coeff_cov: FloatArray
    points_r_mm: FloatArray
    points_theta_rad: FloatArray
    values: FloatArray
    errors: FloatArray
    particle: str
    energy_mev: float
    chi2: float
    ndf: float
    coordinates: tuple[str, str] = ("u=(r/r_ref)^3", "v=cos(theta)")

    def _spline(self) -> NdBSpline:
        return NdBSpline((self.knots_u, self.knots_v), self.coeffs, (self.degree_u, self.degree_v))

    def eval_uv(self, u: ArrayLike, v: ArrayLike, chunk: int = 2_000_000) -> FloatArray:
        """g at map coordinates (u, v) (any matching shapes), evaluated in chunks."""
        uu = np.asarray(u, dtype=np.float64)
        vv = np.asarray(v, dtype=np.float64)
        shape = np.broadcast_shapes(uu.shape, vv.shape)
        uf = np.broadcast_to(uu, shape).ravel()
        vf = np.broadcast_to(vv, shape).ravel()
        spl = self._spline()
        out = np.empty(uf.size)
        for s in range(0, uf.size, chunk):
            pts = np.stack([uf[s : s + chunk], vf[s : s + chunk]], axis=1)
            out[s : s + chunk] = spl(pts)
        return out.reshape(shape)

    def __call__(self, r_mm: ArrayLike, theta_rad: ArrayLike) -> FloatArray:
        """g(r [mm], theta [rad]); positions beyond r_ref are clamped to the boundary."""
        u, v = to_uv(r_mm, theta_rad, self.r_ref_mm)
        return self.eval_uv(u, v)

    def eval_xyz(self, xyz_mm: ArrayLike) -> FloatArray:
        """g at Cartesian positions of shape (..., 3) [mm]."""
        u, v = xyz_to_uv(xyz_mm, self.r_ref_mm)
        return self.eval_uv(u, v)

    def error(self, r_mm: ArrayLike, theta_rad: ArrayLike) -> FloatArray:
        """1 sigma statistical error of g from the coefficient covariance (small inputs)."""
        u, v = to_uv(np.atleast_1d(r_mm), np.atleast_1d(theta_rad), self.r_ref_mm)
        a = _design(u, v, self.knots_u, self.knots_v, self.degree_u, self.degree_v)
        return np.sqrt(np.einsum("ni,ij,nj->n", a, self.coeff_cov, a))


def _design(
    u: FloatArray, v: FloatArray, tu: FloatArray, tv: FloatArray, ku: int, kv: int
) -> FloatArray:
    """Dense tensor-product design matrix, shape (n, n_u * n_v) (row-major in (u, v))."""
    bu = BSpline.design_matrix(u, tu, ku).toarray()
    bv = BSpline.design_matrix(v, tv, kv).toarray()
    return np.asarray(np.einsum("ni,nj->nij", bu, bv).reshape(len(u), -1))


@dataclass(frozen=True)
class SourceKernel:
    """Energy deposits of the calibration-source simulation around each calibration point.

    A 2.22 MeV gamma (and the neutron before its capture) spreads its light over tens of cm,
    so the peak measured at a point is the visible-energy weighted mean of g over the
    deposits, not g at the point (section 3.4: "particle type ... neglected").  With a
    kernel, :func:`fit_gmap` fits the map whose deposit-weighted mean reproduces the
    measured values (a linear unfolding: the rows of the design matrix are averaged over
    the deposits).  Pass the deposits of fully contained (peak) events only.

    Attributes
    ----------
    pos_mm : ndarray, shape (n, 3), deposit positions [mm]
    weight : ndarray, shape (n,), visible energy of each deposit [MeV]
    point : ndarray of int, shape (n,), index of the calibration point of each deposit
    """

    pos_mm: FloatArray
    weight: FloatArray
    point: NDArray[np.int64]


def _kernel_design(
    kernel: SourceKernel, n_points: int, tu: FloatArray, tv: FloatArray, ku: int, kv: int,
    r_ref_mm: float, chunk: int = 400_000,
) -> FloatArray:
    """Deposit-weighted mean of the tensor basis per point, shape (n_points, n_u * n_v)."""
    nu, nv = len(tu) - ku - 1, len(tv) - kv - 1
    acc = np.zeros(n_points * nu * nv)
    wsum = np.bincount(kernel.point, weights=kernel.weight, minlength=n_points)
    for s0 in range(0, len(kernel.weight), chunk):
        sl = slice(s0, s0 + chunk)
        u, v = xyz_to_uv(kernel.pos_mm[sl], r_ref_mm)
        bu = BSpline.design_matrix(u, tu, ku)  # CSR with exactly ku + 1 entries per row
        bv = BSpline.design_matrix(v, tv, kv)
        iu = bu.indices.reshape(-1, ku + 1)
        iv = bv.indices.reshape(-1, kv + 1)
        vals = (bu.data.reshape(-1, ku + 1)[:, :, None] * bv.data.reshape(-1, kv + 1)[:, None, :]
                * kernel.weight[sl, None, None])
        cols = iu[:, :, None] * nv + iv[:, None, :]
        flat = kernel.point[sl, None, None] * (nu * nv) + cols
        acc += np.bincount(flat.ravel(), weights=vals.ravel(), minlength=acc.size)
    out = acc.reshape(n_points, nu * nv)
    return np.asarray(out / np.where(wsum > 0, wsum, 1.0)[:, None])


def g_from_peaks(
    peak_pe: ArrayLike, peak_err: ArrayLike, centre_index: int
) -> tuple[FloatArray, FloatArray]:
    """g at each point = fitted peak [PE] / peak at the centre (section 3 definition of g).

    The returned error is the point's own error divided by the centre peak; the centre's
    error is a common normalisation (absorbed by Y0) and is not added point by point.
    """
    pk = np.asarray(peak_pe, dtype=np.float64)
    er = np.asarray(peak_err, dtype=np.float64)
    c = pk[centre_index]
    return pk / c, er / c


def fit_gmap(
    r_mm: ArrayLike,
    theta_rad: ArrayLike,
    g: ArrayLike,
    g_err: ArrayLike,
    config: GMapConfig | None = None,
    particle: str = "gamma",
    energy_mev: float = 2.223,
    kernel: SourceKernel | None = None,
) -> GMap:
    """Fit the smooth map g(r, theta) through calibration-point values (sections 3.4-3.5).

    Parameters
    ----------
    r_mm, theta_rad : shape (n,), calibration positions [mm], [rad]
    g, g_err : shape (n,), measured relative light yield and its 1 sigma error (> 0)
    config : knots, degrees, penalty (:class:`GMapConfig`)
    particle, energy_mev : recorded in the result for the payload
    kernel : optional source deposits per point (:class:`SourceKernel`); without it each
        value is taken as g at the point itself (the paper's approximation)

    Returns
    -------
    GMap with coefficients, covariance, chi2 and effective ndf.
    """
    cfg = config or GMapConfig()
    r = np.asarray(r_mm, dtype=np.float64)
    th = np.asarray(theta_rad, dtype=np.float64)
    y = np.asarray(g, dtype=np.float64)
    e = np.asarray(g_err, dtype=np.float64)
    if not (r.shape == th.shape == y.shape == e.shape) or r.ndim != 1:
        raise ValueError("r_mm, theta_rad, g and g_err must be 1D arrays of equal length")
    if np.any(e <= 0) or not np.all(np.isfinite(y)):
        raise ValueError("g must be finite and g_err > 0 at every point")
    u, v = to_uv(r, th, cfg.r_ref_mm)
    w = 1.0 / e**2
    tu = _full_knots(cfg.knots_u, 0.0, 1.0, cfg.degree_u)
    tv = _full_knots(cfg.knots_v, -1.0, 1.0, cfg.degree_v)
    nu, nv = len(tu) - cfg.degree_u - 1, len(tv) - cfg.degree_v - 1
    at_centre = r < 1e-6 * cfg.r_ref_mm
    if kernel is not None:
        if kernel.point.size and (kernel.point.min() < 0 or kernel.point.max() >= len(r)):
            raise ValueError("kernel.point must index the calibration points")
        a = _kernel_design(kernel, len(r), tu, tv, cfg.degree_u, cfg.degree_v, cfg.r_ref_mm)
        empty = ~np.any(a != 0.0, axis=1)
        if np.any(empty):  # points without deposits: point-like rows
            a[empty] = _design(u[empty], v[empty], tu, tv, cfg.degree_u, cfg.degree_v)
        y_fit = y
    elif np.any(at_centre) and cfg.centre_spread > 1:
        # the centre (r = 0) is one point for every theta: spread it over u = 0 with the
        # same total weight so that the spline does not invent a theta dependence there
        vs = np.linspace(-1.0, 1.0, cfg.centre_spread)
        rep = np.flatnonzero(at_centre)
        u = np.concatenate([u[~at_centre], np.zeros(len(rep) * len(vs))])
        v = np.concatenate([v[~at_centre], np.tile(vs, len(rep))])
        y_fit = np.concatenate([y[~at_centre], np.repeat(y[rep], len(vs))])
        w = np.concatenate([w[~at_centre], np.repeat(w[rep] / len(vs), len(vs))])
        a = _design(u, v, tu, tv, cfg.degree_u, cfg.degree_v)
    else:
        y_fit = y
        a = _design(u, v, tu, tv, cfg.degree_u, cfg.degree_v)
    normal = a.T @ (w[:, None] * a)
    pu = _curvature_penalty(tu, cfg.degree_u)
    pv = _curvature_penalty(tv, cfg.degree_v)
    pu /= np.mean(np.diag(pu))
    pv /= np.mean(np.diag(pv))
    pen = np.kron(pu, np.eye(nv)) + np.kron(np.eye(nu), pv)
    lam = cfg.penalty * float(np.mean(np.diag(normal)))
    lhs = normal + lam * pen
    rhs = a.T @ (w * y_fit)
    # coefficients of the first u basis function = g at u = 0 (clamped knots)
    fixed = np.zeros(nu * nv, dtype=bool)
    coef = np.zeros(nu * nv)
    var_centre = 0.0
    if cfg.fix_centre and np.any(at_centre):
        fixed[:nv] = True
        wc = 1.0 / e[at_centre] ** 2
        coef[:nv] = float(np.average(y[at_centre], weights=wc))
        var_centre = float(1.0 / np.sum(wc))
    free = ~fixed
    inv_ff = np.linalg.inv(lhs[np.ix_(free, free)])
    coef[free] = inv_ff @ (rhs[free] - lhs[np.ix_(free, fixed)] @ coef[fixed])
    resid = y_fit - a @ coef
    chi2 = float(np.sum(w * resid**2))
    n_ff = normal[np.ix_(free, free)]
    edf = float(np.trace(inv_ff @ n_ff))  # effective number of parameters
    # covariance of the penalised estimator (sandwich): cov N cov, plus the centre point's
    # own variance through the fixed row (its error as g_from_peaks gives it)
    coef_cov = np.zeros((nu * nv, nu * nv))
    coef_cov[np.ix_(free, free)] = inv_ff @ n_ff @ inv_ff
    if var_centre > 0.0:
        # the fixed row moves with the centre point's value: d coef / d g_centre
        dcoef = np.zeros(nu * nv)
        dcoef[fixed] = 1.0
        dcoef[free] = -inv_ff @ lhs[np.ix_(free, fixed)] @ np.ones(int(fixed.sum()))
        coef_cov += var_centre * np.outer(dcoef, dcoef)
    return GMap(
        knots_u=tu,
        knots_v=tv,
        coeffs=coef.reshape(nu, nv),
        degree_u=cfg.degree_u,
        degree_v=cfg.degree_v,
        r_ref_mm=cfg.r_ref_mm,
        coeff_cov=coef_cov,
        points_r_mm=r,
        points_theta_rad=th,
        values=y,
        errors=e,
        particle=particle,
        energy_mev=float(energy_mev),
        chi2=chi2,
        ndf=float(len(y) - edf),
    )


@dataclass(frozen=True)
class EnergyDependentGMap:
    """Maps g(r, theta; E) at several energies with common knots (section 3.2/3.3 option).

    ``coeffs`` has shape (n_E, n_u, n_v); evaluation interpolates g linearly in energy
    between the two neighbouring maps and clamps outside ``energies_mev``.
    """

    energies_mev: FloatArray
    maps: tuple[GMap, ...]

    def __post_init__(self) -> None:
        if len(self.maps) != len(self.energies_mev) or len(self.maps) == 0:
            raise ValueError("need one map per energy")
        if np.any(np.diff(self.energies_mev) <= 0):
            raise ValueError("energies_mev must be strictly increasing")
        k0 = self.maps[0]
        for m in self.maps[1:]:
            same_u = np.array_equal(m.knots_u, k0.knots_u)
            if not (same_u and np.array_equal(m.knots_v, k0.knots_v)):
                raise ValueError("all maps of an energy-dependent map must share their knots")

    @property
    def coeffs(self) -> FloatArray:
        """Stacked coefficients, shape (n_E, n_u, n_v)."""
        return np.stack([m.coeffs for m in self.maps])

    def __call__(self, r_mm: ArrayLike, theta_rad: ArrayLike, energy_mev: ArrayLike) -> FloatArray:
        """g(r, theta; E), E [MeV] broadcast against the positions."""
        u, v = to_uv(r_mm, theta_rad, self.maps[0].r_ref_mm)
        e = np.asarray(energy_mev, dtype=np.float64)
        shape = np.broadcast_shapes(u.shape, e.shape)
        u, v, e = (np.broadcast_to(x, shape) for x in (u, v, e))
        if len(self.maps) == 1:
            return self.maps[0].eval_uv(u, v)
        ev = self.energies_mev
        j = np.clip(np.searchsorted(ev, e, side="right") - 1, 0, len(ev) - 2)
        t = np.clip((e - ev[j]) / (ev[j + 1] - ev[j]), 0.0, 1.0)
        out = np.zeros(shape)
        for i, m in enumerate(self.maps):
            wgt = np.where(j == i, 1.0 - t, 0.0) + np.where(j + 1 == i, t, 0.0)
            sel = wgt > 0
            if np.any(sel):
                out[sel] += wgt[sel] * m.eval_uv(u[sel], v[sel])
        return out


def fit_gmap_energy_dependent(
    r_mm: ArrayLike,
    theta_rad: ArrayLike,
    g: ArrayLike,
    g_err: ArrayLike,
    energies_mev: ArrayLike,
    config: GMapConfig | None = None,
    particle: str = "gamma",
) -> EnergyDependentGMap:
    """One :func:`fit_gmap` per energy; ``g``, ``g_err`` have shape (n_E, n_points)."""
    gg = np.atleast_2d(np.asarray(g, dtype=np.float64))
    ee = np.atleast_2d(np.asarray(g_err, dtype=np.float64))
    en = np.asarray(energies_mev, dtype=np.float64)
    maps = tuple(
        fit_gmap(r_mm, theta_rad, gg[i], ee[i], config, particle, float(en[i]))
        for i in range(len(en))
    )
    return EnergyDependentGMap(en, maps)
