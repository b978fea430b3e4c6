"""``conddb token`` and ``conddb serve`` (a real uvicorn with 2 worker processes), both backends."""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from click.testing import CliRunner

from cli.commands.serve import serve
from cli.commands.token import token
from conditions import store
from conditions.db import make_engine, write_session
from conditions.service.auth import read_audit, token_hash
from conditions.service.protocol import NoDelayHTTPProtocol
from conditions.service.testing import free_socket
from tests.support.cli import CONDDB_SCRIPT, wait_until_serving


def test_token_commands(tmp_path: Path) -> None:
    runner = CliRunner()
    path = tmp_path / "tokens.jsonl"
    added = runner.invoke(token, ["add", "alice", "--role", "admin", "--file", str(path)])
    assert added.exit_code == 0, added.output
    secret = added.stdout.strip().splitlines()[0]
    assert secret.startswith("cdb_") and len(secret) >= 40
    stored = json.loads(path.read_text())
    assert stored["sha256"] == token_hash(secret) and secret not in path.read_text()
    assert path.stat().st_mode & 0o077 == 0  # readable by its owner only
    again = runner.invoke(token, ["add", "alice", "--file", str(path)])
    assert again.exit_code != 0
    listed = runner.invoke(token, ["list", "--json", "--file", str(path)])
    assert json.loads(listed.stdout) == [
        {"name": "alice", "role": "admin", "revoked": False, "created_at": stored["created_at"]}
    ]
    assert runner.invoke(token, ["revoke", "alice", "--file", str(path)]).exit_code == 0
    assert json.loads(path.read_text())["revoked"] is True
    assert runner.invoke(token, ["revoke", "alice", "--file", str(path)]).exit_code == 1
    for group in (token, serve):
        assert runner.invoke(group, ["--help"]).exit_code == 0


async def _ok(scope: dict[str, Any], receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _nodelay_of_connections(http: Any) -> list[int]:
    """TCP_NODELAY of the server side of a connection to uvicorn listening, as uvicorn does
    with several workers, on a socket created without proto=IPPROTO_TCP."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    # asyncio loop: uvloop (when installed) switches Nagle off by itself
    config = uvicorn.Config(_ok, http=http, loop="asyncio", lifespan="off", log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        while not server.started:
            time.sleep(0.01)
        with httpx.Client() as client:
            assert client.get(f"http://127.0.0.1:{sock.getsockname()[1]}/").text == "ok"
            return [
                c.transport.get_extra_info("socket").getsockopt(
                    socket.IPPROTO_TCP, socket.TCP_NODELAY
                )
                for c in server.server_state.connections
            ]
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def test_serve_protocol_switches_nagle_off() -> None:
    """Without TCP_NODELAY, answers under load waited ~40 ms for delayed ACKs (measured by
    benchmarks/bench_service.py: 350 instead of 2,300 lookups/s with 2 workers)."""
    assert _nodelay_of_connections("h11") == [0]  # the default: Nagle on
    assert all(_nodelay_of_connections(NoDelayHTTPProtocol))


def test_serve_with_two_workers(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        h = store.put_payload(s, "json", b'{"v":1}').hash
        store.create_tag(s, "t", "json")
        store.append_iovs(s, "t", [(1, h)])
        store.create_global_tag(s, "G")
        store.set_record(s, "G", "r", "t")
    engine.dispose()
    tokens, audit = tmp_path / "tokens.jsonl", tmp_path / "audit.jsonl"
    runner = CliRunner()
    secret = runner.invoke(token, ["add", "up", "--file", str(tokens)]).stdout.split()[0]
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    args = ["--db", db_url, "serve", "--port", str(port), "--workers", "2", "--no-access-log"]
    args += ["--tokens-file", str(tokens), "--audit-log", str(audit), "--log-level", "warning"]
    proc = subprocess.Popen([str(CONDDB_SCRIPT), *args])
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until_serving(base, proc, 60.0)
        with httpx.Client(base_url=base) as http:
            for _ in range(20):  # spread over both workers: same answer from each
                r = http.get("/v1/resolve/G/5")
                assert r.json()["records"]["r"]["payload_hash"] == h
            r = http.post(
                "/v1/tags",
                json={"name": "t2", "type": "json"},
                headers={"Authorization": f"Bearer {secret}"},
            )
            assert r.status_code == 201
            assert http.post("/v1/tags", json={"name": "t3", "type": "json"}).status_code == 401
            assert [t["name"] for t in http.get("/v1/tags").json()] == ["t", "t2"]
        assert [(e["who"], e["status"]) for e in read_audit(audit)] == [("up", 201), (None, 401)]
    finally:
        proc.terminate()
        proc.wait(timeout=30)
