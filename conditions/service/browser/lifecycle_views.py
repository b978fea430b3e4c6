"""Browser data of the global-tag lifecycle (issue 18): validation reports and the run-coverage
timeline of ``/gt/{name}/validation[?runs=A-B]``."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from conditions import store
from conditions.services import lifecycle, validation


def validation_page(s: Session, name: str, runs: str | None) -> dict[str, Any]:
    """Reports (newest first, marked when of the current map) and the coverage of ``runs``
    (default: the newest report's range) as timeline bars in percent of the range."""
    g = store.get_global_tag(s, name)
    current = store.map_hash(s, g)
    reports = [
        {**validation.report_json(r, name), "current_map": r.map_hash == current}
        for r in store.validation_reports(s, g)
    ]
    span = lifecycle.parse_runs(runs) if runs else (
        tuple(reports[0]["runs"]) if reports else None
    )
    timeline: list[dict[str, Any]] = []
    if span is not None:
        lo, hi = span
        width = hi - lo + 1
        for c in lifecycle.coverage(s, name, (lo, hi)):
            bars = [
                {"first": a, "last": b, "covered": covered,
                 "left": 100.0 * (a - lo) / width, "width": 100.0 * (b - a + 1) / width}
                for covered, stretches in ((True, c.covered), (False, c.gaps))
                for a, b in stretches
            ]
            timeline.append({"record": c.record, "tag": c.tag, "bars": bars, "gaps": c.gaps})
    dep = lifecycle.deprecation(s, name)
    return {
        "gt": g,
        "reports": reports,
        "runs": span,
        "timeline": timeline,
        "deprecation": None if dep is None else dep.message(),
    }
