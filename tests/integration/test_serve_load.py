"""``conddb serve --workers 2`` keeps both workers alive on a loaded machine (issue 12).

uvicorn's supervisor kills a worker that does not answer its health check within 5 s; a spawned
worker first re-runs the ``conddb`` script, so when that imported the whole CLI (~2 s of CPU) a
busy machine lost its workers one after the other ("Child process [...] died").  Here every core
runs a CPU-burning process while requests go to the service for 15 s: both original workers must
answer, none may die ("Child process [...] died") and no other worker may ever start.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import httpx

from conditions.service.testing import free_socket
from tests.support.cli import CONDDB_SCRIPT, run, wait_until_serving

LOAD_SECONDS = 15.0
BURN = "while True: pass"


def test_two_workers_survive_a_loaded_machine(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'conddb.sqlite'}"
    run(url, "db", "upgrade")
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()  # uvicorn binds the port itself
    log = tmp_path / "serve.log"
    args = ["--db", url, "serve", "--port", str(port), "--workers", "2", "--no-access-log"]
    burners: list[subprocess.Popen[bytes]] = []
    with log.open("wb") as out:
        server = subprocess.Popen([str(CONDDB_SCRIPT), *args], stdout=out, stderr=out)
    try:
        # load first, so the workers start (and are health-checked) on a busy machine
        burners = [
            subprocess.Popen([sys.executable, "-c", BURN]) for _ in range(os.cpu_count() or 2)
        ]
        base = f"http://127.0.0.1:{port}"
        wait_until_serving(base, server, 120.0, log)
        pids: dict[int, int] = {}
        errors = 0
        end = time.monotonic() + LOAD_SECONDS
        while time.monotonic() < end:
            try:  # a new connection per request, so the kernel hands them to either worker
                r = httpx.get(f"{base}/healthz", timeout=10)
                pid = int(r.json()["pid"])
                pids[pid] = pids.get(pid, 0) + 1
            except httpx.TransportError:
                errors += 1
            time.sleep(0.05)
        assert server.poll() is None, log.read_text()
    finally:
        for p in burners:
            p.kill()
            p.wait()
        server.terminate()
        server.wait(timeout=60)
    text = log.read_text()
    assert "died" not in text, text
    assert len(pids) == 2, (pids, errors, text)  # the two first workers, none replaced
    # ...and no worker was ever started in place of another, not even one that never answered
    started = {int(pid) for pid in re.findall(r"Started server process \[(\d+)\]", text)}
    assert started == set(pids), (started, pids, text)
    assert errors == 0, (errors, text)
