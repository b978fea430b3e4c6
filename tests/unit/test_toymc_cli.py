"""The ``simulate`` click group (cli/simulate.py)."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner

from cli.commands.simulate import simulate


def test_every_command_has_help() -> None:
    runner = CliRunner()
    for args in ([], ["campaign"]):
        result = runner.invoke(simulate, [*args, "--help"])
        assert result.exit_code == 0
        assert "Usage" in result.output


def test_dry_run_prints_the_plan(tmp_path: Path) -> None:
    result = CliRunner().invoke(simulate, ["campaign", "--kind", "weekly", "--run", "7",
                                           "--out", str(tmp_path / "x"), "--dry-run"])
    assert result.exit_code == 0, result.output
    assert "141 min" in result.output
    assert not (tmp_path / "x").exists()


def test_campaign_writes_a_manifest_and_refuses_to_overwrite(tmp_path: Path) -> None:
    out = tmp_path / "w"
    args = ["campaign", "--kind", "weekly", "--run", "42", "--out", str(out), "--seed", "1",
            "--scale", "0.01", "--flashes", "2"]
    result = CliRunner().invoke(simulate, args)
    assert result.exit_code == 0, result.output
    m = json.loads((out / "manifest.json").read_text())
    assert m["first_run"] == 42 and m["seed"] == 1
    again = CliRunner().invoke(simulate, args)
    assert again.exit_code == 1
    assert again.output.startswith("Error: ")
    assert "already holds a campaign" in again.output


def test_bad_kind_is_a_usage_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(simulate, ["campaign", "--kind", "yearly", "--run", "1",
                                           "--out", str(tmp_path)])
    assert result.exit_code == 2
