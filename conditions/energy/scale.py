"""The energy scale of one set of payloads: PE, vertex -> E_vis (Eq. 3.3) -> E_rec (Eq. 2.4).

Records, policies and flags: see :mod:`conditions.energy`.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from enum import IntFlag
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike
from pydantic import BaseModel

from conditions.errors import InvalidPayload, RecordNotFound
from conditions.payloads import (
    DarkNoiseV2,
    EnergyNonlinearityV1,
    EnergyResolutionV1,
    LightYieldV1,
    LpmtNonlinearityV1,
    NonuniformityMapV1,
    type_of,
    upgrade,
)
from conditions.payloads.nonlinearity import visible_electron_energy
from fitting.physics.visible import visible_energy

from .cache import DEFAULT_CACHE, ScaleCache
from .inverse import InverseNonlinearity, _monotone_domain
from .lpmt import LpmtCorrection

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
            tuple((r, resolved[r].payload_type, resolved[r].payload_hash) for r in wanted),
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
