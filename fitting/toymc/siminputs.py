"""The mock's detector-simulation inputs, written as a Geant4 production would deliver them.

A comprehensive campaign's f_nonlin fit needs, from the detector simulation (docs/INPUTS.md):

* ``secondary_electrons``: the binned secondary-electron spectrum P(E^e) of every gamma source
  at the centre (Eq. 2.6), from :func:`fitting.toymc.gammas.secondary_electrons`, with the
  per-event electrons of the first :data:`SHARING_EVENTS` events (energy sharing, for the
  positron-resolution conversion of the ``energy_resolution`` job);
* ``b12_spectrum``: the true 12B kinetic-energy spectrum (:mod:`fitting.physics.b12`);
* ``an_recoil``: the relative shift of the (alpha, n) prompt-gamma peak by the accompanying
  recoil (section 2.3.4), from the truth's ``amc_recoil_bias`` (uncertainty: a quarter of it).

Written to ``simulation/`` with a version string; the manifest lists them with their SHA-256.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fitting.io import (
    SecondaryElectrons,
    sha256_file,
    write_an_recoil,
    write_b12_spectrum,
    write_secondary_electrons,
)
from fitting.physics.b12 import B12_Q_MEV, b12_spectrum
from fitting.physics.sources import GAMMA_SOURCES
from fitting.toymc.gammas import secondary_electrons
from fitting.toymc.truth import DetectorTruth

VERSION = "toymc-gammas/1"
#: gamma events simulated per source for P(E^e)
SPECTRUM_EVENTS = 50_000
#: of those, events whose electrons are stored one by one (energy-sharing sample)
SHARING_EVENTS = 20_000
N_BINS = 2000
E_MIN_MEV = 1e-5


def binned_spectrum(source: str, n_events: int, rng: np.random.Generator,
                    n_sharing: int = SHARING_EVENTS) -> SecondaryElectrons:
    """P(E^e) of ``source``: log bins from 10 eV, mean energy and electrons per event per bin;
    plus the electrons of the first ``n_sharing`` events one by one (with their event index)."""
    e_all, idx_all = secondary_electrons(source, n_events, rng)
    keep_ev = idx_all < min(n_sharing, n_events)
    e = e_all[e_all > 0]
    edges = np.geomspace(E_MIN_MEV, max(float(e.max()), E_MIN_MEV * 10) * (1 + 1e-9), N_BINS + 1)
    idx = np.clip(np.searchsorted(edges, e, side="right") - 1, 0, N_BINS - 1)
    cnt = np.bincount(idx, minlength=N_BINS).astype(np.float64)
    esum = np.bincount(idx, weights=e, minlength=N_BINS)
    keep = cnt > 0
    return SecondaryElectrons(source, GAMMA_SOURCES[source].total_energy,
                              esum[keep] / cnt[keep], cnt[keep] / n_events,
                              event_energy_mev=e_all[keep_ev], event_index=idx_all[keep_ev],
                              n_events=min(n_sharing, n_events))


def write_simulation_inputs(out: Path, truth: DetectorTruth, seed: int,
                            n_events: int = SPECTRUM_EVENTS) -> list[dict[str, Any]]:
    """Write the three inputs under ``out/simulation``; return their manifest entries."""
    sim = out / "simulation"
    sim.mkdir(parents=True, exist_ok=True)
    spectra = [binned_spectrum(name, n_events, np.random.default_rng([seed, 77, i]))
               for i, name in enumerate(GAMMA_SOURCES)]
    files = {
        "secondary_electrons": write_secondary_electrons(sim / "secondary_electrons.npz",
                                                         spectra),
    }
    edges = np.linspace(0.0, B12_Q_MEV, 1338)
    files["b12_spectrum"] = write_b12_spectrum(
        sim / "b12_spectrum.npz", edges, b12_spectrum(0.5 * (edges[1:] + edges[:-1])))
    shift = truth.amc_recoil_bias
    files["an_recoil"] = write_an_recoil(
        sim / "an_recoil.json", {"AmC": {"relative_shift": shift, "uncertainty": 0.25 * shift}})
    return [{"kind": kind, "file": str(p.relative_to(out)), "sha256": sha256_file(p),
             "version": VERSION, "events_per_source": n_events if kind != "an_recoil" else None}
            for kind, p in files.items()]
