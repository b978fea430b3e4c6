"""Reconstruction-side energy scale: PE, vertex -> E_vis (Eq. 3.3) -> positron energy (Eq. 2.4).

:class:`EnergyScale` is built from the payloads a global tag resolves to for one run and applies
them vectorised over numpy arrays of events (no per-event Python loop; events are processed in
cache-sized chunks):

1. LPMT channel charges are corrected with the per-channel dual-calorimetry curves
   (:meth:`EnergyScale.correct_lpmt_charges`, paper section 2.2);
2. E_vis^prompt = (PE_tot - Delta Q_DR) / Y0 / g(r, theta)   (Eq. 3.3, with Eq. 2.1);
3. E_rec^e+ = (E_vis^prompt - E_vis^anni) / f_nonlin(E_rec)  (Eq. 2.4), i.e. the solution E of
   E * f_nonlin(E) = E_vis^prompt - E_vis^anni with f_nonlin of Eq. (2.5).  It is solved by a
   cubic-Hermite table of the inverse function, uniform in E_vis, built once per payload with
   exact node values (bisection to the last bit) and checked at build time at the midpoints and
   quarter points of every interval against the exact solution (relative error <= 1e-11).

Caches are objects: :class:`ScaleCache` (built scales, decoded payloads, derived tables);
:class:`EnergyScales` builds the scales of runs from any :class:`ConditionsSource` (a local
``Resolver`` or a ``ConditionsClient``) with its own cache; Eq. 3.3 and the per-channel curves are
:mod:`fitting.physics`'s.

Records (the default global-tag record names) and what happens when one is missing:

==================== ========= =========================================================
record               required  if missing
==================== ========= =========================================================
light_yield          yes       :class:`~conditions.errors.RecordNotFound`
dark_noise           yes       :class:`~conditions.errors.RecordNotFound` (a silent 0 would
                               bias every energy by ~185 PE / 1345 PE/MeV = 0.14 MeV)
energy_nonlinearity  yes       :class:`~conditions.errors.RecordNotFound`
lpmt_nonlinearity    no        charges pass through unchanged (identity correction)
nonuniformity_map    no        g = 1 everywhere and every event carries NO_UNIFORMITY_MAP
energy_resolution    no        :meth:`EnergyScale.sigma_over_e` raises RecordNotFound
==================== ========= =========================================================

Out-of-range behaviour (always reported per event in the ``flags`` bit mask, :class:`Flag`):

* vertex outside the map's domain -> ``VERTEX_OUTSIDE_MAP``; policy ``outside_map``:
  ``"nan"`` (default: E_vis and E_rec are NaN) or ``"clamp"`` (g taken at the nearest edge of the
  map domain).  A vertex at r = 0 uses cos(theta) = 1 (theta = 0).
* E_rec outside the payload's valid range [e_min, e_max] -> ``BELOW_VALID_RANGE`` /
  ``ABOVE_VALID_RANGE``; policy ``outside_range``: ``"nan"`` (default), ``"clamp"`` (E_rec set to
  e_min / e_max) or ``"extrapolate"`` (Eq. 2.5 inverted beyond the range, down to E = 0 and up to
  2 e_max where E f_nonlin(E) is still increasing; beyond that NaN).
* E_vis - E_vis^anni below E f_nonlin at the lowest solvable energy (no E >= 0 solves Eq. 2.4,
  e.g. p3 > 0 and a tiny deposit) -> ``NO_SOLUTION`` (also BELOW_VALID_RANGE); NaN unless
  ``"clamp"``.
* non-finite PE or vertex -> ``BAD_INPUT``, NaN.

Modules: :mod:`.scale` (:class:`EnergyScale`, :class:`Flag`, :class:`EnergyResult`),
:mod:`.inverse` (the inverse table of Eq. 2.4), :mod:`.lpmt` (per-channel charge correction),
:mod:`.cache` (:class:`ScaleCache`), :mod:`.sources` (:class:`EnergyScales` over a
:class:`ConditionsSource`).  Every public name is re-exported here.
"""

from __future__ import annotations

from .cache import DEFAULT_CACHE, ScaleCache, cache_stats, clear_caches
from .inverse import InverseNonlinearity
from .lpmt import LpmtCorrection
from .scale import (
    CHUNK,
    OPTIONAL_RECORDS,
    REQUIRED_RECORDS,
    EnergyResult,
    EnergyScale,
    Flag,
    OutsideMap,
    OutsideRange,
)
from .sources import ConditionsSource, EnergyScales

__all__ = [
    "CHUNK",
    "DEFAULT_CACHE",
    "OPTIONAL_RECORDS",
    "REQUIRED_RECORDS",
    "ConditionsSource",
    "EnergyResult",
    "EnergyScale",
    "EnergyScales",
    "Flag",
    "InverseNonlinearity",
    "LpmtCorrection",
    "OutsideMap",
    "OutsideRange",
    "ScaleCache",
    "cache_stats",
    "clear_caches",
]
