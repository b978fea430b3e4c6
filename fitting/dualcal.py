"""Dual calorimetry: per-channel LPMT charge non-linearity from the central laser scan.

Paper section 2.2: a UV laser flashing from the centre of the CD illuminates all LPMTs
uniformly over 0-100 PE per channel; the total SPMT charge is the linear reference
(SPMTs work in the single-photon regime), so the ratio of each LPMT's charge to the SPMT
total as the intensity varies measures that channel's non-linearity.  Non-uniformity and
physics non-linearity cancel (same source, same position).

Model
-----
For LPMT channel ``i`` and laser step ``k`` the true mean number of photo-electrons is
``mu_ik = s_i * S_k`` with ``S_k`` the SPMT total [PE] and ``s_i`` a per-channel constant.
Per flash the *linear* charge is ``q0 = sum of n SPE charges`` (``n ~ Poisson(mu)``, SPE
charge with mean 1 PE and relative width ``spe_resolution``) and the channel returns the
measured charge ``q = f_i(q0)`` with the single-event response

    f_i(q0) = sum_{j=1..d} b_ij q0**j,                                         (R1)

normalised so that the low-light limit of the mean charge is ``mu`` (the SPE gain
calibration).  The laser scan measures the *mean* charge per step,

    <q>(mu) = sum_j b_ij E[q0**j] = sum_k a_ik mu**k,   a = M b                 (R2)

where ``E[q0**j]`` is a degree-``j`` polynomial in ``mu`` (compound-Poisson moments) and
``M`` is upper triangular with unit diagonal.  Fitting ``<q>`` as a polynomial through the
origin in ``S`` is linear least squares with one design matrix shared by all channels, so
the fit is vectorised over channels; (R2) then deconvolves the Poisson fluctuations so that
the correction curve applies to single events (not only to means).  Without this
deconvolution a channel at ~1 PE would be biased by the curvature of ``<q>`` (Jensen).

The correction curve is ``q -> q0 = f_i^{-1}(q)`` ("linearised charge", PE), tabulated on a
common grid of measured charge for the channel non-linearity payload (GUIDE §4).

All charges are in PE (gain-calibrated), ``S`` is the dark-noise-subtracted SPMT total per
flash in PE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntFlag
from math import comb

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from fitting.physics.detector import N_LPMT
from fitting.physics.lpmt import interpolate_curves, invert_monotone

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

#: nominal number of LPMT channels in the JUNO central detector
N_LPMT_NOMINAL = N_LPMT


class ChannelStatus(IntFlag):
    """Status bits of one LPMT channel in the dual-calorimetry fit (0 = good)."""

    GOOD = 0
    DEAD = 1  #: no (or far too little) charge at the highest laser intensity
    NOISY = 2  #: dark charge (laser off) far above the population
    FEW_POINTS = 4  #: fewer usable laser steps than free parameters + 1
    BAD_FIT = 8  #: chi2 p-value below the threshold
    NON_MONOTONIC = 16  #: response not strictly increasing in the scanned range
    OUT_OF_RANGE = 32  #: gain or non-linearity outside plausible bounds


STATUS_REASONS: dict[ChannelStatus, str] = {
    ChannelStatus.DEAD: "dead: no charge at highest laser intensity",
    ChannelStatus.NOISY: "noisy: dark charge far above the channel population",
    ChannelStatus.FEW_POINTS: "too few usable laser steps for the fit",
    ChannelStatus.BAD_FIT: "bad fit: chi2 p-value below threshold",
    ChannelStatus.NON_MONOTONIC: "response not monotonic: cannot be inverted",
    ChannelStatus.OUT_OF_RANGE: "gain or non-linearity outside plausible bounds",
}


def status_reasons(status: int) -> list[str]:
    """Human-readable reasons for a channel status bitmask (empty list when good)."""
    return [text for bit, text in STATUS_REASONS.items() if int(status) & int(bit)]


@dataclass(frozen=True)
class LaserScan:
    """Input of the dual-calorimetry fit: one laser intensity scan at the CD centre.

    Attributes
    ----------
    channel_ids : ndarray of int, shape (C,)
        LPMT channel ids.
    spmt_total : ndarray, shape (K,)
        Mean total SPMT charge per flash at each laser step [PE], dark noise subtracted.
        This is the linear reference (paper section 2.2).
    lpmt_charge : ndarray, shape (C, K)
        Mean LPMT charge per flash for each channel and step [PE, gain-calibrated].
    lpmt_charge_err : ndarray, shape (C, K)
        Standard error of ``lpmt_charge`` [PE] (RMS over flashes / sqrt(n_flashes)).
    dark_charge : ndarray, shape (C,), optional
        Mean LPMT charge per readout window with the laser off [PE] (noisy-channel check).
    spmt_moments : ndarray, shape (K, m), optional
        Flash-averaged moments ``<S**j>``, j = 1..m, of the dark-subtracted SPMT signal
        [PE**j].  With them the fit accounts for the flash-to-flash laser jitter (the LPMT
        mean charge is the flash average of a non-linear function); without them
        ``spmt_total**j`` is used.  See :meth:`from_flashes`.
    """

    channel_ids: IntArray
    spmt_total: FloatArray
    lpmt_charge: FloatArray
    lpmt_charge_err: FloatArray
    dark_charge: FloatArray | None = None
    spmt_moments: FloatArray | None = None

    def __post_init__(self) -> None:
        c, k = len(self.channel_ids), len(self.spmt_total)
        if self.lpmt_charge.shape != (c, k) or self.lpmt_charge_err.shape != (c, k):
            raise ValueError(
                f"lpmt_charge and lpmt_charge_err must have shape ({c}, {k}), got "
                f"{self.lpmt_charge.shape} and {self.lpmt_charge_err.shape}"
            )
        if self.dark_charge is not None and self.dark_charge.shape != (c,):
            raise ValueError(f"dark_charge must have shape ({c},), got {self.dark_charge.shape}")
        if self.spmt_moments is not None and (
            self.spmt_moments.ndim != 2 or self.spmt_moments.shape[0] != k
        ):
            raise ValueError(f"spmt_moments must have shape ({k}, m)")
        if np.any(~np.isfinite(self.spmt_total)) or np.any(self.spmt_total <= 0):
            raise ValueError("spmt_total must be finite and > 0 at every laser step")

    @classmethod
    def from_flashes(
        cls,
        channel_ids: IntArray,
        spmt_flashes: FloatArray,
        spmt_dark_pe: float,
        lpmt_charge: FloatArray,
        lpmt_charge_err: FloatArray,
        dark_charge: FloatArray | None = None,
        max_moment: int = 10,
    ) -> LaserScan:
        """Build a scan from the per-flash SPMT totals (shape (K, F)) [PE].

        The SPMT total of a flash is Poisson(signal + dark) in photon counting, so the
        flash average of the falling factorial ``S (S-1) ... (S-j+1)`` is an unbiased
        estimate of ``<(signal + dark)**j>``; the binomial expansion with the known mean
        dark noise ``spmt_dark_pe`` [PE] (section 2.3.3) gives ``<signal**j>``.
        """
        sf = np.asarray(spmt_flashes, dtype=np.float64)
        n_steps = sf.shape[0]
        fact = np.ones((n_steps, max_moment + 1))
        ff = np.ones_like(sf)
        for i in range(1, max_moment + 1):
            ff = ff * (sf - (i - 1))
            fact[:, i] = ff.mean(axis=1)
        mom = np.zeros((n_steps, max_moment))
        for j in range(1, max_moment + 1):
            mom[:, j - 1] = sum(
                comb(j, i) * (-spmt_dark_pe) ** (j - i) * fact[:, i] for i in range(j + 1)
            )
        return cls(
            channel_ids=np.asarray(channel_ids, dtype=np.int64),
            spmt_total=mom[:, 0].copy(),
            lpmt_charge=np.asarray(lpmt_charge, dtype=np.float64),
            lpmt_charge_err=np.asarray(lpmt_charge_err, dtype=np.float64),
            dark_charge=dark_charge,
            spmt_moments=mom,
        )


@dataclass(frozen=True)
class DualCalConfig:
    """Settings of the dual-calorimetry fit.

    Attributes
    ----------
    degree : int
        Highest degree ``d`` of the response polynomial (R1); 6 describes a 50 %-at-100-PE
        saturation to better than 0.1 % over 0-130 PE.
    min_degree : int
        Lowest degree of the ladder (channels not monotonic at higher degree step down).
    fit_offset : bool
        Fit a constant LPMT charge per channel (dark noise in the readout window, PE); it
        is reported as ``dark_offset`` and not part of the response.  Off by default: the
        offset is degenerate with the low-light slope (costs ~0.1 % bias on the gain);
        prefer a measured ``dark_charge``.
    subtract_dark : bool
        Subtract the measured ``dark_charge`` (laser off) of the scan from every step.
    spe_resolution : float
        Relative width of the single-PE charge (0 = the response acts on the PE count).
    pe_ref : float
        Charge scale [PE] used to make the polynomial coefficients O(1).
    grid_max : float or None
        Upper end of the common measured-charge grid [PE]; None = 1.1 x the largest
        measured charge of a good channel.
    grid_points : int
        Number of points of the common measured-charge grid.
    grid_power : float
        Nodes ``q_k = grid_max (k / (G-1))**grid_power``: denser at low charge, where most
        hits are (1 = uniform).  With 64 nodes and power 1.5, linear interpolation of a
        50 %-at-100-PE curve is exact to 0.06 % below 5 PE and ~0.1 % everywhere (uniform
        nodes: 0.7 %); the payload is then 17,612 x 64 x 4 B = 4.5 MB in float32.
    min_pvalue : float
        Channels whose chi2 p-value is below this are flagged BAD_FIT.
    dead_fraction : float
        A channel whose charge at the top step is below this fraction of the median
        channel is flagged DEAD.
    noisy_factor, noisy_floor : float
        A channel is NOISY if ``dark_charge > noisy_factor * median + noisy_floor`` [PE].
    gain_bounds : (float, float)
        Plausible range of ``s_i`` relative to the median channel.
    min_ratio_at_top : float
        Flag OUT_OF_RANGE if ``f(q0)/q0`` at the top of the scan is below this.
    """

    degree: int = 6
    min_degree: int = 2
    fit_offset: bool = False
    subtract_dark: bool = True
    spe_resolution: float = 0.0
    pe_ref: float = 100.0
    grid_max: float | None = None
    grid_points: int = 64
    grid_power: float = 1.5
    min_pvalue: float = 1e-6
    dead_fraction: float = 0.05
    noisy_factor: float = 5.0
    noisy_floor: float = 0.05
    gain_bounds: tuple[float, float] = (0.2, 5.0)
    min_ratio_at_top: float = 0.1


@dataclass(frozen=True)
class ChannelNonlinearityResult:
    """Per-channel LPMT non-linearity fit result (the payload adapter is the job's).

    Attributes
    ----------
    channel_ids : ndarray of int64, shape (C,)
    status : ndarray of uint16, shape (C,)
        :class:`ChannelStatus` bitmask, 0 = good.  Flagged channels get the identity curve.
    charge_grid : ndarray, shape (G,)
        Common grid of measured charge ``q`` [PE].
    linearised_charge : ndarray, shape (C, G)
        Correction curves ``q0 = f_i^{-1}(q)`` [PE] on ``charge_grid``.
    valid_max_charge : ndarray, shape (C,)
        Largest measured mean charge in the scan [PE]; the curve above it is extrapolated.
    response_coeffs : ndarray, shape (C, d)
        ``beta_ij`` of the single-event response in reduced units:
        ``f_i(q0)/pe_ref = sum_j beta_ij (q0/pe_ref)**j`` (R1).
    mean_coeffs : ndarray, shape (C, d)
        ``alpha_ik`` of the mean response ``<q>/pe_ref = sum_k alpha_ik (mu/pe_ref)**k`` (R2).
    gain : ndarray, shape (C,)
        ``s_i``: LPMT PE per SPMT-total PE.
    fit_coeffs, fit_cov : ndarray, shape (C, d) and (C, d, d)
        Raw least-squares coefficients (power basis in ``S / spmt_ref``) and covariance.
    chi2 : ndarray, shape (C,)
    ndf : ndarray of int64, shape (C,)
    dark_offset : ndarray, shape (C,)
        Fitted constant charge per flash (LPMT dark noise in the window) [PE]; 0 if not fitted.
    degree : ndarray of int64, shape (C,)
        Polynomial degree used for each channel (0 = not fitted); coefficient arrays are
        zero-padded to the largest degree.
    pe_ref, spmt_ref : float
        Scale constants of the reduced units [PE].
    spe_resolution : float
        Relative SPE width assumed in the Poisson deconvolution.
    model : str
        Name of the response model.
    """

    channel_ids: IntArray
    status: NDArray[np.uint16]
    charge_grid: FloatArray
    linearised_charge: FloatArray
    valid_max_charge: FloatArray
    response_coeffs: FloatArray
    mean_coeffs: FloatArray
    gain: FloatArray
    fit_coeffs: FloatArray
    fit_cov: FloatArray
    chi2: FloatArray
    ndf: IntArray
    dark_offset: FloatArray
    degree: IntArray
    pe_ref: float
    spmt_ref: float
    spe_resolution: float
    model: str = field(default="poly-response-poisson-deconvolved")

    @property
    def n_good(self) -> int:
        """Number of channels with status 0."""
        return int(np.count_nonzero(self.status == 0))

    def reasons(self) -> dict[int, list[str]]:
        """Mapping channel id -> list of reasons, for flagged channels only."""
        bad = np.flatnonzero(self.status)
        return {int(self.channel_ids[i]): status_reasons(int(self.status[i])) for i in bad}

    def linearise(self, channel_index: IntArray, charge: FloatArray) -> FloatArray:
        """Apply the tabulated correction curves, see :func:`linearise_charge`."""
        return linearise_charge(self.charge_grid, self.linearised_charge, channel_index, charge)


# ---------------------------------------------------------------------------------------
# pure model functions
# ---------------------------------------------------------------------------------------


def spe_moments(max_order: int, spe_resolution: float) -> FloatArray:
    """Raw moments ``E[X**j]``, j = 0..max_order, of a Gaussian SPE charge N(1, sigma²)."""
    s2 = spe_resolution**2
    out = np.zeros(max_order + 1)
    for j in range(max_order + 1):
        # E[(1 + sigma Z)^j] = sum over even k of C(j,k) sigma^k (k-1)!!
        tot = 0.0
        for k in range(0, j + 1, 2):
            dfact = float(np.prod(np.arange(k - 1, 0, -2))) if k > 0 else 1.0
            tot += comb(j, k) * s2 ** (k // 2) * dfact
        out[j] = tot
    return out


def moment_matrix(degree: int, spe_resolution: float = 0.0, pe_ref: float = 1.0) -> FloatArray:
    """Matrix ``M'`` of Eq. (R2) in reduced units: ``alpha = M' @ beta``.

    ``E[q0**j]`` for a compound Poisson ``q0`` (Poisson mean ``mu``, SPE moments ``nu``) is
    built from its cumulants ``kappa_j = mu nu_j`` with the moment-cumulant recursion
    ``m_n = sum_k C(n-1,k) kappa_{k+1} m_{n-1-k}``.  With ``u = mu/pe_ref`` the element is
    ``M'[k, j] = [mu**k] E[q0**j] * pe_ref**(k - j)`` (rows/cols 1..degree, returned 0-based).

    For ``spe_resolution = 0`` the columns are Stirling numbers of the second kind
    (Touchard polynomials).
    """
    nu = spe_moments(degree, spe_resolution)
    # m[n] is a polynomial in mu: coefficient array of length degree+1
    m = [np.zeros(degree + 1) for _ in range(degree + 1)]
    m[0][0] = 1.0
    for n in range(1, degree + 1):
        acc = np.zeros(degree + 1)
        for k in range(n):
            kappa = np.zeros(degree + 1)
            kappa[1] = nu[k + 1]  # kappa_{k+1} = nu_{k+1} * mu
            prod = np.convolve(kappa, m[n - 1 - k])[: degree + 1]
            acc += comb(n - 1, k) * prod
        m[n] = acc
    out = np.zeros((degree, degree))
    for j in range(1, degree + 1):
        for k in range(1, degree + 1):
            out[k - 1, j - 1] = m[j][k] * pe_ref ** (k - j)
    return out


def poly_eval(coeffs: FloatArray, x: FloatArray) -> FloatArray:
    """Evaluate ``sum_{j=1..d} coeffs[..., j-1] * x**j`` (no constant term), broadcasting.

    ``coeffs`` has shape (..., d); ``x`` broadcasts against ``coeffs[..., 0]``.
    """
    out = np.zeros(np.broadcast_shapes(coeffs.shape[:-1], np.shape(x)))
    for j in range(coeffs.shape[-1] - 1, -1, -1):  # Horner
        out = (out + coeffs[..., j]) * x
    return out


def poly_deriv(coeffs: FloatArray, x: FloatArray) -> FloatArray:
    """Derivative of :func:`poly_eval` with respect to ``x``."""
    d = coeffs.shape[-1]
    out = np.zeros(np.broadcast_shapes(coeffs.shape[:-1], np.shape(x)))
    for j in range(d - 1, -1, -1):
        out = out * x + (j + 1) * coeffs[..., j]
    return out


def invert_response(
    coeffs: FloatArray, y: FloatArray, n_iter: int = 30, tol: float = 1e-12
) -> FloatArray:
    """Solve ``poly_eval(coeffs, x) = y`` for ``x`` (vectorised safeguarded Newton).

    ``coeffs`` shape (..., d) broadcasting against ``y``; the polynomial is assumed
    increasing on the relevant range (status NON_MONOTONIC otherwise).  Starts from
    ``x = y / coeffs[..., 0]`` and keeps ``x >= 0``.
    """
    y = np.asarray(y, dtype=np.float64)
    x = np.maximum(y / coeffs[..., 0], 0.0)
    for _ in range(n_iter):
        fx = poly_eval(coeffs, x) - y
        dfx = poly_deriv(coeffs, x)
        step = np.where(dfx > 0, fx / np.where(dfx > 0, dfx, 1.0), 0.0)
        x_new = np.maximum(x - step, 0.5 * x)
        if np.all(np.abs(x_new - x) <= tol * (1.0 + np.abs(x))):
            return x_new
        x = x_new
    return x


def linearise_charge(
    charge_grid: FloatArray,
    curves: FloatArray,
    channel_index: IntArray,
    charge: FloatArray,
) -> FloatArray:
    """Apply tabulated correction curves to hits (:func:`fitting.physics.lpmt.interpolate_curves`).

    ``channel_index`` is the row of ``curves`` of each hit (0-based index, not id); charges in PE.
    """
    return interpolate_curves(charge_grid, curves, channel_index, charge)


# ---------------------------------------------------------------------------------------
# the fit
# ---------------------------------------------------------------------------------------


def _design(x: FloatArray, degree: int) -> FloatArray:
    """Power basis through the origin, shape (K, d): ``x**j``, j = 1..d."""
    return np.stack([x**j for j in range(1, degree + 1)], axis=1)


def _x_powers(scan: LaserScan, degree: int, spmt_ref: float) -> FloatArray:
    """Flash-averaged powers ``<(S/spmt_ref)**j>``, j = 1..degree, shape (K, degree)."""
    if scan.spmt_moments is not None and scan.spmt_moments.shape[1] >= degree:
        j = np.arange(1, degree + 1)
        return np.asarray(scan.spmt_moments[:, :degree] / spmt_ref**j, dtype=np.float64)
    return _design(np.asarray(scan.spmt_total, dtype=np.float64) / spmt_ref, degree)


def _legendre_design(x: FloatArray, degree: int) -> tuple[FloatArray, FloatArray]:
    """Well-conditioned basis ``x * P_j(2x-1)`` (j = 0..d-1) and its map to the power basis.

    Returns ``(B, T)`` with ``B`` shape (K, d) and ``T`` shape (d, d) such that
    ``B @ c = X_power @ (T @ c)``.
    """
    leg = np.polynomial.legendre
    basis = np.empty((len(x), degree))
    to_power = np.zeros((degree, degree))
    for j in range(degree):
        unit = np.zeros(j + 1)
        unit[j] = 1.0
        # Legendre P_j(2x - 1) as a power series in x
        pj = np.polynomial.Polynomial(leg.leg2poly(unit))(np.polynomial.Polynomial([-1.0, 2.0]))
        coef = np.zeros(degree)
        coef[: len(pj.coef)] = pj.coef  # coefficient of x**i in P_j(2x-1)
        basis[:, j] = x * pj(x)
        # x * P_j(2x-1) = sum_i coef[i] x**(i+1): power-basis index i (for x**(i+1))
        to_power[:, j] = coef
    return basis, to_power


def _correction_curves(
    beta: FloatArray, v_top: FloatArray, charge_grid: FloatArray, pe_ref: float
) -> FloatArray:
    """Tabulate ``q0 = f^{-1}(q)`` [PE] on ``charge_grid`` for each row of ``beta``.

    Inside the scanned range (true reduced PE ``v <= v_top``, where the response was checked
    to increase) the polynomial (R1) is inverted exactly by bisection
    (:func:`fitting.physics.lpmt.invert_monotone`: converges for any increasing response, no
    Newton overshoot on flat stretches); above it the response is continued linearly with the
    slope at ``v_top`` instead of trusting the polynomial's extrapolation.
    """
    y = charge_grid[None, :] / pe_ref
    y_top = poly_eval(beta, v_top)[:, None]
    s_top = poly_deriv(beta, v_top)[:, None]
    b3 = beta[:, None, :]
    inside = invert_monotone(lambda v: poly_eval(b3, v), np.minimum(y, y_top), v_top)
    above = v_top[:, None] + (y - y_top) / s_top
    return np.asarray(pe_ref * np.where(y <= y_top, inside, above), dtype=np.float64)


@dataclass(frozen=True)
class _DegreeFit:
    """Fit of a subset of channels at one polynomial degree (internal)."""

    fit_coeffs: FloatArray  # (n, d) power basis in x = S / spmt_ref
    fit_cov: FloatArray  # (n, d, d)
    chi2: FloatArray
    ndf: IntArray
    dark_offset: FloatArray
    gamma1: FloatArray  # low-light slope [PE per unit x]
    alpha: FloatArray  # (n, d) reduced mean-response coefficients (R2)
    beta: FloatArray  # (n, d) reduced single-event response coefficients (R1)
    v_top: FloatArray  # reduced true PE at the top step
    flags: NDArray[np.uint16]  # NON_MONOTONIC | OUT_OF_RANGE found at this degree


def _fit_degree(
    q: FloatArray,
    err: FloatArray,
    usable: NDArray[np.bool_],
    xpow: FloatArray,
    x: FloatArray,
    cfg: DualCalConfig,
    median_gain: float | None,
) -> _DegreeFit:
    """Weighted polynomial fit of the rows of ``q`` at degree ``d = xpow.shape[1]``.

    The design matrix is shared, so the normal equations of all channels are two GEMMs and
    one batched inverse.  ``median_gain`` (None: the median of this batch) sets the
    plausible gain range.
    """
    n_ch, n_step = q.shape
    d = xpow.shape[1]
    _, to_power = _legendre_design(x, d)
    basis = xpow @ to_power  # x P_j(2x - 1) (flash-averaged), shape (K, d)
    if cfg.fit_offset:
        basis = np.concatenate([basis, np.ones((n_step, 1))], axis=1)
    n_par = basis.shape[1]
    w = np.where(usable, 1.0 / np.where(usable, err, 1.0) ** 2, 0.0)
    y = np.where(usable, q, 0.0)
    outer = np.einsum("ka,kb->kab", basis, basis).reshape(n_step, n_par * n_par)
    normal = (w @ outer).reshape(n_ch, n_par, n_par)
    rhs = (w * y) @ basis
    # Jacobi (diagonal) scaling for conditioning before the batched inverse
    diag = np.sqrt(np.einsum("caa->ca", normal))
    diag = np.where(diag > 0, diag, 1.0)
    # pseudo-inverse: a singular channel (e.g. all-equal steps) gets a finite, flagged fit
    # instead of a LinAlgError for the whole batch
    cov_s = np.linalg.pinv(normal / diag[:, :, None] / diag[:, None, :])
    cov_leg = cov_s / diag[:, :, None] / diag[:, None, :]
    c_leg = np.matmul(cov_leg, rhs[:, :, None])[:, :, 0]
    resid = y - c_leg @ basis.T
    chi2 = np.einsum("ck,ck->c", w * resid, resid)
    ndf = (usable.sum(axis=1) - n_par).astype(np.int64)
    dark_offset = c_leg[:, d] if cfg.fit_offset else np.zeros(n_ch)
    fit_coeffs = c_leg[:, :d] @ to_power.T
    fit_cov = np.matmul(np.matmul(to_power, cov_leg[:, :d, :d]), to_power.T)

    flags = np.zeros(n_ch, dtype=np.uint16)
    gamma1 = fit_coeffs[:, 0]  # <q> ~ gamma1 * x at low light  => mu = gamma1 * x
    pos = np.isfinite(gamma1) & (gamma1 > 0)
    med = median_gain if median_gain is not None else (
        float(np.median(gamma1[pos])) if np.any(pos) else 1.0)
    lo, hi = cfg.gain_bounds
    bad_gain = ~pos | (gamma1 < lo * med) | (gamma1 > hi * med)
    flags[bad_gain] |= np.uint16(ChannelStatus.OUT_OF_RANGE)
    g1 = np.where(pos, gamma1, med)
    powers = np.arange(1, d + 1)
    # alpha_j = gamma_j * pe_ref**(j-1) / gamma1**j  (Eq. R2 in reduced units)
    alpha = fit_coeffs * cfg.pe_ref ** (powers - 1) / g1[:, None] ** powers
    beta = np.linalg.solve(moment_matrix(d, cfg.spe_resolution, cfg.pe_ref), alpha.T).T

    v_top = g1 * np.max(x) / cfg.pe_ref
    v_chk = np.linspace(0.0, 1.0, 65)[None, :] * v_top[:, None]
    bt = np.ascontiguousarray(beta.T)[:, :, None]  # (d, C, 1)
    slope = np.zeros_like(v_chk)
    for j in range(d - 1, -1, -1):  # Horner for f'(v) = sum_j (j+1) beta_j v**j
        slope *= v_chk
        slope += (j + 1) * bt[j]
    flags[~np.all(slope > 0, axis=1)] |= np.uint16(ChannelStatus.NON_MONOTONIC)
    ratio_top = poly_eval(beta, v_top) / np.where(v_top > 0, v_top, 1.0)
    flags[~(ratio_top >= cfg.min_ratio_at_top)] |= np.uint16(ChannelStatus.OUT_OF_RANGE)
    return _DegreeFit(fit_coeffs, fit_cov, chi2, ndf, dark_offset, g1, alpha, beta, v_top,
                      flags)


def fit_dual_calorimetry(
    scan: LaserScan, config: DualCalConfig | None = None
) -> ChannelNonlinearityResult:
    """Fit every LPMT channel's non-linearity from a central laser scan (paper section 2.2).

    Vectorised over channels: the design matrix (powers of the SPMT total) is shared, so
    the weighted normal equations of all channels are two GEMMs and one batched inverse.
    The degree (``min_degree`` .. ``min(degree, n_steps - 2)``) minimises the AICc summed over
    channels; a channel not monotonic or out of range there steps down to the highest degree
    where it is, so any number and spacing of laser steps works.  The
    correction curve is the exact (bisection) inverse of the fitted response and is checked
    to increase on the grid.  Bad channels are flagged with a :class:`ChannelStatus` reason
    and given the identity curve; the fit never fails because of a channel.
    """
    cfg = config or DualCalConfig()
    q = np.asarray(scan.lpmt_charge, dtype=np.float64)
    err = np.asarray(scan.lpmt_charge_err, dtype=np.float64)
    s = np.asarray(scan.spmt_total, dtype=np.float64)
    n_ch = q.shape[0]
    status = np.zeros(n_ch, dtype=np.uint16)
    off = int(cfg.fit_offset)

    if cfg.subtract_dark and scan.dark_charge is not None:
        q = q - np.nan_to_num(np.asarray(scan.dark_charge, dtype=np.float64))[:, None]

    # ---- input quality --------------------------------------------------------------
    usable = np.isfinite(q) & np.isfinite(err) & (err > 0)
    top = int(np.argmax(s))
    q_top = np.where(usable[:, top], q[:, top], 0.0)
    median_top = float(np.median(q_top[q_top > 0])) if np.any(q_top > 0) else 0.0
    dead = q_top <= cfg.dead_fraction * median_top
    status[dead] |= np.uint16(ChannelStatus.DEAD)
    if scan.dark_charge is not None:
        dark = np.asarray(scan.dark_charge, dtype=np.float64)
        med = float(np.median(dark[np.isfinite(dark)])) if np.any(np.isfinite(dark)) else 0.0
        noisy = ~np.isfinite(dark) | (dark > cfg.noisy_factor * med + cfg.noisy_floor)
        status[noisy] |= np.uint16(ChannelStatus.NOISY)
    n_use = usable.sum(axis=1)
    few = n_use < cfg.min_degree + off + 1
    status[few] |= np.uint16(ChannelStatus.FEW_POINTS)
    unfit = few | dead

    # ---- degree by a criterion (AICc), one batched weighted least squares per degree -------
    # Every degree from min_degree up to min(degree, n_steps - 2) is fitted for all channels.
    # The degree is the one of smallest AICc = chi2 + 2 k + 2 k (k + 1) / (n - k - 1) summed
    # over the channels (they share the response's shape, so the population decides: a
    # per-channel choice would pick too low a degree wherever noise hides the curvature and
    # bias the curves); a channel whose fit at that degree is not monotonic or out of range
    # steps down to the highest degree where it is.  Any number and spacing of steps works.
    spmt_ref = float(np.max(s))
    x = s / spmt_ref
    d_max = max(cfg.min_degree, min(cfg.degree, int(np.max(n_use, initial=0)) - off - 2))
    xpow = _x_powers(scan, d_max, spmt_ref)
    fit_coeffs = np.zeros((n_ch, d_max))
    fit_cov = np.zeros((n_ch, d_max, d_max))
    alpha = np.zeros((n_ch, d_max))
    beta = np.zeros((n_ch, d_max))
    chi2 = np.zeros(n_ch)
    ndf = np.zeros(n_ch, dtype=np.int64)
    dark_offset = np.zeros(n_ch)
    gain1 = np.ones(n_ch)
    v_top = np.ones(n_ch)
    degree_used = np.zeros(n_ch, dtype=np.int64)
    last_flags = np.zeros(n_ch, dtype=np.uint16)
    median_gain: float | None = None
    rows_all = np.flatnonzero(~unfit)
    fits: dict[int, tuple[IntArray, _DegreeFit, NDArray[np.bool_]]] = {}
    total: dict[int, float] = {}
    for d in range(cfg.min_degree, d_max + 1):
        n_par = d + off
        rows = rows_all[n_use[rows_all] >= n_par + 1]
        if rows.size == 0:
            break
        with np.errstate(all="ignore"):
            fit = _fit_degree(q[rows], err[rows], usable[rows], xpow[:, :d], x, cfg,
                              median_gain)
        if median_gain is None:
            ok_gain = (fit.flags & np.uint16(ChannelStatus.OUT_OF_RANGE)) == 0
            median_gain = float(np.median(fit.gamma1[ok_gain])) if np.any(ok_gain) else 1.0
        n_pts = n_use[rows].astype(np.float64)
        denom = np.maximum(n_pts - n_par - 1.0, 1e-9)
        aicc = fit.chi2 + 2.0 * n_par + 2.0 * n_par * (n_par + 1.0) / denom
        ok = (fit.flags == 0) & np.isfinite(aicc) & np.all(np.isfinite(fit.beta), axis=1)
        fits[d] = (rows, fit, ok)
        # compare the degrees on the same channels: those with points for every degree
        common = n_use[rows] >= d_max + off + 1
        total[d] = float(np.sum(np.where(common & np.isfinite(aicc), aicc, 0.0)))
    d_best = min(total, key=total.__getitem__) if total else cfg.min_degree
    assigned = np.zeros(n_ch, dtype=bool)
    for d in sorted(fits, reverse=True):
        rows, fit, ok = fits[d]
        if d > d_best:
            continue
        last = d == min(fits)
        take = ~assigned[rows] & (ok | last)
        sel = rows[take]
        fit_coeffs[sel, :d] = fit.fit_coeffs[take]
        fit_cov[sel, :d, :d] = fit.fit_cov[take]
        alpha[sel, :d] = fit.alpha[take]
        beta[sel, :d] = fit.beta[take]
        chi2[sel] = fit.chi2[take]
        ndf[sel] = fit.ndf[take]
        dark_offset[sel] = fit.dark_offset[take]
        gain1[sel] = fit.gamma1[take]
        v_top[sel] = fit.v_top[take]
        degree_used[sel] = d
        last_flags[sel] = np.where(ok[take], 0, fit.flags[take])
        assigned[sel] = True
    status |= last_flags
    status[~unfit & (degree_used == 0)] |= np.uint16(ChannelStatus.FEW_POINTS)

    pval = np.where(ndf > 0, stats.chi2.sf(chi2, np.maximum(ndf, 1)), 1.0)
    status[(pval < cfg.min_pvalue) & ~unfit] |= np.uint16(ChannelStatus.BAD_FIT)
    q_max = np.max(np.where(usable, q, 0.0), axis=1)

    # ---- correction curves on the common grid -----------------------------------------
    good = status == 0
    grid_max = cfg.grid_max
    if grid_max is None:
        grid_max = 1.1 * float(np.max(q_max[good])) if np.any(good) else 1.0
    if cfg.grid_power < 1.0 or cfg.grid_points < 2:
        raise ValueError("grid_power must be >= 1 and grid_points >= 2")
    charge_grid = grid_max * np.linspace(0.0, 1.0, cfg.grid_points) ** cfg.grid_power
    curves = np.broadcast_to(charge_grid, (n_ch, len(charge_grid))).copy()  # identity
    if np.any(good):
        with np.errstate(all="ignore"):
            tab = _correction_curves(beta[good], v_top[good], charge_grid, cfg.pe_ref)
        steps = np.diff(tab.astype(np.float32).astype(np.float64), axis=1)
        rising = np.all(np.isfinite(tab), axis=1) & np.all(steps > 0, axis=1)
        idx = np.flatnonzero(good)
        status[idx[~rising]] |= np.uint16(ChannelStatus.NON_MONOTONIC)
        curves[idx[rising]] = tab[rising]

    return ChannelNonlinearityResult(
        channel_ids=np.asarray(scan.channel_ids, dtype=np.int64),
        status=status,
        charge_grid=charge_grid,
        linearised_charge=curves,
        valid_max_charge=q_max,
        response_coeffs=beta,
        mean_coeffs=alpha,
        gain=gain1 / spmt_ref,
        fit_coeffs=fit_coeffs,
        fit_cov=fit_cov,
        chi2=chi2,
        ndf=ndf,
        dark_offset=dark_offset,
        degree=degree_used,
        pe_ref=cfg.pe_ref,
        spmt_ref=spmt_ref,
        spe_resolution=cfg.spe_resolution,
    )
