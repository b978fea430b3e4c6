"""Prompt-tag synchronisation (issue 18): appends below the FCSR refused (library, CLI, raw SQL),
express tags, and concurrent appends racing FCSR moves (threads, both backends)."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import text
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

from conditions import store
from conditions.db import read_session, write_session
from conditions.errors import ConddbError, Conflict
from conditions.model import TagSync
from conditions.resolve import resolve
from tests.support.cli import run


def _prompt_world(engine: Engine, sync: TagSync = TagSync.PROMPT) -> list[str]:
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        hashes = [store.put_payload(s, "json", f'{{"v": {i}}}'.encode()).hash for i in range(400)]
        store.create_tag(s, "p", "json")
        store.append_iovs(s, "p", [(0, hashes[0])])
        store.set_tag_sync(s, "p", sync)
        store.create_global_tag(s, "G")
        store.set_record(s, "G", "a", "p")
    return hashes


def test_prompt_append_below_fcsr_is_refused(engine: Engine) -> None:
    h = _prompt_world(engine)
    with write_session(engine) as s:
        assert store.mark_processed(s, 99, "prompt")[1] == 100
        assert store.mark_processed(s, 50, "prompt")[1] == 100  # never moves back
    with write_session(engine) as s, pytest.raises(Conflict) as refused:
        store.append_iovs(s, "p", [(99, h[1])])
    assert "since 99" in str(refused.value) and "FCSR 100" in str(refused.value)
    with write_session(engine) as s:
        store.append_iovs(s, "p", [(100, h[1])])
    with write_session(engine) as s:  # an offline tag takes any since
        store.set_tag_sync(s, "p", TagSync.OFFLINE)
        store.append_iovs(s, "p", [(5, h[2])])


def test_raw_sql_append_below_fcsr_is_refused(engine: Engine) -> None:
    h = _prompt_world(engine)
    with write_session(engine) as s:
        store.mark_processed(s, 10, "prompt")
        tag_id = store.get_tag(s, "p").id
    with engine.begin() as conn, pytest.raises(DBAPIError, match="condition-safe run"):
        conn.execute(
            text("INSERT INTO iov (tag_id, since, insertion_time, payload_hash) "
                 "VALUES (:t, 3, CURRENT_TIMESTAMP, :h)"),
            {"t": tag_id, "h": h[3]},
        )
    with engine.begin() as conn, pytest.raises(DBAPIError, match="FCSR never moves back"):
        conn.execute(text("UPDATE sync_state SET fcsr = 0"))


def test_express_tag_needs_the_next_run(engine: Engine) -> None:
    h = _prompt_world(engine, TagSync.EXPRESS)
    with write_session(engine) as s:
        store.register_run(s, 200)
    with write_session(engine) as s, pytest.raises(Conflict, match="next run to be taken 201"):
        store.append_iovs(s, "p", [(150, h[1])])
    with write_session(engine) as s:
        store.append_iovs(s, "p", [(201, h[1])])


def test_cli_processed_fcsr_and_refusal(db_url: str, engine: Engine) -> None:
    h = _prompt_world(engine)
    assert "FCSR 8" in run(db_url, "run", "processed", "7").stdout
    assert "FCSR 8" in run(db_url, "run", "fcsr").stdout
    refused = run(db_url, "iov", "add", "p", "--since", "3", "--payload", h[5], ok=False)
    assert refused.returncode == 1 and len(refused.stderr.strip().splitlines()) == 1
    assert "FCSR 8" in refused.stderr and "since 3" in refused.stderr
    assert "prompt" in run(db_url, "run", "sync", "p", "prompt").stdout


def _threads(*targets: Callable[[], None]) -> None:
    threads = [threading.Thread(target=t) for t in targets]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)


def test_prompt_appends_race_fcsr_moves(engine: Engine) -> None:
    """Appenders write at the FCSR they just read while prompt processing moves it: the
    conditions a processed run was processed with never change afterwards."""
    h = _prompt_world(engine)
    used: dict[int, str] = {}
    errors: list[BaseException] = []
    refused = [0]

    def process() -> None:
        for r in range(0, 60):
            try:
                with write_session(engine) as s:
                    store.mark_processed(s, r, "prompt")
                used[r] = resolve(engine, "G", r).records["a"].payload_hash
            except ConddbError:  # a busy SQLite database: try the next run
                continue
            except BaseException as exc:
                errors.append(exc)

    def append(worker: int) -> Callable[[], None]:
        def go() -> None:
            for k in range(30):
                try:
                    with read_session(engine) as s:
                        since = store.fcsr(s)
                    with write_session(engine) as s:
                        store.append_iovs(s, "p", [(since, h[1 + worker * 30 + k])])
                except ConddbError:
                    refused[0] += 1
                except BaseException as exc:
                    errors.append(exc)
        return go

    _threads(process, append(0), append(1), append(2))
    assert not errors, errors[:3]
    assert used, "no run was processed"
    for r, payload in used.items():
        assert resolve(engine, "G", r).records["a"].payload_hash == payload, r
    with read_session(engine) as s:
        assert store.fcsr(s) >= max(used) + 1


def test_append_waits_for_an_uncommitted_fcsr_move(engine: Engine) -> None:
    """The FCSR moves past run 20 in a transaction still open when an append at since 20
    starts: the append waits for it and is refused (it never lands under a processed run)."""
    h = _prompt_world(engine)
    marked = threading.Event()

    def process() -> None:
        with write_session(engine) as s:
            store.mark_processed(s, 20, "prompt")
            marked.set()
            threading.Event().wait(0.5)  # hold the transaction open

    worker = threading.Thread(target=process)
    worker.start()
    assert marked.wait(30)
    with pytest.raises(ConddbError), write_session(engine) as s:
        store.append_iovs(s, "p", [(20, h[7])])
    worker.join(30)
    with read_session(engine) as s:
        assert [r.since for r in store.list_iovs(s, "p")] == [0]
        assert store.fcsr(s) == 21
