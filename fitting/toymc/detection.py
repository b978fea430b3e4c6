"""Detection of energy deposits: deposits -> light -> PE, vertex (paper Eq. 2.1, 3.3 backwards).

For an event with secondary electrons i (kinetic T_i at x_i inside the LS, radius < R_LS):

    light      = sum_i E_vis^e(T_i) * g(x_i) * s(x_i)          (+ proton recoil for AmC)
                 with its Cherenkov part scaled by (1 + k eps) per event (track length)
    LPMT PE    ~ Poisson(Y0 (1 - f_S) light Q(x_c)) + Poisson(Delta Q_DR^LPMT)
    LPMT charge = single-PE smeared LPMT PE
    SPMT PE    ~ Poisson(Y0 f_S light) + Poisson(Delta Q_DR^SPMT)
    pe_total   = LPMT charge + SPMT PE                           (PE_tot of Eq. 3.3)

with E_vis^e the true electron response, g the true non-uniformity, s the source-assembly
shadowing (1 unless enabled), Q the QE-weighted collection of :mod:`fitting.toymc.pmts`, f_S the
SPMT share and x_c the visible-energy-weighted centroid (the true vertex). The reconstructed
vertex is x_c smeared with 8 cm / sqrt(E) mean distance. Deposits outside the LS are lost
(leakage). LPMT channels are linear here (the channel non-linearity is in the laser data only).
Columns produced: see :mod:`fitting.toymc.events`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from fitting.toymc.gammas import Deposits
from fitting.toymc.gmap import g_truth_xyz
from fitting.toymc.noise import dark_noise_pe, smear_charge
from fitting.toymc.pmts import LpmtChannels, lpmt_channels
from fitting.toymc.truth import DetectorTruth
from fitting.toymc.vertex import smear_vertex

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]
Columns = dict[str, NDArray[Any]]


@dataclass
class EventSums:
    """Per-event sums of the deposits of n events (MeV unless stated).

    vis: sum of E_vis^e (no g); light: sum of E_vis^e * g * shadowing (what the PMTs see, in
    centre-equivalent MeV); cherenkov: the Cherenkov part of ``light``; edep: kinetic energy
    deposited in the LS; centroid (n, 3): visible-energy-weighted true vertex [mm].
    """

    vis: FloatArray
    light: FloatArray
    cherenkov: FloatArray
    edep: FloatArray
    centroid: FloatArray

    def __len__(self) -> int:
        return int(self.vis.size)


def summarise(
    truth: DetectorTruth,
    dep: Deposits,
    source_mm: FloatArray | None = None,
    e_vis: FloatArray | None = None,
    e_cherenkov: FloatArray | None = None,
) -> EventSums:
    """Per-event :class:`EventSums` of deposits.

    Only deposits inside the LS count; light includes g (and shadowing when enabled).
    ``e_vis`` / ``e_cherenkov``: precomputed E_vis^e and its Cherenkov part per deposit.
    """
    r2 = np.einsum("ij,ij->i", dep.pos_mm, dep.pos_mm)
    inside = r2 < truth.gmap.r_ls_mm**2
    t_in = np.where(inside, dep.energy_mev, 0.0)
    if e_vis is None or e_cherenkov is None:
        e_vis, e_cherenkov = truth.electron_response_parts(dep.energy_mev)
    ev_dep = np.where(inside, e_vis, 0.0)
    ch_dep = e_cherenkov
    g_dep = np.where(inside, g_truth_xyz(dep.pos_mm, truth.gmap), 0.0)
    if source_mm is not None and truth.shadowing_amp > 0.0:
        dist = np.linalg.norm(dep.pos_mm - source_mm[None, :], axis=1)
        g_dep *= 1.0 - truth.shadowing_amp * np.exp(-dist / truth.shadowing_length_mm)
    vis = dep.per_event_sum(ev_dep)
    centroid = np.stack([dep.per_event_sum(ev_dep * dep.pos_mm[:, j]) for j in range(3)], axis=1)
    fallback = np.zeros(3) if source_mm is None else source_mm
    has = vis > 0.0
    centroid[has] /= vis[has, None]
    centroid[~has] = fallback
    return EventSums(vis, dep.per_event_sum(ev_dep * g_dep), dep.per_event_sum(ch_dep * g_dep),
                     dep.per_event_sum(t_in), centroid)


def detect(
    truth: DetectorTruth,
    dep: Deposits,
    rng: np.random.Generator,
    process: IntArray,
    source_mm: FloatArray | None = None,
    extra_vis_mev: FloatArray | None = None,
    collection: float | None = None,
    channels: LpmtChannels | None = None,
) -> Columns:
    """Turn deposits into detected-event columns (no trigger cut, no times).

    ``process``: (n_events,) codes; ``source_mm``: source position for shadowing and the
    recoil deposit; ``extra_vis_mev``: per-event extra visible energy deposited at the source
    (AmC proton recoil); ``collection``: Q for every event (a run at a fixed point), else Q is
    computed at each event's true vertex.
    """
    sums = summarise(truth, dep, source_mm)
    return detect_summary(truth, sums, rng, process, source_mm, extra_vis_mev, collection,
                          channels)


def detect_summary(
    truth: DetectorTruth,
    sums: EventSums,
    rng: np.random.Generator,
    process: IntArray,
    source_mm: FloatArray | None = None,
    extra_vis_mev: FloatArray | None = None,
    collection: float | None = None,
    channels: LpmtChannels | None = None,
) -> Columns:
    """Detected-event columns from per-event sums (see :func:`detect`).

    The Cherenkov light of each event is scaled by (1 + k eps), eps ~ N(0, 1),
    k = ``truth.cherenkov_fluctuation`` (track-length fluctuations, section 3.1), before the
    Poisson statistics of the PE.
    """
    n = len(sums)
    vis = sums.vis
    light = sums.light
    if truth.cherenkov_fluctuation > 0.0:
        light = light + truth.cherenkov_fluctuation * sums.cherenkov * rng.standard_normal(n)
        light = np.clip(light, 0.0, None)
    if extra_vis_mev is not None:
        src = np.zeros(3) if source_mm is None else source_mm
        in_ls = float(np.dot(src, src)) < truth.gmap.r_ls_mm**2
        g_src = float(g_truth_xyz(src, truth.gmap)) if in_ls else 0.0
        vis = vis + extra_vis_mev
        light = light + extra_vis_mev * g_src
    centroid = sums.centroid
    if collection is None:
        ch = channels if channels is not None else lpmt_channels(truth)
        q = ch.collection_factor(centroid)
    else:
        q = np.full(n, collection)
    y0 = truth.y0_pe_per_mev
    fs = truth.spmt_fraction
    n_l = rng.poisson(y0 * (1.0 - fs) * light * q) + rng.poisson(truth.lpmt_dark_noise_pe, n)
    pe_l = smear_charge(n_l, truth.spe_resolution, rng)
    pe_s = rng.poisson(y0 * fs * light) + dark_noise_pe(truth.spmt_dark_noise_pe, n, rng)
    reco = smear_vertex(centroid, light, truth.vertex_resolution_mm, rng)
    return {
        "pe_lpmt": pe_l.astype(np.float64),
        "pe_spmt": np.asarray(pe_s, dtype=np.float64),
        "pe_total": pe_l + pe_s,
        "x_mm": reco[:, 0],
        "y_mm": reco[:, 1],
        "z_mm": reco[:, 2],
        "mc_x_mm": centroid[:, 0],
        "mc_y_mm": centroid[:, 1],
        "mc_z_mm": centroid[:, 2],
        "mc_edep_mev": sums.edep,
        "mc_evis_mev": vis,
        "mc_process": np.asarray(process, dtype=np.int64),
    }
