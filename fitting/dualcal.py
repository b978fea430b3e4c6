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

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from fitting.dualcal_model import (
    correction_curves,
    design,
    invert_response,
    legendre_design,
    moment_matrix,
    poly_deriv,
    poly_eval,
    ratio_roughness,
    spe_moments,
)
from fitting.dualcal_scan import (
    N_LPMT_NOMINAL,
    STATUS_REASONS,
    ChannelNonlinearityResult,
    ChannelStatus,
    DualCalConfig,
    FloatArray,
    IntArray,
    LaserScan,
    linearise_charge,
    status_reasons,
)
from fitting.gain import spe_variance_factor

__all__ = [
    "N_LPMT_NOMINAL", "STATUS_REASONS", "ChannelNonlinearityResult", "ChannelStatus",
    "DualCalConfig", "LaserScan", "fit_dual_calorimetry", "invert_response",
    "linearise_charge", "moment_matrix", "poly_deriv", "poly_eval", "spe_moments",
    "spe_variance_factor_of", "status_reasons",
]


def _x_powers(scan: LaserScan, degree: int, spmt_ref: float) -> FloatArray:
    """Flash-averaged powers ``<(S/spmt_ref)**j>``, j = 1..degree, shape (K, degree)."""
    if scan.spmt_moments is not None and scan.spmt_moments.shape[1] >= degree:
        j = np.arange(1, degree + 1)
        return np.asarray(scan.spmt_moments[:, :degree] / spmt_ref**j, dtype=np.float64)
    return design(np.asarray(scan.spmt_total, dtype=np.float64) / spmt_ref, degree)



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
    press: FloatArray  # sum over interior steps of the weighted leave-one-out residual^2
    n_eff: FloatArray  # effective number of parameters tr(H)


def _fit_degree(
    q: FloatArray,
    err: FloatArray,
    usable: NDArray[np.bool_],
    xpow: FloatArray,
    x: FloatArray,
    cfg: DualCalConfig,
    median_gain: float | None,
    penalty: float = 0.0,
) -> _DegreeFit:
    """Weighted polynomial fit of the rows of ``q`` at degree ``d = xpow.shape[1]``.

    The design matrix is shared, so the normal equations of all channels are two GEMMs and
    one batched inverse.  ``median_gain`` (None: the median of this batch) sets the
    plausible gain range.  ``penalty`` > 0 adds the roughness penalty (P1) of
    :func:`fitting.dualcal_model.ratio_roughness` with weight ``penalty`` in units of the
    channel's median relative error, so ``chi2`` then counts the fit to the points only and
    ``ndf`` becomes ``n - tr(H)`` (effective number of parameters, rounded down).
    """
    n_ch, n_step = q.shape
    d = xpow.shape[1]
    _, to_power = legendre_design(x, d)
    basis = xpow @ to_power  # x P_j(2x - 1) (flash-averaged), shape (K, d)
    if cfg.fit_offset:
        basis = np.concatenate([basis, np.ones((n_step, 1))], axis=1)
    n_par = basis.shape[1]
    w = np.where(usable, 1.0 / np.where(usable, err, 1.0) ** 2, 0.0)
    y = np.where(usable, q, 0.0)
    outer = np.einsum("ka,kb->kab", basis, basis).reshape(n_step, n_par * n_par)
    normal = (w @ outer).reshape(n_ch, n_par, n_par)
    rhs = (w * y) @ basis
    if penalty > 0.0:
        # (P1) in the channel's own units: the ratio <q>/x is ~ q_top, the typical relative
        # error of a step sets the weight, so one dimensionless ``penalty`` serves all channels
        rel = np.where(usable, err / np.where(np.abs(q) > 0, np.abs(q), 1.0), np.nan)
        med_rel = np.nanmedian(rel, axis=1)
        q_top = np.maximum(np.max(np.where(usable, np.abs(q), 0.0), axis=1), 1e-12)
        scale = np.nan_to_num(1.0 / (q_top * med_rel) ** 2)
        omega = np.zeros((n_par, n_par))
        omega[:d, :d] = ratio_roughness(d, float(np.min(x)))
        normal = normal + penalty * scale[:, None, None] * omega[None]
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
    # hat-matrix diagonal h_k = w_k b_k^T (N + penalty)^-1 b_k: leave-one-step-out residuals
    # e_k / (1 - h_k) (exact for a linear smoother) and the effective number of parameters
    hat = w * np.einsum("ka,cab,kb->ck", basis, cov_leg, basis)
    n_eff = hat.sum(axis=1)
    interior = np.zeros(n_step, dtype=bool)
    interior[1:-1] = True
    order = np.argsort(x)
    inner = np.zeros(n_step, dtype=bool)
    inner[order[interior]] = True
    loo = np.where(usable & inner[None, :], w * (resid / np.maximum(1.0 - hat, 1e-6)) ** 2, 0.0)
    press = loo.sum(axis=1)
    ndf = np.floor(usable.sum(axis=1) - n_eff + 1e-6).astype(np.int64)
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
                      flags, press, n_eff)


