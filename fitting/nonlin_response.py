"""f_nonlin response model: gamma visible energy (Eq 2.6, 2.7) and the 12B spectrum (Eq 2.8).

Split out of :mod:`fitting.nonlinearity` (which re-exports every public name): the predicted
peaks P_i^gamma from a secondary-electron spectrum P(E^e) and the predicted 12B histogram
P_j^B12 (beta spectrum mapped through E_vis = f_nonlin(E) E, smeared with Eq 3.1).
Energies in MeV.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

from fitting.physics.nonlinearity import (
    electron_visible_energy as electron_visible_energy,
)
from fitting.physics.nonlinearity import (
    f_nonlin_grad as f_nonlin_grad,
)
from fitting.physics.nonlinearity import (
    invert_electron_visible_energy as invert_electron_visible_energy,
)
from fitting.physics.nonlinearity import (
    reconstruct_positron_energy as reconstruct_positron_energy,
)
from fitting.physics.nonlinearity import (
    regularised_visible_energy,
    visible_energy_and_grad,
)

FloatArray = NDArray[np.float64]

#: 12B histogram of section 2.1.3: 90 bins from 3 to 12 MeV
B12_EDGES_MEV: FloatArray = np.linspace(3.0, 12.0, 91)
#: resolution of the central-IBD row of Table 3 (a [sqrt(MeV)], b, c [MeV]), used for smearing
DEFAULT_RESOLUTION_ABC = (0.0262, 0.0073, 0.0138)
_INV_SQRT2PI = 1.0 / math.sqrt(2.0 * math.pi)

#: Eq 2.5 applied per secondary electron above this energy, continued linearly below it
#: (:func:`fitting.physics.nonlinearity.regularised_visible_energy`): on the mock it lowers the
#: gamma chi2 and the high-energy bias of f_nonlin (benchmarks/nonlinearity_study.py)
DEFAULT_E_REG_MEV = 0.1


# ============================================================================================
# Eq 2.6 / 2.7: gamma response from the secondary-electron spectrum
# ============================================================================================
@dataclass(frozen=True)
class SecondarySpectrum:
    """Binned secondary-electron spectrum P(E^e) of one gamma source (Eq 2.6).

    Attributes
    ----------
    source : source name (e.g. "Cs137", "Co60", "nH").
    e_gamma_mev : total gamma energy per event [MeV] (sum of the lines, e.g. Co60 2.5057).
    energies_mev : array (K,), mean kinetic energy of the electrons in each bin [MeV].
    counts : array (K,), number of secondary electrons (and positrons) per gamma event in the
        bin, i.e. Int_bin P(E) dE.
    """

    source: str
    e_gamma_mev: float
    energies_mev: FloatArray
    counts: FloatArray

    def __post_init__(self) -> None:
        if self.energies_mev.shape != self.counts.shape or self.energies_mev.ndim != 1:
            raise ValueError(f"{self.source}: energies and counts must be 1-d of equal shape")
        if np.any(self.energies_mev <= 0) or np.any(self.counts < 0):
            raise ValueError(f"{self.source}: energies must be > 0 and counts >= 0")
        if self.e_gamma_mev <= 0 or float(np.sum(self.counts * self.energies_mev)) <= 0:
            raise ValueError(f"{self.source}: empty spectrum or non-positive gamma energy")

    @property
    def normalisation(self) -> float:
        """Eq 2.7: I = E^gamma / Int P(E) E dE (close to 1; missing energy of thresholds)."""
        return float(self.e_gamma_mev / np.sum(self.counts * self.energies_mev))

    @classmethod
    def from_electrons(
        cls,
        source: str,
        e_gamma_mev: float,
        electron_energies_mev: ArrayLike,
        n_gammas: int,
        n_bins: int = 2000,
        e_min_mev: float = 1e-5,
    ) -> SecondarySpectrum:
        """Bin the simulated secondary electrons of ``n_gammas`` gamma events.

        Log-spaced bins from ``e_min_mev`` to the largest energy; each bin keeps its electron
        count and mean energy, so the p0 E + p3 numerator of Eq 2.5 is integrated exactly and
        only the slowly varying denominator is evaluated at the bin mean (relative error
        ~ 1e-6 for 2000 bins). Electrons below ``e_min_mev`` go to the first bin.
        """
        e = np.asarray(electron_energies_mev, dtype=np.float64).ravel()
        e = e[e > 0]
        if e.size == 0 or n_gammas <= 0:
            raise ValueError(f"{source}: no electrons")
        edges = np.geomspace(e_min_mev, max(float(e.max()), e_min_mev * 10) * (1 + 1e-9),
                             n_bins + 1)
        idx = np.clip(np.searchsorted(edges, e, side="right") - 1, 0, n_bins - 1)
        cnt = np.bincount(idx, minlength=n_bins).astype(np.float64)
        esum = np.bincount(idx, weights=e, minlength=n_bins)
        keep = cnt > 0
        return cls(source=source, e_gamma_mev=float(e_gamma_mev),
                   energies_mev=esum[keep] / cnt[keep], counts=cnt[keep] / n_gammas)


class _GammaModel:
    """Eq 2.6/2.7 for several sources at once (flat arrays + bincount), with gradient."""

    def __init__(self, spectra: Sequence[SecondarySpectrum],
                 e_reg_mev: float = DEFAULT_E_REG_MEV) -> None:
        self.e_reg = float(e_reg_mev)
        self.n_src = len(spectra)
        self.e = np.concatenate([s.energies_mev for s in spectra])
        self.n = np.concatenate([s.counts for s in spectra])
        self.idx = np.concatenate([np.full(s.counts.size, i) for i, s in enumerate(spectra)])
        # Eq 2.6/2.7: E_vis = E^gamma * sum n E f / sum n E = I * sum n E f
        self.norm = np.array([s.normalisation for s in spectra])

    def predict(self, p: FloatArray) -> tuple[FloatArray, FloatArray]:
        ev, g = regularised_visible_energy(self.e, p, self.e_reg)
        pred = self.norm * np.bincount(self.idx, weights=self.n * ev,
                                       minlength=self.n_src).astype(np.float64)
        jac = np.stack([np.bincount(self.idx, weights=self.n * g[:, k], minlength=self.n_src)
                        for k in range(4)], axis=1) * self.norm[:, None]
        return pred, jac


def gamma_visible_energy(
    spectra: Sequence[SecondarySpectrum], p: ArrayLike, e_reg_mev: float = DEFAULT_E_REG_MEV
) -> FloatArray:
    """Predicted visible energies P_i^gamma [MeV] of Eq 2.6/2.7, shape (n_sources,).

    ``e_reg_mev``: per-electron form continued linearly below it
    (:func:`fitting.physics.nonlinearity.regularised_visible_energy`).
    """
    pred, _ = _GammaModel(spectra, e_reg_mev).predict(np.asarray(p, dtype=np.float64))
    return pred


# ============================================================================================
# 12B spectrum
# ============================================================================================
@dataclass(frozen=True)
class BetaSpectrum:
    """True kinetic-energy spectrum of the 12B beta electrons on a fine grid.

    Attributes
    ----------
    energies_mev : array (K,), kinetic energy of each grid point [MeV] (bin centres).
    weights : array (K,), probability of each point (normalised to 1 on construction).
    """

    energies_mev: FloatArray
    weights: FloatArray

    def __post_init__(self) -> None:
        if self.energies_mev.shape != self.weights.shape or self.weights.ndim != 1:
            raise ValueError("energies and weights must be 1-d of equal shape")
        if np.any(self.energies_mev <= 0) or np.any(self.weights < 0):
            raise ValueError("beta energies must be > 0 and weights >= 0")
        total = float(self.weights.sum())
        if total <= 0:
            raise ValueError("beta spectrum is empty")
        object.__setattr__(self, "weights", self.weights / total)

    @classmethod
    def from_density(cls, edges_mev: ArrayLike, density: ArrayLike) -> BetaSpectrum:
        """From a histogram (edges (K+1,), density or counts per bin (K,)); zero bins dropped."""
        ed = np.asarray(edges_mev, dtype=np.float64)
        d = np.asarray(density, dtype=np.float64) * np.diff(ed)
        c = 0.5 * (ed[1:] + ed[:-1])
        keep = (d > 0) & (c > 0)
        return cls(energies_mev=c[keep], weights=d[keep])

    @classmethod
    def from_samples(cls, e_mev: ArrayLike, bin_width_mev: float = 0.01) -> BetaSpectrum:
        """From sampled kinetic energies: bins of ``bin_width_mev``, mean energy per bin."""
        e = np.asarray(e_mev, dtype=np.float64).ravel()
        e = e[e > 0]
        nb = max(int(np.ceil(e.max() / bin_width_mev)), 1)
        idx = np.minimum((e / bin_width_mev).astype(np.int64), nb - 1)
        cnt = np.bincount(idx, minlength=nb).astype(np.float64)
        esum = np.bincount(idx, weights=e, minlength=nb)
        keep = cnt > 0
        return cls(energies_mev=esum[keep] / cnt[keep], weights=cnt[keep])


class _B12Model:
    """P_j^B12 (unnormalised to data) and its gradient w.r.t. (p0..p3)."""

    def __init__(self, beta: BetaSpectrum, edges: FloatArray,
                 resolution_abc: tuple[float, float, float]) -> None:
        # points far below the window (E < edges[0] / 2, i.e. f_nonlin would have to exceed 2 to
        # reach it) cannot contribute; the weights stay normalised to the whole spectrum.
        keep = beta.energies_mev >= 0.5 * float(edges[0])
        self.e = beta.energies_mev[keep]
        self.w = beta.weights[keep]
        self.edges = edges
        self.a2, self.b2, self.c2 = (float(v) ** 2 for v in resolution_abc)

    def predict(self, p: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Probability per bin, shape (J,), and d/dp, shape (J, 4)."""
        ev, g = visible_energy_and_grad(self.e, p)
        return self.from_visible(ev, g)

    def from_visible(self, ev: FloatArray, g: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Bin probabilities for visible energies ``ev`` (K,) with gradient rows ``g`` (K, m)."""
        evc = np.maximum(ev, 1e-9)
        # Eq 3.1 in absolute units: sigma^2 = a^2 E + b^2 E^2 + c^2
        sig = np.sqrt(self.a2 * evc + self.b2 * evc**2 + self.c2)
        dsig = (self.a2 + 2.0 * self.b2 * evc) / (2.0 * sig)
        u = (self.edges[:, None] - ev[None, :]) / sig[None, :]          # (J+1, K)
        cdf = ndtr(u)
        # d Phi(u) / d Ev = phi(u) du/dEv, du/dEv = -(1 + u sigma') / sigma
        dcdf = np.exp(-0.5 * u * u) * _INV_SQRT2PI * (-(1.0 + u * dsig[None, :]) / sig[None, :])
        prob = np.diff(cdf, axis=0) @ self.w                             # (J,)
        dprob = (np.diff(dcdf, axis=0) * self.w[None, :]) @ g           # (J, 4)
        return prob, dprob


def predict_b12_counts(
    beta: BetaSpectrum,
    p: ArrayLike,
    n_decays: float,
    edges_mev: ArrayLike = B12_EDGES_MEV,
    resolution_abc: tuple[float, float, float] = DEFAULT_RESOLUTION_ABC,
) -> FloatArray:
    """Expected 12B counts per visible-energy bin, P_j^B12 of Eq 2.8, shape (J,).

    ``n_decays`` is the number of decays over the whole spectrum (all energies).
    """
    m = _B12Model(beta, np.asarray(edges_mev, dtype=np.float64), resolution_abc)
    prob, _ = m.predict(np.asarray(p, dtype=np.float64))
    return n_decays * prob


def smeared_b12_counts(
    beta: BetaSpectrum,
    visible_energy: Callable[[FloatArray], FloatArray],
    n_decays: float,
    edges_mev: ArrayLike = B12_EDGES_MEV,
    resolution_abc: tuple[float, float, float] = DEFAULT_RESOLUTION_ABC,
) -> FloatArray:
    """Expected 12B counts per bin for any electron response ``visible_energy(E) -> E_vis``.

    Same smearing (Eq 3.1) and binning as the fit; used to build Asimov data from a true
    (e.g. Birks + Cherenkov) response.
    """
    m = _B12Model(beta, np.asarray(edges_mev, dtype=np.float64), resolution_abc)
    ev = np.asarray(visible_energy(m.e), dtype=np.float64)
    prob, _ = m.from_visible(ev, np.zeros((ev.size, 0)))
    return n_decays * prob

