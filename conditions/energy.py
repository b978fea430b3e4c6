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
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from enum import IntFlag
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel

from conditions.errors import InvalidPayload, RecordNotFound
from conditions.payloads import (
    ChannelStatus,
    DarkNoiseV2,
    EnergyNonlinearityV1,
    EnergyResolutionV1,
    LightYieldV1,
    LpmtNonlinearityV1,
    NonuniformityMapV1,
    decode_payload,
    payload_hash,
    type_of,
    upgrade,
)
from conditions.payloads.nonlinearity import (
    visible_electron_energy,
    visible_electron_energy_slope,
)
from fitting.physics.lpmt import interpolate_curves
from fitting.physics.visible import visible_energy

OutsideMap = Literal["nan", "clamp"]
OutsideRange = Literal["nan", "clamp", "extrapolate"]

#: Events per chunk: the temporaries of one chunk (~20 float64 arrays) stay in the L2 cache.
CHUNK = 16384

#: Records the energy scale reads; the record name is also the payload type name.
REQUIRED_RECORDS = ("light_yield", "dark_noise", "energy_nonlinearity")
OPTIONAL_RECORDS = ("lpmt_nonlinearity", "nonuniformity_map", "energy_resolution")


class Flag(IntFlag):
    """Per-event bit mask returned with every energy (uint8)."""

    VERTEX_OUTSIDE_MAP = 1
    BELOW_VALID_RANGE = 2
    ABOVE_VALID_RANGE = 4
    NO_SOLUTION = 8
    NO_UNIFORMITY_MAP = 16
    BAD_INPUT = 32


@dataclass(frozen=True)
class EnergyResult:
    """Energies of a batch of events (arrays of equal shape).

    Attributes
    ----------
    e_vis : ndarray of float64
        E_vis^prompt [MeV] (Eq. 3.3).
    e_rec : ndarray of float64
        Reconstructed positron kinetic energy E_rec^e+ [MeV] (Eq. 2.4).
    flags : ndarray of uint8
        Bit mask of :class:`Flag` values.
    """

    e_vis: np.ndarray
    e_rec: np.ndarray
    flags: np.ndarray


