"""``conddb export-files GT --out DIR``, both backends: the ``<type>/<sha256>`` tree and its
manifest, idempotent (a re-run writes nothing), verified (a damaged file is rewritten)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from cli.main import conddb
from conditions import store
from conditions.db import make_engine, write_session
from conditions.payloads import encode_payload, examples
from tests.support.lifecycle import publish


def export(db_url: str, gt: str, out: Path) -> dict[str, object]:
    result = CliRunner().invoke(
        conddb, ["--db", db_url, "export-files", gt, "--out", str(out), "--json"]
    )
    assert result.exit_code == 0, result.output
    report: dict[str, object] = json.loads(result.stdout)
    return report


def test_export_files_tree(db_url: str, tmp_path: Path) -> None:
    engine = make_engine(db_url)
    with write_session(engine) as s:
        store.register_payload_type(s, "json")
        store.register_payload_type(s, "light_yield")
        xs = [store.put_payload(s, "json", f'{{"x":{k}}}'.encode()).hash for k in range(3)]
        ly = store.put_payload(s, "light_yield", encode_payload(examples.light_yield())).hash
        store.create_tag(s, "x-v1", "json")
        store.append_iovs(s, "x-v1", [(1, xs[0]), (5, xs[1])])
        store.create_tag(s, "ly-v1", "light_yield")
        store.append_iovs(s, "ly-v1", [(1, ly)])
        store.create_global_tag(s, "G")
        store.set_record(s, "G", "x", "x-v1")
        store.set_record(s, "G", "light_yield", "ly-v1")
        publish(s, "G")
    with write_session(engine) as s:  # after the freeze: not part of G
        store.append_iovs(s, "x-v1", [(9, xs[2])])
    engine.dispose()

    out = tmp_path / "cvmfs"
    result = CliRunner().invoke(conddb, ["--db", db_url, "export-files", "G", "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "3 payload files of G" in result.output and "3 written" in result.output
    wanted = {f"json/{xs[0]}", f"json/{xs[1]}", f"light_yield/{ly}"}
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert files == wanted | {"G.sha256"}
    for url in wanted:
        assert hashlib.sha256((out / url).read_bytes()).hexdigest() == url.split("/")[1]
    # the manifest is `sha256sum -c` compatible
    check = subprocess.run(
        ["sha256sum", "-c", "G.sha256"], cwd=out, capture_output=True, text=True, check=False
    )
    assert check.returncode == 0, check.stdout + check.stderr
    assert sorted(check.stdout.splitlines()) == sorted(f"{u}: OK" for u in wanted)

    # idempotent: nothing is written again (same inodes and times)
    stamps = {u: (out / u).stat() for u in wanted}
    again = export(db_url, "G", out)
    assert (again["written"], again["repaired"], again["unchanged"]) == (0, 0, 3)
    assert again["manifest_written"] is False
    for u, st in stamps.items():
        now = (out / u).stat()
        assert (now.st_ino, now.st_mtime_ns) == (st.st_ino, st.st_mtime_ns)

    # verified: a damaged (or truncated) file is detected and rewritten, the others untouched
    damaged = out / f"json/{xs[1]}"
    damaged.write_bytes(b'{"x":7}')
    (out / f"light_yield/{ly}").write_bytes(b"")
    fixed = export(db_url, "G", out)
    assert (fixed["written"], fixed["repaired"], fixed["unchanged"]) == (0, 2, 1)
    assert damaged.read_bytes() == b'{"x":1}'
    check = subprocess.run(
        ["sha256sum", "-c", "G.sha256"], cwd=out, capture_output=True, check=False
    )
    assert check.returncode == 0


def test_export_files_unknown_global_tag_is_one_line(db_url: str, tmp_path: Path) -> None:
    out = str(tmp_path / "o")
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "--db", db_url, "export-files", "nope", "--out", out],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "Error: no global tag named 'nope' - list global tags with `conddb gt list`"
    )
    assert not (tmp_path / "o").exists()
