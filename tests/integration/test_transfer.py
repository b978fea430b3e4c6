"""``conddb export`` / ``conddb import``: SQLite -> PostgreSQL -> SQLite round trips keep every
hash, IOV row (insertion times, superseded rows), state and ``resolve`` answer (``as_of`` too);
imports are all-or-nothing, verify SHA-256s and refuse conflicts."""

from __future__ import annotations

import datetime as dt
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from sqlalchemy import select
from sqlalchemy.engine import Engine

from cli.main import conddb
from conditions import store
from conditions.campaign import CampaignConstants, upload_campaign
from conditions.db import make_engine, read_session, write_session
from conditions.errors import GlobalTagNotFound
from conditions.model import (
    IOV,
    Campaign,
    CampaignPayload,
    GlobalTag,
    GlobalTagMap,
    Payload,
    PayloadType,
    Run,
    Tag,
)
from conditions.payloads import examples
from conditions.resolve import resolve
from conditions.transfer import (
    TransferConflict,
    TransferError,
    export_file,
    import_file,
    read_manifest,
    verify_file,
)
from tests.conftest import Backend, row_counts
from tests.support.lifecycle import publish

RUNS = (0, 5, 10, 19, 20, 21, 22, 25, 30, 35, 999, 1000, 1005, 10**12)


def _tick() -> dt.datetime:
    """A time strictly between two writes (both backends store microseconds)."""
    time.sleep(0.003)
    now = dt.datetime.now(dt.UTC)
    time.sleep(0.003)
    return now


def populate(engine: Engine) -> list[dt.datetime]:
    """A small database using every feature; returns times between its writes for as_of replays.

    Tags: ta (open, superseded rows), tb (locked), tc (only in G-old's map history), tx (in no
    global tag); global tags: G-frozen (frozen, snapshot before later appends), G-open (record
    re-pointed: map history); a campaign (typed payloads, its own tags); runs in the registry.
    """
    times: list[dt.datetime] = []
    with write_session(engine) as s:
        store.register_payload_type(s, "json", "plain JSON")
        h = [
            store.put_payload(s, "json", f'{{"v":{k}}}'.encode(), provenance={"k": k}).hash
            for k in range(8)
        ]
        for name in ("ta", "tb", "tc", "tx"):
            store.create_tag(s, name, "json", f"tag {name}")
        store.append_iovs(s, "ta", [(10, h[0]), (20, h[1]), (30, h[2])])
        store.append_iovs(s, "tb", [(0, h[3]), (25, h[4])])
        store.append_iovs(s, "tc", [(0, h[5])])
        store.append_iovs(s, "tx", [(0, h[7])])
        store.register_run(
            s,
            1000,
            start_time=dt.datetime(2026, 1, 1, 8, tzinfo=dt.UTC),
            end_time=dt.datetime(2026, 1, 1, 9, tzinfo=dt.UTC),
        )
        store.register_run(s, 1001, run_type="calibration")
    times.append(_tick())
    with write_session(engine) as s:
        for gt in ("G-frozen", "G-open"):
            store.create_global_tag(s, gt, f"global tag {gt}")
            store.set_record(s, gt, "a", "ta")
            store.set_record(s, gt, "b", "tb")
        store.set_record(s, "G-open", "c", "tc")
        store.lock_tag(s, "tb")
    times.append(_tick())
    with write_session(engine) as s:
        store.append_iovs(s, "ta", [(20, h[6]), (22, h[4])])  # supersede 20, split at 22
    times.append(_tick())
    with write_session(engine) as s:
        publish(s, "G-frozen", snapshot_time=times[1])
        store.set_record(s, "G-open", "c", "ta")  # re-point: c's history has tc then ta
        upload_campaign(
            s,
            CampaignConstants(
                name="weekly-1000",
                kind="weekly",
                first_run=1000,
                last_run=1010,
                manifest_sha256="ab" * 32,
                payloads={
                    "light_yield": (examples.light_yield(), {"job": "lightyield"}),
                    "dark_noise": (examples.dark_noise(), {"job": "darknoise"}),
                },
                info={"inputs": [{"file": "run_001000.csv", "sha256": "cd" * 32}]},
            ),
        )
        store.set_record(s, "G-open", "light_yield", "juno-light_yield")
    times.append(_tick())
    with write_session(engine) as s:
        store.append_iovs(s, "ta", [(35, h[7]), (30, h[0])])
    times.append(_tick())
    return times


