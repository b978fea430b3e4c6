"""Dual calorimetry: inputs, settings, channel status and result (see :mod:`fitting.dualcal`).

The laser-scan input (:class:`LaserScan`), the fit settings (:class:`DualCalConfig`), the
per-channel status bits with their reasons and the per-channel result; the model and the fit
are in :mod:`fitting.dualcal_model` and :mod:`fitting.dualcal`.  Charges in PE.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntFlag
from math import comb

import numpy as np
from numpy.typing import NDArray

from fitting.physics.detector import N_LPMT
from fitting.physics.lpmt import interpolate_curves

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
    max_degree : int
        Highest degree a channel badly fitted (p < ``min_pvalue``) at the population's degree
        may step up to (never above ``n_steps - 2``).
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
    penalties : tuple of float
        Candidate weights of the roughness penalty (P1) of
        :func:`fitting.dualcal_model.ratio_roughness` (units of the channel's median relative
        step error, ratio scaled by its top charge) of the smoothed top-degree candidates; the
        population's model (plain degree or smoothed) is chosen by PRESS
        (:func:`fitting.dualcal.fit_dual_calorimetry`).  Empty: plain polynomials only, degree
        by AICc with the p-value step-up.
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
    max_degree: int = 9
    fit_offset: bool = False
    subtract_dark: bool = True
    spe_resolution: float = 0.0
    pe_ref: float = 100.0
    grid_max: float | None = None
    grid_points: int = 64
    grid_power: float = 1.5
    min_pvalue: float = 1e-6
    penalties: tuple[float, ...] = (1e-3, 1e-2, 1e-1)
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
