"""Issue 13, HTTP service: nothing is read before authentication, every write outcome is audited
in the database (in the change's own transaction), X-Forwarded-For is not trusted by default,
failed authentications are throttled, the audit cannot be inflated, a broken tokens file is a
503 without its path, a frozen global tag is cached long only once nothing in it can change.

Both backends, real uvicorn on loopback (``running_service``), raw sockets where the point is
what the server does before the body arrives.
"""

from __future__ import annotations

import logging
import select
import socket
import time
from collections import Counter
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import text

from conditions import store
from conditions.db import read_session, write_session
from conditions.errors import TagNotFound
from conditions.service.testing import running_service
from conditions.services import audit
from tests.integration.test_service_write import (  # noqa: F401 (fixture)
    PAYLOAD_LIMIT,
    Service,
    counts,
    service,
)

BIG = 400_000_000  # [bytes] announced body of the memory-exhaustion attack


def rows(svc: Service) -> list[dict[str, Any]]:
    """The audit table, oldest first."""
    return audit.list_records(svc.engine, limit=100_000)


def raw_exchange(base_url: str, head: str, body: bytes, timeout: float = 5.0) -> tuple[int, str]:
    """Send ``head`` + ``body`` (maybe far less than announced) and read the answer's status
    line and headers; raises ``TimeoutError`` when the server waits for more body instead."""
    url = urlsplit(base_url)
    with socket.create_connection((url.hostname, url.port), timeout=timeout) as sock:
        sock.sendall(head.encode() + body)
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    header = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
    return int(header.split(" ", 2)[1]), header.lower()


def post_head(path: str, length: int, authorization: str | None = None) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: test", "Content-Type: application/json"]
    if authorization:
        lines.append(f"Authorization: {authorization}")
    lines.append(f"Content-Length: {length}")
    return "\r\n".join(lines) + "\r\n\r\n"


# --- item 4: authenticate and check Content-Length before reading a byte -------------------------
def test_refused_before_the_body_is_read(service: Service) -> None:  # noqa: F811
    """400 MB announced, 2 bytes sent: the answer comes at once (the server does not wait for
    the body) and closes the connection; nothing is stored; each refusal is audited."""
    svc, base = service.svc, service.svc.base_url
    before = counts(service.engine)
    cases = [
        (None, 401),
        ("Bearer cdb_wrong", 401),
        (f"Bearer {svc.tokens['reader']}", 403),
        (f"Bearer {svc.tokens['uploader']}", 413),  # valid token, body over the limit
    ]
    for authorization, expected in cases:
        t0 = time.monotonic()
        status, header = raw_exchange(base, post_head("/v1/payloads", BIG, authorization), b'{"')
        assert status == expected, (authorization, header)
        assert time.monotonic() - t0 < 2.0
        assert "connection: close" in header
    assert counts(service.engine) == before
    assert [(r["status"], r["who"]) for r in rows(service)] == [
        (401, None),
        (401, None),
        (403, "reader"),
        (413, "uploader"),
    ]


