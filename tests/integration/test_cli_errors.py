"""Errors that tell the truth (issue 17): --db forms, read commands never create a database,
createdb hint, RunNotCovered's three reasons, Ctrl-C, JSON errors."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path

import pytest

from conditions.db import make_engine
from conditions.errors import RunNotCovered
from conditions.resolve import resolve
from tests.conftest import Backend
from tests.support.cli import assert_one_line_error, run, run_entry_point
from tests.support.seed_cli import Seeded, seed

FORMS = "sqlite:///path, postgresql://user@host/db, https://host"


@pytest.fixture
def seeded(db_url: str, tmp_path: Path) -> Seeded:
    return seed(db_url, tmp_path)


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("demo-out/conddb.sqlite", "use sqlite:///demo-out/conddb.sqlite"),
        ("mysql://user@host/db", "unsupported scheme 'mysql://'"),
        ("postgress://user@host/db", "unsupported scheme"),
        ("sqlite:/x.sqlite", "is not a database URL"),
        ("sqlite://", "names no SQLite file"),
    ],
)
def test_bad_db_values_are_one_line_with_the_accepted_forms(
    url: str, says: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for args in (("tag", "list"), ("get", "--gt", "X", "--run", "1"), ("db", "upgrade")):
        ran = run(url, *args, ok=False)
        assert_one_line_error(ran, says)
        assert FORMS in ran.stderr
    assert list(tmp_path.iterdir()) == []  # nothing created


def test_read_commands_never_create_a_sqlite_database(tmp_path: Path) -> None:
    missing = tmp_path / "typo" / "conddb.sqlite"
    url = f"sqlite:///{missing}"
    for args in (
        ("tag", "list"),
        ("gt", "list"),
        ("get", "--gt", "X", "--run", "1"),
        ("search", "x"),
        ("db", "current"),
        ("tag", "create", "t", "--type", "json"),  # a write on a missing file: same error
    ):
        assert_one_line_error(run(url, *args, ok=False), f"no SQLite database at {missing}")
    assert not missing.parent.exists()
    assert "conddb db upgrade" in run(url, "tag", "list", ok=False).stderr
    run(url, "db", "upgrade")  # the one command that creates it
    assert missing.is_file()


def test_a_missing_postgresql_database_suggests_createdb(backend: Backend) -> None:
    if backend.name != "postgresql":
        pytest.skip("PostgreSQL only")
    name = "conddb_missing_cli17_x"
    ran = run_entry_point(f"postgresql://postgres@127.0.0.1:5432/{name}", "tag", "list", ok=False)
    assert_one_line_error(ran, f"`createdb {name}`")


def test_run_not_covered_tells_the_three_cases_apart(seeded: Seeded) -> None:
    url = seeded.url
    ran = run(url, "get", "--gt", "GT-E", "--run", "150", ok=False)
    assert_one_line_error(ran, "the tag has no IOV")
    assert "conddb iov add ly-empty" in ran.stderr
    ran = run(url, "get", "--gt", "GT-A", "--run", "50", ok=False)
    assert_one_line_error(ran, "lies before the first IOV (100)")
    assert "gt clone" not in ran.stderr

    # an IOV inserted after the snapshot of a frozen global tag: clone it
    run(url, "tag", "create", "ly-s", "--type", "json")
    run(url, "iov", "add", "ly-s", "--since", "100", "--payload", seeded.a)
    run(url, "gt", "create", "GT-S")
    run(url, "gt", "set", "GT-S", "light_yield", "ly-s")
    run(url, "gt", "validate", "GT-S", "--runs", "100-200")
    run(url, "gt", "freeze", "GT-S")  # = publish
    time.sleep(0.01)
    run(url, "iov", "add", "ly-s", "--since", "10", "--payload", seeded.b)
    ran = run(url, "get", "--gt", "GT-S", "--run", "20", ok=False)
    assert_one_line_error(ran, "inserted after the snapshot time")
    assert "`conddb gt clone GT-S NEW`" in ran.stderr
    run(url, "gt", "clone", "GT-S", "GT-S2")  # ... and the hint works
    got = json.loads(run(url, "get", "--gt", "GT-S2", "--run", "20", "--json").stdout)
    assert got["records"]["light_yield"]["payload_hash"] == seeded.b

    # an IOV inserted after the --at time of a replay
    run(url, "tag", "create", "ly-t", "--type", "json")
    run(url, "gt", "create", "GT-T")
    run(url, "gt", "set", "GT-T", "light_yield", "ly-t")
    time.sleep(0.01)
    at = dt.datetime.now(dt.UTC).isoformat()
    time.sleep(0.01)
    run(url, "iov", "add", "ly-t", "--since", "100", "--payload", seeded.a)
    ran = run(url, "get", "--gt", "GT-T", "--run", "150", "--at", at, ok=False)
    assert_one_line_error(ran, "inserted after the --at time")
    assert "gt clone" not in ran.stderr

    # the library says the same, with the reason as data; resolve_many too
    engine = make_engine(url)
    try:
        for gt, run_no, reason in [
            ("GT-E", 150, RunNotCovered.EMPTY_TAG),
            ("GT-A", 50, RunNotCovered.BEFORE_FIRST),
            ("GT-S", 20, RunNotCovered.AFTER_SNAPSHOT),
        ]:
            with pytest.raises(RunNotCovered) as caught:
                resolve(engine, gt, run_no)
            assert caught.value.reason == reason
            from conditions.store.reader import resolve_many

            with pytest.raises(RunNotCovered) as caught:
                resolve_many(engine, gt, [run_no, 500])
            assert caught.value.reason == reason
    finally:
        engine.dispose()


def test_json_errors_are_one_json_object_on_stderr(seeded: Seeded) -> None:
    ran = run(seeded.url, "tag", "show", "nope", "--json", ok=False)
    assert ran.returncode == 1 and ran.stdout == ""
    err = json.loads(ran.stderr)
    assert set(err) == {"error", "hint"} and "nope" in err["error"] and err["hint"]
    ran = run(seeded.url, "get", "--gt", "GT-A", "--run", "50", "--json", ok=False)
    assert "before the first IOV" in json.loads(ran.stderr)["error"]
    ran = run(seeded.url, "tag", "show", "--json", ok=False)  # usage errors too
    assert ran.returncode == 2 and "Missing argument" in json.loads(ran.stderr)["error"]
    ran = run("mysql://x/y", "tag", "list", "--json", ok=False)
    assert FORMS in json.loads(ran.stderr)["hint"]


def test_ctrl_c_is_one_line_exit_130_and_nothing_written(
    seeded: Seeded, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conditions import store

    real = store.append_iovs

    def append_then_interrupt(*args: object, **kwargs: object) -> object:
        real(*args, **kwargs)  # type: ignore[arg-type]
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "append_iovs", append_then_interrupt)
    before = run(seeded.url, "iov", "list", "ly-a", "--json").stdout
    ran = run(seeded.url, "iov", "add", "ly-a", "--since", "900", "--payload", seeded.a, ok=False)
    assert ran.returncode == 130
    assert ran.stderr.strip() == "interrupted — nothing was written"
    assert run(seeded.url, "iov", "list", "ly-a", "--json").stdout == before

    import conditions.store.search

    def interrupt(*_args: object, **_kwargs: object) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(conditions.store.search, "search", interrupt)
    ran = run(seeded.url, "search", "ly", "--json", ok=False)
    assert ran.returncode == 130 and "interrupted" in json.loads(ran.stderr)["error"]
