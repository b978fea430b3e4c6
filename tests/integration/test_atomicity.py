"""Atomicity of campaign uploads: a writer killed at any point leaves zero partial rows.

A forked child uploads a campaign (light yield, dark noise and the 2.3 MB LPMT curves, into tags
that partly exist already) and SIGKILLs itself right after its N-th SQL statement, or in the
``commit`` event just before COMMIT is sent.  Every statement of the upload is a kill point, so
every partial state the writer can reach is tried.  On PostgreSQL the same is done by terminating
the writer's server backend (a dropped connection) instead.  After each kill the database must
hold exactly what it held before, no lock may be left behind, and a re-run must succeed.

The slow test kills the real ``conddb campaign run`` command at seeded random times.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import random
import signal
import subprocess
import sys
import time
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, select, text
from sqlalchemy.engine import Engine

from conditions.campaign import CampaignConstants, upload_campaign
from conditions.db import make_engine, read_session, write_session
from conditions.model import (
    IOV,
    Campaign,
)
from conditions.payloads import examples
from tests.conftest import Backend, row_counts

FORK = mp.get_context("fork")


def constants(name: str, first_run: int, *, lpmt: bool) -> CampaignConstants:
    payloads: dict[str, Any] = {
        "light_yield": (
            examples.light_yield().model_copy(update={"y0": 1345.0 + first_run / 1000}),
            {"job": "lightyield"},
        ),
        "dark_noise": (examples.dark_noise(), {"job": "darknoise"}),
    }
    if lpmt:
        payloads["lpmt_nonlinearity"] = (examples.lpmt_nonlinearity(), {"job": "dualcal"})
    return CampaignConstants(
        name=name,
        kind="weekly",
        first_run=first_run,
        last_run=first_run + 6,
        manifest_sha256=f"{first_run:064x}",
        payloads=payloads,
        info={"inputs": [{"file": f"run_{first_run:06d}.csv", "sha256": "cd" * 32}]},
    )


#: The upload that gets killed: new payloads, IOVs appended to existing tags, one new tag.
VICTIM = constants("weekly-run2000", 2000, lpmt=True)


def snapshot(engine: Engine) -> dict[str, Any]:
    """Row counts of every table plus the full IOV and campaign contents."""
    with read_session(engine) as s:
        out: dict[str, Any] = dict(row_counts(engine))
        out["iov_rows"] = sorted(s.execute(select(IOV.tag_id, IOV.since, IOV.payload_hash)).all())
        out["campaigns"] = sorted(s.scalars(select(Campaign.name)))
        return out


def _child(url: str, kill_at: int | str | None, mode: str, pipe: Pipe) -> None:
    """Upload VICTIM; die (or lose the connection) after statement ``kill_at`` or at 'commit'."""
    engine = make_engine(url)
    count = 0

    @event.listens_for(engine, "after_cursor_execute")
    def _after(_conn: Any, cursor: Any, *_args: Any) -> None:
        nonlocal count
        count += 1
        if count != kill_at:
            return
        if mode == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        pid = cursor.connection.info.backend_pid  # psycopg 3: the server process of this writer
        admin = make_engine(url)
        with admin.connect() as other:
            other.execute(text("SELECT pg_terminate_backend(:p)"), {"p": pid})
        admin.dispose()

    @event.listens_for(engine, "commit")
    def _commit(_conn: Any) -> None:
        if kill_at == "commit":
            os.kill(os.getpid(), signal.SIGKILL)

    try:
        with write_session(engine) as s:
            upload_campaign(s, VICTIM)
    except Exception as exc:  # the dropped-connection mode expects one
        pipe.send(("error", type(exc).__name__, count))
        return
    pipe.send(("done", "", count))


def run_child(url: str, kill_at: int | str | None, mode: str = "sigkill") -> tuple[Any, ...]:
    """Run :func:`_child` in a forked process; returns its report or ('killed', signal)."""
    receive, send = FORK.Pipe(duplex=False)
    proc = FORK.Process(target=_child, args=(url, kill_at, mode, send))
    proc.start()
    send.close()
    proc.join(timeout=120)
    assert proc.exitcode is not None, "upload child hung"
    try:
        return tuple(receive.recv())
    except EOFError:  # the child died before it reported
        return ("killed", -proc.exitcode if proc.exitcode < 0 else proc.exitcode)


def prepare(engine: Engine) -> dict[str, Any]:
    """An earlier campaign, so that the victim appends to existing tags (and creates one)."""
    with write_session(engine) as s:
        upload_campaign(s, constants("weekly-run1000", 1000, lpmt=False))
    return snapshot(engine)


def statement_count(backend: Backend) -> int:
    """How many SQL statements the victim upload sends (measured on a scratch database)."""
    url = backend.new_url()
    try:
        engine = make_engine(url)
        prepare(engine)
        engine.dispose()
        status, _name, count = run_child(url, None)
        assert status == "done"
        return int(count)
    finally:
        backend.drop(url)


def rerun_succeeds(engine: Engine, before: dict[str, Any]) -> None:
    """No lock is left behind and the re-run writes the whole campaign."""
    with write_session(engine) as s:
        report = upload_campaign(s, VICTIM)
    assert report.created and report.iovs_added == 3
    after = snapshot(engine)
    assert after["campaign"] == before["campaign"] + 1
    assert after["iov"] == before["iov"] + 3 and after["campaign_payload"] == before[
        "campaign_payload"
    ] + len(VICTIM.payloads)


def test_sigkill_at_every_statement_leaves_nothing(backend: Backend) -> None:
    total = statement_count(backend)
    assert total >= 10  # sanity: the upload is a multi-statement transaction
    points: list[int | str] = [*range(1, total + 1), "commit"]
    url = backend.new_url()
    engine = make_engine(url)
    try:
        before = prepare(engine)
        for point in points:
            outcome = run_child(url, point)
            assert outcome == ("killed", signal.SIGKILL), (point, outcome)
            assert snapshot(engine) == before, f"partial rows after a kill at statement {point}"
        rerun_succeeds(engine, before)
    finally:
        engine.dispose()
        backend.drop(url)


@pytest.mark.postgresql
def test_dropped_connection_leaves_nothing(backends: dict[str, Backend]) -> None:
    backend = backends["postgresql"]
    backend.setup()
    total = statement_count(backend)
    url = backend.new_url()
    engine = make_engine(url)
    try:
        before = prepare(engine)
        # every 3rd statement and the last one: each costs a new server connection
        for point in sorted({*range(2, total + 1, 3), total}):
            outcome = run_child(url, point, mode="drop")
            assert outcome[0] == "error", (point, outcome)
            assert snapshot(engine) == before, f"partial rows after a drop at statement {point}"
        rerun_succeeds(engine, before)
    finally:
        engine.dispose()
        backend.drop(url)


@pytest.fixture(scope="module")
def campaign_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small weekly mock campaign (scale 0.2: 0.05 is too few events for the Y0 peak fit)."""
    out = tmp_path_factory.mktemp("campaign") / "weekly"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "simulate",
            "campaign",
            "--kind",
            "weekly",
            "--run",
            "1000",
            "--out",
            str(out),
            "--scale",
            "0.2",
        ],
        check=True,
        capture_output=True,
        timeout=300,
    )
    return out / "manifest.json"


