"""The constants behind ``conddb get``'s fast path cannot rot: the schema head revision and the
precompiled lookup statement are what Alembic and SQLAlchemy give today (no database needed)."""

from __future__ import annotations

from pathlib import Path

from alembic.script import ScriptDirectory

import migrations
from conditions.db import plain, revision


def test_head_constant_is_the_head_of_the_migrations() -> None:
    scripts = ScriptDirectory(str(Path(migrations.__file__).parent))
    assert scripts.get_heads() == [revision.HEAD]


def test_precompiled_lookup_statements_are_a_fresh_compile_of_the_reader() -> None:
    """After a change to the reader's statement: ``python -m conditions.db.plain``."""
    assert plain.GENERATED.read_text() == plain.render()


def test_precompiled_statements_cover_both_backends_with_and_without_record() -> None:
    from conditions.db._lookup_sql import STATEMENTS

    assert set(STATEMENTS) == {(d, r) for d in ("sqlite", "postgresql") for r in (False, True)}
    for (dialect, with_record), (sql, fixed) in STATEMENTS.items():
        mark = {"sqlite": ":{}", "postgresql": "%({})s"}[dialect]
        for name in ("gt_name", "run", *(["record"] if with_record else [])):
            assert mark.format(name) in sql, (dialect, name)
        assert (mark.format("record") in sql) == with_record
        assert all(mark.format(name) in sql for name in fixed)


def test_plain_rows_read_the_published_state_as_the_model_stores_it() -> None:
    from conditions.db.model import GlobalTagState

    row = (
        GlobalTagState.FROZEN.value,
        "r",
        "t",
        "json",
        5,
        "ab" * 32,
        "2026-01-02 03:04:05.000006",
        9,
    )
    frozen, records, uncovered = plain.records_of([row], plain._utc)
    assert frozen and not uncovered
    assert (records["r"].since, records["r"].until) == (5, 8)
    assert records["r"].insertion_time.isoformat() == "2026-01-02T03:04:05.000006+00:00"
    open_row = ("open", *row[1:])
    assert not plain.records_of([open_row], plain._utc)[0]
