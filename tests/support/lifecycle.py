"""Publish a global tag in a test fixture through the real gates (issue 18).

``frozen`` = ``published``, and publishing needs ``validated`` with a passing validation report of
the current map.  Fixtures that only need *a published global tag* (caching, immutability,
snapshots) call :func:`publish`: it stores a passing report of the current map hash (the checks
themselves are exercised in ``tests/integration/test_lifecycle*.py``), marks the tag validated and
publishes it with :func:`conditions.services.lifecycle.publish` -- the same use case, and the
same gates, as ``conddb gt publish`` / ``gt freeze`` and ``POST .../publish`` / ``.../freeze``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy.orm import Session

from conditions import store
from conditions.db.model import GlobalTag, GlobalTagState
from conditions.services import lifecycle


def mark_validated(s: Session, name: str, *, who: str = "fixture") -> GlobalTag:
    """Store a passing report of the current map of ``name`` and move it to ``validated``."""
    gt = store.get_global_tag(s, name, for_update=True)
    if gt.state is GlobalTagState.VALIDATED:
        return gt
    store.add_validation_report(
        s, gt, digest=store.map_hash(s, gt), runs=(0, 0), who=who, code_version="tests",
        passed=True, checks=[{"name": "fixture", "passed": True, "detail": {}}],
    )
    return lifecycle.mark_validated(s, name)


def publish(
    s: Session, name: str, *, snapshot_time: dt.datetime | None = None, who: str = "fixture"
) -> GlobalTag:
    """``open|testing|validated -> published`` through :func:`lifecycle.publish` (no approvals)."""
    mark_validated(s, name, who=who)
    return lifecycle.publish(s, name, who, snapshot_time=snapshot_time)
