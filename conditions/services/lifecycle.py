"""Global-tag lifecycle (issue 18): the transitions, their gates, run coverage, ``require=``.

States ``open -> testing -> validated -> published (-> invalid)``::

    open      --submit-->    testing        (map still editable)
    testing   --reopen-->    open
    validated --reopen-->    open           (back to editing; the report stays, for its map)
    open|testing --mark_validated--> validated   needs a PASSING report of the CURRENT map hash
    validated --publish-->   published      needs: the current map hash is the validated one,
                                            and (``approvals_required`` > 0) that many approvals
                                            of that hash by people other than the publisher
    published --invalidate--> invalid       reason (+ replacement); still resolvable, deprecated

Every use case runs in the caller's write session (one transaction with its audit row, written
by the front end).  ``frozen`` is accepted as a synonym of ``published`` (:func:`parse_state`)
and ``freeze`` is :func:`publish` under its former name (CLI ``gt freeze``, HTTP ``.../freeze``
and the HSF ``locked``/``frozen`` statuses all go through the same gates).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy.orm import Session

from .. import iov, states, store, times
from ..errors import Conflict, InvalidInput
from ..states import Deprecation as Deprecation
from ..states import check_required_state as check_required_state
from ..store import GlobalTagState

if TYPE_CHECKING:  # the type of a stored global tag (the repository's row)
    from ..db.model import GlobalTag

#: Allowed plain transitions (publish and invalidate have their own use cases).
TRANSITIONS: dict[tuple[GlobalTagState, GlobalTagState], str] = {
    (GlobalTagState.OPEN, GlobalTagState.TESTING): "submit",
    (GlobalTagState.TESTING, GlobalTagState.OPEN): "reopen",
    (GlobalTagState.VALIDATED, GlobalTagState.OPEN): "reopen",
}
def parse_state(word: str) -> GlobalTagState:
    """A state from user input (``frozen`` = ``published``)."""
    return GlobalTagState(states.parse_state(word))


def _refuse(gt: GlobalTag, action: str, why: str, hint: str) -> Conflict:
    return Conflict(f"cannot {action} global tag {gt.name!r} ({gt.state.value}): {why}", hint)


def _move(s: Session, name: str, target: GlobalTagState, action: str) -> GlobalTag:
    gt = store.get_global_tag(s, name, for_update=True)
    if TRANSITIONS.get((gt.state, target)) != action:
        allowed = sorted({a for (src, _), a in TRANSITIONS.items() if src is gt.state})
        raise _refuse(
            gt, action, f"{action} does not apply to a {gt.state.value} global tag",
            f"allowed now: {', '.join(allowed) or 'none'}"
            + (" (clone it to change it)" if gt.state in store.IMMUTABLE_STATES else ""),
        )
    return store.set_global_tag_state(s, gt, target)


def approvals_required() -> int:
    """Approvals by other people a publication needs: ``$CONDDB_PUBLISH_APPROVALS`` (default 0)."""
    text = os.environ.get("CONDDB_PUBLISH_APPROVALS", "0").strip() or "0"
    if not text.isdigit():
        raise InvalidInput(
            f"CONDDB_PUBLISH_APPROVALS={text!r} is not a count", "set it to 0, 1, 2, ..."
        )
    return int(text)


def submit(s: Session, name: str) -> GlobalTag:
    """``open -> testing``."""
    return _move(s, name, GlobalTagState.TESTING, "submit")


def reopen(s: Session, name: str) -> GlobalTag:
    """``testing | validated -> open``."""
    return _move(s, name, GlobalTagState.OPEN, "reopen")


def mark_validated(s: Session, name: str) -> GlobalTag:
    """``open | testing -> validated``: the newest report of the current map must pass."""
    gt = store.get_global_tag(s, name, for_update=True)
    if gt.state not in store.EDITABLE_STATES:
        raise _refuse(gt, "validate", "only open or testing global tags are validated",
                      "reopen or clone it")
    digest = store.map_hash(s, gt)
    reports = [r for r in store.validation_reports(s, gt) if r.map_hash == digest]
    if not reports:
        raise _refuse(gt, "validate", "no validation report of its current map",
                      f"run `conddb gt validate {name} --runs A-B`")
    if not reports[0].passed:
        failed = [c["name"] for c in reports[0].checks if c.get("passed") is False]
        raise _refuse(gt, "validate", f"report {reports[0].id} failed ({', '.join(failed)})",
                      "fix the conditions and validate again")
    return store.set_global_tag_state(s, gt, GlobalTagState.VALIDATED)


def approve(s: Session, name: str, who: str) -> None:
    """Record ``who``'s approval of the current (validated) map of ``name``."""
    gt = store.get_global_tag(s, name, for_update=True)
    if gt.state is not GlobalTagState.VALIDATED:
        raise _refuse(gt, "approve", "only validated global tags are approved",
                      f"validate it first (`conddb gt validate {name} --runs A-B`)")
    store.add_approval(s, gt, store.map_hash(s, gt), who)


