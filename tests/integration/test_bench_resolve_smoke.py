"""benchmarks/bench_resolve.py --quick still runs (no speed asserted: figures are the
benchmark's business); it also checks its own answers (the appended IOV is seen)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_bench_resolve_quick_runs(backend: str) -> None:
    if backend not in os.environ.get("CONDDB_TEST_BACKENDS", "sqlite,postgresql"):
        pytest.skip(f"{backend} not among CONDDB_TEST_BACKENDS")
    done = subprocess.run(
        [sys.executable, "benchmarks/bench_resolve.py", "--quick", "--backend", backend],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for figure in ("raw select p50", "Resolver open", "known segments", "tracemalloc", "load "):
        assert figure in done.stdout, (figure, done.stdout[-2000:])