def dump(engine: Engine) -> dict[str, Any]:
    """Everything a user can observe, keyed by names and hashes (never surrogate ids)."""
    with read_session(engine) as s:
        tags = {t.id: t.name for t in s.scalars(select(Tag))}
        gts = {g.id: g.name for g in s.scalars(select(GlobalTag))}
        camps = {c.id: c.name for c in s.scalars(select(Campaign))}
        return {
            "types": sorted(
                (p.name, p.description, p.created_at) for p in s.scalars(select(PayloadType))
            ),
            "payloads": sorted(
                (
                    p.hash,
                    p.type_name,
                    p.schema_version,
                    p.size,
                    json.dumps(p.provenance, sort_keys=True),
                    p.created_at,
                    store.sha256_hex(store.payload_bytes(s, p.hash)),
                )
                for p in s.scalars(select(Payload))
            ),
            "tags": sorted(
                (t.name, t.type_name, t.state.value, t.description, t.created_at, t.locked_at)
                for t in s.scalars(select(Tag))
            ),
            # Row order within a tag / global tag is kept (it breaks ties); across them it is not
            # observable, so rows are grouped by name with a stable sort.
            "iovs": sorted(
                (
                    (tags[i.tag_id], i.since, i.insertion_time, i.payload_hash)
                    for i in s.scalars(select(IOV).order_by(IOV.id))
                ),
                key=lambda row: row[0],
            ),
            "gts": sorted(
                (g.name, g.state.value, g.snapshot_time, g.description, g.created_at, g.frozen_at)
                for g in s.scalars(select(GlobalTag))
            ),
            "maps": sorted(
                (
                    (gts[m.global_tag_id], m.record, tags[m.tag_id], m.insertion_time)
                    for m in s.scalars(select(GlobalTagMap).order_by(GlobalTagMap.id))
                ),
                key=lambda row: row[0],
            ),
            "runs": sorted(
                (r.run, r.start_time, r.end_time, r.run_type) for r in s.scalars(select(Run))
            ),
            "campaigns": sorted(
                (
                    c.name,
                    c.kind,
                    c.first_run,
                    c.last_run,
                    c.manifest_sha256,
                    json.dumps(c.info, sort_keys=True),
                    c.created_at,
                )
                for c in s.scalars(select(Campaign))
            ),
            "links": sorted(
                (camps[x.campaign_id], x.record, x.payload_hash, tags[x.tag_id], x.since)
                for x in s.scalars(select(CampaignPayload))
            ),
        }


def answers(engine: Engine, times: list[dt.datetime], gts: tuple[str, ...]) -> dict[Any, Any]:
    """resolve() for every global tag, run and as_of (None = now); errors recorded by type."""
    out: dict[Any, Any] = {}
    for gt in gts:
        for as_of in (None, *times):
            for run in RUNS:
                try:
                    r = resolve(engine, gt, run, as_of=as_of)
                    out[gt, run, as_of] = sorted(
                        (k, v.tag, v.payload_hash, v.since, v.until, v.insertion_time)
                        for k, v in r.records.items()
                    )
                except Exception as exc:  # RunNotCovered etc. must match too
                    out[gt, run, as_of] = type(exc).__name__
    return out


def table_hashes(path: Path) -> dict[str, str]:
    """SHA-256 of every member of an export file except the manifest (which has a time)."""
    return {k: v["sha256"] for k, v in read_manifest(path)["members"].items()}


@pytest.fixture
def both(backends: dict[str, Backend]) -> Any:
    """A fresh SQLite database, a fresh PostgreSQL one and a second SQLite one, as engines."""
    for name in ("sqlite", "postgresql"):
        backends[name].setup()  # skips (or fails in CI) without PostgreSQL
    urls = [
        backends["sqlite"].new_url(),
        backends["postgresql"].new_url(),
        backends["sqlite"].new_url(),
    ]
    engines = [make_engine(u) for u in urls]
    yield engines
    for e, u, b in zip(engines, urls, ("sqlite", "postgresql", "sqlite"), strict=True):
        e.dispose()
        backends[b].drop(u)


def test_round_trip_sqlite_postgresql_sqlite(both: list[Engine], tmp_path: Path) -> None:
    src, pg, back = both
    times = populate(src)
    gts = ("G-frozen", "G-open")
    export_file(src, tmp_path / "a.zip")
    report = import_file(pg, tmp_path / "a.zip")
    assert report.added["iov"] == report.rows["iov"] == 13 and not report.reused.get("iov")
    export_file(pg, tmp_path / "b.zip")
    import_file(back, tmp_path / "b.zip")
    export_file(back, tmp_path / "c.zip")

    reference = dump(src)
    assert len(reference["iovs"]) == 13 and len(reference["maps"]) == 7  # the fixture is rich
    assert dump(pg) == reference
    assert dump(back) == reference
    expected = answers(src, times, gts)
    # runs before the first IOV, and as_of times before the global tags had records, fail alike
    assert {v for v in expected.values() if isinstance(v, str)} == {
        "RunNotCovered",
        "RecordNotFound",
    }
    assert answers(pg, times, gts) == expected
    assert answers(back, times, gts) == expected
    # The three files hold byte-identical tables and payloads.
    assert table_hashes(tmp_path / "a.zip") == table_hashes(tmp_path / "b.zip")
    assert table_hashes(tmp_path / "a.zip") == table_hashes(tmp_path / "c.zip")


