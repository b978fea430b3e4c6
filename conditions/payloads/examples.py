"""Reference payloads built from the paper's numbers, for tests, demos and documentation.

These are *illustrative* constants, not calibration results: Y0 = 1345 PE/MeV (section 2.1.3),
Delta Q_DR = 350 ns x 17,600 x 30 kHz = 184.8 PE (section 2.3.3), the "ideal correction" row of
Table 3 for (a, b, c), a plausible Eq. (2.5) parameter set, a smooth g(r, theta) and a mild
per-channel LPMT non-linearity.  Every function is deterministic (fixed seeds).
"""

from __future__ import annotations

import numpy as np
from scipy.interpolate import RectBivariateSpline

from conditions.payloads.base import Payload
from conditions.payloads.dark_noise import DarkNoiseV1, DarkNoiseV2
from conditions.payloads.light_yield import LightYieldV1
from conditions.payloads.lpmt import N_LPMT, ChannelStatus, LpmtNonlinearityV1
from conditions.payloads.lpmt_gain import GainStatus, LpmtGainV1
from conditions.payloads.nonlinearity import EnergyNonlinearityV1, f_nonlin
from conditions.payloads.resolution import EnergyResolutionV1, a_tilde
from conditions.payloads.uniformity import NonuniformityMapV1
from fitting.physics.detector import R_LS_M

#: Radius of the liquid-scintillator sphere [m] (35.4 m inner diameter of the acrylic sphere).
R_LS = R_LS_M

#: Illustrative Eq. (2.5) parameters (p0, p1, p2 [1/MeV], p3 [MeV]).
EXAMPLE_P = (1.025, 0.12, 1.2, -0.005)


def light_yield() -> LightYieldV1:
    """Y0 = 1345 PE/MeV from n-H captures at the centre (section 2.1.3)."""
    return LightYieldV1(
        y0=1345.0, y0_uncertainty=0.4, n_events=100_000, chi2=92.4, ndf=97
    )


def dark_noise(version: int = 2) -> DarkNoiseV1 | DarkNoiseV2:
    """Delta Q_DR = 184.8 PE for LPMTs (section 2.3.3); SPMT: 25,600 x 350 ns x 1 kHz."""
    common = dict(
        offset_lpmt=350e-9 * 17600 * 30e3,
        offset_lpmt_uncertainty=0.2,
        offset_spmt=350e-9 * 25600 * 1e3,
        offset_spmt_uncertainty=0.05,
        window_ns=350.0,
    )
    if version == 1:
        return DarkNoiseV1.model_validate(common)
    return DarkNoiseV2.model_validate(
        {**common, "rate_lpmt_hz": 30e3, "rate_spmt_hz": 1e3, "n_random_triggers": 200_000}
    )


def energy_nonlinearity() -> EnergyNonlinearityV1:
    """Eq. (2.5) with :data:`EXAMPLE_P`, valid on 0.2-12 MeV, a 0.7 % band (section 2.3.7)."""
    sig = np.array([2e-3, 1e-2, 5e-2, 1e-3])
    corr = np.array(
        [
            [1.0, 0.5, -0.3, -0.6],
            [0.5, 1.0, 0.4, -0.2],
            [-0.3, 0.4, 1.0, 0.1],
            [-0.6, -0.2, 0.1, 1.0],
        ]
    )
    grid = np.linspace(0.2, 12.0, 60)
    f = f_nonlin(grid, *EXAMPLE_P)
    p0, p1, p2, p3 = EXAMPLE_P
    return EnergyNonlinearityV1(
        p0=p0, p1=p1, p2=p2, p3=p3,
        covariance=corr * np.outer(sig, sig),
        e_min=0.2, e_max=12.0,
        e_vis_anni=0.97, e_vis_anni_uncertainty=0.001,
        band_energy=grid, band_lower=f * (1 - 0.007), band_upper=f * (1 + 0.007),
        chi2=101.3, ndf=94,
        sources=("Cs137", "Mn54", "Ge68", "K40", "n-H", "Co60", "AmBe", "AmC", "B12"),
    )


