"""What a ``conddb serve`` worker imports before it can answer its first health check.

Each uvicorn worker runs ``create_app()`` (``--factory``) in a fresh interpreter, and the
supervisor kills a worker that does not answer in time (issues 12, 15).  Alembic (the schema
check is one plain query, :mod:`conditions.db.revision`), matplotlib and scipy (the browser's
plots), Jinja2 (the browser's templates), :mod:`conditions.drift` (trend pages) and the payload
models (typed payloads, validation) are imported by the code that uses them, at the first such
request: never by building the app.  numpy is imported: the lookup's IOV index
(:mod:`conditions.store.index`) keeps its since arrays in numpy, and every worker serves lookups.
The cost
itself is measured in ``benchmarks/bench_cli.py`` (its ``import conditions.service.app`` row).
"""

from __future__ import annotations

import os
import subprocess
import sys

#: Imported on demand only: each is a top-level package, or a module of ours.
DEFERRED = {
    "alembic",
    "matplotlib",
    "scipy",
    "jinja2",
    "conditions.drift",
    "conditions.payloads",
    "conditions.report",
}

PROBE = """
import sys
from fastapi.testclient import TestClient
from conditions.service.app import create_app

app = create_app()
print("BUILT", *sys.modules)
with TestClient(app) as client:
    statuses = [client.get(u).status_code for u in ("/", "/tag/no-such-tag/trend")]
print("SERVED", *statuses, *sys.modules)
"""


def _modules(line: str) -> set[str]:
    return {word for word in line.split()[1:] if not word.isdigit()}


def _deferred(modules: set[str]) -> set[str]:
    return {m for m in DEFERRED if m in modules}


def test_building_the_app_defers_the_heavy_imports(db_url: str) -> None:
    env = {**os.environ, "CONDDB_URL": db_url}
    out = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300, env=env
    )
    assert out.returncode == 0, out.stderr
    lines = {line.split()[0]: line for line in out.stdout.splitlines() if line.strip()}
    built = _modules(lines["BUILT"])
    assert "conditions.service.app" in built
    assert not _deferred(built), _deferred(built)
    # the pages import what they need (so the probe does see the modules it looks for): the
    # index renders a template, a trend page of an unknown tag runs the drift code to its 404
    statuses, served = lines["SERVED"].split()[1:3], _modules(lines["SERVED"])
    assert statuses == ["200", "404"]
    assert {"jinja2", "conditions.drift", "conditions.payloads"} <= _deferred(served)