def _rss_kb(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text()
    return {
        line.split(":")[0]: int(line.split()[1])
        for line in status.splitlines()
        if line.startswith(("VmRSS", "VmHWM"))
    }


def test_big_body_without_token_does_not_grow_the_worker(db_url: str, tmp_path: Path) -> None:
    """A worker process (uvicorn, as ``conddb serve`` runs it) answers 401 to a 400 MB upload
    without a token; its peak RSS grows by less than 16 MB (on the old code: by ~400 MB)."""
    import os
    import subprocess
    import sys

    from conditions.service.auth import Role, add_token
    from conditions.service.testing import free_socket

    add_token(tmp_path / "tokens.jsonl", "u", Role.UPLOADER)
    sock = free_socket()
    port = sock.getsockname()[1]
    sock.close()
    env = {**os.environ, "CONDDB_URL": db_url, "CONDDB_TOKENS_FILE": str(tmp_path / "tokens.jsonl")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "--factory", "conditions.service.app:create_app",
         "--host", "127.0.0.1", "--port", str(port), "--no-proxy-headers", "--log-level",
         "warning"],
        env=env,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.05)
        before = _rss_kb(proc.pid)
        url = urlsplit(base)
        chunk = b" " * (1 << 20)
        sent, answer = 0, b""
        with socket.create_connection((url.hostname, url.port), timeout=60) as conn:
            conn.sendall(post_head("/v1/payloads", BIG).encode() + b'{"type":"json","document":"')
            try:
                while sent < BIG:
                    if not answer and select.select([conn], [], [], 2.0 if sent == 0 else 0)[0]:
                        answer = conn.recv(65536)  # answered: keep sending, it must stop reading
                    conn.sendall(chunk)
                    sent += len(chunk)
                if not answer:
                    answer = conn.recv(65536)
            except OSError:  # the server closed the connection: it reads no more
                pass
        after = _rss_kb(proc.pid)
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]
    growth_mb = (after["VmHWM"] - before["VmRSS"]) / 1024
    print(f"sent {sent / 1e6:.0f} MB before the close; peak RSS {before['VmRSS'] / 1024:.0f} -> "
          f"{after['VmHWM'] / 1024:.0f} MB (+{growth_mb:.1f} MB)")  # fmt: skip
    assert sent < BIG
    assert growth_mb < 16, (before, after)


def test_admitted_body_is_capped_while_it_streams(service: Service) -> None:  # noqa: F811
    """A valid token and an honest Content-Length under the limit pass; over it is 413."""
    up = service.svc.auth("uploader")
    ok = service.http.post("/v1/payloads", json={"type": "json", "document": {"v": 3}}, headers=up)
    assert ok.status_code == 201
    big = service.http.post(
        "/v1/payloads",
        content=b"[" + b"0," * (PAYLOAD_LIMIT * 8) + b"0]",
        headers={**up, "Content-Type": "application/json"},
    )
    assert big.status_code == 413 and big.json()["error"] == "PayloadTooLarge"


