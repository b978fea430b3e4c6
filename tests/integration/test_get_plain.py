"""``conddb get`` answers a plain lookup without importing SQLAlchemy or Alembic (issue 12,
start-up), prints exactly what the ordinary path prints, and leaves every other case to it.

The plain path (:func:`conditions.db.plain.resolve_plain`) sends the reader's own statement on a
bare driver connection; ``tests/integration/test_iov_oracle.py`` checks its answers against
:mod:`conditions.iov`.  Here: the imports of the command, its output against the ordinary path
(``--at`` always takes that one), and the errors when the schema is not at head.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from conditions import migrate
from conditions.db import make_engine
from tests.support.cli import assert_one_line_error, run
from tests.support.seed_cli import seed

#: far after any row of the test database: ``--at`` then sees everything, by the ordinary path
LATER = "2999-01-01T00:00:00Z"


def test_get_imports_neither_sqlalchemy_nor_alembic(db_url: str, tmp_path: Path) -> None:
    seed(db_url, tmp_path)
    argv = ["--db", db_url, "get", "--gt", "GT-A", "--run", "150"]
    code = (
        f"from cli.main import main; main({argv!r}); import sys; print('\\nMODULES', *sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    table, _, modules = out.stdout.rpartition("\nMODULES ")
    heavy = {m.split(".")[0] for m in modules.split()} & {"sqlalchemy", "alembic", "numpy"}
    assert not heavy, heavy
    assert [line.split()[0] for line in table.splitlines()[2:]] == ["light_yield", "nonlinearity"]


@pytest.mark.parametrize("record", [None, "light_yield"])
def test_plain_get_prints_what_the_ordinary_path_prints(
    db_url: str, tmp_path: Path, record: str | None
) -> None:
    seed(db_url, tmp_path)
    only = [] if record is None else ["--record", record]
    for gt in ("GT-A", "GT-B"):
        for run_number in (100, 149, 150, 199, 200, 10**6):
            args = ["get", "--gt", gt, "--run", str(run_number), *only, "--json"]
            plain = json.loads(run(db_url, *args).stdout)
            ordinary = json.loads(run(db_url, *args, "--at", LATER).stdout)
            assert plain.pop("as_of") is None and ordinary.pop("as_of") is not None
            assert plain == ordinary, (gt, run_number)
            assert plain["records"], (gt, run_number)


def test_get_refuses_a_schema_behind_the_code(db_url: str, tmp_path: Path) -> None:
    seed(db_url, tmp_path)
    engine = make_engine(db_url)
    try:
        migrate.downgrade(engine, "-1")
        behind = migrate.current_revision(engine)
        assert behind is not None and behind != migrate.head_revision(engine)
    finally:
        engine.dispose()
    ran = run(db_url, "get", "--gt", "GT-A", "--run", "150", ok=False)
    assert_one_line_error(ran, f"database schema is at revision {behind}")
    assert "conddb db upgrade" in ran.stderr


def test_get_on_an_empty_database_says_upgrade(empty_db_url: str) -> None:
    ran = run(empty_db_url, "get", "--gt", "GT-A", "--run", "150", ok=False)
    assert_one_line_error(ran, "conddb db upgrade")
