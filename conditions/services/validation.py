"""Validation of a global tag over a run range: the checks and the stored report (issue 18).

Checks (each ``{name, passed, detail}``; ``passed`` None = not run):

* ``coverage``: every record covers every run of ``A..B`` (no gap, no run before the first IOV);
* ``payloads``: every payload in force over the range decodes with its schema;
* ``energy_scale``: :class:`conditions.energy.EnergyScale` builds at sample runs across the
  range (skipped when the map has no energy records);
* ``positrons``: with a reference sample (true energies + observables), the relative bias of the
  mean reconstructed energy, ``mean(E_rec) / mean(E_true) - 1`` per true energy, is within
  ``tolerance`` at every sample run (not run without a sample);
* ``drift``: the drift flags of the global tag (:func:`conditions.drift.track`) that nobody has
  acknowledged (``conddb trend ack``) fail the check.

The report (who, when, code version, result per check, hash of the map checked) is stored
immutably by :func:`validate`, in the caller's transaction.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

import conditions

from .. import iov, store
from ..errors import ConddbError
from ..resolve import resolve
from ..store.drift_acks import acknowledged_flags, add_drift_ack
from . import lifecycle

if TYPE_CHECKING:  # type hints only: numpy is imported where used (workers start without it)
    import numpy as np

    from ..db.model import ValidationReport

#: Default positron tolerance: |relative bias| of the mean reconstructed energy (paper: ±0.2 %
#: at the detector level; the sample statistics add to it, so the default leaves headroom).
DEFAULT_TOLERANCE = 0.005
ENERGY_RECORDS = ("light_yield", "dark_noise", "energy_nonlinearity")


@dataclass(frozen=True)
class PositronSample:
    """Reference positron events: true kinetic energy [MeV], total PE, vertex [m] (arrays (n,))."""

    e_true: np.ndarray
    pe_total: np.ndarray
    x: np.ndarray
    y: np.ndarray
    z: np.ndarray

    @classmethod
    def load(cls, path: str) -> PositronSample:
        """From an ``.npz`` with arrays ``e_true``, ``pe_total``, ``x_m``, ``y_m``, ``z_m``."""
        import numpy as np

        try:
            with np.load(path) as f:
                return cls(f["e_true"], f["pe_total"], f["x_m"], f["y_m"], f["z_m"])
        except (OSError, KeyError, ValueError) as exc:
            raise conditions.errors.InvalidInput(
                f"cannot read reference sample {path}: {exc}",
                "give an .npz with e_true, pe_total, x_m, y_m, z_m",
            ) from None


@dataclass
class Options:
    """How to validate: sample runs, positron sample/tolerance, who, code version."""

    who: str
    sample_runs: int = 5
    positrons: PositronSample | None = None
    #: per-run reference samples instead of one (e.g. a mock detector at each run's day)
    positrons_at: Callable[[int], PositronSample] | None = None
    tolerance: float = DEFAULT_TOLERANCE
    code_version: str = field(default_factory=lambda: f"juno-conddb {conditions.__version__}")


def _check(name: str, passed: bool | None, **detail: Any) -> dict[str, Any]:
    return {"name": name, "passed": passed, "detail": detail}


def check_coverage(s: Session, gt_name: str, runs: tuple[int, int]) -> dict[str, Any]:
    found = lifecycle.coverage(s, gt_name, runs)
    gaps = {c.record: [list(g) for g in c.gaps] for c in found if c.gaps}
    if not found:
        return _check("coverage", False, error="the global tag has no records")
    return _check("coverage", not gaps, gaps=gaps, records=len(found))


def _resolutions(s: Session, gt_name: str, runs: list[int]) -> dict[int, Mapping[str, Any]]:
    out: dict[int, Mapping[str, Any]] = {}
    for run in runs:
        try:
            out[run] = resolve(s, gt_name, run).records
        except ConddbError:
            out[run] = {}
    return out


def check_payloads(s: Session, gt_name: str, runs: tuple[int, int]) -> dict[str, Any]:
    """Decode every payload in force over ``runs`` with its schema (each hash once)."""
    from ..payloads import PAYLOAD_TYPES, decode_payload

    gt = store.get_global_tag(s, gt_name)
    typed = set(PAYLOAD_TYPES)
    bad: list[str] = []
    seen = 0
    for record, tag in sorted(store.global_tag_map(s, gt).items()):
        col = iov.in_force(store.iov_rows(s, tag.id), snapshot=gt.snapshot_time)
        hashes = {
            iv.payload_hash
            for iv in col
            if iv.since <= runs[1] and (iv.until is None or iv.until >= runs[0])
        }
        for h in sorted(hashes):
            seen += 1
            if tag.type_name not in typed:
                continue
            try:
                decode_payload(tag.type_name, store.payload_bytes(s, h))
            except (ConddbError, ValueError) as exc:
                bad.append(f"{record} {h[:12]}: {str(exc).splitlines()[0][:200]}")
    return _check("payloads", not bad, decoded=seen, failures=bad)


def check_energy(
    s: Session, gt_name: str, runs: list[int], opts: Options
) -> list[dict[str, Any]]:
    """``energy_scale`` and ``positrons`` checks at the sample runs."""
    from ..energy import EnergyScale

    resolved = _resolutions(s, gt_name, runs)
    if not any(all(r in recs for r in ENERGY_RECORDS) for recs in resolved.values()):
        skipped = "the global tag maps no energy records"
        return [_check("energy_scale", None, skipped=skipped),
                _check("positrons", None, skipped=skipped)]
    failures: list[str] = []
    scales: dict[int, EnergyScale] = {}
    for run, recs in resolved.items():
        try:
            scales[run] = EnergyScale.from_resolved(
                recs, lambda h: store.payload_bytes(s, h), outside_range="extrapolate"
            )
        except (ConddbError, ValueError) as exc:
            failures.append(f"run {run}: {str(exc).splitlines()[0][:200]}")
    out = [_check("energy_scale", not failures, runs=runs, failures=failures)]
    if opts.positrons is None and opts.positrons_at is None:
        out.append(_check("positrons", None, skipped="no reference sample given"))
        return out
    worst: dict[str, float] = {}
    bad: list[str] = []
    for run, scale in scales.items():
        sample = opts.positrons_at(run) if opts.positrons_at else opts.positrons
        assert sample is not None
        for e, bias in positron_bias(scale, sample).items():
            worst[f"{run}@{e:g}MeV"] = bias
            if not abs(bias) <= opts.tolerance:
                bad.append(f"run {run} at {e:g} MeV: bias {100 * bias:+.3f} %")
    out.append(_check("positrons", not bad and bool(worst), tolerance=opts.tolerance,
                      bias=worst, failures=bad))
    return out


def positron_bias(scale: Any, sample: PositronSample) -> dict[float, float]:
    """``mean(E_rec) / E_true - 1`` per true energy of the sample (events with finite E_rec)."""
    import numpy as np

    rec = scale.reconstruct(sample.pe_total, sample.x, sample.y, sample.z)
    out: dict[float, float] = {}
    for e in np.unique(sample.e_true):
        sel = (sample.e_true == e) & np.isfinite(rec.e_rec)
        out[float(e)] = float(np.mean(rec.e_rec[sel]) / e - 1.0) if sel.any() else float("nan")
    return out


def drift_flags(s: Session, gt_name: str) -> list[str]:
    """Identifiers of the drift flags of a global tag: ``quantity-key@since:kind``."""
    from .. import drift

    try:
        report = drift.track(s, drift.SeriesSource(global_tag=gt_name))
    except conditions.errors.InvalidInput:  # no tracked quantity in this map: nothing to flag
        return []
    return [
        f"{t.series.key}@{t.series.points[f.index].since}:{f.kind}" for t, f in report.flags()
    ]


def acknowledged(s: Session, gt_name: str) -> set[str]:
    return acknowledged_flags(s, gt_name)


def acknowledge(s: Session, gt_name: str, flag: str, who: str, note: str = "") -> bool:
    """Acknowledge a drift flag of ``gt_name`` (False: it already was)."""
    flags = drift_flags(s, gt_name)
    if flag not in flags:
        raise conditions.errors.NotFound(
            f"global tag {gt_name} has no drift flag {flag!r}",
            f"flags: {', '.join(flags) or 'none'}",
        )
    if flag in acknowledged(s, gt_name):
        return False
    add_drift_ack(s, gt_name, flag, who, note)
    return True


def check_drift(s: Session, gt_name: str) -> dict[str, Any]:
    flags = drift_flags(s, gt_name)
    acked = acknowledged(s, gt_name)
    open_flags = [f for f in flags if f not in acked]
    return _check("drift", not open_flags, flags=len(flags), unacknowledged=open_flags)


def run_checks(
    s: Session, gt_name: str, runs: tuple[int, int], opts: Options
) -> list[dict[str, Any]]:
    samples = list(lifecycle.sample_runs(runs, opts.sample_runs))
    return [
        check_coverage(s, gt_name, runs),
        check_payloads(s, gt_name, runs),
        *check_energy(s, gt_name, samples, opts),
        check_drift(s, gt_name),
    ]


def validate(
    s: Session, gt_name: str, runs: tuple[int, int], opts: Options
) -> ValidationReport:
    """Run the checks and store the report of the current map (passed: no check failed)."""
    gt = store.get_global_tag(s, gt_name, for_update=True)
    digest = store.map_hash(s, gt)
    checks = run_checks(s, gt_name, runs, opts)
    passed = all(c["passed"] is not False for c in checks)
    return store.add_validation_report(
        s, gt, digest=digest, runs=runs, who=opts.who, code_version=opts.code_version,
        passed=passed, checks=checks,
    )


def validate_and_mark(
    s: Session, gt_name: str, runs: tuple[int, int], opts: Options
) -> tuple[ValidationReport, str]:
    """:func:`validate`, and when the report passes, ``-> validated`` (same transaction).

    A failing report is stored too (the caller commits it); the state then stays as it was."""
    report = validate(s, gt_name, runs, opts)
    if report.passed:
        return report, lifecycle.mark_validated(s, gt_name).state.value
    return report, store.get_global_tag(s, gt_name).state.value


def report_json(r: ValidationReport, gt_name: str) -> dict[str, Any]:
    """One JSON shape of a validation report (CLI ``--json``, HTTP, browser)."""
    return {
        "id": r.id,
        "global_tag": gt_name,
        "map_hash": r.map_hash,
        "runs": [r.first_run, r.last_run],
        "who": r.who,
        "code_version": r.code_version,
        "created_at": r.created_at.isoformat() if r.created_at else None,
        "passed": r.passed,
        "checks": r.checks,
    }
