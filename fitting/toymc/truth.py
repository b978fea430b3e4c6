"""Known truth of the mock JUNO detector: light yield, electron response, noise, drifts.

The true electron response is a Birks + Cherenkov model (deliberately *not* the 4-parameter
f_nonlin of Eq. 2.5, so that the calibration fit is tested against a shape it cannot describe
exactly, as in the paper):

    E_vis^e(T) = N_vis * [ int_0^T dE / (1 + kB * S(E))                     (Birks scintillation)
                           + k_C * int_{T_th}^T (1 - 1/(beta^2 n^2)) / S(E) dE ]  (Cherenkov)

with S(E) the electron collision stopping power of LAB [MeV cm^2/g]
(:func:`fitting.toymc.material.electron_stopping_power`), kB in g/(cm^2 MeV), k_C in
MeV/(g/cm^2), n the refractive index and T_th the Cherenkov threshold. The normalisation N_vis
is chosen so that the mean visible energy of the n-H capture gamma (2.223 MeV) at the centre
is 2.223 MeV: this makes ``Y0`` the paper's light yield (section 2.1.3, "mean PE of n-H at the
centre divided by 2.22 MeV") and E_vis = PE / Y0 (Eq. 2.1) directly comparable with the truth.
``f_nonlin`` true (Eq. 2.3) is E_vis^e / T (:meth:`DetectorTruth.nonlin_true`).

A detected event at position x has mean total PE (LPMT + SPMT) = Y0 * E_vis * g(r, theta) *
Q(x) + dark noise (Eq. 3.3 read backwards), where Q is the QE-weighted channel sum of
:mod:`fitting.toymc.pmts` (1 at the centre up to 1e-6); the Cherenkov part of each event's
light fluctuates by ``cherenkov_fluctuation`` (the b term of central IBDs, section 3.1), see
:mod:`fitting.toymc.detection`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fitting.physics.detector import N_LPMT, N_SPMT
from fitting.toymc.gmap import GMapParams, g_truth
from fitting.toymc.material import (
    ELECTRON_MASS_MEV,
    beta_squared,
    electron_stopping_power,
)

FloatArray = NDArray[np.float64]

_GRID_T_MIN_MEV = 1.0e-4
_GRID_T_MAX_MEV = 40.0
_GRID_N = 4000
DAYS_PER_YEAR = 365.25


@dataclass(frozen=True)
class DriftModel:
    """Slow and sudden changes of the detector with time (days since detector start).

    * ``y0_rate_per_year``: relative Y0 change per year (e.g. -0.005 = -0.5 %/year ageing);
    * ``y0_step_day`` / ``y0_step_frac``: a sudden light-yield step (e.g. a LS purification or
      an electronics change) at that day, relative size;
    * ``gain_steps``: LPMT gain steps, tuples (channel id, day, relative change).
    """

    y0_rate_per_year: float = -0.005
    y0_step_day: float = 150.0
    y0_step_frac: float = -0.004
    gain_steps: tuple[tuple[int, float, float], ...] = (
        (1021, 40.0, 0.05),
        (7777, 90.0, -0.08),
        (12345, 200.0, 0.10),
    )

    def y0_factor(self, day: float) -> float:
        """Relative light yield Y0(day) / Y0(0) (dimensionless)."""
        f = 1.0 + self.y0_rate_per_year * day / DAYS_PER_YEAR
        if day >= self.y0_step_day:
            f *= 1.0 + self.y0_step_frac
        return float(f)

    def gain_factors(self, day: float, n_channels: int) -> FloatArray:
        """Per-LPMT relative gain at ``day`` (1 except for the channels that stepped)."""
        g = np.ones(n_channels)
        for ch, d, frac in self.gain_steps:
            if day >= d and 0 <= ch < n_channels:
                g[ch] *= 1.0 + frac
        return g


@dataclass(frozen=True)
class DetectorTruth:
    """Every true constant of the mock detector (units in the field names / comments).

    Use :meth:`default` for the paper's nominal detector and :meth:`realistic` for the
    "realistic detector" alterations of section 3.8; change fields with
    :func:`dataclasses.replace`. If you change kB, k_C or n, call :meth:`renormalised` so that
    Y0 keeps its n-H definition.
    """

    y0_pe_per_mev: float = 1345.0
    """Light yield Y0 [PE/MeV] of LPMT+SPMT at the centre (section 2.1.3)."""
    spmt_fraction: float = 0.03
    """Share of the detected PE seen by the SPMT system (~40 PE/MeV)."""
    birks_kb_g_cm2_per_mev: float = 0.0055
    """Birks constant kB [g cm^-2 MeV^-1]."""
    cherenkov_coeff_mev_cm2_g: float = 0.30
    """k_C: Cherenkov visible energy per g/cm^2 of fully-relativistic track [MeV cm^2/g]."""
    refractive_index: float = 1.49
    """Effective LS refractive index n for the Cherenkov threshold."""
    vis_norm: float = 1.0
    """N_vis: overall normalisation of E_vis^e (set by :meth:`renormalised`)."""
    lpmt_dark_noise_pe: float = 184.8
    """Mean LPMT dark-noise PE in the window: 350 ns x 17,600 x 30 kHz (section 2.3.3)."""
    spmt_dark_noise_pe: float = 8.96
    """Mean SPMT dark-noise PE: 350 ns x 25,600 x 1 kHz."""
    window_ns: float = 350.0
    """Analysis time window [ns]."""
    n_lpmt: int = N_LPMT
    """Number of LPMT channels."""
    n_spmt: int = N_SPMT
    """Number of SPMT channels."""
    qe_spread: float = 0.07
    """LPMT quantum-efficiency sigma/mean (section 3.7)."""
    dead_fraction: float = 0.0
    """Fraction of dead LPMT channels (section 3.8 item 1: 0.01)."""
    spe_resolution: float = 0.0
    """LPMT single-PE charge resolution sigma/mean (section 3.8 item 5: 0.30)."""
    cherenkov_fluctuation: float = 0.12
    """Event-level relative sigma of the Cherenkov light (track-length fluctuations): gives the
    b ~ 0.7 % constant term of central IBDs (section 3.1, Table 3), Cherenkov share ~6 %."""
    vertex_resolution_mm: float = 80.0
    """Vertex resolution at 1 MeV as a MEAN distance [mm] (8 cm / sqrt(E), section 3.6)."""
    lpmt_nonlin_max: float = 0.10
    """Largest per-channel LPMT non-linearity at 100 PE (0.5 = section 2.2 extreme case)."""
    lpmt_nonlin_form: str = "power"
    """Channel response form: "power" n / (1 + b (n/100)^gamma) or "exp" n_s (1 - exp(-n/n_s))."""
    lpmt_nonlin_gamma_range: tuple[float, float] = (0.8, 1.0)
    """Range of the exponent gamma_k of the "power" form (uniform)."""
    cherenkov_power: float = 1.0
    """Form of the Cherenkov yield: (1 - 1/(beta^2 n^2))^power (1 = Frank-Tamm)."""
    laser_scan_pe: tuple[float, ...] = ()
    """Laser-scan intensity steps [PE per LPMT at the centre]; empty = 10 log steps to 100 PE."""
    amc_recoil_bias: float = 0.004
    """Mean visible proton-recoil energy added to AmC 6.13 MeV gammas / E_vis (section 2.3.4)."""
    enclosure_loss_prob: float = 0.0
    """Probability that a source gamma scatters in the enclosure first (energy-loss tail)."""
    shadowing_amp: float = 0.0
    """Relative light loss by source-assembly shadowing for a deposit at the source."""
    shadowing_length_mm: float = 300.0
    """Distance scale of the shadowing loss [mm]."""
    nh_capture_fraction: float = 0.99
    """Fraction of neutron captures on hydrogen (rest on carbon)."""
    neutron_capture_distance_mm: float = 250.0
    """Mean source-to-capture distance of calibration neutrons [mm]."""
    channel_seed: int = 20_240_601
    """Seed of the per-channel truth (QE, dead channels, non-linearity curves)."""
    gmap: GMapParams = field(default_factory=GMapParams)
    """True non-uniformity g(r, theta)."""
    drift: DriftModel = field(default_factory=DriftModel)
    """Drifts with time."""

    # ------------------------------------------------------------------ constructors
    @classmethod
    def default(cls) -> DetectorTruth:
        """Nominal detector close to the paper (bare sources, no dead channels, no SPE smear).

        ``vis_norm`` is the value returned by :meth:`renormalised` for these defaults with
        400,000 n-H gammas (statistical precision 2e-5); ``tests/unit/test_toymc_truth.py``
        re-derives it.
        """
        return cls(vis_norm=_DEFAULT_VIS_NORM)

    @classmethod
    def realistic(cls) -> DetectorTruth:
        """Section 3.8 / 2.3 alterations: 1 % dead LPMTs, 30 % SPE resolution, shadowing,
        enclosure energy loss."""
        return dataclasses.replace(
            cls.default(),
            dead_fraction=0.01,
            spe_resolution=0.30,
            shadowing_amp=0.003,
            enclosure_loss_prob=0.03,
        )

    def renormalised(self, n_events: int = 400_000, seed: int = 12_345) -> DetectorTruth:
        """Return a copy whose N_vis makes the centre n-H gamma mean E_vis equal 2.223 MeV."""
        from fitting.toymc.gammas import GAMMA_SOURCES, secondary_electrons

        rng = np.random.default_rng(seed)
        e, idx = secondary_electrons("nH", n_events, rng)
        unit = dataclasses.replace(self, vis_norm=1.0)
        vis = np.bincount(idx, weights=unit.electron_visible_energy(e), minlength=n_events)
        return dataclasses.replace(self, vis_norm=GAMMA_SOURCES["nH"].total_energy / vis.mean())

    # ------------------------------------------------------------------ time dependence
    def at_day(self, day: float) -> DetectorTruth:
        """Truth at ``day`` days after detector start: Y0 scaled by the drift model."""
        return dataclasses.replace(
            self, y0_pe_per_mev=self.y0_pe_per_mev * self.drift.y0_factor(day)
        )

    # ------------------------------------------------------------------ electron response
    @cached_property
    def _response_table(self) -> tuple[FloatArray, FloatArray, FloatArray]:
        """(T grid, cumulative total response, cumulative Cherenkov part), unnormalised."""
        t = np.geomspace(_GRID_T_MIN_MEV, _GRID_T_MAX_MEV, _GRID_N)
        s = electron_stopping_power(t)
        quench = 1.0 / (1.0 + self.birks_kb_g_cm2_per_mev * s)
        sin2 = np.clip(1.0 - 1.0 / (beta_squared(t) * self.refractive_index**2), 0.0, None)
        cher = self.cherenkov_coeff_mev_cm2_g * sin2**self.cherenkov_power / s
        integrand = quench + cher
        steps = 0.5 * (integrand[1:] + integrand[:-1]) * np.diff(t)
        start = quench[0] * t[0]
        cum = np.concatenate(([start], start + np.cumsum(steps)))
        cum_c = np.concatenate(([0.0], np.cumsum(0.5 * (cher[1:] + cher[:-1]) * np.diff(t))))
        return t, cum, cum_c

    def electron_response_parts(self, kinetic_mev: ArrayLike) -> tuple[FloatArray, FloatArray]:
        """(E_vis^e, its Cherenkov part) [MeV] in one table look-up (same as the two methods)."""
        t = np.asarray(kinetic_mev, dtype=np.float64)
        grid, cum, cum_c = self._response_table
        x = np.log(np.clip(t, _GRID_T_MIN_MEV, _GRID_T_MAX_MEV))
        lg = np.log(grid)
        i = np.clip(np.searchsorted(lg, x) - 1, 0, lg.size - 2)
        w = (x - lg[i]) / (lg[i + 1] - lg[i])
        vis = cum[i] + w * (cum[i + 1] - cum[i])
        cher = cum_c[i] + w * (cum_c[i + 1] - cum_c[i])
        vis = np.where(t < _GRID_T_MIN_MEV, cum[0] * t / _GRID_T_MIN_MEV, vis)
        return np.asarray(self.vis_norm * vis), np.asarray(self.vis_norm * cher)

    def electron_cherenkov_energy(self, kinetic_mev: ArrayLike) -> FloatArray:
        """Cherenkov part of E_vis^e [MeV] for electrons of kinetic energy T [MeV] (0 below
        the threshold); the scintillation part is the difference to E_vis^e."""
        t = np.asarray(kinetic_mev, dtype=np.float64)
        grid, _, cum_c = self._response_table
        tc = np.clip(t, _GRID_T_MIN_MEV, _GRID_T_MAX_MEV)
        return np.asarray(self.vis_norm * np.interp(np.log(tc), np.log(grid), cum_c))

    def electron_visible_energy(self, kinetic_mev: ArrayLike) -> FloatArray:
        """True visible energy E_vis^e [MeV] of an electron of kinetic energy T [MeV].

        Birks + Cherenkov (module docstring); positrons use the same kinetic response
        (Eq. 2.2). Below 0.1 keV the response is linear with the 0.1 keV quenching factor.
        Valid up to 40 MeV.
        """
        t = np.asarray(kinetic_mev, dtype=np.float64)
        grid, cum, _ = self._response_table
        tc = np.clip(t, _GRID_T_MIN_MEV, _GRID_T_MAX_MEV)
        vis = np.interp(np.log(tc), np.log(grid), cum)
        low = t < _GRID_T_MIN_MEV
        vis = np.where(low, cum[0] * t / _GRID_T_MIN_MEV, vis)
        return np.asarray(self.vis_norm * vis)

    def nonlin_true(self, kinetic_mev: ArrayLike) -> FloatArray:
        """True electron non-linearity f_nonlin(T) = E_vis^e / T (Eq. 2.3), T [MeV] > 0."""
        t = np.asarray(kinetic_mev, dtype=np.float64)
        return np.asarray(self.electron_visible_energy(t) / t)

    def cherenkov_threshold_mev(self) -> float:
        """Electron kinetic threshold for Cherenkov light [MeV]."""
        n = self.refractive_index
        return float(ELECTRON_MASS_MEV * (1.0 / np.sqrt(1.0 - 1.0 / n**2) - 1.0))

    # ------------------------------------------------------------------ other truths
    def g(self, r_mm: ArrayLike, theta_rad: ArrayLike) -> FloatArray:
        """True non-uniformity g(r, theta) (see :mod:`fitting.toymc.gmap`), g(0) = 1."""
        return g_truth(r_mm, theta_rad, self.gmap)

    @property
    def vertex_sigma_per_axis_mm(self) -> float:
        """Gaussian sigma per axis at 1 MeV [mm] giving the mean distance vertex_resolution_mm.

        For an isotropic 3D Gaussian the mean distance is sigma * 2 sqrt(2/pi).
        """
        return float(self.vertex_resolution_mm / (2.0 * np.sqrt(2.0 / np.pi)))


_DEFAULT_VIS_NORM: float = 0.9917454