# ------------------------------------------------------------------------------------------------
# Inverse of E -> E * f_nonlin(E)
# ------------------------------------------------------------------------------------------------
class InverseNonlinearity:
    """Vectorised inverse of E_vis^e(E) = E f_nonlin(E) (Eq. 2.3, 2.5) on [e_lo, e_hi].

    A cubic Hermite table in y = E_vis^e, uniform in y, with node values solved by bisection to
    the last bit and node slopes 1 / (dE_vis^e/dE).  The number of intervals is doubled (from
    1024, up to 2**18) until the error at the midpoints and quarter points of every interval is
    below ``atol + rtol * E``.

    Parameters
    ----------
    p : tuple of float
        (p0, p1, p2 [1/MeV], p3 [MeV]) of Eq. (2.5).
    e_lo, e_hi : float
        Energy interval [MeV] on which E f_nonlin(E) must be strictly increasing.
    rtol, atol : float
        Required accuracy (relative, absolute [MeV]) of the table.
    """

    def __init__(
        self,
        p: tuple[float, float, float, float],
        e_lo: float,
        e_hi: float,
        rtol: float = 1e-11,
        atol: float = 1e-13,
    ) -> None:
        self.p = p
        self.e_lo, self.e_hi = float(e_lo), float(e_hi)
        self.rtol, self.atol = rtol, atol
        self.y_lo = float(visible_electron_energy(np.array(e_lo), *p))
        self.y_hi = float(visible_electron_energy(np.array(e_hi), *p))
        if not self.y_lo < self.y_hi:
            raise ValueError("E * f_nonlin(E) is not increasing on [e_lo, e_hi]")
        n = 1024
        while True:
            self._build(n)
            err = self._max_error(n)
            if err <= 1.0 or n >= 1 << 18:
                break
            n *= 2
        #: largest error / (atol + rtol E) at the check points (<= 1 unless the cap was hit)
        self.max_error_ratio = err

    def solve_exact(self, y: np.ndarray) -> np.ndarray:
        """E with E f_nonlin(E) = y by bisection (slow path, exact to the last bit).

        ``y`` must lie in [y_lo, y_hi]; used to build and to check the table.
        """
        y = np.asarray(y, dtype=np.float64)
        lo = np.full(y.shape, self.e_lo)
        hi = np.full(y.shape, self.e_hi)
        for _ in range(200):
            mid = 0.5 * (lo + hi)
            done = (mid <= lo) | (mid >= hi)
            if bool(done.all()):
                break
            above = visible_electron_energy(mid, *self.p) > y
            hi = np.where(above, mid, hi)
            lo = np.where(above, lo, mid)
        # the closer end of the final bracket
        f_lo = np.abs(visible_electron_energy(lo, *self.p) - y)
        f_hi = np.abs(visible_electron_energy(hi, *self.p) - y)
        return np.where(f_lo <= f_hi, lo, hi)

    def _build(self, n: int) -> None:
        self.n = n
        self.dy = (self.y_hi - self.y_lo) / n
        self.inv_dy = n / (self.y_hi - self.y_lo)
        y_nodes = self.y_lo + self.dy * np.arange(n + 1)
        y_nodes[-1] = self.y_hi
        e = self.solve_exact(y_nodes)
        e[0], e[-1] = self.e_lo, self.e_hi
        d = self.dy / visible_electron_energy_slope(e, *self.p)  # dE/ds, s = local coordinate
        e0, e1, d0, d1 = e[:-1], e[1:], d[:-1], d[1:]
        self.c0 = e0.copy()
        self.c1 = d0.copy()
        self.c2 = 3.0 * (e1 - e0) - 2.0 * d0 - d1
        self.c3 = 2.0 * (e0 - e1) + d0 + d1

    def _max_error(self, n: int) -> float:
        rtol, atol = self.rtol, self.atol
        s = np.array([0.25, 0.5, 0.75])
        y = (self.y_lo + self.dy * (np.arange(n)[:, None] + s[None, :])).ravel()
        exact = self.solve_exact(y)
        approx = self.evaluate(y)
        return float(np.max(np.abs(approx - exact) / (atol + rtol * np.abs(exact))))

    def evaluate(self, y: np.ndarray) -> np.ndarray:
        """E(y) from the table.

        ``y`` outside [y_lo, y_hi] is clamped to the end nodes and NaN is treated as y_lo: the
        caller masks those (see :meth:`EnergyScale.positron_energy`).
        """
        t = (np.asarray(y, dtype=np.float64) - self.y_lo) * self.inv_dy
        np.fmax(t, 0.0, out=t)  # fmax/fmin also replace NaN, keeping the index valid
        np.fmin(t, float(self.n), out=t)
        i = t.astype(np.intp)
        np.minimum(i, self.n - 1, out=i)
        t -= i
        out = self.c3[i]
        out *= t
        out += self.c2[i]
        out *= t
        out += self.c1[i]
        out *= t
        out += self.c0[i]
        return out


def _monotone_domain(
    p: tuple[float, float, float, float], e_min: float, e_max: float
) -> tuple[float, float]:
    """Largest [lo, hi] in [0, 2 e_max], containing [e_min, e_max], where E f(E) increases.

    Checked on a 20,001-point grid (step 1e-4 e_max) with the analytic derivative.
    """
    grid = np.linspace(0.0, 2.0 * e_max, 20001)
    with np.errstate(all="ignore"):
        rising = (visible_electron_energy_slope(grid, *p) > 0) & np.isfinite(
            visible_electron_energy(grid, *p)
        )
    i_min = int(np.searchsorted(grid, e_min, side="left"))
    i_max = int(np.searchsorted(grid, e_max, side="right")) - 1
    bad = np.flatnonzero(~rising)
    below, above = bad[bad < i_min], bad[bad > i_max]
    lo = float(grid[below[-1] + 1]) if below.size else 0.0
    hi = float(grid[above[0] - 1]) if above.size else float(grid[-1])
    return min(lo, e_min), max(hi, e_max)