def test_global_tag_export_takes_only_what_it_references(
    both: list[Engine], tmp_path: Path
) -> None:
    src, pg, _ = both
    times = populate(src)
    report = export_file(src, tmp_path / "g.zip", global_tag="G-open")
    import_file(pg, tmp_path / "g.zip")
    got = dump(pg)
    # Map history brings tc (no longer in force) too; tx and G-frozen stay behind.
    assert [t[0] for t in got["tags"]] == ["juno-dark_noise", "juno-light_yield", "ta", "tb", "tc"]
    assert [g[0] for g in got["gts"]] == ["G-open"]
    assert report.rows["run"] == 0 and not got["runs"]
    # the campaign record stays whole: its dark_noise tag comes along though G-open lacks it
    assert [c[0] for c in got["campaigns"]] == ["weekly-1000"] and len(got["links"]) == 2
    full = dump(src)
    kept = {t[0] for t in got["tags"]}
    assert got["iovs"] == [i for i in full["iovs"] if i[0] in kept]
    assert got["maps"] == [m for m in full["maps"] if m[0] == "G-open"]
    assert answers(pg, times, ("G-open",)) == answers(src, times, ("G-open",))
    with pytest.raises(GlobalTagNotFound):
        export_file(src, tmp_path / "none.zip", global_tag="NOPE")


def test_reimport_reuses_and_conflicts_write_nothing(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    """Same backend twice (parametrised): identical re-import is a no-op; conflicts are refused."""
    populate(engine)
    path = tmp_path / "x.zip"
    export_file(engine, path)
    before = row_counts(engine)
    again = import_file(engine, path)  # into the very database it came from
    assert not again.added and again.reused["iov"] == 13 and row_counts(engine) == before

    with write_session(engine) as s:  # the target's ta now differs from the file's
        store.append_iovs(s, "ta", [(40, dump(engine)["iovs"][-1][3])])
    after = row_counts(engine)
    with pytest.raises(TransferConflict, match="tag 'ta'"):
        import_file(engine, path)
    assert row_counts(engine) == after


def test_conflict_in_fresh_target_rolls_back_everything(both: list[Engine], tmp_path: Path) -> None:
    src, pg, _ = both
    populate(src)
    export_file(src, tmp_path / "a.zip")
    with write_session(pg) as s:  # a global tag of the same name, other content; sorted after
        store.create_global_tag(s, "G-open")  # every tag and payload, so those get written first
    before = row_counts(pg)
    with pytest.raises(TransferConflict, match="global tag 'G-open'"):
        import_file(pg, tmp_path / "a.zip")
    assert row_counts(pg) == before


def _rewrite(src: Path, dst: Path, change: dict[str, bytes]) -> None:
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(dst, "w") as zout:
        for info in zin.infolist():
            zout.writestr(info.filename, change.get(info.filename, zin.read(info.filename)))


def test_damaged_or_forged_files_are_refused(
    backend: Backend, engine: Engine, tmp_path: Path
) -> None:
    populate(engine)
    target_url = backend.new_url()
    target = make_engine(target_url)
    good = tmp_path / "good.zip"
    export_file(engine, good)
    manifest = verify_file(good)
    payload = next(k for k in manifest["members"] if k.startswith("payloads/"))
    with zipfile.ZipFile(good) as zf:
        data = zf.read(payload)
        table = zf.read("tables/tag.jsonl")
    forged_manifest = dict(
        manifest,
        members={
            **manifest["members"],
            payload: {"sha256": store.sha256_hex(b"x"), "bytes": 1, "rows": 1},
        },
    )
    cases = {
        "payload byte flipped": {payload: bytes([data[0] ^ 1]) + data[1:]},
        "table edited": {"tables/tag.jsonl": table.replace(b'"locked"', b'"open"')},
        "manifest forged": {payload: b"x", "manifest.json": json.dumps(forged_manifest).encode()},
        "not an export": {"manifest.json": b'{"format": "other"}'},
    }
    try:
        empty = row_counts(target)
        for why, change in cases.items():
            bad = tmp_path / "bad.zip"
            _rewrite(good, bad, change)
            with pytest.raises(TransferError):
                import_file(target, bad)
            assert row_counts(target) == empty, why
        (tmp_path / "junk.zip").write_bytes(b"not a zip")
        with pytest.raises(TransferError, match="not a zip"):
            import_file(target, tmp_path / "junk.zip")
        import_file(target, good)  # the intact file does import
        assert row_counts(target) == row_counts(engine) != empty
    finally:
        target.dispose()
        backend.drop(target_url)


def test_cli_export_import(
    backends: dict[str, Backend], engine: Engine, db_url: str, tmp_path: Path
) -> None:
    populate(engine)
    runner = CliRunner()
    out = runner.invoke(
        conddb, ["--db", db_url, "export", str(tmp_path / "f.zip"), "--gt", "G-frozen", "--json"]
    )
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["rows"]["global_tag"] == 1
    target = backends["sqlite"].new_url()
    try:
        out = runner.invoke(conddb, ["--db", target, "import", str(tmp_path / "f.zip")])
        assert out.exit_code == 0, out.output
        assert "imported global tag G-frozen" in out.output
        out = runner.invoke(conddb, ["--db", target, "import", str(tmp_path / "f.zip"), "--json"])
        assert json.loads(out.output)["added"] == {}
        assert resolve(make_engine(target), "G-frozen", 22) == resolve(engine, "G-frozen", 22)
    finally:
        backends["sqlite"].drop(target)