def lpmt_nonlinearity(seed: int = 7) -> LpmtNonlinearityV1:
    """17,612 channels, 32 nodes on 0-150 PE, true = q (1 + alpha q / 100), alpha in [0, 0.1].

    About 1 % of the channels are DEAD and 0.5 % have NO_CURVE (section 3.8 item 1).
    """
    rng = np.random.default_rng(seed)
    grid = np.linspace(0.0, 150.0, 32)
    alpha = rng.uniform(0.0, 0.1, N_LPMT)
    true = grid[None, :] * (1.0 + alpha[:, None] * grid[None, :] / 100.0)
    status = np.full(N_LPMT, ChannelStatus.GOOD, dtype=np.uint8)
    status[rng.choice(N_LPMT, 176, replace=False)] = ChannelStatus.DEAD
    no_curve = rng.choice(np.flatnonzero(status == ChannelStatus.GOOD), 88, replace=False)
    status[no_curve] = ChannelStatus.NO_CURVE
    return LpmtNonlinearityV1(
        channel_ids=np.arange(N_LPMT, dtype=np.int32),
        charge_grid=grid,
        true_charge=true.astype(np.float32),
        status=status,
    )


def g_truth(r: np.ndarray, cos_theta: np.ndarray) -> np.ndarray:
    """A smooth illustrative g(r, theta): rises towards the edge, mild up/down asymmetry."""
    x = np.asarray(r) / R_LS
    return 1.0 + 0.08 * x**2 + 0.03 * x**3 * np.asarray(cos_theta) - 0.05 * x**8


def nonuniformity_map(r_ref: float = 1.0) -> NonuniformityMapV1:
    """Bicubic interpolating spline of :func:`g_truth` on a 12 x 9 grid in ((r/r_ref)^3, cos
    theta), r_ref in m."""
    u = np.linspace(0.0, (R_LS / r_ref) ** 3, 12)
    v = np.linspace(-1.0, 1.0, 9)
    uu, vv = np.meshgrid(u, v, indexing="ij")
    g = g_truth(r_ref * np.cbrt(uu), vv)
    spline = RectBivariateSpline(u, v, g, kx=3, ky=3, s=0.0)
    tu, tv, c = spline.tck
    return NonuniformityMapV1(
        coordinates="r3_costheta",
        r_ref=r_ref,
        knots_u=tu,
        knots_v=tv,
        degree_u=3,
        degree_v=3,
        coefficients=np.asarray(c).reshape(tu.size - 4, tv.size - 4),
        points_r=r_ref * np.cbrt(uu).ravel(),
        points_theta=np.arccos(vv).ravel(),
        points_g=g.ravel(),
        points_g_uncertainty=np.full(g.size, 1e-3),
    )


def energy_resolution() -> EnergyResolutionV1:
    """The "ideal correction" row of Table 3: a = 2.57 %, b = 0.73 %, c = 1.25 %."""
    a, b, c = 0.0257, 0.0073, 0.0125
    return EnergyResolutionV1(
        a=a, b=b, c=c,
        covariance=np.diag([2e-4, 1e-4, 4e-4]) ** 2,
        a_tilde=a_tilde(a, b, c), chi2=5.1, ndf=5,
    )


def all_payloads() -> dict[str, Payload]:
    """One example per record name (the default global-tag record names)."""
    return {
        "light_yield": light_yield(),
        "dark_noise": dark_noise(),
        "energy_nonlinearity": energy_nonlinearity(),
        "lpmt_nonlinearity": lpmt_nonlinearity(),
        "nonuniformity_map": nonuniformity_map(),
        "energy_resolution": energy_resolution(),
        "lpmt_gain": lpmt_gain(),
    }


def lpmt_gain(seed: int = 3) -> LpmtGainV1:
    """17,612 channels, gains ~ N(1, 2 %), relative responses ~ N(1, 7 %), 176 dead."""
    rng = np.random.default_rng(seed)
    status = np.zeros(N_LPMT, dtype=np.uint8)
    status[rng.choice(N_LPMT, 176, replace=False)] = GainStatus.DEAD
    alive = status == GainStatus.GOOD
    return LpmtGainV1(
        channel_ids=np.arange(N_LPMT, dtype=np.int32),
        gain=np.where(alive, rng.normal(1.0, 0.02, N_LPMT), 0.0),
        gain_uncertainty=np.where(alive, 0.01, 0.0),
        relative_response=np.where(alive, rng.normal(1.0, 0.07, N_LPMT), 0.0),
        relative_response_uncertainty=np.where(alive, 0.001, 0.0),
        status=status,
        spe_resolution=0.3,
        spe_resolution_measured=True,
        laser_jitter=0.03,
        laser_position_mm=(0.0, 0.0, 0.0),
    )