def fit_dual_calorimetry(
    scan: LaserScan, config: DualCalConfig | None = None
) -> ChannelNonlinearityResult:
    """Fit every LPMT channel's non-linearity from a central laser scan (paper section 2.2).

    Vectorised over channels: the design matrix (powers of the SPMT total) is shared, so
    the weighted normal equations of all channels are two GEMMs and one batched inverse.
    The candidate models are the plain degrees ``min_degree`` .. ``min(degree, n_steps - 2)``
    and, with ``penalties`` (default), the top degree ``min(max_degree, n_steps - 2)`` with the
    roughness penalty (P1) at each penalty.  The population's model is the one of least
    leave-one-interior-step-out error summed over channels (PRESS, exact for a linear smoother:
    ``e_k / (1 - h_kk)``), which measures how well the response is interpolated between steps
    however widely spaced (without penalties: least AICc).  A smoothed model takes every channel
    monotonic there; with a plain degree a channel it does not fit (chi2 p-value <
    ``min_pvalue``) steps up to the lowest degree (<= ``max_degree``) that fits it; a channel not
    monotonic or out of range steps down to the highest plain degree where it is, so any number
    and spacing of laser steps works.  The
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

    # ---- model by a criterion, one batched weighted least squares per candidate -----------
    # Default (cfg.penalties): the smoothed top degree, penalty by PRESS (docstring).  The
    # plain ladder (cfg.penalties = ()): every degree from min_degree up to
    # min(degree, n_steps - 2) is fitted for all channels.
    # The degree is the one of smallest AICc = chi2 + 2 k + 2 k (k + 1) / (n - k - 1) summed
    # over the channels (they share the response's shape, so the population decides: a
    # per-channel choice would pick too low a degree wherever noise hides the curvature and
    # bias the curves).  A channel whose fit there is a bad fit (p < min_pvalue: its curve
    # is further from a polynomial of that degree than the population's, e.g. a strong
    # non-analytic onset seen with 10^5 flashes) steps up to the lowest degree <= max_degree
    # that fits it and is monotonic; one not monotonic or out of range steps down to the
    # highest degree where it is.  Any number and spacing of steps works.
    spmt_ref = float(np.max(s))
    x = s / spmt_ref
    n_most = int(np.max(n_use, initial=0)) - off - 2
    d_aic = max(cfg.min_degree, min(cfg.degree, n_most))
    d_max = max(d_aic, min(max(cfg.max_degree, cfg.degree), n_most))
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
    Key = tuple[int, float]
    fits: dict[Key, tuple[IntArray, _DegreeFit, NDArray[np.bool_], NDArray[np.bool_]]] = {}

    def fit_on(rows: IntArray, d: int, lam: float) -> tuple[_DegreeFit, NDArray[np.bool_],
                                                            NDArray[np.bool_], FloatArray]:
        """Fit ``rows`` at degree ``d`` / penalty ``lam``: (fit, ok, fits well, AICc)."""
        nonlocal median_gain
        with np.errstate(all="ignore"):
            fit = _fit_degree(q[rows], err[rows], usable[rows], xpow[:, :d], x, cfg,
                              median_gain, lam)
        if median_gain is None:
            ok_gain = (fit.flags & np.uint16(ChannelStatus.OUT_OF_RANGE)) == 0
            median_gain = float(np.median(fit.gamma1[ok_gain])) if np.any(ok_gain) else 1.0
        n_pts = n_use[rows].astype(np.float64)
        k_eff = fit.n_eff + off if lam > 0.0 else np.full(rows.size, float(d + off))
        denom = np.maximum(n_pts - k_eff - 1.0, 1e-9)
        aicc = fit.chi2 + 2.0 * k_eff + 2.0 * k_eff * (k_eff + 1.0) / denom
        ok = (fit.flags == 0) & np.isfinite(aicc) & np.all(np.isfinite(fit.beta), axis=1)
        p_ok = stats.chi2.sf(fit.chi2, np.maximum(fit.ndf, 1)) >= cfg.min_pvalue
        return fit, ok, ok & (p_ok | (fit.ndf <= 0)), aicc

    # every plain degree (AICc ladder) and the smoothed top degree at each penalty; with
    # penalties the population's model is the one of least leave-one-interior-step-out error
    # (PRESS) summed over channels, which sees how the response is interpolated between
    # steps (AICc only sees the steps themselves); without, the plain degree of least AICc
    total: dict[Key, float] = {}
    penalties = [lam for lam in cfg.penalties if lam > 0.0]
    candidates: list[Key] = [(d, 0.0) for d in range(cfg.min_degree, d_max + 1)]
    candidates += [(d_max, lam) for lam in penalties]
    for d, lam in candidates:
        rows = rows_all[n_use[rows_all] >= d + off + 1]
        if rows.size == 0:
            continue
        fit, ok, fits_well, aicc = fit_on(rows, d, lam)
        fits[(d, lam)] = (rows, fit, ok, fits_well)
        if d <= d_aic or lam > 0.0:
            # compare the models on the same channels: those with points for every degree
            common = n_use[rows] >= d_aic + off + 1
            score = fit.press if penalties else aicc
            total[(d, lam)] = float(np.sum(np.where(common & np.isfinite(score), score, 0.0)))
    best = min(total, key=total.__getitem__) if total else (cfg.min_degree, 0.0)
    d_best = best[0]
    plain = sorted(k[0] for k in fits if k[1] == 0.0)
    ladder: list[tuple[Key, bool]] = []
    if best[1] > 0.0:
        ladder.append((best, False))  # the smoothed fit takes every channel monotonic there
    else:  # up from d_best for channels it does not fit (p < min_pvalue)
        ladder += [((d, 0.0), True) for d in plain if d >= d_best]
    # then down from d_best (monotone fallback)
    ladder += [((d, 0.0), False) for d in reversed(plain) if d <= d_best]
    assigned = np.zeros(n_ch, dtype=bool)
    for i, (key, up) in enumerate(ladder):
        d = key[0]
        rows, fit, ok, fits_well = fits[key]
        last = i == len(ladder) - 1
        take = ~assigned[rows] & (fits_well if up else (ok | last))
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
            tab = correction_curves(beta[good], v_top[good], charge_grid, cfg.pe_ref)
        steps = np.diff(tab.astype(np.float32).astype(np.float64), axis=1)
        rising = np.all(np.isfinite(tab), axis=1) & np.all(steps > 0, axis=1)
        idx = np.flatnonzero(good)
        status[idx[~rising]] |= np.uint16(ChannelStatus.NON_MONOTONIC)
        curves[idx[rising]] = tab[rising]

    dk = max(int(np.max(degree_used, initial=0)), min(d_aic, d_max))  # trim the zero padding
    return ChannelNonlinearityResult(
        channel_ids=np.asarray(scan.channel_ids, dtype=np.int64),
        status=status,
        charge_grid=charge_grid,
        linearised_charge=curves,
        valid_max_charge=q_max,
        response_coeffs=beta[:, :dk],
        mean_coeffs=alpha[:, :dk],
        gain=gain1 / spmt_ref,
        fit_coeffs=fit_coeffs[:, :dk],
        fit_cov=fit_cov[:, :dk, :dk],
        chi2=chi2,
        ndf=ndf,
        dark_offset=dark_offset,
        degree=degree_used,
        pe_ref=cfg.pe_ref,
        spmt_ref=spmt_ref,
        spe_resolution=cfg.spe_resolution,
    )



def spe_variance_factor_of(result: ChannelNonlinearityResult, scan: LaserScan) -> FloatArray:
    """Non-linearity factor c (S, C) of the photon-statistics variance/mean of every step and
    channel (:func:`fitting.gain.spe_variance_factor`) from the fitted responses (R1).

    The true mean PE of channel i at step k is ``gain_i * S_k``; channels not GOOD get 1.
    """
    beta = result.response_coeffs
    pe = result.pe_ref
    mu = result.gain[:, None] * np.asarray(scan.spmt_total, dtype=np.float64)[None, :]
    c = spe_variance_factor(lambda m: pe * poly_eval(beta[:, None, :], m / pe),
                            lambda m: poly_deriv(beta[:, None, :], m / pe), mu)
    return np.asarray(np.where(result.status[:, None] == 0, c, 1.0).T)
