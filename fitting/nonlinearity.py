"""Physics energy non-linearity f_nonlin: model, gamma response, 12B spectrum, chi2 fit.

Paper sections 2.1.2-2.1.3 (Eq 2.1-2.8), figures 1-2. Energies in MeV throughout.

* Eq 2.5 (transcribed):  f_nonlin(E^e) = (p0 + p3 / E^e) / (1 + p1 exp(-p2 E^e)),
  E^e the true kinetic energy of the electron [MeV]; f_nonlin = E_vis^e / E^e (Eq 2.3).
* Eq 2.6:  E_vis^gamma = Int_0^{E^gamma} P(E^e) f_nonlin(E^e) E^e dE^e  x  I
* Eq 2.7:  I = E^gamma / Int_0^{E^gamma} P(E^e) E^e dE^e
  P(E^e) is the spectrum of secondary electrons/positrons of one gamma source (Compton,
  photo-effect, pair production) per gamma event: :class:`SecondarySpectrum`. Because
  ``f_nonlin(E) E = (p0 E + p3) / (1 + p1 exp(-p2 E))``, the p3 term adds ``p3 / (1+p1 e^..)``
  per secondary electron: the model is meant integrated over P(E^e) (GUIDE section 5). Here
  it is applied per electron above ``NonlinFitConfig.e_reg_mev`` (0.1 MeV) and continued as
  E f(e_reg) below, so that soft Compton electrons carry no spurious p3 share
  (:mod:`fitting.physics.nonlinearity`).
* (alpha, n) prompt peaks: :class:`PeakCorrection` (recoil shift, section 2.3.4) corrects
  M_i and adds its uncertainty to sigma_i.
* Eq 2.8:  chi2 = sum_i ((M_i^gamma - P_i^gamma) / sigma_i)^2
                 + sum_j (M_j^B12 - P_j^B12)^2 / M_j^B12
  with the 12B visible spectrum in 90 bins 3-12 MeV; P_j^B12 is the true beta spectrum mapped
  through E_vis = f_nonlin(E) E and smeared with the resolution of Eq 3.1, times a free
  normalisation (the number of 12B decays is not known a priori).
  Empty or low bins: Eq 2.8 divides by M_j, undefined for M_j = 0 and biased for small M_j;
  by default adjacent bins are merged until each group holds >= ``min_bin_count`` events
  (``b12_cost="neyman"``). ``"pearson"`` (P_j in the denominator) and ``"poisson"``
  (Baker-Cousins likelihood chi2, exact for any count including 0) are alternatives.
* E_vis^anni (Eq 2.2, 2.4) is the measured 68Ge peak, reported by the fit.
* Eq 2.4:  E_rec^{e+} = (E_vis^prompt - E_vis^anni) / f_nonlin, solved for the kinetic energy:
  :func:`reconstruct_positron_energy`.

* Section 2.3.7 / Table 2: the systematics band from toy refits, :func:`systematics_band`.

This module is the public face; the code lives in :mod:`fitting.nonlin_response` (Eq 2.6,
2.7, 12B prediction), :mod:`fitting.nonlin_fit` (inputs, settings, the Eq 2.8 fit) and
:mod:`fitting.nonlin_band` (the Table 2 band), each re-exported here under its old name.
"""

from __future__ import annotations

from fitting.nonlin_band import (
    TABLE2_EFFECTS,
    SystematicEffect,
    rescale_histogram,
    systematics_band,
)
from fitting.nonlin_fit import (
    DEFAULT_P_START,
    PAPER_ALPHA_N_CORRECTIONS,
    B12Cost,
    B12Histogram,
    GammaPeak,
    NonlinBand,
    NonlinFitConfig,
    NonlinFitResult,
    PeakCorrection,
    b12_histogram_from_events,
    fit_nonlinearity,
    measure_gamma_peak,
)
from fitting.nonlin_response import (
    B12_EDGES_MEV,
    DEFAULT_E_REG_MEV,
    DEFAULT_RESOLUTION_ABC,
    BetaSpectrum,
    SecondarySpectrum,
    gamma_visible_energy,
    predict_b12_counts,
    smeared_b12_counts,
)
from fitting.physics.nonlinearity import (
    MODEL_ID,
    PARAM_NAMES,
    electron_visible_energy,
    f_nonlin,
    f_nonlin_grad,
    f_nonlin_sigma,
    invert_electron_visible_energy,
    reconstruct_positron_energy,
    regularised_visible_energy,
    visible_energy_and_grad,
)

__all__ = [
    "B12_EDGES_MEV", "DEFAULT_E_REG_MEV", "DEFAULT_P_START", "DEFAULT_RESOLUTION_ABC", "MODEL_ID",
    "PAPER_ALPHA_N_CORRECTIONS", "PARAM_NAMES", "TABLE2_EFFECTS", "B12Cost", "B12Histogram",
    "BetaSpectrum", "GammaPeak", "NonlinBand", "NonlinFitConfig", "NonlinFitResult",
    "PeakCorrection", "SecondarySpectrum", "SystematicEffect", "b12_histogram_from_events",
    "electron_visible_energy", "f_nonlin", "f_nonlin_grad", "f_nonlin_sigma", "fit_nonlinearity",
    "gamma_visible_energy", "invert_electron_visible_energy", "measure_gamma_peak",
    "predict_b12_counts", "reconstruct_positron_energy", "regularised_visible_energy",
    "rescale_histogram", "smeared_b12_counts", "systematics_band", "visible_energy_and_grad",
]
