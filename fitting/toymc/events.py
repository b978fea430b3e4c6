"""Event generators: calibration sources, 12B, positrons, electrons, random triggers.

Each generator returns a dict of columns (below) built by :mod:`fitting.toymc.detection`
(deposits -> PE, Eq. 3.3 backwards). Events below ``TRIGGER_THRESHOLD_PE`` total PE are not
recorded (except for random triggers and the validation samples).

Event columns (all 1-D numpy arrays of the same length; see also :mod:`fitting.io`):

======================  =======  ==============================================================
name                    unit     meaning
======================  =======  ==============================================================
event_id                -        running number inside the run (int64)
time_s                  s        time since the start of the run (float64)
pe_lpmt                 PE       LPMT charge incl. dark noise
pe_spmt                 PE       SPMT PE incl. dark noise
pe_total                PE       pe_lpmt + pe_spmt (PE_tot of Eq. 3.3)
x_mm, y_mm, z_mm        mm       reconstructed vertex
mc_x_mm, mc_y_mm, mc_z_mm mm     MC truth: true vertex (visible-energy centroid)
mc_edep_mev             MeV      MC truth: kinetic energy deposited in the LS
mc_evis_mev             MeV      MC truth: sum of E_vis^e (no g, no noise; recoil included)
mc_process              -        MC truth: process code, :data:`PROCESS_CODES` (int64)
======================  =======  ==============================================================
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fitting.toymc.beta12b import sample_b12_kinetic, uniform_in_sphere
from fitting.toymc.detection import EventSums, detect, detect_summary, summarise
from fitting.toymc.gammas import GAMMA_SOURCES, Deposits, simulate_source_deposits
from fitting.toymc.library import library_events, library_summary, response_key
from fitting.toymc.noise import dark_noise_pe, smear_charge
from fitting.toymc.pmts import lpmt_channels
from fitting.toymc.positrons import positron_deposits
from fitting.toymc.truth import DetectorTruth

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Columns = dict[str, NDArray[Any]]

PROCESS_CODES: dict[str, int] = {
    "random": 0,
    "gamma": 1,
    "nH": 2,
    "nC": 3,
    "prompt": 4,
    "B12": 5,
    "positron": 6,
    "electron": 7,
}
"""mc_process codes: random trigger, source gamma line, n-H capture, n-C capture, prompt gamma
of an (alpha, n) source, 12B decay, positron, electron."""

EVENT_COLUMNS: tuple[str, ...] = (
    "event_id", "time_s", "pe_lpmt", "pe_spmt", "pe_total", "x_mm", "y_mm", "z_mm",
    "mc_x_mm", "mc_y_mm", "mc_z_mm", "mc_edep_mev", "mc_evis_mev", "mc_process",
)
"""Column order of event files."""

TRIGGER_THRESHOLD_PE: float = 400.0
"""Trigger threshold on pe_total [PE] (~0.16 MeV above the 185 PE dark-noise pedestal)."""
SOURCE_RATE_HZ: float = 100.0
"""Calibration-source decay (or neutron) rate [1/s] (paper section 5)."""
CAPTURE_TIME_S: float = 200.0e-6
"""Mean neutron capture time [s]."""
LIBRARY_SIZE: int = 300_000
"""Events in the cached n-H deposit library used for off-centre high-statistics runs."""
LIBRARY_MIN_EVENTS: int = 20_000
"""Off-centre runs with at least this many decays sample the libraries by default."""


def _finish(cols: Columns, times: FloatArray, n_events: int) -> Columns:
    """Apply the trigger, sort by time, keep the first ``n_events``, number them."""
    keep = cols["pe_total"] >= TRIGGER_THRESHOLD_PE
    order = np.argsort(np.where(keep, times, np.inf), kind="stable")[: int(keep.sum())]
    order = order[:n_events]
    out: Columns = {"event_id": np.arange(order.size, dtype=np.int64), "time_s": times[order]}
    for k, v in cols.items():
        out[k] = v[order]
    return {k: out[k] for k in EVENT_COLUMNS}


def concat_columns(parts: list[Columns]) -> Columns:
    """Concatenate column dicts with the same keys."""
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


# ---------------------------------------------------------------------------- generators
def random_trigger_events(truth: DetectorTruth, n_events: int, rng: np.random.Generator,
                          rate_hz: float = 50.0) -> Columns:
    """Random triggers (periodic at ``rate_hz``): dark noise only, no trigger cut."""
    pe_l = smear_charge(rng.poisson(truth.lpmt_dark_noise_pe, n_events), truth.spe_resolution,
                        rng)
    pe_s = dark_noise_pe(truth.spmt_dark_noise_pe, n_events, rng)
    zeros = np.zeros(n_events)
    cols: Columns = {
        "event_id": np.arange(n_events, dtype=np.int64),
        "time_s": np.arange(n_events) / rate_hz,
        "pe_lpmt": pe_l.astype(np.float64),
        "pe_spmt": pe_s,
        "pe_total": pe_l + pe_s,
        "x_mm": zeros, "y_mm": zeros, "z_mm": zeros,
        "mc_x_mm": zeros, "mc_y_mm": zeros, "mc_z_mm": zeros,
        "mc_edep_mev": zeros, "mc_evis_mev": zeros,
        "mc_process": np.full(n_events, PROCESS_CODES["random"], dtype=np.int64),
    }
    return cols


def _gamma_summary(
    truth: DetectorTruth,
    source: str,
    origins_mm: FloatArray,
    rng: np.random.Generator,
    use_library: bool,
    library_seed: int,
    source_mm: FloatArray,
    enclosure: bool,
) -> EventSums:
    """:class:`EventSums` of one gamma event of ``source`` at each origin."""
    loss = truth.enclosure_loss_prob if enclosure else 0.0
    if use_library:
        size = LIBRARY_SIZE if source == "nH" else LIBRARY_SIZE // 3
        lib = library_summary(source, size, library_seed + sum(map(ord, source)), loss,
                              response_key(truth))
        return library_events(truth, lib, origins_mm, rng, source_mm)
    dep = simulate_source_deposits(source, origins_mm.shape[0], rng, origin_mm=origins_mm,
                                   enclosure_loss_prob=loss)
    return summarise(truth, dep, source_mm)


def source_events(
    truth: DetectorTruth,
    source: str,
    position_mm: ArrayLike,
    n_decays: int,
    rng: np.random.Generator,
    rate_hz: float = SOURCE_RATE_HZ,
    library_seed: int = 7,
    collection: float | None = None,
    use_library: bool | None = None,
) -> Columns:
    """Triggered events of ``n_decays`` decays of a source deployed at ``position_mm`` [mm].

    ``source``: a gamma source of :data:`fitting.toymc.gammas.GAMMA_SOURCES` (Cs137, Mn54,
    Co60, K40, Ge68, ...: one event per decay) or a neutron source (AmC, AmBe: per neutron,
    one capture event - n-H with probability ``truth.nh_capture_fraction``, else n-C - at a
    Gaussian displacement of mean distance ``truth.neutron_capture_distance_mm``, plus, with
    the source's ``prompt_fraction``, a prompt-gamma event; AmC prompt events carry the
    proton-recoil bias). Decays are Poisson in time at ``rate_hz``; captures are delayed by
    Exp(200 us). Events below the trigger threshold (e.g. gammas leaking out of the LS at the
    boundary) are dropped, so the number of rows differs from ``n_decays``.
    ``collection``: Q at the position (computed when None). ``use_library``: sample n-H and
    prompt gammas from cached deposit libraries (:func:`library_events`) instead of fresh
    cascades; default: when off-centre and n_decays >= :data:`LIBRARY_MIN_EVENTS`. Fresh
    cascades keep every event independent (use them for precision runs at the centre).
    """
    src = GAMMA_SOURCES[source]
    pos = np.asarray(position_mm, dtype=np.float64)
    q = collection if collection is not None else float(
        lpmt_channels(truth).collection_factor(pos[None, :])[0]
    )
    if use_library is None:
        use_library = n_decays >= LIBRARY_MIN_EVENTS and float(np.dot(pos, pos)) > 1.0
    decay_t = np.cumsum(rng.exponential(1.0 / rate_hz, n_decays))
    parts: list[Columns] = []
    times: list[FloatArray] = []
    if src.neutron:
        sigma = truth.neutron_capture_distance_mm / (2.0 * np.sqrt(2.0 / np.pi))
        origins = pos[None, :] + sigma * rng.standard_normal((n_decays, 3))
        on_h = rng.random(n_decays) < truth.nh_capture_fraction
        for name, mask in (("nH", on_h), ("nC", ~on_h)):
            idx = np.flatnonzero(mask)
            if idx.size == 0:
                continue
            summ = _gamma_summary(truth, name, origins[idx], rng, use_library and name == "nH",
                                  library_seed, pos, enclosure=False)
            codes = np.full(idx.size, PROCESS_CODES[name], dtype=np.int64)
            parts.append(detect_summary(truth, summ, rng, codes, pos, collection=q))
            times.append(decay_t[idx] + rng.exponential(CAPTURE_TIME_S, idx.size))
        has_prompt = np.flatnonzero(rng.random(n_decays) < src.prompt_fraction)
        if has_prompt.size:
            origins_p = np.broadcast_to(pos, (has_prompt.size, 3)).copy()
            summ = _gamma_summary(truth, source, origins_p, rng, use_library, library_seed, pos,
                                  enclosure=True)
            extra = None
            if source == "AmC" and truth.amc_recoil_bias > 0.0:
                mean_vis = float(summ.vis.mean())
                extra = rng.exponential(truth.amc_recoil_bias * mean_vis, has_prompt.size)
            codes_p = np.full(has_prompt.size, PROCESS_CODES["prompt"], dtype=np.int64)
            parts.append(detect_summary(truth, summ, rng, codes_p, pos, extra, collection=q))
            times.append(decay_t[has_prompt])
    else:
        origins_g = np.broadcast_to(pos, (n_decays, 3)).copy()
        summ = _gamma_summary(truth, source, origins_g, rng, False, library_seed, pos,
                              enclosure=True)
        codes_g = np.full(n_decays, PROCESS_CODES["gamma"], dtype=np.int64)
        parts.append(detect_summary(truth, summ, rng, codes_g, pos, collection=q))
        times.append(decay_t)
    all_cols = concat_columns(parts)
    return _finish(all_cols, np.concatenate(times), all_cols["pe_total"].size)


def b12_events(truth: DetectorTruth, n_events: int, rng: np.random.Generator,
               rate_per_day: float = 1000.0) -> Columns:
    """``n_events`` 12B decays uniform in the LS (paper section 2.1.3), ~1000 per day.

    Each decay is one electron deposit at its vertex (bremsstrahlung leakage near the wall
    neglected). Q is computed per event. Times are Poisson at ``rate_per_day``.
    """
    t_kin = sample_b12_kinetic(n_events, rng)
    pos = uniform_in_sphere(n_events, truth.gmap.r_ls_mm, rng)
    dep = Deposits(t_kin, np.arange(n_events, dtype=np.int64), pos, n_events)
    cols = detect(truth, dep, rng, np.full(n_events, PROCESS_CODES["B12"], dtype=np.int64))
    times = np.cumsum(rng.exponential(86_400.0 / rate_per_day, n_events))
    return _finish(cols, times, n_events)


def positron_events(truth: DetectorTruth, kinetic_mev: float, n_events: int,
                    rng: np.random.Generator, position_mm: ArrayLike | None = None) -> Columns:
    """Mono-energetic positrons (validation, Figure 2) at ``position_mm`` or uniform in the LS
    when ``position_mm`` is None. No trigger cut (all events returned)."""
    if position_mm is None:
        origin = uniform_in_sphere(n_events, truth.gmap.r_ls_mm, rng)
        q = None
    else:
        src = np.asarray(position_mm, dtype=np.float64)
        origin = np.broadcast_to(src, (n_events, 3)).copy()
        q = float(lpmt_channels(truth).collection_factor(src[None, :])[0])
    dep = positron_deposits(np.full(n_events, kinetic_mev), rng, origin)
    codes = np.full(n_events, PROCESS_CODES["positron"], dtype=np.int64)
    cols = detect(truth, dep, rng, codes, collection=q)
    cols["event_id"] = np.arange(n_events, dtype=np.int64)
    cols["time_s"] = np.zeros(n_events)
    return {k: cols[k] for k in EVENT_COLUMNS}


def electron_events(truth: DetectorTruth, kinetic_mev: float, n_events: int,
                    rng: np.random.Generator, position_mm: ArrayLike | None = None) -> Columns:
    """Mono-energetic electrons (single deposit) at ``position_mm``, or uniform in the LS when
    ``position_mm`` is None. No trigger cut (all events returned)."""
    if position_mm is None:
        pos = uniform_in_sphere(n_events, truth.gmap.r_ls_mm, rng)
        q = None
    else:
        src = np.asarray(position_mm, dtype=np.float64)
        pos = np.broadcast_to(src, (n_events, 3)).copy()
        q = float(lpmt_channels(truth).collection_factor(src[None, :])[0])
    dep = Deposits(np.full(n_events, float(kinetic_mev)), np.arange(n_events, dtype=np.int64),
                   pos, n_events)
    codes = np.full(n_events, PROCESS_CODES["electron"], dtype=np.int64)
    cols = detect(truth, dep, rng, codes, collection=q)
    cols["event_id"] = np.arange(n_events, dtype=np.int64)
    cols["time_s"] = np.zeros(n_events)
    return {k: cols[k] for k in EVENT_COLUMNS}


__all__ = [
    "EVENT_COLUMNS", "PROCESS_CODES", "TRIGGER_THRESHOLD_PE", "b12_events", "detect",
    "detect_summary", "electron_events", "positron_events", "random_trigger_events",
    "source_events", "summarise",
]