# --- item 6: the audit record is in the database, in the change's transaction --------------------
def test_every_outcome_is_audited_in_the_database(
    service: Service,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    http, svc = service.http, service.svc
    up, admin = svc.auth("uploader"), svc.auth("admin")
    assert http.post("/v1/tags", json={"name": "t1", "type": "json"}, headers=up).status_code == 201
    assert http.post("/v1/tags", json={"name": "t1", "type": "json"}, headers=up).status_code == 409
    assert http.post("/v1/tags", json={"name": "t2"}, headers=up).status_code == 422
    assert http.post("/v1/resolve/G/1", headers=admin).status_code == 405
    assert http.post("/v1/nowhere", headers=admin).status_code == 404

    def chunks() -> Any:
        yield b'{"name": "t3", "type": "json"}'

    assert http.post("/v1/tags", content=chunks(), headers=up).status_code == 411

    def boom(*_: Any, **__: Any) -> None:
        raise RuntimeError("boom")

    monkeypatch.setattr(store, "lock_tag", boom)
    assert http.post("/v1/tags/t1/lock", headers=admin).status_code == 500
    got = [(r["action"], r["who"], r["status"]) for r in rows(service)]
    assert got == [
        ("create_tag", "uploader", 201),
        ("create_tag", "uploader", 409),
        ("create_tag", "uploader", 422),
        ("POST /v1/resolve/G/1", "admin", 405),
        ("POST /v1/nowhere", "admin", 404),
        ("create_tag", None, 411),
        ("lock_tag", "admin", 500),
    ]
    by_status = Counter(r["status"] for r in rows(service))
    print("audit rows per status:", dict(sorted(by_status.items())))
    assert all(r["error"] for r in rows(service) if r["status"] >= 400)
    assert all(r["client"] == "127.0.0.1" and r["origin"] == "http" for r in rows(service))
    # the file is a copy of the table, line for line
    assert [e["id"] for e in svc.audit()] == [r["id"] for r in rows(service)]


def test_a_failing_audit_file_changes_no_answer(service: Service) -> None:  # noqa: F811
    """The file is a best-effort copy: unwritable, the write still answers 201 and is in the
    table (the old code answered 500 after the commit, and the retry 409)."""
    http, svc = service.http, service.svc
    svc.audit_log.unlink(missing_ok=True)
    svc.audit_log.mkdir()  # a directory where the file should be: every append fails
    r = http.post("/v1/tags", json={"name": "t1", "type": "json"}, headers=svc.auth("uploader"))
    assert r.status_code == 201, r.text
    with read_session(service.engine) as s:
        assert store.get_tag(s, "t1").name == "t1"
    assert [(x["action"], x["status"]) for x in rows(service)] == [("create_tag", 201)]


REFUSE_SUCCESS_ROWS = {
    "sqlite": [
        "CREATE TRIGGER audit_sink_down BEFORE INSERT ON audit_log WHEN NEW.status < 300 "
        "BEGIN SELECT RAISE(ABORT, 'audit sink down'); END"
    ],
    "postgresql": [
        "CREATE FUNCTION audit_sink_down() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
        "IF NEW.status < 300 THEN RAISE EXCEPTION 'audit sink down' USING ERRCODE = '23000'; "
        "END IF; RETURN NEW; END $$",
        "CREATE TRIGGER audit_sink_down BEFORE INSERT ON audit_log FOR EACH ROW "
        "EXECUTE FUNCTION audit_sink_down()",
    ],
}


def test_no_change_commits_without_its_audit_record(service: Service) -> None:  # noqa: F811
    """The audit row is in the change's transaction: when it cannot be written, the change
    is rolled back (409, nothing stored) and a retry after the repair succeeds (201)."""
    http, up = service.http, service.svc.auth("uploader")
    backend = service.engine.dialect.name
    with service.engine.begin() as conn:
        for sql in REFUSE_SUCCESS_ROWS[backend]:
            conn.execute(text(sql))
    before = counts(service.engine)
    r = http.post("/v1/tags", json={"name": "t1", "type": "json"}, headers=up)
    assert r.status_code == 409, r.text
    assert counts(service.engine) == before
    with service.engine.begin() as conn:
        conn.execute(
            text("DROP TRIGGER audit_sink_down" + (" ON audit_log" * (backend != "sqlite")))
        )
    r = http.post("/v1/tags", json={"name": "t1", "type": "json"}, headers=up)
    assert r.status_code == 201, r.text
    assert [(x["status"], x["error"] is None) for x in rows(service)] == [(409, False), (201, True)]


@pytest.mark.parametrize(
    "sql",
    [
        "UPDATE audit_log SET status = 200",
        "DELETE FROM audit_log",
        "INSERT OR REPLACE INTO audit_log (id, recorded_at, origin, action, target, status, "
        "detail) VALUES (1, '2026-01-01 00:00:00', 'http', 'x', 'x', 200, '{}')",
        "TRUNCATE audit_log",
    ],
    ids=["update", "delete", "replace", "truncate"],
)
def test_audit_rows_are_append_only(service: Service, sql: str) -> None:  # noqa: F811
    backend = service.engine.dialect.name
    if ("REPLACE" in sql and backend != "sqlite") or ("TRUNCATE" in sql and backend == "sqlite"):
        pytest.skip(f"no such statement on {backend}")
    service.http.post("/v1/tags", json={"name": "t1"}, headers=service.svc.auth("uploader"))
    before = rows(service)
    assert len(before) == 1
    with pytest.raises(Exception, match="append-only"), service.engine.begin() as conn:
        conn.execute(text(sql))
    assert rows(service) == before


def test_cli_hook_audits_with_the_os_user_in_the_same_transaction(service: Service) -> None:  # noqa: F811
    engine = service.engine
    with write_session(engine) as s:
        store.create_tag(s, "cli-tag", "json")
        audit.record_os_user(s, action="tag create", target="cli-tag", detail={"type": "json"})
    with pytest.raises(RuntimeError), write_session(engine) as s:
        store.create_tag(s, "cli-tag-2", "json")
        audit.record_os_user(s, action="tag create", target="cli-tag-2")
        raise RuntimeError("the command fails after its audit call")
    got = rows(service)
    assert [(r["origin"], r["who"], r["target"]) for r in got] == [
        ("cli", audit.os_user(), "cli-tag")
    ]
    with read_session(engine) as s:
        assert store.get_tag(s, "cli-tag").name == "cli-tag"
        with pytest.raises(TagNotFound):
            store.get_tag(s, "cli-tag-2")


def test_audit_export_is_json_lines_of_the_table(service: Service, tmp_path: Path) -> None:  # noqa: F811
    for n in range(3):
        service.http.post("/v1/tags", json={"name": f"x{n}", "type": "json"},
                          headers=service.svc.auth("uploader"))  # fmt: skip
    out = tmp_path / "export.jsonl"
    with out.open("w") as fh:
        assert audit.export(service.engine, fh) == 3
    import json

    assert [json.loads(x) for x in out.read_text().splitlines()] == rows(service)
    first = rows(service)[0]["id"]
    assert [r["target"] for r in audit.list_records(service.engine, after_id=first)] == [
        "/v1/tags",
        "/v1/tags",
    ]


# --- low: long paths cannot inflate the audit --------------------------------------------------
def test_long_paths_are_clipped_in_the_audit(service: Service) -> None:  # noqa: F811
    name = "x" * 6000 + "%00%0A"  # decoded by the server: NUL, newline
    r = service.http.post(f"/v1/tags/{name}/iovs", json={"iovs": []})
    assert r.status_code == 401
    (row,) = rows(service)
    assert len(row["target"]) <= audit.LIMITS["target"]
    assert row["target"].startswith("/v1/tags/xxx") and row["target"].endswith("chars]")
    assert "\x00" not in row["target"] and "\n" not in row["target"]


# --- item 8: X-Forwarded-For only from configured proxies --------------------------------------
@pytest.mark.parametrize("trusted", [None, "127.0.0.1"])
def test_forwarded_for_is_trusted_only_from_configured_proxies(
    db_url: str, tmp_path: Path, trusted: str | None
) -> None:
    with (
        running_service(db_url, tmp_path, forwarded_allow_ips=trusted) as svc,
        httpx.Client(base_url=svc.base_url, timeout=30) as http,
    ):
        r = http.post("/v1/types", json={"name": "x"}, headers={"X-Forwarded-For": "6.6.6.6"})
        assert r.status_code == 401
        engine = store_engine(db_url)
        try:
            (row,) = audit.list_records(engine)
        finally:
            engine.dispose()
    assert row["client"] == ("6.6.6.6" if trusted else "127.0.0.1")


def store_engine(url: str) -> Any:
    from conditions.db import make_engine

    return make_engine(url)


# --- low: throttling of failed authentications -------------------------------------------------
def test_failed_authentications_are_throttled(db_url: str, tmp_path: Path) -> None:
    per_minute = 20
    with (
        running_service(db_url, tmp_path, auth_failures_per_minute=per_minute) as svc,
        httpx.Client(base_url=svc.base_url, timeout=30) as http,
    ):
        t0 = time.monotonic()
        answers = [
            http.post("/v1/types", json={"name": "x"}, headers={"Authorization": f"Bearer bad{n}"})
            for n in range(300)
        ]
        elapsed = time.monotonic() - t0
        statuses = Counter(a.status_code for a in answers)
        # a valid token from the same address is throttled too while the bucket is empty
        assert http.get("/v1/whoami", headers=svc.auth("admin")).status_code == 429
        engine = store_engine(db_url)
        try:
            audited = Counter(r["status"] for r in audit.list_records(engine, limit=10_000))
        finally:
            engine.dispose()
    processed = statuses[401]
    print(f"300 wrong tokens in {elapsed:.1f} s: {processed} processed (401), "
          f"{statuses[429]} throttled (429); audit rows {dict(audited)}")  # fmt: skip
    allowed = per_minute + elapsed * per_minute / 60 + 1
    assert per_minute <= processed <= allowed
    assert statuses[401] + statuses[429] == 300
    throttled = next(a for a in answers if a.status_code == 429)
    assert int(throttled.headers["Retry-After"]) >= 1
    assert throttled.json()["error"] == "TooManyFailures"
    # of each throttling episode (the bucket refills 1 token every 60/per_minute s) one 429 row
    assert audited[401] == processed and 1 <= audited[429] <= processed - per_minute + 1
    assert set(audited) == {401, 429}


# --- low: a broken tokens file is logged, not shown ---------------------------------------------
def test_malformed_tokens_file_is_503_without_its_path(
    service: Service,  # noqa: F811
    caplog: pytest.LogCaptureFixture,
) -> None:
    svc = service.svc
    svc.tokens_file.write_text(svc.tokens_file.read_text() + "not json\n")
    with caplog.at_level(logging.ERROR, logger="conddb.service"):
        r = service.http.post("/v1/tags", json={"name": "t1", "type": "json"},
                              headers=svc.auth("uploader"))  # fmt: skip
        again = service.http.get("/v1/whoami", headers=svc.auth("reader"))
    assert r.status_code == 503 and again.status_code == 503
    assert r.json()["error"] == "TokensUnavailable" and "Retry-After" in r.headers
    assert str(svc.tokens_file) not in r.text and "tokens.jsonl" not in r.text
    assert any(str(svc.tokens_file) in m for m in caplog.messages)
    assert counts(service.engine)["tag"] == 1
    assert [x["status"] for x in rows(service)] == [503]


# --- low: a frozen global tag is cached long only once its tags are locked too ------------------
def test_frozen_global_tag_cached_long_only_when_nothing_can_change(
    service: Service,  # noqa: F811
) -> None:
    http, admin = service.http, service.svc.auth("admin")
    assert http.post("/v1/globaltags/G/freeze", headers=admin).status_code == 409  # not validated
    assert http.post("/v1/globaltags/G/validate", json={"runs": "0-5"}, headers=admin).json()[
        "passed"]
    assert http.post("/v1/globaltags/G/freeze", headers=admin).status_code == 200
    first = http.get("/v1/globaltags/G")
    assert first.json()["records"]["a"]["tag_state"] == "open"
    assert first.headers["cache-control"] == "public, max-age=5"  # may still change
    assert http.post("/v1/tags/t0/lock", headers=admin).status_code == 200
    second = http.get("/v1/globaltags/G")
    assert second.json()["records"]["a"]["tag_state"] == "locked"
    assert second.headers["cache-control"] == "public, max-age=86400"


# --- migration 0004 on a populated database -----------------------------------------------------
def test_audit_migration_down_and_up_on_a_populated_database(service: Service) -> None:  # noqa: F811
    """One step down (0004) drops only the audit table (the store resolves the same); up again, the
    table is empty, guarded, and the service writes to it."""
    from sqlalchemy import inspect

    from conditions import migrate
    from conditions.resolve import resolve

    http, up = service.http, service.svc.auth("uploader")
    assert http.post("/v1/tags", json={"name": "t1", "type": "json"}, headers=up).status_code == 201
    engine = service.engine
    before = counts(engine)
    answer = resolve(engine, "G", 3).records
    migrate.downgrade(engine, "0003")  # the revision before 0004 (audit_log)
    assert "audit_log" not in inspect(engine).get_table_names()
    assert resolve(engine, "G", 3).records == answer
    migrate.upgrade(engine)
    migrate.check(engine)
    assert counts(engine) == before and rows(service) == []
    assert http.post("/v1/tags", json={"name": "t2", "type": "json"}, headers=up).status_code == 201
    assert [r["status"] for r in rows(service)] == [201]
    with pytest.raises(Exception, match="append-only"), engine.begin() as conn:
        conn.execute(text("DELETE FROM audit_log"))
