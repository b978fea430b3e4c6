"""The ``conddb`` CLI end to end on both backends: results, one-line errors, help everywhere.

The story runs in process (:func:`tests.support.cli.run`: same parsing and error mapping as the
shell); the tests of the process itself (exit codes, broken databases) run the installed script.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
import pytest

from cli.lazy import LazyGroup
from cli.main import COMMANDS, conddb
from tests.support.cli import CONDDB_SCRIPT, assert_one_line_error, run, run_entry_point


def test_cli_story(db_url: str, tmp_path: Path) -> None:
    doc = tmp_path / "y0.json"
    doc.write_text(json.dumps({"y0": 1345.0, "sigma": 0.2}))
    run(db_url, "db", "upgrade")
    assert "up to date" in run(db_url, "db", "current").stdout
    h = run(db_url, "payload", "put", "json", str(doc)).stdout.strip()
    assert len(h) == 64
    assert run(db_url, "payload", "put", "json", str(doc)).stdout.strip() == h
    run(db_url, "tag", "create", "ly-v1", "--type", "json")
    run(db_url, "iov", "add", "ly-v1", "--since", "100", "--payload", h[:12])
    iov_file = tmp_path / "iovs.csv"
    iov_file.write_text(f"since,payload\n200,{h}\n300,{h}\n")
    assert (
        "2 IOV(s) added" in run(db_url, "iov", "add", "ly-v1", "--from-file", str(iov_file)).stdout
    )
    run(db_url, "gt", "create", "GT-2026")
    run(db_url, "gt", "set", "GT-2026", "light_yield", "ly-v1")
    out = json.loads(
        run(db_url, "get", "--gt", "GT-2026", "--run", "250", "--json", "--content").stdout
    )
    rec = out["records"]["light_yield"]
    assert (rec["payload_hash"], rec["since"], rec["until"]) == (h, 200, 299)
    assert rec["content"] == {"y0": 1345.0, "sigma": 0.2}
    listed = json.loads(run(db_url, "iov", "list", "ly-v1", "--json").stdout)
    assert [i["since"] for i in listed] == [100, 200, 300]
    run(db_url, "tag", "lock", "ly-v1")
    # `freeze` is `publish`: refused until a passing validation report of the current map exists
    assert_one_line_error(
        run(db_url, "gt", "freeze", "GT-2026", ok=False), "only validated global tags"
    )
    assert_one_line_error(
        run(db_url, "gt", "validate", "GT-2026", "--runs", "100-50", ok=False), "bad run range"
    )
    run(db_url, "gt", "validate", "GT-2026", "--runs", "100-400")
    assert "published" in run(db_url, "gt", "freeze", "GT-2026").stdout
    run(db_url, "gt", "clone", "GT-2026", "GT-2027")
    shown = json.loads(run(db_url, "gt", "show", "GT-2027", "--json").stdout)
    assert shown["records"]["light_yield"]["tag"] == "ly-v1" and shown["state"] == "open"
    assert "GT-2026" in run(db_url, "gt", "list").stdout
    assert "ly-v1" in run(db_url, "tag", "show", "ly-v1").stdout
    assert json.loads(run(db_url, "payload", "show", h[:10], "--json").stdout)["hash"] == h

    assert_one_line_error(
        run(db_url, "iov", "add", "ly-v1", "--since", "400", "--payload", h, ok=False), "locked"
    )
    assert_one_line_error(run(db_url, "gt", "set", "GT-2026", "x", "ly-v1", ok=False), "frozen")
    assert_one_line_error(
        run(db_url, "get", "--gt", "GT-2026", "--run", "5", ok=False), "not covered"
    )
    assert_one_line_error(
        run(db_url, "get", "--gt", "NOPE", "--run", "5", ok=False), "no global tag"
    )
    assert_one_line_error(
        run(db_url, "payload", "put", "nosuch", str(doc), ok=False), "unknown payload type"
    )
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    assert_one_line_error(
        run(db_url, "payload", "put", "json", str(bad), ok=False), "not valid JSON"
    )
    nan = tmp_path / "nan.json"
    nan.write_text('{"y0": NaN}')
    assert_one_line_error(run(db_url, "payload", "put", "json", str(nan), ok=False), "NaN")
    assert_one_line_error(
        run(db_url, "payload", "put", "json", str(tmp_path / "missing.json"), ok=False),
        "No such file",
    )


def test_unreachable_database_and_old_schema(empty_db_url: str) -> None:
    """The real entry point: exit code 1 and one line, for an old schema and no server."""
    assert_one_line_error(
        run_entry_point(empty_db_url, "tag", "list", ok=False), "conddb db upgrade"
    )
    proc = run_entry_point("postgresql://nobody@127.0.0.1:1/none", "tag", "list", ok=False)
    assert_one_line_error(proc, "cannot use the database")


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        cmd = group.get_command(ctx, name)
        found.append((*prefix, name))
        if isinstance(cmd, click.Group):
            found.extend(_all_commands(cmd, (*prefix, name)))
    return found


def _command(path: tuple[str, ...]) -> click.Command:
    cmd: click.Command = conddb
    for name in path:
        assert isinstance(cmd, click.Group)
        sub = cmd.get_command(click.Context(cmd), name)
        assert sub is not None, path
        cmd = sub
    return cmd


@pytest.mark.parametrize("path", _all_commands(conddb), ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(conddb, [*path, "--help"])
    assert result.exit_code == 0, result.output
    cmd = _command(path)
    assert cmd.help or cmd.short_help, f"conddb {' '.join(path)} has no help text"


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_lazy_table_matches_the_commands(name: str) -> None:
    """The short help `conddb --help` prints from the table is the command's own."""
    assert isinstance(conddb, LazyGroup)
    cmd = conddb.load(name)
    assert cmd.name == name
    assert cmd.get_short_help_str(limit=1000) == COMMANDS[name].short_help


def test_campaign_tag_prefix_is_the_library_s() -> None:
    """Repeated in cli.commands.campaign for a light `--help` (trend's: test_trend_cli)."""
    from cli.commands import campaign
    from conditions.campaign import DEFAULT_TAG_PREFIX

    assert campaign.DEFAULT_TAG_PREFIX == DEFAULT_TAG_PREFIX


def _imported_by(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", code + "; import sys; print('\\nMODULES', *sys.modules)"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr
    return set(out.stdout.rpartition("\nMODULES ")[2].split())


@pytest.mark.parametrize(
    "argv",
    [["--help"], ["get", "--help"], ["gt", "--help"], ["tag", "--help"], ["trend", "--help"]],
    ids=" ".join,
)
def test_help_imports_no_library(argv: list[str]) -> None:
    """`conddb ... --help` loads click and the CLI only: no SQLAlchemy, numpy or conditions."""
    modules = _imported_by(
        "from cli.main import conddb; "
        f"conddb.main(args={argv!r}, prog_name='conddb', standalone_mode=False)"
    )
    heavy = {m.split(".")[0] for m in modules} & {
        "sqlalchemy", "numpy", "scipy", "matplotlib", "pyarrow", "fastapi", "conditions", "fitting"
    }
    assert not heavy, heavy


def test_completion_from_the_entry_point() -> None:
    env = {**os.environ, "_CONDDB_COMPLETE": "bash_complete", "COMP_WORDS": "conddb g",
           "COMP_CWORD": "1"}
    out = subprocess.run([str(CONDDB_SCRIPT)], capture_output=True, text=True, env=env, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["plain,get", "plain,gt"]