@pytest.mark.slow
def test_sigkill_of_conddb_campaign_run_at_random_times(db_url: str, campaign_dir: Path) -> None:
    """Kill the CLI at seeded random times over its whole run (start-up, fits, upload)."""
    engine = make_engine(db_url)
    command = [
        sys.executable,
        "-m",
        "cli.main",
        "--db",
        db_url,
        "campaign",
        "run",
        str(campaign_dir),
        "--quiet",
    ]
    subprocess.run(
        [sys.executable, "-m", "cli.main", "--db", db_url, "db", "upgrade"],
        check=True,
        capture_output=True,
        timeout=120,
    )
    before = snapshot(engine)
    start = time.monotonic()
    probe = subprocess.run([*command, "--dry-run", "--json"], capture_output=True, timeout=300)
    assert probe.returncode == 0, probe.stderr
    duration = time.monotonic() - start
    n_records = len(json.loads(probe.stdout)["records"])  # what one whole upload writes
    assert n_records >= 3
    rng = random.Random(9)
    killed = 0
    for _ in range(4):
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.1) * duration)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            killed += 1
        proc.wait(timeout=60)
        now = snapshot(engine)
        # either nothing of the campaign or all of it (a kill after COMMIT)
        assert now == before or (
            now["campaign"] == 1 and now["campaign_payload"] == n_records
        ), now
        if now != before:
            break
    assert killed >= 1
    done = subprocess.run(command, capture_output=True, timeout=300, text=True)
    assert done.returncode == 0, done.stderr
    final = snapshot(engine)
    assert final["campaign"] == 1
    assert final["campaign_payload"] == n_records and final["iov"] == n_records
    engine.dispose()
