"""Run the real app with uvicorn on a free loopback port in a background thread (tests, benchmarks).

with serve_in_thread(create_app(settings)) as base_url:
    httpx.get(base_url + "/healthz")
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from .app import create_app
from .auth import Role, add_token, read_audit
from .settings import ServiceSettings


def free_socket(host: str = "127.0.0.1") -> socket.socket:
    """A listening-ready TCP socket bound to a free port of ``host``.

    ``proto=IPPROTO_TCP`` matters: asyncio sets TCP_NODELAY on accepted connections only for
    sockets that say so, and without it every response waits ~40 ms (Nagle + delayed ACK).
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.bind((host, 0))
    return sock


@contextmanager
def serve_in_thread(app: Any, *, startup_timeout: float = 20.0) -> Iterator[str]:
    """Serve ``app`` on 127.0.0.1:<free port> until the block ends; yields the base URL."""
    sock = free_socket()
    port = sock.getsockname()[1]
    config = uvicorn.Config(
        app, log_level="warning", access_log=False, lifespan="on", proxy_headers=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + startup_timeout
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            sock.close()
            raise RuntimeError("the conditions service did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


@dataclass
class RunningService:
    """A service started by :func:`running_service`: its URL, tokens by role, files."""

    base_url: str
    tokens: dict[str, str]
    tokens_file: Path
    audit_log: Path
    settings: ServiceSettings

    def auth(self, role: str) -> dict[str, str]:
        """The ``Authorization`` header of the token with ``role``."""
        return {"Authorization": f"Bearer {self.tokens[role]}"}

    def audit(self) -> list[dict[str, Any]]:
        return read_audit(self.audit_log)


@contextmanager
def running_service(url: str, workdir: Path, **settings: Any) -> Iterator[RunningService]:
    """Serve the database at ``url`` with a fresh tokens file holding one token per role
    (names ``reader``, ``uploader``, ``admin``) and an audit log, both in ``workdir``."""
    tokens_file = workdir / "tokens.jsonl"
    audit_log = workdir / "audit.jsonl"
    tokens = {role.label: add_token(tokens_file, role.label, role) for role in Role}
    config = ServiceSettings(url=url, tokens_file=tokens_file, audit_log=audit_log, **settings)
    app = create_app(config)
    with serve_in_thread(app) as base_url:
        yield RunningService(base_url, tokens, tokens_file, audit_log, config)
