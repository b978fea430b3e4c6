"""Figures of two attacks on the write API of one uvicorn worker (issue 13, items 4 and Low):

1. a 400 MB upload without a token: worker RSS before / peak after, time to the answer, bytes the
   client got to send before the server closed (baseline: the same for a 1 kB upload);
2. 300 requests with wrong tokens from one address: how many were processed (401) and how many
   throttled (429).

    python benchmarks/service_attacks.py [--db URL] [--mb 400]

Runs against whatever ``conditions`` is importable (PYTHONPATH=<checkout> to measure another).
"""

from __future__ import annotations

import argparse
import os
import select
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

import httpx

from conditions.db import make_engine
from conditions.migrate import upgrade
from conditions.service.auth import Role, add_token
from conditions.service.testing import free_socket


def rss_mb(pid: int) -> dict[str, float]:
    out = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(("VmRSS", "VmHWM")):
            out[line.split(":")[0]] = int(line.split()[1]) / 1024
    return out


def upload(port: int, size: int) -> tuple[bytes, int, float]:
    """POST ``size`` bytes without a token; (answer head, bytes sent, seconds to the answer)."""
    head = (
        "POST /v1/payloads HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        f"Content-Length: {size}\r\n\r\n"
    ).encode()
    prefix = b'{"type":"json","document":"'
    chunk = b" " * (1 << 20)
    sent, answer, t0, t_answer = 0, b"", time.monotonic(), float("nan")
    with socket.create_connection(("127.0.0.1", port), timeout=120) as conn:
        conn.sendall(head + prefix)
        sent = len(prefix)
        try:
            while sent < size:
                wait = 1.0 if sent == len(prefix) else 0.0  # an early answer comes at once
                if not answer and select.select([conn], [], [], wait)[0]:
                    answer, t_answer = conn.recv(65536), time.monotonic() - t0
                n = min(len(chunk), size - sent - 2)
                if n <= 0:
                    break
                conn.sendall(chunk[:n])
                sent += n
            conn.sendall(b'"}'[: max(0, size - sent)])
            if not answer:
                answer, t_answer = conn.recv(65536), time.monotonic() - t0
        except OSError:
            pass
    return answer.split(b"\r\n", 1)[0], sent, t_answer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--db", default=None)
    parser.add_argument("--mb", type=int, default=400)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="conddb_attack_"))
    url = args.db or f"sqlite:///{work / 'db.sqlite'}"
    engine = make_engine(url)
    upgrade(engine)
    engine.dispose()
    add_token(work / "tokens.jsonl", "u", Role.UPLOADER)
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    env = {**os.environ, "CONDDB_URL": url, "CONDDB_TOKENS_FILE": str(work / "tokens.jsonl")}
    cmd = [sys.executable, "-m", "uvicorn", "--factory", "conditions.service.app:create_app",
           "--port", str(port), "--no-proxy-headers", "--log-level", "critical"]  # fmt: skip
    proc = subprocess.Popen(cmd, env=env)
    try:
        for _ in range(400):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        for label, size in (("baseline 1 kB", 1000), (f"{args.mb} MB", args.mb * 1_000_000)):
            before = rss_mb(proc.pid)
            status, sent, seconds = upload(port, size)
            time.sleep(0.2)
            after = rss_mb(proc.pid)
            growth = after["VmHWM"] - before["VmRSS"]
            print(f"{label:>14} without token: {status.decode()!r} after {seconds:.3f} s, "
                  f"{sent / 1e6:.1f} MB sent; RSS {before['VmRSS']:.0f} -> peak "
                  f"{after['VmHWM']:.0f} MB (+{growth:.0f} MB)")  # fmt: skip
        statuses: Counter[int] = Counter()
        t0 = time.monotonic()
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
            for n in range(300):
                wrong = {"Authorization": f"Bearer b{n}"}
                statuses[http.post("/v1/types", json={"name": "x"}, headers=wrong).status_code] += 1
        print(
            f"300 wrong tokens in {time.monotonic() - t0:.1f} s: {statuses[401]} processed (401), "
            f"{statuses[429]} throttled (429); processed / sent = {statuses[401] / 300:.2f}"
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)


if __name__ == "__main__":
    main()
