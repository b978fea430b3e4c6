"""Running ``conddb`` from tests: in process (fast) or as the installed entry point (real).

``run`` calls :func:`cli.main.main` inside click's test isolation, so it goes through the same
argument parsing and the same one-line error mapping as the shell command, without starting a
Python process per call.  ``run_entry_point`` starts the installed ``conddb`` script; keep it for
the tests whose subject is the process itself (exit codes, start-up, ``serve``).
"""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
from click.testing import CliRunner

from cli.main import main

#: The console script pip installed next to this interpreter.
CONDDB_SCRIPT = Path(sys.executable).parent / "conddb"


@dataclass(frozen=True)
class Ran:
    """What a ``conddb`` call left: exit code, stdout, stderr (the fields of CompletedProcess)."""

    returncode: int
    stdout: str
    stderr: str


def run(db_url: str, *args: str, ok: bool = True) -> Ran:
    """``conddb --db URL ARGS`` in this process; with ``ok`` the call must succeed."""
    code = 0
    with CliRunner().isolation() as (out, err, _both):
        try:
            main(["--db", db_url, *args])
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        ran = Ran(code, out.getvalue().decode(), err.getvalue().decode())
    if ok:
        assert ran.returncode == 0, ran.stderr
    return ran


def run_entry_point(db_url: str, *args: str, ok: bool = True) -> Ran:
    """``conddb --db URL ARGS`` as a user runs it: the installed script, in a new process."""
    proc = subprocess.run(
        [str(CONDDB_SCRIPT), "--db", db_url, *args], capture_output=True, text=True, timeout=120
    )
    if ok:
        assert proc.returncode == 0, proc.stderr
    return Ran(proc.returncode, proc.stdout, proc.stderr)


def assert_one_line_error(ran: Ran, fragment: str) -> None:
    """The call failed with exit code 1 and one line ``Error: ...`` containing ``fragment``."""
    assert ran.returncode == 1
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1, ran.stderr
    assert lines[0].startswith("Error: ") and fragment in lines[0], lines[0]
    assert "Traceback" not in ran.stderr


def wait_until_serving(
    base: str, proc: subprocess.Popen[bytes], seconds: float, log: Path | None = None
) -> None:
    """Poll ``base``/healthz until it answers 200; fail if ``proc`` exits or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        said = "" if log is None else ":\n" + log.read_text()
        assert proc.poll() is None, "conddb serve exited" + said
        assert time.monotonic() < deadline, f"conddb serve not up in {seconds:.0f} s" + said
        time.sleep(0.1)
