"""The README runs as written: every ```bash block and the ```python snippet, in a fresh folder, on
the embedded SQLite default; and it names no command that ``conddb --help`` does not know.

What is not run here, and why:

* the opening block (``./scripts/demo``, ``./scripts/test``): the demo's main job is
  tests/integration/test_demo.py and ``scripts/test`` is what CI itself runs.  The state the
  README assumes after ``./scripts/demo`` (``demo-out/conddb.sqlite`` with the global tag
  JUNO-DEMO) is built here by the same code (:func:`cli.demo.run_demo`) at reduced statistics.
* the benchmark block: benchmarks take minutes at their nominal sizes and are not tests (the
  house rule); each of its commands is run with ``--help`` instead (the script exists, starts,
  and knows the options the README passes it).

``source .venv/bin/activate`` activates the venv of the interpreter running the tests (the fresh
folder gets a ``.venv`` link to it), so the commands are those of this checkout.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from cli.main import conddb

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
OPENING = ["./scripts/demo", "./scripts/test"]
BENCH = ".venv/bin/python benchmarks/"


def blocks(language: str) -> list[str]:
    """The fenced code blocks of the README in ``language``, in order."""
    text = README.read_text(encoding="utf-8")
    return re.findall(rf"^```{language}\n(.*?)^```", text, flags=re.S | re.M)


def commands(block: str) -> list[str]:
    """The command lines of a shell block (comments and blank lines dropped)."""
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.strip()
            and not line.lstrip().startswith("#")]


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh folder with ``.venv`` (this interpreter's venv), ``benchmarks`` (the checkout's) and
    ``demo-out`` (what ``./scripts/demo`` leaves, at reduced statistics)."""
    from cli.demo import DemoConfig, run_demo
    from conditions.db import make_engine

    where = tmp_path_factory.mktemp("readme")
    (where / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    (where / "benchmarks").symlink_to(ROOT / "benchmarks", target_is_directory=True)
    out = where / "demo-out"
    out.mkdir()
    engine = make_engine(f"sqlite:///{out / 'conddb.sqlite'}")
    cfg = DemoConfig(out=out, weeks=2, comprehensive_scale=0.05, weekly_scale=0.2, band_toys=5)
    run_demo(engine, cfg, lambda line: None)
    engine.dispose()
    return where


def _env(folder: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CONDDB_URL", "VIRTUAL_ENV")}
    env["CONDDB_HOME"] = str(folder / "home")  # the embedded SQLite default, inside the folder
    env["PYTHONPATH"] = str(ROOT)
    return env


def _bash(script: str, folder: Path) -> subprocess.CompletedProcess[str]:
    """Run a block as the reader's shell session would: the venv activated by the first block
    of "Using it" stays active for the blocks after it."""
    activate = "" if "source .venv/bin/activate" in script else "source .venv/bin/activate\n"
    return subprocess.run(
        ["bash", "-c", "set -euo pipefail\n" + activate + script],
        cwd=folder, env=_env(folder), capture_output=True, text=True, timeout=1800,
    )


def test_opening_block_is_the_two_skipped_commands() -> None:
    # if the opening block ever changes, this test must be revisited (it skips that block)
    assert [c.split()[0] for c in commands(blocks("bash")[0])] == OPENING


@pytest.mark.slow
def test_readme_runs_as_written(folder: Path) -> None:
    shell = blocks("bash")[1:]
    assert len(shell) >= 4 and len(blocks("python")) == 1
    ran = 0
    for block in shell:
        lines = commands(block)
        if all(c.startswith(BENCH) for c in lines):
            for c in lines:
                script, *args = shlex.split(c[len(".venv/bin/python "):])
                done = subprocess.run([sys.executable, script, "--help"], cwd=folder,
                                      env=_env(folder), capture_output=True, text=True)
                assert done.returncode == 0, (c, done.stderr)
                for opt in (a for a in args if a.startswith("--")):
                    assert opt in done.stdout, (c, opt)
            continue
        done = _bash(block, folder)
        assert done.returncode == 0, f"README block failed:\n{block}\n--- stderr:\n{done.stderr}"
        assert "Traceback" not in done.stderr, done.stderr
        ran += 1
    assert ran >= 4
    # what the blocks left behind: the two global tags, the report, the imported copy
    for db in ("", "--db sqlite:///copy.sqlite "):
        listed = json.loads(_bash(f"conddb {db}gt list --json", folder).stdout)
        assert {"JUNO-2026", "JUNO-2027"} <= {g["name"] for g in listed}, db
    assert (folder / "report.html").stat().st_size > 1000
    assert (folder / "y0-v2.json").read_text() != (folder / "y0.json").read_text()
    # the Python snippet prints the IOV bounds and the content it read back
    (snippet,) = blocks("python")
    done = subprocess.run([sys.executable, "-c", snippet], cwd=folder, env=_env(folder),
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["1200", "None", "1345.0", "0.4"]


def _named_commands(text: str) -> set[tuple[str, ...]]:
    """Every ``conddb VERB [SUB]`` the README names as code: in shell blocks (comments dropped)
    and in inline code spans."""
    code = [c for b in blocks("bash") for c in commands(b)]
    prose = re.sub(r"^```.*?^```", "", text, flags=re.S | re.M)
    code += re.findall(r"`([^`\n]+)`", prose)
    named: set[tuple[str, ...]] = set()
    for snippet in code:
        for m in re.finditer(r"(?<![\w/.-])conddb((?: +[^\s`|;&)\"]+)*)", snippet):
            words = m.group(1).split()
            while words and words[0].startswith("-"):  # global options: --db URL
                words = words[2:] if words[0] == "--db" else words[1:]
            if words and re.fullmatch(r"[a-z][a-z-]*", words[0]):
                named.add(tuple(words[:2]))
    return named


def test_readme_names_only_known_commands() -> None:
    named = _named_commands(README.read_text(encoding="utf-8"))
    assert len(named) > 20
    ctx = click.Context(conddb)
    unknown = []
    for words in sorted(named):
        verb = conddb.get_command(ctx, words[0])
        if verb is None:
            unknown.append(" ".join(words))
            continue
        path = [words[0]]
        if isinstance(verb, click.Group) and len(words) > 1 and not words[1].startswith("-"):
            if verb.get_command(ctx, words[1]) is None:
                unknown.append(" ".join(words))
                continue
            path.append(words[1])
        result = CliRunner().invoke(conddb, [*path, "--help"])
        assert result.exit_code == 0, (path, result.output)
    assert not unknown, f"the README names commands conddb does not know: {unknown}"
