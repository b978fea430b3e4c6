"""Event-file readers and writers (fitting/io.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fitting.io import (
    COLUMN_UNITS,
    EventFileError,
    SecondaryElectrons,
    have_parquet,
    read_events,
    sha256_file,
    write_events,
)
from fitting.toymc.events import EVENT_COLUMNS


def _columns(n: int = 50) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(0)
    cols: dict[str, np.ndarray] = {k: rng.normal(size=n) * 1e3 for k in EVENT_COLUMNS}
    cols["event_id"] = np.arange(n, dtype=np.int64)
    cols["mc_process"] = rng.integers(0, 8, n)
    return cols


def test_every_event_column_has_a_unit() -> None:
    assert set(EVENT_COLUMNS) == set(COLUMN_UNITS)


@pytest.mark.parametrize("ext", [".csv", ".parquet"])
def test_round_trip_is_exact(tmp_path: Path, ext: str) -> None:
    if ext == ".parquet" and not have_parquet():
        pytest.skip("pyarrow not installed")
    cols = _columns()
    path = write_events(tmp_path / f"ev{ext}", cols)
    back = read_events(path)
    assert list(back) == list(cols)
    for k, v in cols.items():
        np.testing.assert_array_equal(back[k], v)
        assert back[k].dtype == (np.int64 if k in ("event_id", "mc_process") else np.float64)


def test_empty_csv_keeps_the_columns(tmp_path: Path) -> None:
    cols = {k: v[:0] for k, v in _columns().items()}
    back = read_events(write_events(tmp_path / "e.csv", cols))
    assert list(back) == list(cols) and all(v.size == 0 for v in back.values())


def test_errors_say_what_is_wrong(tmp_path: Path) -> None:
    with pytest.raises(EventFileError, match="no such file"):
        read_events(tmp_path / "missing.csv")
    (tmp_path / "x.txt").write_text("a\n1\n")
    with pytest.raises(EventFileError, match="unknown event-file extension"):
        read_events(tmp_path / "x.txt")
    with pytest.raises(EventFileError, match="different lengths"):
        write_events(tmp_path / "bad.csv", {"a": np.zeros(2), "b": np.zeros(3)})
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(EventFileError, match="empty"):
        read_events(tmp_path / "empty.csv")


def test_root_ttree_is_read_with_uproot(tmp_path: Path) -> None:
    uproot = pytest.importorskip("uproot")
    cols = _columns()
    path = tmp_path / "ev.root"
    with uproot.recreate(path) as f:
        f.mktree("events", {k: v.dtype for k, v in cols.items()})
        f["events"].extend(cols)
        f["other"] = {"a": np.arange(3.0)}  # an RNTuple after the TTree
    for target in (path, f"{path}:events"):
        back = read_events(target)
        assert list(back) == list(cols)
        for k, v in cols.items():
            np.testing.assert_array_equal(back[k], v)
    np.testing.assert_array_equal(read_events(f"{path}:other")["a"], np.arange(3.0))


def test_sha256_of_a_file(tmp_path: Path) -> None:
    p = tmp_path / "f.bin"
    p.write_bytes(b"abc")
    assert sha256_file(p) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_manifest_and_laser_scan_readers(tmp_path: Path) -> None:
    from fitting.io import load_manifest, read_laser_scan
    from fitting.toymc.campaign import write_campaign

    manifest = write_campaign("weekly", 1, tmp_path / "c", seed=4, scale=0.01, n_flashes=3)
    doc = load_manifest(manifest)
    base = Path(doc["base_dir"])
    laser = [r for r in doc["runs"] if r["data_kind"] == "laser"]
    scan = read_laser_scan(base / laser[0]["file"])
    assert scan["lpmt_mean"].shape == (10, 17_612) and scan["spmt_total"].shape == (10, 3)
    with pytest.raises(EventFileError, match="not a laser scan"):
        np.savez(tmp_path / "x.npz", a=np.zeros(2))
        read_laser_scan(tmp_path / "x.npz")
    # a modified data file is detected
    events = next(r for r in doc["runs"] if r["data_kind"] == "events")
    target = base / events["file"]
    target.write_bytes(target.read_bytes() + b" ")
    with pytest.raises(EventFileError, match="does not match its SHA-256"):
        load_manifest(manifest)
    assert load_manifest(manifest, verify=False)["kind"] == "weekly"
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(EventFileError, match="not valid JSON"):
        load_manifest(tmp_path / "bad.json")


def _secondary_manifest(tmp_path: Path, spectra: list[SecondaryElectrons]) -> dict[str, object]:
    from fitting.io import write_secondary_electrons

    p = write_secondary_electrons(tmp_path / "secondary_electrons.npz", spectra)
    return {"base_dir": str(tmp_path), "simulation_inputs": [
        {"kind": "secondary_electrons", "file": p.name, "sha256": sha256_file(p)}]}


def test_secondary_electrons_keep_the_per_event_sample(tmp_path: Path) -> None:
    """The per-event electrons (energy sharing, docs/INPUTS.md section 4) survive the file: the
    sharing deviations computed from the file equal those of the arrays written."""
    from fitting.io import read_simulation_inputs
    from fitting.physics.resolution import sharing_deviations

    rng = np.random.default_rng(1)
    n = 500
    idx = np.sort(rng.integers(0, n, 4000))
    e = rng.exponential(0.1, idx.size)
    with_events = SecondaryElectrons("Cs137", 0.6617, np.array([0.1, 0.5]), np.array([2.0, 1.0]),
                                     e, idx, n)
    binned_only = SecondaryElectrons("nH", 2.223, np.array([0.2, 1.0]), np.array([3.0, 1.5]))
    sim = read_simulation_inputs(_secondary_manifest(tmp_path, [with_events, binned_only]))
    got = sim.secondary["Cs137"]
    assert got.has_events and got.n_events == n
    assert np.array_equal(got.event_index, idx)
    p = (1.0, 0.005, 0.8, 0.0)
    # float32 energies in the file: the sharing deviations agree to ~1e-7 MeV
    np.testing.assert_allclose(sharing_deviations(got.event_energy_mev, got.event_index, n, p),
                               sharing_deviations(e, idx, n, p), atol=1e-6)
    assert not sim.secondary["nH"].has_events
    np.testing.assert_array_equal(sim.secondary["nH"].counts, [3.0, 1.5])


def test_secondary_electrons_refuse_a_partial_or_bad_sample(tmp_path: Path) -> None:
    from fitting.io import read_simulation_inputs

    bad = SecondaryElectrons("Cs137", 0.6617, np.array([0.1]), np.array([1.0]),
                             np.array([0.1, 0.2]), np.array([0, 7]), 5)  # index 7 >= n_events
    with pytest.raises(EventFileError, match=r"event_index in 0\.\.n_events-1"):
        read_simulation_inputs(_secondary_manifest(tmp_path, [bad]))
    ok = SecondaryElectrons("Cs137", 0.6617, np.array([0.1]), np.array([1.0]))
    m = _secondary_manifest(tmp_path, [ok])
    arrays = dict(np.load(tmp_path / "secondary_electrons.npz"))
    arrays["Cs137__event_energy_mev"] = np.array([0.1])
    np.savez(tmp_path / "secondary_electrons.npz", **arrays)
    with pytest.raises(EventFileError, match="go together"):
        read_simulation_inputs(m)