# ------------------------------------------------------------------------------------------------
# LPMT channel correction
# ------------------------------------------------------------------------------------------------
class LpmtCorrection:
    """Piecewise-linear per-channel charge correction (section 2.2), vectorised over hits.

    NO_CURVE channels get the identity and DEAD channels the zero function, folded into the table
    at build time so that applying it needs no per-status branching.
    """

    def __init__(self, payload: LpmtNonlinearityV1) -> None:
        grid = payload.charge_grid
        table = payload.true_charge.astype(np.float64)
        table[payload.status == ChannelStatus.NO_CURVE] = grid
        table[payload.status == ChannelStatus.DEAD] = 0.0
        self.grid = grid
        self.table = table
        ids = payload.channel_ids
        self.row_of = np.full(int(ids.max()) + 1, -1, dtype=np.intp)
        self.row_of[ids] = np.arange(ids.size)

    def __call__(self, channel_ids: ArrayLike, charges: ArrayLike) -> np.ndarray:
        """True charge [PE] of hits with measured ``charges`` [PE] on ``channel_ids``.

        Linear between nodes, continued with the end segments outside the grid.  Raises
        ``ValueError`` for channel ids the payload does not know.
        """
        ids = np.asarray(channel_ids)
        q = np.asarray(charges, dtype=np.float64)
        if ids.shape != q.shape:
            raise ValueError(f"channel_ids shape {ids.shape} != charges shape {q.shape}")
        known = (ids >= 0) & (ids < self.row_of.size)
        rows = np.full(ids.shape, -1, dtype=np.intp)
        rows[known] = self.row_of[ids[known]]
        if bool((rows < 0).any()):
            bad = ids[rows < 0][:5].tolist()
            raise ValueError(f"unknown LPMT channel ids {bad}")
        return interpolate_curves(self.grid, self.table, rows, q)


