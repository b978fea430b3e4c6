"""Forged exports (issue 13 item 1): files whose hashes are recomputed so that they are internally
consistent, but whose rows break a rule of the library.  Import re-applies every rule and refuses
each with ONE :class:`TransferError` line naming the first bad row; nothing is written."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import time
import tracemalloc
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from conditions.db import make_engine
from conditions.payloads import encode_payload, examples
from conditions.services.transfer.archive import MANIFEST
from conditions.transfer import TransferError, export_file, import_file
from tests.conftest import Backend, row_counts
from tests.integration.test_transfer import populate

Tables = dict[str, list[dict[str, Any]]]
Payloads = dict[str, bytes]
Edit = Callable[[Tables, Payloads], None]

FUTURE = (dt.datetime.now(dt.UTC) + dt.timedelta(days=3650)).isoformat(timespec="microseconds")
_GOOD: dict[str, Path] = {}


@pytest.fixture
def good(backend: Backend, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An intact export of the rich fixture database of ``test_transfer`` (one per backend)."""
    if backend.name not in _GOOD:
        url = backend.new_url()
        engine = make_engine(url)
        try:
            populate(engine)
            path = tmp_path_factory.mktemp("forgery") / f"good-{backend.name}.zip"
            export_file(engine, path)
        finally:
            engine.dispose()
            backend.drop(url)
        _GOOD[backend.name] = path
    return _GOOD[backend.name]


@pytest.fixture
def target(backend: Backend) -> Iterator[Any]:
    url = backend.new_url()
    engine = make_engine(url)
    yield engine
    engine.dispose()
    backend.drop(url)


def read(path: Path) -> tuple[dict[str, Any], Tables, Payloads]:
    with zipfile.ZipFile(path) as zf:
        manifest = json.loads(zf.read(MANIFEST))
        tables: Tables = {}
        payloads: Payloads = {}
        for name in zf.namelist():
            if name.startswith("tables/"):
                table = name.removeprefix("tables/").removesuffix(".jsonl")
                tables[table] = [json.loads(line) for line in zf.read(name).splitlines()]
            elif name.startswith("payloads/"):
                payloads[name] = zf.read(name)
    return manifest, tables, payloads


def write(
    path: Path,
    manifest: dict[str, Any],
    tables: Tables,
    payloads: Payloads,
    listed: dict[str, Any] | None = None,
) -> None:
    """An internally consistent file: every SHA-256, size and row count recomputed (``listed``:
    manifest entries of members the caller appends itself)."""
    members: dict[str, Any] = dict(listed or {})
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for table, rows in tables.items():
            data = b"".join(
                (json.dumps(r, sort_keys=True, separators=(",", ":")) + "\n").encode() for r in rows
            )
            name = f"tables/{table}.jsonl"
            zf.writestr(name, data)
            members[name] = {
                "sha256": hashlib.sha256(data).hexdigest(),
                "bytes": len(data),
                "rows": len(rows),
            }
        for name, data in payloads.items():
            zf.writestr(name, data)
            members[name] = {"sha256": hashlib.sha256(data).hexdigest(), "bytes": len(data)}
        zf.writestr(MANIFEST, json.dumps({**manifest, "members": members}))


def add_payload(tables: Tables, payloads: Payloads, type_name: str, data: bytes) -> str:
    h = hashlib.sha256(data).hexdigest()
    payloads[f"payloads/{h}"] = data
    tables["payload"].append(
        {
            "hash": h,
            "type": type_name,
            "schema_version": 1,
            "size": len(data),
            "provenance": {},
            "created_at": "2026-01-01T00:00:00.000000+00:00",
        }
    )
    return h


def row(tables: Tables, table: str, **where: Any) -> dict[str, Any]:
    return next(r for r in tables[table] if all(r[k] == v for k, v in where.items()))


def _retag(tables: Tables, old: str, new: str) -> None:
    row(tables, "tag", name=old)["name"] = new
    for r in tables["iov"]:
        if r["tag"] == old:
            r["tag"] = new


