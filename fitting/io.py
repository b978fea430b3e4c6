"""Readers (and writers) of calibration event files: Parquet, CSV and ROOT TTrees.

One function reads every format: :func:`read_events` ``(path) -> dict[str, np.ndarray]``,
choosing by extension: ``.parquet`` (needs pyarrow), ``.csv`` (numpy only), ``.root``
(needs uproot; the first TTree - or RNTuple - of the file, or ``path:treename``).
Every column is a flat 1-D array; integer columns come back as int64, the others as float64.

Columns of calibration event files (written by :mod:`fitting.toymc`, the same a real campaign
would provide; ``mc_*`` columns exist only in simulated files):

======================  =======  ==============================================================
name                    unit     meaning
======================  =======  ==============================================================
event_id                -        running number inside the run
time_s                  s        time since the run start
pe_lpmt                 PE       LPMT charge incl. dark noise
pe_spmt                 PE       SPMT PE incl. dark noise
pe_total                PE       pe_lpmt + pe_spmt: PE_tot of Eq. 3.3 (E_vis = PE / Y0, Eq. 2.1)
x_mm, y_mm, z_mm        mm       reconstructed vertex
mc_x_mm, mc_y_mm, mc_z_mm mm     MC truth: true vertex (visible-energy centroid)
mc_edep_mev             MeV      MC truth: kinetic energy deposited in the LS
mc_evis_mev             MeV      MC truth: true visible energy (no g, no noise)
mc_process              -        MC truth: 0 random trigger, 1 source gamma, 2 n-H capture,
                                 3 n-C capture, 4 prompt gamma of AmBe/AmC, 5 12B, 6 positron,
                                 7 electron
======================  =======  ==============================================================

:func:`write_events` writes Parquet when pyarrow is importable and the path ends in
``.parquet``, CSV for ``.csv``; :func:`events_extension` tells which one is available.
:func:`sha256_file` gives the hash recorded in manifests and payload provenance.

Laser scans (``.npz``, :func:`read_laser_scan`): ``intensity_pe`` (S,) nominal mean PE per LPMT
at the centre; ``lpmt_mean`` (S, K) and ``lpmt_sem`` (S, K) mean LPMT charge per flash and its
standard error [PE]; ``spmt_total`` (S, F) SPMT total of each flash [PE]; ``position_mm`` (3,).

Campaign manifests (``manifest.json``, fields documented in :mod:`fitting.toymc.campaign`):
:func:`load_manifest` parses one, checks its format and, optionally, every file's SHA-256.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import json
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

Columns = dict[str, NDArray[Any]]

INTEGER_COLUMNS: frozenset[str] = frozenset({"event_id", "mc_process"})
"""Columns stored as integers."""

COLUMN_UNITS: dict[str, str] = {
    "event_id": "",
    "time_s": "s",
    "pe_lpmt": "PE",
    "pe_spmt": "PE",
    "pe_total": "PE",
    "x_mm": "mm",
    "y_mm": "mm",
    "z_mm": "mm",
    "mc_x_mm": "mm",
    "mc_y_mm": "mm",
    "mc_z_mm": "mm",
    "mc_edep_mev": "MeV",
    "mc_evis_mev": "MeV",
    "mc_process": "",
}
"""Unit of every standard column (empty for dimensionless / integer codes)."""


class EventFileError(ValueError):
    """An event file cannot be read: unknown format, missing optional reader, bad content."""


def have_parquet() -> bool:
    """True when pyarrow is importable (Parquet read/write available)."""
    return importlib.util.find_spec("pyarrow") is not None


def have_uproot() -> bool:
    """True when uproot is importable (ROOT TTree read available)."""
    return importlib.util.find_spec("uproot") is not None


def events_extension() -> str:
    """Preferred event-file extension: ``.parquet`` when pyarrow is available, else ``.csv``."""
    return ".parquet" if have_parquet() else ".csv"


def _normalise(cols: dict[str, Any]) -> Columns:
    out: Columns = {}
    for name, values in cols.items():
        arr = np.asarray(values)
        if name in INTEGER_COLUMNS or np.issubdtype(arr.dtype, np.integer):
            out[name] = arr.astype(np.int64)
        else:
            out[name] = arr.astype(np.float64)
    return out


def read_events(path: str | Path) -> Columns:
    """Read an event file (``.parquet``, ``.csv``, ``.root`` or ``file.root:tree``).

    Returns ``{column name: 1-D array}`` (units in the module docstring). Raises
    :class:`EventFileError` for an unknown extension, a missing optional reader or an empty /
    ragged file.
    """
    text = str(path)
    tree_name: str | None = None
    if ".root:" in text:
        text, tree_name = text.split(".root:", 1)
        text += ".root"
    p = Path(text)
    if not p.exists():
        raise EventFileError(f"{p}: no such file")
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        return _read_parquet(p)
    if suffix == ".csv":
        return _read_csv(p)
    if suffix == ".root":
        return _read_root(p, tree_name)
    raise EventFileError(f"{p}: unknown event-file extension {suffix!r} (parquet, csv, root)")


def _read_parquet(p: Path) -> Columns:
    if not have_parquet():
        raise EventFileError(f"{p}: reading Parquet needs pyarrow - pip install pyarrow")
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(p)
    except (pa.ArrowException, OSError) as exc:  # truncated or garbled file
        raise EventFileError(f"{p}: unreadable Parquet file ({exc})") from None
    return _normalise({name: table.column(name).to_numpy() for name in table.column_names})


def _read_csv(p: Path) -> Columns:
    with p.open(newline="") as fh:
        header = next(csv.reader(fh), None)
    if not header:
        raise EventFileError(f"{p}: empty CSV file (no header)")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # header-only file: no rows is valid
        data = np.loadtxt(p, delimiter=",", skiprows=1, ndmin=2, dtype=np.float64)
    if data.size and data.shape[1] != len(header):
        raise EventFileError(f"{p}: {data.shape[1]} values per row but {len(header)} columns")
    if data.size == 0:
        data = np.zeros((0, len(header)))
    return _normalise({name: data[:, i] for i, name in enumerate(header)})


def _read_root(p: Path, tree_name: str | None) -> Columns:
    if not have_uproot():
        raise EventFileError(f"{p}: reading ROOT files needs uproot - pip install uproot")
    import uproot

    with uproot.open(p) as f:
        if tree_name is None:
            trees = [k for k, c in f.classnames().items() if c in ("TTree", "ROOT::RNTuple")]
            if not trees:
                raise EventFileError(f"{p}: no TTree (or RNTuple) in the file")
            tree_name = trees[0].split(";")[0]
        tree = f[tree_name]
        arrays = tree.arrays(library="np")
    return _normalise(dict(arrays))


def write_events(path: str | Path, columns: Columns) -> Path:
    """Write event columns to ``path`` (``.parquet`` or ``.csv``); returns the path."""
    p = Path(path)
    lengths = {v.shape[0] for v in columns.values()}
    if len(lengths) > 1:
        raise EventFileError(f"{p}: columns of different lengths {sorted(lengths)}")
    cols = _normalise(columns)
    suffix = p.suffix.lower()
    if suffix == ".parquet":
        if not have_parquet():
            raise EventFileError(f"{p}: writing Parquet needs pyarrow - use a .csv path")
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.table(cols), p, compression="snappy")
    elif suffix == ".csv":
        names = list(cols)
        fmts = ["%d" if cols[n].dtype == np.int64 else "%.17g" for n in names]
        n_rows = next(iter(lengths)) if lengths else 0
        table = np.empty((n_rows, len(names)), dtype=object)
        for i, n in enumerate(names):
            table[:, i] = cols[n]
        np.savetxt(p, table, delimiter=",", header=",".join(names), comments="", fmt=fmts)
    else:
        raise EventFileError(f"{p}: cannot write extension {suffix!r} (parquet, csv)")
    return p


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of a file's bytes."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


LASER_KEYS: tuple[str, ...] = ("intensity_pe", "lpmt_mean", "lpmt_sem", "spmt_total",
                               "position_mm")
"""Arrays of a laser-scan ``.npz`` file."""
MANIFEST_FORMAT: str = "juno-conddb-campaign/1"


def read_laser_scan(path: str | Path) -> Columns:
    """Read a laser-scan ``.npz`` (keys :data:`LASER_KEYS`, float64 arrays)."""
    p = Path(path)
    if not p.exists():
        raise EventFileError(f"{p}: no such file")
    try:
        with np.load(p) as z:
            missing = [k for k in LASER_KEYS if k not in z.files]
            if missing:
                raise EventFileError(f"{p}: not a laser scan, missing {', '.join(missing)}")
            out = {k: z[k].astype(np.float64) for k in LASER_KEYS}
    except (OSError, ValueError) as exc:
        raise EventFileError(f"{p}: cannot read as .npz ({exc})") from exc
    s, k = out["lpmt_mean"].shape
    if out["intensity_pe"].shape != (s,) or out["lpmt_sem"].shape != (s, k) or \
            out["spmt_total"].shape[0] != s:
        raise EventFileError(f"{p}: inconsistent laser-scan array shapes")
    return out


def _refuse_constant(name: str) -> Any:
    raise EventFileError(f"{name} is not a number of a manifest")


def inside(base: Path, rel: object, manifest: Path) -> Path:
    """``base / rel`` if ``rel`` is a relative path that stays inside the campaign folder
    ``base`` (no absolute path, no ``..`` out of it, no symlink out of it)."""
    if not isinstance(rel, str) or not rel or Path(rel).is_absolute():
        raise EventFileError(f"{manifest}: file {rel!r} must be a path relative to the manifest")
    f = base / rel
    if not f.resolve().is_relative_to(base.resolve()):
        raise EventFileError(f"{manifest}: file {rel!r} lies outside the campaign folder")
    return f


def load_manifest(path: str | Path, verify: bool = True) -> dict[str, Any]:
    """Parse a campaign ``manifest.json``; with ``verify`` check every file's SHA-256.

    Adds ``"base_dir"`` (the manifest's directory, to resolve the relative ``file`` paths).
    Raises :class:`EventFileError` for a missing/garbled manifest, an unknown format, a missing
    data file or a hash mismatch (the file changed after the campaign was written).
    """
    p = Path(path)
    if not p.exists():
        raise EventFileError(f"{p}: no such manifest")
    try:
        doc = json.loads(p.read_text(), parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise EventFileError(f"{p}: not valid JSON ({exc.msg} at line {exc.lineno})") from exc
    if not isinstance(doc, dict) or doc.get("format") != MANIFEST_FORMAT:
        raise EventFileError(f"{p}: not a campaign manifest (format {MANIFEST_FORMAT!r})")
    base = p.parent
    if verify:
        files = [(r.get("file"), r.get("sha256")) for r in doc.get("runs", [])]
        files += [(s.get("file"), s.get("sha256")) for s in doc.get("simulation_inputs", [])]
        truth = doc.get("truth_file")
        if isinstance(truth, dict):
            files.append((truth.get("path"), truth.get("sha256")))
        for rel, digest in files:
            f = inside(base, rel, p)
            if not f.exists():
                raise EventFileError(f"{p}: data file {rel} is missing")
            if sha256_file(f) != digest:
                raise EventFileError(f"{p}: {rel} does not match its SHA-256 in the manifest")
    doc["base_dir"] = str(base)
    return doc


# --- declared detector-simulation inputs (docs/INPUTS.md) -------------------------------------
SIMULATION_KINDS: tuple[str, ...] = ("secondary_electrons", "b12_spectrum", "an_recoil")
"""Kinds of detector-simulation input a manifest may declare under ``simulation_inputs``."""


@dataclass(frozen=True)
class SecondaryElectrons:
    """Secondary-electron spectrum P(E^e) of one gamma source (Eq. 2.6), per gamma event.

    ``energy_mev`` (K,) mean kinetic energy of the electrons/positrons in each bin [MeV];
    ``counts`` (K,) electrons per source event in the bin; ``e_gamma_mev`` total gamma energy
    of one event [MeV].

    Optional per-event sample (the energy sharing among a gamma's electrons, which the binned
    spectrum loses; the positron-resolution conversion needs it): ``event_energy_mev`` (N,)
    kinetic energy of every electron/positron of ``n_events`` simulated events [MeV] and
    ``event_index`` (N,) the event (0..n_events-1) each belongs to. None when not provided.
    """

    source: str
    e_gamma_mev: float
    energy_mev: NDArray[np.float64]
    counts: NDArray[np.float64]
    event_energy_mev: NDArray[np.float64] | None = None
    event_index: NDArray[np.int64] | None = None
    n_events: int = 0

    @property
    def has_events(self) -> bool:
        """True when the per-event sample is present."""
        return self.event_energy_mev is not None and self.event_index is not None


@dataclass(frozen=True)
class SimulationInputs:
    """The detector-simulation inputs of a campaign (all optional) and their manifest entries.

    ``secondary``: source name -> spectrum; ``b12_edges_mev`` (K+1,), ``b12_density`` (K,):
    true 12B kinetic-energy spectrum; ``an_recoil``: peak name -> {"relative_shift",
    "uncertainty"} of the (alpha, n) prompt-gamma peak; ``entries``: the manifest entries
    (kind, file, sha256, version) for provenance.
    """

    secondary: dict[str, SecondaryElectrons]
    b12_edges_mev: NDArray[np.float64] | None
    b12_density: NDArray[np.float64] | None
    an_recoil: dict[str, dict[str, float]]
    entries: tuple[dict[str, Any], ...]


def write_secondary_electrons(path: str | Path, spectra: list[SecondaryElectrons]) -> Path:
    """Write secondary-electron spectra as compressed ``.npz``: ``sources`` and, per source,
    ``<src>__energy_mev``, ``<src>__counts``, ``<src>__e_gamma_mev`` (little-endian float64) and,
    when the spectrum has its per-event sample, ``<src>__event_energy_mev`` (float32),
    ``<src>__event_index`` (int32) and ``<src>__n_events``."""
    arrays: dict[str, NDArray[Any]] = {"sources": np.array([s.source for s in spectra])}
    for s in spectra:
        arrays[f"{s.source}__energy_mev"] = np.asarray(s.energy_mev, dtype="<f8")
        arrays[f"{s.source}__counts"] = np.asarray(s.counts, dtype="<f8")
        arrays[f"{s.source}__e_gamma_mev"] = np.array(s.e_gamma_mev, dtype="<f8")
        if s.event_energy_mev is not None and s.event_index is not None:
            arrays[f"{s.source}__event_energy_mev"] = np.asarray(s.event_energy_mev, dtype="<f4")
            arrays[f"{s.source}__event_index"] = np.asarray(s.event_index, dtype="<i4")
            arrays[f"{s.source}__n_events"] = np.array(s.n_events, dtype="<i8")
    p = Path(path)
    with p.open("wb") as fh:  # a file object: numpy would append ".npz" to another suffix
        np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]
    return p


def write_b12_spectrum(path: str | Path, edges_mev: NDArray[Any], density: NDArray[Any]) -> Path:
    """Write a 12B kinetic-energy spectrum ``.npz``: ``edges_mev`` (K+1,), ``density`` (K,)."""
    p = Path(path)
    np.savez(p, edges_mev=np.asarray(edges_mev, dtype="<f8"),
             density=np.asarray(density, dtype="<f8"))
    return p


def write_an_recoil(path: str | Path, shifts: dict[str, dict[str, float]]) -> Path:
    """Write (alpha, n) recoil corrections as JSON: {peak: {relative_shift, uncertainty}}."""
    p = Path(path)
    p.write_text(json.dumps(shifts, indent=1, sort_keys=True) + "\n")
    return p


def _read_events_of(z: Any, p: Path, src: str) -> tuple[
    NDArray[np.float64] | None, NDArray[np.int64] | None, int
]:
    """The optional per-event sample of ``src`` (energies, event index, number of events)."""
    keys = [f"{src}__{k}" for k in ("event_energy_mev", "event_index", "n_events")]
    present = [k in z.files for k in keys]
    if not any(present):
        return None, None, 0
    if not all(present):
        raise EventFileError(f"{p}: {src}: event_energy_mev, event_index and n_events go "
                             "together (missing "
                             + ", ".join(k for k, h in zip(keys, present, strict=True) if not h)
                             + ")")
    e = z[keys[0]].astype(np.float64)
    idx = z[keys[1]].astype(np.int64)
    n = int(z[keys[2]])
    if (e.shape != idx.shape or e.ndim != 1 or n < 2 or np.any(e < 0)
            or (idx.size and (int(idx.min()) < 0 or int(idx.max()) >= n))):
        raise EventFileError(f"{p}: {src}: event_energy_mev >= 0 and event_index in "
                             "0..n_events-1 of the same shape, n_events >= 2")
    return e, idx, n


def _read_secondary(p: Path) -> dict[str, SecondaryElectrons]:
    out: dict[str, SecondaryElectrons] = {}
    with np.load(p, allow_pickle=False) as z:
        if "sources" not in z.files:
            raise EventFileError(f"{p}: not a secondary-electron file (no 'sources' array)")
        for src in (str(s) for s in z["sources"]):
            keys = [f"{src}__{k}" for k in ("energy_mev", "counts", "e_gamma_mev")]
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise EventFileError(f"{p}: missing {', '.join(missing)}")
            e, c = z[keys[0]].astype(np.float64), z[keys[1]].astype(np.float64)
            if e.shape != c.shape or e.ndim != 1 or np.any(e <= 0) or np.any(c < 0):
                raise EventFileError(f"{p}: {src}: energy_mev > 0 and counts >= 0, same shape")
            ev, idx, n = _read_events_of(z, p, src)
            out[src] = SecondaryElectrons(src, float(z[keys[2]]), e, c, ev, idx, n)
    return out


def read_simulation_inputs(manifest: dict[str, Any]) -> SimulationInputs:
    """Read the ``simulation_inputs`` a loaded manifest declares (hashes checked on load).

    Raises :class:`EventFileError` for an unknown kind, a duplicate kind or a bad file.
    """
    base = Path(str(manifest.get("base_dir", ".")))
    entries = tuple(manifest.get("simulation_inputs", []) or [])
    secondary: dict[str, SecondaryElectrons] = {}
    edges = density = None
    recoil: dict[str, dict[str, float]] = {}
    seen: set[str] = set()
    for entry in entries:
        kind = str(entry.get("kind"))
        if kind not in SIMULATION_KINDS:
            raise EventFileError(
                f"simulation input {entry.get('file')}: unknown kind {kind!r} "
                f"(one of {', '.join(SIMULATION_KINDS)})")
        if kind in seen:
            raise EventFileError(f"simulation input kind {kind!r} declared twice")
        seen.add(kind)
        p = base / str(entry["file"])
        try:
            if kind == "secondary_electrons":
                secondary = _read_secondary(p)
            elif kind == "b12_spectrum":
                with np.load(p, allow_pickle=False) as z:
                    edges = z["edges_mev"].astype(np.float64)
                    density = z["density"].astype(np.float64)
                if edges.ndim != 1 or density.shape != (edges.size - 1,):
                    raise EventFileError(f"{p}: edges_mev (K+1,) and density (K,) expected")
            else:
                doc = json.loads(p.read_text())
                recoil = {str(k): {"relative_shift": float(v["relative_shift"]),
                                   "uncertainty": float(v.get("uncertainty", 0.0))}
                          for k, v in doc.items()}
        except (OSError, KeyError, ValueError, TypeError) as exc:
            if isinstance(exc, EventFileError):
                raise
            raise EventFileError(f"{p}: cannot read {kind} input ({exc})") from exc
    return SimulationInputs(secondary, edges, density, recoil, entries)
