"""The ``conddb`` CLI end to end on both backends: results, one-line errors, help everywhere."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest

from cli.main import conddb


def run(db_url: str, *args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    """Run ``conddb --db URL ARGS`` in a subprocess, as a user would."""
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "--db", db_url, *args],
        capture_output=True,
        text=True,
        timeout=120,
    )
    if ok:
        assert proc.returncode == 0, proc.stderr
    return proc


def assert_one_line_error(proc: subprocess.CompletedProcess[str], fragment: str) -> None:
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("Error: ") and fragment in lines[0], lines[0]
    assert "Traceback" not in proc.stderr


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
    assert (rec["payload"], rec["since"], rec["until"]) == (h, 200, 299)
    assert rec["content"] == {"y0": 1345.0, "sigma": 0.2}
    listed = json.loads(run(db_url, "iov", "list", "ly-v1", "--json").stdout)
    assert [i["since"] for i in listed] == [100, 200, 300]
    run(db_url, "tag", "lock", "ly-v1")
    run(db_url, "gt", "freeze", "GT-2026")
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
    assert_one_line_error(run(empty_db_url, "tag", "list", ok=False), "conddb db upgrade")
    proc = run("postgresql://nobody@127.0.0.1:1/none", "tag", "list", ok=False)
    assert_one_line_error(proc, "cannot use the database")


def _all_commands(group: click.Group, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    found = []
    for name, cmd in group.commands.items():
        found.append((*prefix, name))
        if isinstance(cmd, click.Group):
            found.extend(_all_commands(cmd, (*prefix, name)))
    return found


@pytest.mark.parametrize("path", _all_commands(conddb), ids=" ".join)
def test_every_command_has_help(path: tuple[str, ...]) -> None:
    from click.testing import CliRunner

    result = CliRunner().invoke(conddb, [*path, "--help"])
    assert result.exit_code == 0
    cmd: click.Command = conddb
    for name in path:
        assert isinstance(cmd, click.Group)
        cmd = cmd.commands[name]
    assert cmd.help or cmd.short_help, f"conddb {' '.join(path)} has no help text"