def _other_type(t: Tables, p: Payloads) -> None:
    ly = row(t, "payload", type="light_yield")["hash"]
    row(t, "iov", tag="ta", since=10)["payload_hash"] = ly


def _undecodable(t: Tables, p: Payloads) -> None:
    add_payload(t, p, "light_yield", b"JCDB" + b"\0" * 60)


def _typed_not_canonical(t: Tables, p: Payloads) -> None:
    data = encode_payload(examples.light_yield())
    add_payload(t, p, "light_yield", data + b"\0" * 64)  # decodes, but a second hash


def _json_not_canonical(t: Tables, p: Payloads) -> None:
    add_payload(t, p, "json", b'{"v": 0}')


def _schema_version(t: Tables, p: Payloads) -> None:
    row(t, "payload", type="dark_noise")["schema_version"] = 1


#: forgery -> (edit, text the one-line error must contain: the row and what is wrong)
FORGERIES: dict[str, tuple[Edit, str]] = {
    "frozen gt without snapshot": (
        lambda t, p: row(t, "global_tag", name="G-frozen").update(snapshot_time=None),
        r"global_tag.jsonl row 1 \(name='G-frozen'\): a published global tag needs a snapshot_time",
    ),
    "frozen gt snapshot in the future": (
        lambda t, p: row(t, "global_tag", name="G-frozen").update(snapshot_time=FUTURE),
        r"global_tag.jsonl row 1 \(name='G-frozen'\): snapshot_time .* is in the future",
    ),
    "open gt with a snapshot": (
        lambda t, p: row(t, "global_tag", name="G-open").update(
            snapshot_time="2026-01-01T00:00:00.000000+00:00"
        ),
        "name='G-open'.*an open global tag has a snapshot_time",
    ),
    "iov insertion time in the future": (
        lambda t, p: row(t, "iov", tag="ta", since=10).update(insertion_time=FUTURE),
        r"iov.jsonl row \d+ \(tag='ta', since=10\): insertion_time .* is in the future",
    ),
    "iov of a payload of another type": (
        _other_type,
        r"iov.jsonl row \d+ \(tag='ta', since=10\): payload .* is of type 'light_yield', "
        "tag 'ta' holds 'json'",
    ),
    "typed bytes that do not decode": (_undecodable, r"payload.jsonl row \d+ \(hash="),
    "typed bytes not canonical": (_typed_not_canonical, "not in canonical form"),
    "json not canonical": (_json_not_canonical, "payload bytes are not canonical JSON"),
    "schema version disagrees with the bytes": (_schema_version, "bytes hold version 2"),
    "tag name with a control character": (
        lambda t, p: _retag(t, "tx", "tx\x01"),
        r"iov.jsonl row \d+ \(tag='tx\\x01', since=0\): invalid tag name",
    ),
    "tag name with a trailing newline": (
        lambda t, p: _retag(t, "tx", "tx\n"),
        r"\(tag='tx\\n', since=0\): invalid tag name",
    ),
    "description with NUL": (
        lambda t, p: row(t, "tag", name="tx").update(description="a\0b"),
        "name='tx'.*invalid description",
    ),
    "campaign named like a path and SQL": (
        lambda t, p: (
            [r.update(campaign="../../x; DROP") for r in t["campaign_payload"]]
            and row(t, "campaign").update(name="../../x; DROP")
        ),
        r"campaign_payload.jsonl row 1 \(campaign='../../x; DROP', .*invalid campaign name",
    ),
    "run that ends before it starts": (
        lambda t, p: row(t, "run", run=1000).update(end_time="2025-01-01T00:00:00.000000+00:00"),
        r"run.jsonl row 1 \(run=1000\): run 1000 ends before it starts",
    ),
    "locked tag without locked_at": (
        lambda t, p: row(t, "tag", name="tb").update(locked_at=None),
        "name='tb'.*a locked tag needs a locked_at",
    ),
    "iov inserted after its tag was locked": (
        lambda t, p: row(t, "tag", name="tb").update(locked_at="2020-01-01T00:00:00.000000+00:00"),
        r"\(tag='tb', since=0\): IOV inserted at .* after its tag was locked",
    ),
    "iov of a missing payload": (
        lambda t, p: row(t, "iov", tag="ta", since=10).update(payload_hash="0" * 64),
        r"\(tag='ta', since=10\): payload 0{64} is in neither the file nor the target",
    ),
    "negative since": (
        lambda t, p: row(t, "iov", tag="ta", since=10).update(since=-1),
        r"\(tag='ta', since=-1\): invalid since -1",
    ),
    "since of 2**64": (
        lambda t, p: row(t, "iov", tag="ta", since=10).update(since=2**64),
        r"since=18446744073709551616\): invalid since",
    ),
    "since that is not an integer": (
        lambda t, p: row(t, "iov", tag="ta", since=10).update(since=1.5),
        r"bad 'since': 1.5",
    ),
    "unknown column": (
        lambda t, p: row(t, "tag", name="ta").update(extra=1),
        "unknown column 'extra'",
    ),
    "unknown state": (
        lambda t, p: row(t, "tag", name="ta").update(state="testing"),
        "unknown state 'testing'",
    ),
    "campaign that ends before it starts": (
        lambda t, p: row(t, "campaign").update(last_run=1),
        "campaign 'weekly-1000' ends before it starts",
    ),
    "provenance with NUL": (
        lambda t, p: t["payload"][0].update(provenance={"k\0": 1}),
        "payload.jsonl row 1 .*invalid provenance",
    ),
}