# ------------------------------------------------------------------------------------------------
# The energy scale
# ------------------------------------------------------------------------------------------------
class EnergyScale:
    """Energy scale of one set of payloads (one run or one IOV intersection).

    Build it with :meth:`from_payloads` or, from the conditions store, :meth:`from_resolved`
    (cached by payload hashes).  See the module docstring for missing records and policies.
    """

    def __init__(
        self,
        light_yield: LightYieldV1,
        dark_noise: DarkNoiseV2,
        nonlinearity: EnergyNonlinearityV1,
        lpmt: LpmtNonlinearityV1 | None = None,
        uniformity: NonuniformityMapV1 | None = None,
        resolution: EnergyResolutionV1 | None = None,
        *,
        outside_map: OutsideMap = "nan",
        outside_range: OutsideRange = "nan",
        cache: ScaleCache | None = None,
    ) -> None:
        derived = (cache or DEFAULT_CACHE).derived
        if outside_map not in ("nan", "clamp"):
            raise ValueError(f"outside_map must be 'nan' or 'clamp', got {outside_map!r}")
        if outside_range not in ("nan", "clamp", "extrapolate"):
            raise ValueError(f"outside_range must be nan|clamp|extrapolate: {outside_range!r}")
        self.light_yield = light_yield
        self.dark_noise = dark_noise
        self.nonlinearity = nonlinearity
        self.lpmt = lpmt
        self.uniformity = uniformity
        self.resolution = resolution
        self.outside_map: OutsideMap = outside_map
        self.outside_range: OutsideRange = outside_range

        self.inv_y0 = 1.0 / light_yield.y0
        offsets = {"lpmt": dark_noise.offset_lpmt, "spmt": dark_noise.offset_spmt}
        self.delta_q_dr = sum(offsets[s] for s in light_yield.pe_source.split("+"))
        self.e_vis_anni = nonlinearity.e_vis_anni
        p = nonlinearity.parameters
        self.e_min, self.e_max = nonlinearity.e_min, nonlinearity.e_max
        lo, hi = _monotone_domain(p, self.e_min, self.e_max)
        #: E_vis^e below which no E >= 0 solves Eq. (2.4) on the increasing branch
        self.y_no_solution = float(visible_electron_energy(np.array(lo), *p))
        domain = (lo, hi) if outside_range == "extrapolate" else (self.e_min, self.e_max)
        self.inverse: InverseNonlinearity = derived(
            nonlinearity, domain, lambda: InverseNonlinearity(p, *domain)
        )
        # y = E_vis^e thresholds of the valid range (exact: the function is increasing)
        self.y_min = float(visible_electron_energy(np.array(self.e_min), *p))
        self.y_max = float(visible_electron_energy(np.array(self.e_max), *p))
        self._lpmt: LpmtCorrection | None = (
            None if lpmt is None else derived(lpmt, "lpmt", lambda: LpmtCorrection(lpmt))
        )

    # -- construction ----------------------------------------------------------------------
    @classmethod
    def from_payloads(
        cls,
        payloads: Mapping[str, BaseModel],
        *,
        outside_map: OutsideMap = "nan",
        outside_range: OutsideRange = "nan",
        cache: ScaleCache | None = None,
    ) -> EnergyScale:
        """Build from payload models keyed by record name (= payload type name).

        Older schema versions are upgraded (:func:`conditions.payloads.upgrade`).  Records other
        than the six energy records are ignored.  Raises ``RecordNotFound`` for a missing
        required record and ``InvalidPayload`` if a record holds the wrong payload type.
        """
        models: dict[str, BaseModel] = {}
        for record in (*REQUIRED_RECORDS, *OPTIONAL_RECORDS):
            model = payloads.get(record)
            if model is None:
                if record in REQUIRED_RECORDS:
                    raise RecordNotFound(
                        f"energy scale: record {record!r} missing",
                        hint=f"map the record {record!r} to a {record} tag in the global tag",
                    )
                continue
            name, _ = type_of(model)
            if name != record:
                raise InvalidPayload(
                    f"energy scale: record {record!r} holds a {name!r} payload",
                    hint=f"map the record {record!r} to a tag of type {record}",
                )
            models[record] = upgrade(model)

        def get(record: str, kind: type[BaseModel]) -> Any:
            model = models.get(record)
            assert model is None or isinstance(model, kind)
            return model

        return cls(
            get("light_yield", LightYieldV1),
            get("dark_noise", DarkNoiseV2),
            get("energy_nonlinearity", EnergyNonlinearityV1),
            get("lpmt_nonlinearity", LpmtNonlinearityV1),
            get("nonuniformity_map", NonuniformityMapV1),
            get("energy_resolution", EnergyResolutionV1),
            outside_map=outside_map,
            outside_range=outside_range,
            cache=cache,
        )

    @classmethod
    def from_resolved(
        cls,
        resolved: Mapping[str, Any],
        fetch: Callable[[str], bytes],
        *,
        outside_map: OutsideMap = "nan",
        outside_range: OutsideRange = "nan",
        cache: ScaleCache | None = None,
    ) -> EnergyScale:
        """Build from ``resolve(global_tag, run)`` output, reusing earlier builds of ``cache``
        (default: the process-wide :data:`DEFAULT_CACHE`; :class:`EnergyScales` owns its own).

        ``resolved`` maps record name -> object with ``.record``, ``.payload_type``,
        ``.payload_hash``, ``.since``, ``.until``; ``fetch(hash)`` returns canonical bytes.
        The result is cached by the tuple of (record, type, hash) of the energy records and the
        policies, so consecutive runs that share all hashes get the same object back without
        fetching anything; decoded payloads are cached by hash too, so a change of one record
        only fetches and decodes that record.  Fetched bytes are checked against their hash.
        """
        wanted = [r for r in (*REQUIRED_RECORDS, *OPTIONAL_RECORDS) if r in resolved]
        key: Hashable = (
            tuple(
                (r, resolved[r].payload_type, resolved[r].payload_hash) for r in wanted
            ),
            outside_map,
            outside_range,
        )
        c = cache or DEFAULT_CACHE
        cached = c.scales.get(key)
        if cached is not None:
            return cached
        payloads: dict[str, BaseModel] = {}
        for record in wanted:
            item = resolved[record]
            payloads[record] = c.fetch_payload(item.payload_type, item.payload_hash, fetch)
        scale = cls.from_payloads(
            payloads, outside_map=outside_map, outside_range=outside_range, cache=c
        )
        c.scales.put(key, scale)
        return scale

    # -- per-channel correction --------------------------------------------------------------
    @property
    def has_lpmt_correction(self) -> bool:
        """True when an ``lpmt_nonlinearity`` payload is loaded."""
        return self._lpmt is not None

    def correct_lpmt_charges(self, channel_ids: ArrayLike, charges: ArrayLike) -> np.ndarray:
        """Corrected (true) charges [PE] of LPMT hits (section 2.2); identity without payload."""
        if self._lpmt is None:
            return np.array(charges, dtype=np.float64)
        return self._lpmt(channel_ids, charges)

    def lpmt_pe_per_event(
        self,
        event_index: ArrayLike,
        channel_ids: ArrayLike,
        charges: ArrayLike,
        n_events: int,
    ) -> np.ndarray:
        """Sum of corrected LPMT charges [PE] per event (hits given as flat arrays)."""
        corrected = self.correct_lpmt_charges(channel_ids, charges)
        return np.bincount(np.asarray(event_index), weights=corrected, minlength=n_events)

    # -- event energies ----------------------------------------------------------------------
    def g(self, x: ArrayLike, y: ArrayLike, z: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """g(r, theta) at vertices (x, y, z) [m] and the outside-map mask (g clamped there)."""
        vx, vy, vz = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (x, y, z)))
        if self.uniformity is None:
            return np.ones(vx.shape), np.zeros(vx.shape, dtype=bool)
        return self._g(vx * vx + vy * vy + vz * vz, vz)

    def _g(self, r2: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        assert self.uniformity is not None
        spline = self.uniformity.spline
        u, v = self.uniformity.coordinates_uv(r2, z)  # a non-finite vertex gives NaN, flagged
        outside = ~spline.inside(u, v)
        return spline(u, v), outside

    def visible_energy(
        self, pe_total: ArrayLike, x: ArrayLike, y: ArrayLike, z: ArrayLike
    ) -> tuple[np.ndarray, np.ndarray]:
        """E_vis^prompt [MeV] (Eq. 3.3) and flags; ``pe_total`` [PE], vertex (x, y, z) [m]."""
        res = self.reconstruct(pe_total, x, y, z)
        return res.e_vis, res.flags

    def positron_energy(self, e_vis: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
        """E_rec^e+ [MeV] (Eq. 2.4) and flags from E_vis^prompt [MeV] (vectorised)."""
        e = np.asarray(e_vis, dtype=np.float64)
        flat = e.ravel()
        out = np.empty(flat.shape)
        flags = np.zeros(flat.shape, dtype=np.uint8)
        for start in range(0, flat.size, CHUNK):
            sl = slice(start, start + CHUNK)
            chunk_flags = flags[sl]
            bad = ~np.isfinite(flat[sl])
            if bool(bad.any()):
                chunk_flags[bad] |= np.uint8(Flag.BAD_INPUT)
            out[sl] = self._invert(flat[sl], chunk_flags)
        return out.reshape(e.shape), flags.reshape(e.shape)

    def _invert(self, e_vis: np.ndarray, flags: np.ndarray) -> np.ndarray:
        """Eq. (2.4) on one chunk; sets range flags in ``flags`` (in place)."""
        y = e_vis - self.e_vis_anni
        e = self.inverse.evaluate(y)
        below = y < self.y_min
        above = y > self.y_max
        nosol = y < self.y_no_solution
        if bool(below.any()) or bool(above.any()):
            flags[below] |= np.uint8(Flag.BELOW_VALID_RANGE)
            flags[above] |= np.uint8(Flag.ABOVE_VALID_RANGE)
            flags[nosol] |= np.uint8(Flag.NO_SOLUTION)
            if self.outside_range == "nan":
                e[below | above] = np.nan
            elif self.outside_range == "clamp":
                e[below] = self.e_min
                e[above] = self.e_max
            else:
                e[nosol | (y > self.inverse.y_hi)] = np.nan
        not_finite = ~np.isfinite(y)
        if bool(not_finite.any()):
            e[not_finite] = np.nan
        return e

    def reconstruct(
        self, pe_total: ArrayLike, x: ArrayLike, y: ArrayLike, z: ArrayLike
    ) -> EnergyResult:
        """E_vis^prompt (Eq. 3.3) and E_rec^e+ (Eq. 2.4) of a batch of events.

        Parameters
        ----------
        pe_total : ndarray, shape (n,)
            Total PE of each event [PE], in the PE sum the light yield refers to
            (``light_yield.pe_source``; Eq. 3.3 uses LPMT + SPMT).
        x, y, z : ndarray, shape (n,)
            Reconstructed vertex [m], detector centre at the origin, z vertical (up).
        """
        arrays = np.broadcast_arrays(
            *(np.asarray(a, dtype=np.float64) for a in (pe_total, x, y, z))
        )
        shape = arrays[0].shape
        pe, vx, vy, vz = (np.ascontiguousarray(a).ravel() for a in arrays)
        n = pe.size
        e_vis = np.empty(n)
        e_rec = np.empty(n)
        flags = np.zeros(n, dtype=np.uint8)
        for start in range(0, n, CHUNK):
            sl = slice(start, start + CHUNK)
            self._chunk(pe[sl], vx[sl], vy[sl], vz[sl], e_vis[sl], e_rec[sl], flags[sl])
        return EnergyResult(e_vis.reshape(shape), e_rec.reshape(shape), flags.reshape(shape))

    def _chunk(
        self,
        pe: np.ndarray,
        x: np.ndarray,
        y: np.ndarray,
        z: np.ndarray,
        e_vis: np.ndarray,
        e_rec: np.ndarray,
        flags: np.ndarray,
    ) -> None:
        if self.uniformity is None:
            flags |= np.uint8(Flag.NO_UNIFORMITY_MAP)
            e_vis[:] = visible_energy(pe, self.delta_q_dr, self.light_yield.y0)
        else:
            r2 = x * x
            r2 += y * y
            r2 += z * z
            g, outside = self._g(r2, z)
            e_vis[:] = visible_energy(pe, self.delta_q_dr, self.light_yield.y0, g)
            if bool(outside.any()):
                flags[outside] |= np.uint8(Flag.VERTEX_OUTSIDE_MAP)
                if self.outside_map == "nan":
                    e_vis[outside] = np.nan
        bad = ~np.isfinite(e_vis)
        if bool(bad.any()):
            # NaN from the map policy is not bad input; only non-finite inputs are
            inputs_bad = ~(np.isfinite(pe) & np.isfinite(x) & np.isfinite(y) & np.isfinite(z))
            flags[inputs_bad] |= np.uint8(Flag.BAD_INPUT)
            e_vis[inputs_bad] = np.nan
        e_rec[:] = self._invert(e_vis, flags)

    # -- resolution ----------------------------------------------------------------------------
    def sigma_over_e(self, e_vis: ArrayLike) -> np.ndarray:
        """Fractional resolution sigma/E at E_vis [MeV] (Eq. 3.1); needs energy_resolution."""
        if self.resolution is None:
            raise RecordNotFound(
                "energy scale: record 'energy_resolution' missing",
                hint="map 'energy_resolution' in the global tag to get sigma/E",
            )
        return self.resolution.sigma_over_e(e_vis)


# ------------------------------------------------------------------------------------------------
# caches (thread-safe LRU) for from_resolved
# ------------------------------------------------------------------------------------------------
class _LRU:
    """A small thread-safe least-recently-used cache."""

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._data: OrderedDict[Hashable, Any] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key]
            self.misses += 1
            return None

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._data.clear()
            self.hits = self.misses = 0


class ScaleCache:
    """The caches of :meth:`EnergyScale.from_resolved`, as one object: built scales keyed by
    (record, type, hash) tuples and policies, decoded payloads keyed by (type, hash), and objects
    derived from one payload (inverse tables, LPMT tables)."""

    def __init__(self, scales: int = 32, payloads: int = 128, derived: int = 64) -> None:
        self.scales = _LRU(scales)
        self.payloads = _LRU(payloads)
        self._derived = _LRU(derived)

    def derived(self, payload: BaseModel, what: Hashable, build: Callable[[], Any]) -> Any:
        """``build()``, memoised per payload object and ``what``; the entry holds the payload
        itself, so its id cannot be reused while the entry lives."""
        key = (id(payload), what)
        hit = self._derived.get(key)
        if hit is not None and hit[0] is payload:
            return hit[1]
        value = build()
        self._derived.put(key, (payload, value))
        return value

    def fetch_payload(self, type_name: str, digest: str,
                      fetch: Callable[[str], bytes]) -> BaseModel:
        """Decoded payload of ``digest``: cached, else fetched, hash-checked and decoded."""
        key = (type_name, digest)
        model = self.payloads.get(key)
        if model is not None:
            return model
        data = fetch(digest)
        if payload_hash(data) != digest:
            raise InvalidPayload(
                f"{type_name}: fetched bytes do not hash to {digest}",
                hint="the stored payload is corrupt; re-upload it",
            )
        model = decode_payload(type_name, data)
        self.payloads.put(key, model)
        return model

    def clear(self) -> None:
        for lru in (self.scales, self.payloads, self._derived):
            lru.clear()

    def stats(self) -> dict[str, tuple[int, int]]:
        """(hits, misses) of the energy-scale and the payload caches."""
        return {
            "scales": (self.scales.hits, self.scales.misses),
            "payloads": (self.payloads.hits, self.payloads.misses),
        }


#: The cache :meth:`EnergyScale.from_resolved` uses when given none (compatibility default).
DEFAULT_CACHE = ScaleCache()


class ConditionsSource(Protocol):
    """Anything that resolves a global tag and run and serves payload bytes: the local
    :class:`conditions.resolve.Resolver` and the HTTP :class:`ConditionsClient` both are."""

    def resolve(self, global_tag: str, run: int) -> Any: ...

    def payload(self, payload_hash: str) -> bytes: ...


class EnergyScales:
    """Energy scales of runs from a :class:`ConditionsSource`, with their own cache."""

    def __init__(self, source: ConditionsSource, *, outside_map: OutsideMap = "nan",
                 outside_range: OutsideRange = "nan", cache: ScaleCache | None = None) -> None:
        self.source = source
        self.outside_map: OutsideMap = outside_map
        self.outside_range: OutsideRange = outside_range
        self.cache = cache or ScaleCache()

    def for_run(self, global_tag: str, run: int) -> EnergyScale:
        """The energy scale of ``run`` under ``global_tag`` (built once per set of hashes)."""
        res = self.source.resolve(global_tag, run)
        return EnergyScale.from_resolved(res.records, self.source.payload,
                                         outside_map=self.outside_map,
                                         outside_range=self.outside_range, cache=self.cache)


def clear_caches() -> None:
    """Forget every cached energy scale and decoded payload of :data:`DEFAULT_CACHE`."""
    DEFAULT_CACHE.clear()


def cache_stats() -> dict[str, tuple[int, int]]:
    """(hits, misses) of :data:`DEFAULT_CACHE`'s energy-scale and payload caches."""
    return DEFAULT_CACHE.stats()
