"""What every job receives: the campaign's runs, settings, simulation inputs and earlier results.

Also the helpers the jobs share (provenance, peak windows, finite checks).  Jobs read files
through :mod:`fitting.io` only and never import the mock detector.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray
from pydantic import BaseModel

import conditions
from conditions.errors import InvalidInput
from fitting import io

FloatArray = NDArray[np.float64]
Progress = Callable[[str], None]
JobOutput = tuple[BaseModel, dict[str, Any]]

#: A peak needs this many events in its search range to be measured.
MIN_PEAK_EVENTS = 1000
#: The n-H peak of a neutron source (the fullest peak of its run) needs fewer.
MIN_NH_EVENTS = 100


@dataclass(frozen=True)
class JobSettings:
    """Settings of the campaign jobs (recorded in each payload's provenance).

    ``spe_resolution``: LPMT single-PE charge resolution sigma/mean; None = measured from the
    low-intensity laser steps (see :func:`fitting.dualcal.measure_spe_resolution`).
    """

    dark_window_ns: float = 350.0
    band_toys: int = 200
    band_jobs: int = 2
    peak_window_sigmas: float = 5.0
    spe_resolution: float | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class RunData:
    """One run of a manifest with its file path resolved."""

    info: dict[str, Any]
    path: Path

    @property
    def run(self) -> int:
        return int(self.info["run"])

    @property
    def source(self) -> str:
        return str(self.info["source"])

    @property
    def at_centre(self) -> bool:
        return float(self.info.get("r_mm", 1e9)) < 1.0 and not self.info.get("uniform", False)

    def input(self) -> dict[str, Any]:
        return {"run": self.run, "file": self.info["file"], "sha256": self.info["sha256"]}


@dataclass
class JobContext:
    """The state a campaign's jobs share while they run (in :func:`run_order` order)."""

    manifest: dict[str, Any]
    runs: list[RunData]
    settings: JobSettings
    simulation: io.SimulationInputs
    progress: Progress
    results: dict[str, JobOutput] = field(default_factory=dict)
    memo: dict[str, Any] = field(default_factory=dict)

    def payload(self, record: str) -> Any:
        """The payload model an earlier job produced for ``record`` (None if none)."""
        out = self.results.get(record)
        return None if out is None else out[0]

    def provenance(
        self, job: str, runs: list[RunData], quality: dict[str, Any],
        simulation_kinds: tuple[str, ...] = (),
    ) -> dict[str, Any]:
        """Provenance of one payload: job, code, campaign, input files + hashes, fit quality."""
        inputs = [r.input() for r in runs]
        inputs += [
            {"simulation": e["kind"], "file": e["file"], "sha256": e["sha256"],
             "version": e.get("version")}
            for e in self.simulation.entries if e.get("kind") in simulation_kinds
        ]
        return {
            "job": job,
            "code_version": code_version(),
            "campaign": self.manifest["campaign_id"],
            "inputs": inputs,
            "settings": self.settings.as_dict(),
            "fit_quality": quality,
        }


def code_version() -> str:
    return f"juno-conddb {conditions.__version__}"


def load_runs(manifest_path: Path) -> tuple[dict[str, Any], list[RunData]]:
    """The manifest (every file's SHA-256 verified) and its runs; a broken campaign raises
    :class:`InvalidInput` naming the problem."""
    try:
        manifest = io.load_manifest(manifest_path, verify=True)
    except (OSError, ValueError, KeyError) as exc:
        raise InvalidInput(
            f"broken campaign: {exc}",
            "re-copy the campaign files or re-run `conddb simulate campaign`",
        ) from None
    base = Path(manifest_path).parent
    return manifest, [RunData(r, base / r["file"]) for r in manifest["runs"]]


def finite(x: float, what: str = "chi2") -> float:
    """``x`` if finite; a failed fit (NaN chi2) must not be stored as a perfect one."""
    if not math.isfinite(x):
        raise InvalidInput(
            f"the {what} of a fit is not finite: the fit failed",
            "check the campaign's runs; nothing was stored",
        )
    return float(x)


def mode_window(
    x: FloatArray,
    lo: float,
    hi: float,
    rel_sigma: float,
    n_sigmas: float,
    min_events: int = MIN_PEAK_EVENTS,
) -> FloatArray:
    """Events within ``n_sigmas`` (relative width ``rel_sigma``) of the fullest bin in [lo, hi].

    Raises :class:`InvalidInput` when there is no peak: too few events, or the fullest bin at the
    edge of the search range (the flank of a neighbouring peak, not a peak of its own).
    """
    inside = x[(x > lo) & (x < hi)]
    if inside.size < min_events:
        raise InvalidInput(f"no peak between {lo:.4g} and {hi:.4g}", "check the source runs")
    counts, edges = np.histogram(inside, bins=100, range=(lo, hi))
    k = int(np.argmax(counts))
    if k < 5 or k > 94:
        raise InvalidInput(
            f"no peak between {lo:.4g} and {hi:.4g} (only a flank)", "check the source runs"
        )
    mode = 0.5 * (edges[k] + edges[k + 1])
    half = n_sigmas * rel_sigma * mode
    return x[np.abs(x - mode) < half]


def nh_peak_pe(pe: FloatArray, settings: JobSettings) -> FloatArray:
    """Events of the n-H capture peak (the fullest peak of a neutron source) [PE]."""
    rel = 1.2 / math.sqrt(max(float(np.median(pe)), 1.0))
    return mode_window(
        pe,
        0.5 * float(np.median(pe)),
        float(np.percentile(pe, 99.9)),
        max(rel, 0.02),
        settings.peak_window_sigmas,
        min_events=MIN_NH_EVENTS,
    )


def dark_offset(ctx: JobContext) -> float:
    """Delta Q_DR [PE] of the LPMT + SPMT sum (Eq. 3.3) from the dark-noise payload."""
    dark = ctx.payload("dark_noise")
    return float(dark.offset_lpmt + dark.offset_spmt)