@pytest.mark.parametrize("forgery", sorted(FORGERIES))
def test_forged_file_is_refused_naming_the_row(
    forgery: str, good: Path, target: Any, tmp_path: Path
) -> None:
    edit, expected = FORGERIES[forgery]
    manifest, tables, payloads = read(good)
    edit(tables, payloads)
    forged = tmp_path / "forged.zip"
    write(forged, manifest, tables, payloads)
    empty = row_counts(target)
    with pytest.raises(TransferError, match=expected) as caught:
        import_file(target, forged)
    assert "\n" not in caught.value.one_line().replace("\\n", "")  # one line
    assert row_counts(target) == empty  # nothing was written


def test_the_rewritten_intact_file_imports(good: Path, target: Any, tmp_path: Path) -> None:
    """The forging helper itself changes nothing: the same rows re-packed import cleanly (so
    every refusal above is due to its edit)."""
    manifest, tables, payloads = read(good)
    same = tmp_path / "same.zip"
    write(same, manifest, tables, payloads)
    report = import_file(target, same)
    assert report.added["iov"] == 13


def test_nan_in_a_table_line_is_refused(good: Path, target: Any, tmp_path: Path) -> None:
    manifest, tables, payloads = read(good)
    forged = tmp_path / "nan.zip"
    write(forged, manifest, tables, payloads)
    with zipfile.ZipFile(forged) as zf:
        members = {n: zf.read(n) for n in zf.namelist()}
    run = members["tables/run.jsonl"].replace(b'"run":1000', b'"run":NaN', 1)
    members["tables/run.jsonl"] = run
    listed = json.loads(members[MANIFEST])
    listed["members"]["tables/run.jsonl"].update(
        sha256=hashlib.sha256(run).hexdigest(), bytes=len(run)
    )
    members[MANIFEST] = json.dumps(listed).encode()
    with zipfile.ZipFile(forged, "w") as zf:
        for n, data in members.items():
            zf.writestr(n, data)
    with pytest.raises(TransferError, match=r"run.jsonl line 1 is not JSON .*NaN"):
        import_file(target, forged)


