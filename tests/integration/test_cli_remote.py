"""Read commands against a real running service: ``conddb --db http://127.0.0.1:PORT ...``
answers as ``--db <the database>`` does (both backends behind the service); shell completion."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from conditions.service.testing import running_service
from tests.support.cli import CONDDB_SCRIPT, assert_one_line_error, run
from tests.support.seed_cli import Seeded, seed


@pytest.fixture
def served(db_url: str, tmp_path: Path) -> Iterator[tuple[Seeded, str]]:
    seeded = seed(db_url, tmp_path)
    with running_service(db_url, tmp_path) as svc:
        yield seeded, svc.base_url


def _json(url: str, *args: str) -> object:
    return json.loads(run(url, *args, "--json").stdout)


def test_read_commands_through_the_http_client(served: tuple[Seeded, str], tmp_path: Path) -> None:
    seeded, remote = served
    local = seeded.url
    for args in (
        ("get", "--gt", "GT-A", "--run", "160"),
        ("get", "--gt", "GT-A", "--run", "250", "--record", "light_yield", "--content"),
    ):
        assert _json(remote, *args) == _json(local, *args)
    text = run(remote, "get", "--gt", "GT-A", "--run", "160").stdout
    assert seeded.a[:16] in text and "light_yield" in text
    assert _json(remote, "tag", "list") == _json(local, "tag", "list")
    assert _json(remote, "gt", "list") == _json(local, "gt", "list")
    assert _json(remote, "gt", "show", "GT-A") == _json(local, "gt", "show", "GT-A")
    assert run(remote, "gt", "show", "GT-A").stdout == run(local, "gt", "show", "GT-A").stdout
    assert run(remote, "gt", "list").stdout == run(local, "gt", "list").stdout
    assert _json(remote, "tag", "show", "ly-a") == _json(local, "tag", "show", "ly-a")
    assert "ly-a" in run(remote, "tag", "show", "ly-a").stdout
    meta = _json(remote, "payload", "show", seeded.a)
    assert meta["hash"] == seeded.a and meta["content"] == {"y0": 1345.0}
    out, back = tmp_path / "remote.json", tmp_path / "local.json"
    run(remote, "payload", "dump", seeded.nl, "--out", str(out))
    run(local, "payload", "dump", seeded.nl, "--out", str(back))
    assert out.read_text() == back.read_text()

    # the service's typed errors come back as one line; write commands refuse a URL
    assert_one_line_error(run(remote, "tag", "show", "nope", ok=False), "nope")
    assert_one_line_error(
        run(remote, "get", "--gt", "GT-A", "--run", "50", ok=False), "not covered"
    )
    assert_one_line_error(
        run(remote, "tag", "create", "x", "--type", "json", ok=False), "remote service"
    )


def test_unreachable_service_is_one_line() -> None:
    ran = run("http://127.0.0.1:9/", "tag", "list", ok=False)
    assert_one_line_error(ran, "cannot reach the conditions service")


def _complete(url: str, *words: str) -> list[str]:
    line = ["conddb", "--db", url, *words]
    env = {
        **os.environ,
        "_CONDDB_COMPLETE": "bash_complete",
        "COMP_WORDS": " ".join(line),
        "COMP_CWORD": str(len(line) - 1),
    }
    proc = subprocess.run(
        [str(CONDDB_SCRIPT)], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    return sorted(item.split(",", 1)[1] for item in proc.stdout.split())


def test_shell_completion_of_tag_and_global_tag_names(db_url: str, tmp_path: Path) -> None:
    seed(db_url, tmp_path)
    assert _complete(db_url, "tag", "show", "ly-") == ["ly-a", "ly-b", "ly-empty"]
    assert _complete(db_url, "tag", "diff", "ly-a", "nl") == ["nl-v1"]
    assert _complete(db_url, "gt", "download", "GT-") == ["GT-A", "GT-B", "GT-E"]
    assert _complete(db_url, "gt", "show", "GT-B") == ["GT-B"]
    assert _complete(f"sqlite:///{tmp_path / 'missing.sqlite'}", "tag", "show", "") == []
    assert not (tmp_path / "missing.sqlite").exists()