def publish(
    s: Session,
    name: str,
    who: str,
    *,
    approvals_required: int = 0,
    snapshot_time: dt.datetime | None = None,
) -> GlobalTag:
    """``validated -> published`` (immutable, cached forever) after the gates above."""
    snapshot_time = times.as_utc(snapshot_time, "snapshot time")  # bad input first: 422
    gt = store.get_global_tag(s, name, for_update=True)
    if gt.state is not GlobalTagState.VALIDATED:
        raise _refuse(gt, "publish", "only validated global tags are published",
                      f"validate it first (`conddb gt validate {name} --runs A-B`)")
    digest = store.map_hash(s, gt)
    passing = [r for r in store.validation_reports(s, gt) if r.map_hash == digest and r.passed]
    if not passing:
        raise _refuse(gt, "publish", "its conditions changed since they were validated",
                      f"validate again (`conddb gt validate {name} --runs A-B`)")
    others = store.approvers(s, gt, digest) - {who}
    if len(others) < approvals_required:
        raise _refuse(
            gt, "publish",
            f"{approvals_required} approval(s) by someone other than {who!r} needed, "
            f"{len(others)} given",
            f"a second person runs `conddb gt approve {name}`",
        )
    return store.publish_global_tag(s, name, snapshot_time=snapshot_time)


#: ``freeze`` is the former word for ``publish``: the same use case, the same gates.
freeze = publish


def invalidate(s: Session, name: str, reason: str, replaced_by: str | None = None) -> GlobalTag:
    """``published -> invalid``: still resolvable, answers carry the deprecation."""
    return store.invalidate_global_tag(s, name, reason, replaced_by)


# --- require= (conditions.states.check_required_state, re-exported) and deprecation ---------------
def deprecation(s: Session, name: str) -> Deprecation | None:
    """The deprecation of an invalid global tag (None for every other state)."""
    gt = store.get_global_tag(s, name)
    if gt.state is not GlobalTagState.INVALID:
        return None
    return Deprecation(gt.name, gt.invalid_reason or "", gt.replaced_by)


# --- coverage -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class RecordCoverage:
    """Covered stretches ``(first, last)`` and gaps of one record over runs ``lo..hi``."""

    record: str
    tag: str
    covered: tuple[tuple[int, int], ...]
    gaps: tuple[tuple[int, int], ...]


def parse_runs(text: str) -> tuple[int, int]:
    """``"A-B"`` (inclusive) -> (A, B)."""
    first, sep, last = text.partition("-")
    try:
        lo, hi = int(first), int(last if sep else first)
    except ValueError:
        raise InvalidInput(f"bad run range {text!r}", "give --runs A-B, e.g. 1000-1999") from None
    if lo < 0 or hi < lo:
        raise InvalidInput(f"bad run range {text!r}", "give A-B with 0 <= A <= B")
    return lo, hi


def coverage(s: Session, name: str, runs: tuple[int, int]) -> list[RecordCoverage]:
    """Per record of ``name``: which runs of ``runs`` its tag covers (as the lookups see it)."""
    lo, hi = runs
    gt = store.get_global_tag(s, name)
    out: list[RecordCoverage] = []
    for record, tag in sorted(store.global_tag_map(s, gt).items()):
        col = iov.in_force(store.iov_rows(s, tag.id), snapshot=gt.snapshot_time)
        covered: list[tuple[int, int]] = []
        gaps: list[tuple[int, int]] = []
        for seg in iov.segments([col], lo, hi, key=lambda _iv: True):
            stretch = (seg.first, hi if seg.last is None else seg.last)
            (covered if seg.keys[0] is not None else gaps).append(stretch)
        out.append(RecordCoverage(record, tag.name, tuple(covered), tuple(gaps)))
    return out


def sample_runs(runs: tuple[int, int], n: int = 5) -> Sequence[int]:
    """``n`` runs spread evenly over ``runs`` (both ends included)."""
    lo, hi = runs
    if hi == lo:
        return [lo]
    return sorted({lo + round(k * (hi - lo) / (n - 1)) for k in range(n)})