def test_zip_bomb_is_refused_before_inflating(good: Path, target: Any, tmp_path: Path) -> None:
    """A 300 MB payload that deflates to ~300 KB: refused from its declared size, with bounded
    memory and without inflating it (well under the time to inflate 300 MB)."""
    manifest, tables, payloads = read(good)
    size = 300 * 1024 * 1024
    chunk = b" " * (1 << 20)
    sha = hashlib.sha256()
    for _ in range(size // len(chunk)):
        sha.update(chunk)
    h = sha.hexdigest()
    tables["payload"].append(
        {
            "hash": h,
            "type": "json",
            "schema_version": 1,
            "size": size,
            "provenance": {},
            "created_at": "2026-01-01T00:00:00.000000+00:00",
        }
    )
    bomb = tmp_path / "bomb.zip"
    write(bomb, manifest, tables, payloads, {f"payloads/{h}": {"sha256": h, "bytes": size}})
    with (
        zipfile.ZipFile(bomb, "a", zipfile.ZIP_DEFLATED) as zf,
        zf.open(f"payloads/{h}", "w", force_zip64=True) as out,
    ):
        for _ in range(size // len(chunk)):
            out.write(chunk)
    assert bomb.stat().st_size < 2 * 1024 * 1024  # ~300 KB of deflate plus the tables
    empty = row_counts(target)
    tracemalloc.start()
    start = time.perf_counter()
    try:
        with pytest.raises(TransferError, match="inflates to 314572800 bytes, over the payload"):
            import_file(target, bomb)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    elapsed = time.perf_counter() - start
    assert peak < 32 * 1024 * 1024, peak  # 300 MB were never held
    assert elapsed < 5.0, elapsed  # nor inflated
    assert row_counts(target) == empty


def test_signed_export_refuses_a_consistent_forgery(
    backend: Backend, target: Any, tmp_path: Path
) -> None:
    """A forgery that obeys every rule (an edited description) is accepted without a key (import
    cannot know who wrote the file) and refused with one; unsigned files and other keys too."""
    url = backend.new_url()
    source = make_engine(url)
    key, other = b"k" * 32, b"o" * 32
    try:
        populate(source)
        signed = tmp_path / "signed.zip"
        export_file(source, signed, key=key)
        unsigned = tmp_path / "unsigned.zip"
        export_file(source, unsigned)
    finally:
        source.dispose()
        backend.drop(url)
    manifest, tables, payloads = read(signed)
    row(tables, "tag", name="tx").update(description="rewritten by someone")
    forged = tmp_path / "forged.zip"
    write(forged, manifest, tables, payloads)  # the old signature, recomputed hashes
    empty = row_counts(target)
    for path, k, message in [
        (forged, key, "signature check failed"),
        (signed, other, "signature check failed"),
        (unsigned, key, "is not signed, and a key was given"),
    ]:
        with pytest.raises(TransferError, match=message):
            import_file(target, path, key=k)
        assert row_counts(target) == empty
    import_file(target, signed, key=key)  # the genuine file, with its key
    assert row_counts(target) != empty


def test_cli_key_option_and_environment(
    db_url: str, backend: Backend, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tests.support.cli import assert_one_line_error, run

    engine = make_engine(db_url)
    try:
        populate(engine)
    finally:
        engine.dispose()
    keyfile = tmp_path / "key"
    keyfile.write_text("0123456789abcdef0123456789abcdef\n")
    (tmp_path / "short").write_text("abc")
    run(db_url, "export", str(tmp_path / "s.zip"), "--key", str(keyfile))
    run(db_url, "export", str(tmp_path / "u.zip"))
    target = backend.new_url()
    try:
        bad = run(target, "import", str(tmp_path / "u.zip"), "--key", str(keyfile), ok=False)
        assert_one_line_error(bad, "is not signed")
        short = run(target, "import", str(tmp_path / "s.zip"), "--key", str(tmp_path / "short"),
                    ok=False)  # fmt: skip
        assert_one_line_error(short, "use a key of at least 16 bytes")
        monkeypatch.setenv("CONDDB_EXPORT_KEY", str(keyfile))
        assert_one_line_error(run(target, "import", str(tmp_path / "u.zip"), ok=False), "signed")
        assert "imported database" in run(target, "import", str(tmp_path / "s.zip")).stdout
    finally:
        backend.drop(target)
