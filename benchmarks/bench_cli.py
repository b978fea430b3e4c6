"""Start-up cost of the ``conddb`` command against the floor ``python -c "import click"``.

    python benchmarks/bench_cli.py [--runs 15] [--importtime] [--db EMPTY_DATABASE_URL]

In one run, on a small SQLite database made here (one tag, one global tag, 3 IOVs): the floor,
``conddb --help``, ``conddb get --help``, a TAB completion of a command name
(``_CONDDB_COMPLETE=bash_complete COMP_WORDS="conddb g" COMP_CWORD=1``) and of a global-tag name
(``conddb --db URL get --gt G<TAB>``: one query on the database), and ``conddb get --gt GT --run
250``.  Two references, no target: ``conddb get ... --at T`` takes the ordinary path (SQLAlchemy
and the store; what every ``get`` cost before the plain lookup of :mod:`conditions.db.plain`), and
``python -c "import conditions.service.app"`` is what each ``conddb serve`` worker imports before
it serves (uvicorn's supervisor kills a worker that misses its 5 s health check).  The commands are
run round-robin (so a change of load on the machine hits them all alike), ``--runs`` times each,
and each is reported as the median wall time and the median CPU time (user + system of the
child, from ``getrusage``: the figure that does not depend on how loaded the machine is), with
its ratio to the floor's median.  Target (issue 12): every ratio <= 3 for the first five.
``--importtime`` prints the 15 slowest imports of ``conddb get`` (``python -X importtime``),
cumulative, in ms.

Measured on the shared 2-core machine, CPU ms and ratio to the floor of the same run ("before":
the tree at b870cf2, 7 runs, load average 7; "after": this branch, 15 runs, load average 11):

=======================================  ===============  ===============
command                                  before           after
=======================================  ===============  ===============
``python -c "import click"``             75 (1.00)        90 (1.00)
``conddb --help``                        108 (1.44)       122 (1.35)
``conddb get --help``                    109 (1.46)       113 (1.25)
TAB completion (``conddb g``)            95 (1.26)        100 (1.10)
TAB completion (``get --gt G``)          (none)           109 (1.20)
``conddb get --gt GT --run 250``         1095 (14.6)      123 (1.36)
ref: ``get ... --at T``                  (as get)         995 (11.0)
ref: ``import conditions.service.app``   2552 (31.8)      1725 (21.5)
=======================================  ===============  ===============

(The worker import was compared separately, both trees in one run of 7: scipy is no longer
imported by ``conditions.payloads.spline`` at import time.)  On PostgreSQL (``--db``), ``get``
is ~4.6x and the global-tag completion ~4.1x: ``import psycopg`` alone costs ~150 ms of CPU.

The ``get`` figure fell by the imports it no longer makes: SQLAlchemy (~3x the floor on its
own), the store and Alembic (``require_head`` read every migration script: ~120 ms; the head is
now a constant, :mod:`conditions.db.revision`).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CONDDB = str(Path(sys.executable).parent / "conddb")


def cpu_of_children() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall, cpu) seconds of one run of ``argv``, which must succeed (and, for a completion,
    print a candidate)."""
    cpu0, t0 = cpu_of_children(), time.perf_counter()
    proc = subprocess.run(argv, env=env, capture_output=True)
    wall, cpu = time.perf_counter() - t0, cpu_of_children() - cpu0
    if proc.returncode != 0 or ("_CONDDB_COMPLETE" in env and not proc.stdout.strip()):
        raise SystemExit(f"{argv} failed: {proc.stderr.decode()}")
    return wall, cpu


def make_db(folder: Path, url: str | None = None) -> str:
    """A small conditions database: tag ly (3 IOVs) in global tag GT; in the SQLite file
    ``bench.sqlite`` of ``folder``, or in the empty database ``url``."""
    url = url or f"sqlite:///{folder / 'bench.sqlite'}"
    doc = folder / "y0.json"
    doc.write_text(json.dumps({"y0": 1345.0, "sigma": 0.2}))

    def conddb(*args: str) -> str:
        out = subprocess.run([CONDDB, "--db", url, *args], capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(out.stderr)
        return out.stdout.strip()

    conddb("db", "upgrade")
    h = conddb("payload", "put", "json", str(doc))
    conddb("tag", "create", "ly", "--type", "json")
    for since in (100, 200, 300):
        conddb("iov", "add", "ly", "--since", str(since), "--payload", h)
    conddb("gt", "create", "GT")
    conddb("gt", "set", "GT", "light_yield", "ly")
    return url


def importtime(url: str, top: int = 15) -> None:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", CONDDB, "--db", url, "get", "--gt", "GT", "--run",
         "250"],
        capture_output=True,
        text=True,
    )
    rows = []
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "cumulative" not in line:
            _self, cumulative, name = line.split("|")
            rows.append((int(cumulative), name.rstrip()))
    print("\nslowest imports of `conddb get` (cumulative ms, python -X importtime):")
    for us, name in sorted(rows, reverse=True)[:top]:
        print(f"  {us / 1000:8.1f}  {name}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--importtime", action="store_true")
    parser.add_argument(
        "--db", default=None, metavar="URL", help="an EMPTY database to use (default: SQLite)"
    )
    args = parser.parse_args()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("_CONDDB", "COMP_"))}
    with tempfile.TemporaryDirectory() as tmp:
        url = make_db(Path(tmp), args.db)
        complete = {**env, "_CONDDB_COMPLETE": "bash_complete", "COMP_WORDS": "conddb g",
                    "COMP_CWORD": "1"}
        complete_gt = {**env, "_CONDDB_COMPLETE": "bash_complete",
                       "COMP_WORDS": f"conddb --db {url} get --gt G", "COMP_CWORD": "5"}
        get = [CONDDB, "--db", url, "get", "--gt", "GT", "--run", "250"]
        cases = {
            'python -c "import click"': ([sys.executable, "-c", "import click"], env),
            "conddb --help": ([CONDDB, "--help"], env),
            "conddb get --help": ([CONDDB, "get", "--help"], env),
            "TAB completion (conddb g)": ([CONDDB], complete),
            "TAB completion (get --gt G)": ([CONDDB], complete_gt),
            "conddb get --gt GT --run 250": (get, env),
            "ref: get --at T (SQLAlchemy path)": ([*get, "--at", "2999-01-01T00:00:00Z"], env),
            "ref: import conditions.service.app": (
                [sys.executable, "-c", "import conditions.service.app"], env
            ),
        }
        samples: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
        for argv, e in cases.values():  # warm the file cache and .pyc files
            timed(argv, e)
        for _ in range(args.runs):
            for name, (argv, e) in cases.items():
                samples[name].append(timed(argv, e))
        medians = {
            name: (
                statistics.median(w for w, _ in runs),
                statistics.median(c for _, c in runs),
            )
            for name, runs in samples.items()
        }
        floor_wall, floor_cpu = medians['python -c "import click"']
        print(f"median of {args.runs} runs each, load average {os.getloadavg()[0]:.1f} "
              f"on {os.cpu_count()} cores")
        print(f"{'command':36} {'wall ms':>9} {'x floor':>8} {'cpu ms':>9} {'x floor':>8}")
        for name, (wall, cpu) in medians.items():
            print(f"{name:36} {1000 * wall:9.1f} {wall / floor_wall:8.2f} "
                  f"{1000 * cpu:9.1f} {cpu / floor_cpu:8.2f}")
        if args.importtime:
            importtime(url)


if __name__ == "__main__":
    main()
