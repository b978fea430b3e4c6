"""A self-contained SQLite snapshot of one global tag for offline jobs (``conddb gt download``).

The snapshot is made by the export / import of :mod:`conditions.services.transfer` (so it keeps
every insertion time, the snapshot time and the superseded rows: the same lookups, ``--at``
replays included, give the same answers), into a fresh SQLite file migrated to head.  It is
written to ``OUT.part`` and renamed only once complete and checked: the first and last run of
the range resolve to the same payloads in the snapshot as in the source.

Scope: the global tag's closure as exported by ``conddb export --gt`` (its map history, the
tags it names with all their IOVs, their payloads, the campaigns linking them); the run range is
what is checked, not a filter of the rows.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import Engine

from ..db import make_engine
from ..db.migrate import upgrade
from ..errors import AlreadyExists, InvalidInput
from ..store.reader import resolve_many
from .transfer import export_file, import_file


@dataclass(frozen=True)
class SnapshotReport:
    """What :func:`download` wrote: the file, the records checked and the rows per table."""

    path: Path
    global_tag: str
    first_run: int
    last_run: int
    records: tuple[str, ...]
    rows: dict[str, int]


def download(
    source: Engine, global_tag: str, first_run: int, last_run: int, out: Path, *, force: bool
) -> SnapshotReport:
    """Write ``global_tag`` (checked for runs ``first_run``..``last_run``) to the SQLite ``out``."""
    if last_run < first_run:
        raise InvalidInput(
            f"run range {first_run}-{last_run} is empty",
            "give --runs FIRST-LAST with FIRST <= LAST",
        )
    if out.exists() and not force:
        raise AlreadyExists(f"{out} already exists", "choose another --out or pass --force")
    ends = sorted({first_run, last_run})
    expected = resolve_many(source, global_tag, ends)  # RunNotCovered says why, before writing
    part = out.with_name(out.name + ".part")
    part.unlink(missing_ok=True)
    with tempfile.TemporaryDirectory(dir=out.parent) as tmp:
        archive = Path(tmp) / "snapshot.zip"
        export_file(source, archive, global_tag=global_tag)
        target = make_engine(f"sqlite:///{part}")
        try:
            upgrade(target, "head")
            report = import_file(target, archive)
            got = resolve_many(target, global_tag, ends)
        finally:
            target.dispose()
    if {r: got[r].hashes() for r in ends} != {r: expected[r].hashes() for r in ends}:
        part.unlink(missing_ok=True)
        raise InvalidInput(  # pragma: no cover - the export/import round trip is tested
            f"the snapshot of {global_tag} does not resolve like the source",
            "nothing was written; report it",
        )
    for suffix in ("-wal", "-shm"):
        Path(f"{part}{suffix}").unlink(missing_ok=True)
    part.replace(out)
    return SnapshotReport(
        out, global_tag, first_run, last_run, tuple(sorted(expected[ends[0]].records)), report.rows
    )
