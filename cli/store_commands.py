"""``conddb db|type|payload|tag|iov|gt|run|get``: the conditions store from the shell."""

from __future__ import annotations

import csv
import json
import re
from pathlib import Path
from typing import Any

import click

from conditions import migrate, store
from conditions.documents import decode_document, parse_json_bytes, put_document, typed_types
from conditions.errors import InvalidIOV
from conditions.resolve import resolve

from .context import Context, echo_json, echo_table, fmt_time, parse_time, pass_context

JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


# --- db ------------------------------------------------------------------------------------------
@click.group()
def db() -> None:
    """Schema migrations of the database."""


@db.command("upgrade")
@click.argument("revision", default="head")
@pass_context
def db_upgrade(ctx: Context, revision: str) -> None:
    """Create or upgrade the schema (default: to the newest revision) and register known types."""
    engine = ctx.engine(check_schema=False)
    migrate.upgrade(engine, revision)
    if revision == "head":
        with ctx.writing() as s:
            for name in ["json", *sorted(typed_types())]:
                store.register_payload_type(s, name)
    click.echo(f"database at revision {migrate.current_revision(engine)} ({engine.url!r})")


@db.command("current")
@pass_context
def db_current(ctx: Context) -> None:
    """Show the database's schema revision and the newest one this conddb knows."""
    engine = ctx.engine(check_schema=False)
    current = migrate.current_revision(engine)
    head = migrate.head_revision(engine)
    status = "up to date" if current == head else "run `conddb db upgrade`"
    click.echo(f"current: {current or '(empty)'}  head: {head}  ({status})")


@db.command("downgrade")
@click.argument("revision", default="-1")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@pass_context
def db_downgrade(ctx: Context, revision: str, yes: bool) -> None:
    """Take the schema down to REVISION (default: one step). Drops tables and their data."""
    engine = ctx.engine(check_schema=False)
    if not yes:
        click.confirm(
            f"Downgrade {engine.url!r} to {revision}? Data in dropped tables is lost", abort=True
        )
    migrate.downgrade(engine, revision)
    click.echo(f"database at revision {migrate.current_revision(engine) or '(empty)'}")


# --- payload types -------------------------------------------------------------------------------
@click.group("type")
def type_group() -> None:
    """Payload types."""


@type_group.command("add")
@click.argument("name")
@click.option("--description", default="")
@pass_context
def type_add(ctx: Context, name: str, description: str) -> None:
    """Register a payload type (plain-JSON payloads unless it has a typed schema)."""
    with ctx.writing() as s:
        store.register_payload_type(s, name, description)
    click.echo(f"payload type {name} registered")


@type_group.command("list")
@JSON_OPTION
@pass_context
def type_list(ctx: Context, as_json: bool) -> None:
    """List the registered payload types."""
    from sqlalchemy import select

    from conditions.model import PayloadType

    typed = typed_types()
    with ctx.reading() as s:
        rows = [
            (p.name, "typed" if p.name in typed else "json", p.description)
            for p in s.scalars(select(PayloadType).order_by(PayloadType.name))
        ]
    if as_json:
        echo_json([{"name": n, "kind": k, "description": d} for n, k, d in rows])
    else:
        echo_table(["type", "kind", "description"], rows)


# --- payloads ------------------------------------------------------------------------------------
@click.group()
def payload() -> None:
    """Immutable, content-hashed payloads."""


@payload.command("put")
@click.argument("type_name", metavar="TYPE")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option(
    "--provenance",
    type=click.Path(dir_okay=False, path_type=Path),
    help="JSON file describing where the payload comes from.",
)
@pass_context
def payload_put(ctx: Context, type_name: str, file: Path, provenance: Path | None) -> None:
    """Validate FILE (JSON) as a payload of TYPE and store it; prints its hash."""
    doc = parse_json_bytes(file.read_bytes(), str(file))
    prov: dict[str, Any] = {"source_file": file.name}
    if provenance is not None:
        extra = parse_json_bytes(provenance.read_bytes(), str(provenance))
        if not isinstance(extra, dict):
            raise click.BadParameter("the provenance file must hold a JSON object")
        prov.update(extra)
    with ctx.writing() as s:
        result = put_document(s, type_name, doc, provenance=prov)
    click.echo(result.hash)
    click.echo("stored" if result.created else "already stored (same content)", err=True)


@payload.command("show")
@click.argument("payload_hash", metavar="HASH")
@click.option("--content/--no-content", default=True, help="Include the decoded content.")
@JSON_OPTION
@pass_context
def payload_show(ctx: Context, payload_hash: str, content: bool, as_json: bool) -> None:
    """Show a payload (HASH may be an unambiguous prefix of at least 8 hex digits)."""
    with ctx.reading() as s:
        row = store.find_payload(s, payload_hash)
        info = {
            "hash": row.hash,
            "type": row.type_name,
            "schema_version": row.schema_version,
            "size": row.size,
            "created_at": row.created_at,
            "provenance": row.provenance,
        }
        if content:
            info["content"] = decode_document(row.type_name, store.payload_bytes(s, row.hash))
    if as_json:
        echo_json(info)
        return
    for key in ("hash", "type", "schema_version", "size"):
        click.echo(f"{key:15} {info[key]}")
    click.echo(f"{'created_at':15} {fmt_time(row.created_at)}")
    click.echo(f"{'provenance':15} {json.dumps(info['provenance'], sort_keys=True)}")
    if content:
        click.echo(json.dumps(info["content"], indent=2, sort_keys=True))


# --- tags ----------------------------------------------------------------------------------------
@click.group()
def tag() -> None:
    """Tags: ordered IOVs of one payload type."""


@tag.command("create")
@click.argument("name")
@click.option("--type", "type_name", required=True, help="Payload type of the tag.")
@click.option("--description", default="")
@pass_context
def tag_create(ctx: Context, name: str, type_name: str, description: str) -> None:
    """Create an open tag."""
    with ctx.writing() as s:
        store.create_tag(s, name, type_name, description)
    click.echo(f"tag {name} created ({type_name}, open)")


@tag.command("list")
@click.option("--type", "type_name", default=None, help="Only tags of this payload type.")
@JSON_OPTION
@pass_context
def tag_list(ctx: Context, type_name: str | None, as_json: bool) -> None:
    """List tags with their state and number of IOV rows."""
    with ctx.reading() as s:
        rows = store.list_tags(s, type_name)
    if as_json:
        echo_json(
            [
                {
                    "name": t.name,
                    "type": t.type_name,
                    "state": t.state,
                    "iovs": n,
                    "description": t.description,
                    "created_at": t.created_at,
                }
                for t, n in rows
            ]
        )
    else:
        echo_table(
            ["tag", "type", "state", "iovs", "description"],
            [(t.name, t.type_name, t.state.value, n, t.description) for t, n in rows],
        )


@tag.command("show")
@click.argument("name")
@click.option("--at", "at", default=None, help="Show the IOVs as they were at this time.")
@JSON_OPTION
@pass_context
def tag_show(ctx: Context, name: str, at: str | None, as_json: bool) -> None:
    """Show a tag and its IOVs in force."""
    with ctx.reading() as s:
        t = store.get_tag(s, name)
        iovs = store.list_iovs(s, name, as_of=parse_time(at))
        info = {
            "name": t.name,
            "type": t.type_name,
            "state": t.state,
            "description": t.description,
            "created_at": t.created_at,
            "locked_at": t.locked_at,
        }
    if as_json:
        info["iovs"] = [_iov_json(i) for i in iovs]
        echo_json(info)
        return
    click.echo(f"tag {t.name}: {t.type_name}, {t.state.value}, created {fmt_time(t.created_at)}")
    if t.description:
        click.echo(f"  {t.description}")
    _print_iovs(iovs)


@tag.command("lock")
@click.argument("name")
@pass_context
def tag_lock(ctx: Context, name: str) -> None:
    """Lock a tag for good: no IOV can be added to it afterwards."""
    with ctx.writing() as s:
        t = store.lock_tag(s, name)
    click.echo(f"tag {name} locked at {fmt_time(t.locked_at)}")


# --- IOVs ----------------------------------------------------------------------------------------
def _iov_json(i: store.IOVRow) -> dict[str, Any]:
    return {
        "since": i.since,
        "until": i.until,
        "payload": i.payload_hash,
        "insertion_time": i.insertion_time,
        "superseded": i.superseded,
    }


def _print_iovs(iovs: list[store.IOVRow]) -> None:
    echo_table(
        ["since", "until", "payload", "inserted", ""],
        [
            (
                i.since,
                "-" if i.until is None else i.until,
                i.payload_hash[:16],
                fmt_time(i.insertion_time),
                "superseded" if i.superseded else "",
            )
            for i in iovs
        ],
    )


def _read_iov_file(path: Path) -> list[tuple[int, str]]:
    """Rows ``since,payload_hash`` (CSV, header optional)."""
    out: list[tuple[int, str]] = []
    with path.open(newline="") as fh:
        for n, row in enumerate(csv.reader(fh), start=1):
            if not row or row[0].strip().lower() == "since":
                continue
            if len(row) != 2 or not re.fullmatch(r"[0-9]+", row[0].strip()):
                raise InvalidIOV(f"{path}:{n}: expected 'since,payload_hash'", "fix the line")
            out.append((int(row[0]), row[1].strip()))
    return out


@click.group()
def iov() -> None:
    """Intervals of validity."""


@iov.command("add")
@click.argument("tag_name", metavar="TAG")
@click.option("--since", type=click.IntRange(min=0), help="First valid run (inclusive).")
@click.option("--payload", "payload_hash", help="Payload hash (or unique prefix).")
@click.option(
    "--from-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV of since,payload_hash rows, appended in one transaction.",
)
@pass_context
def iov_add(
    ctx: Context, tag_name: str, since: int | None, payload_hash: str | None, from_file: Path | None
) -> None:
    """Append IOVs to an open tag (one, or many from a file, atomically)."""
    if from_file is None and (since is None or payload_hash is None):
        raise click.UsageError("give --since and --payload, or --from-file")
    with ctx.writing() as s:
        if from_file is not None:
            rows = [(r, store.find_payload(s, h).hash) for r, h in _read_iov_file(from_file)]
        else:
            assert since is not None and payload_hash is not None
            rows = [(since, store.find_payload(s, payload_hash).hash)]
        result = store.append_iovs(s, tag_name, rows)
    click.echo(f"tag {tag_name}: {result.added} IOV(s) added, {result.unchanged} unchanged")


@iov.command("list")
@click.argument("tag_name", metavar="TAG")
@click.option("--at", "at", default=None, help="As they were at this time (ISO 8601).")
@click.option("--history", is_flag=True, help="Include superseded rows.")
@JSON_OPTION
@pass_context
def iov_list(ctx: Context, tag_name: str, at: str | None, history: bool, as_json: bool) -> None:
    """List the IOVs of a tag."""
    with ctx.reading() as s:
        iovs = store.list_iovs(s, tag_name, as_of=parse_time(at), history=history)
    if as_json:
        echo_json([_iov_json(i) for i in iovs])
    else:
        _print_iovs(iovs)


# --- global tags ---------------------------------------------------------------------------------
@click.group()
def gt() -> None:
    """Global tags: record -> tag maps used by reconstruction."""


@gt.command("create")
@click.argument("name")
@click.option("--description", default="")
@pass_context
def gt_create(ctx: Context, name: str, description: str) -> None:
    """Create an open, empty global tag."""
    with ctx.writing() as s:
        store.create_global_tag(s, name, description)
    click.echo(f"global tag {name} created (open)")


@gt.command("set")
@click.argument("name")
@click.argument("record")
@click.argument("tag_name", metavar="TAG")
@pass_context
def gt_set(ctx: Context, name: str, record: str, tag_name: str) -> None:
    """Point RECORD of global tag NAME at TAG."""
    with ctx.writing() as s:
        changed = store.set_record(s, name, record, tag_name)
    click.echo(f"{name}: {record} -> {tag_name}" + ("" if changed else " (unchanged)"))


@gt.command("freeze")
@click.argument("name")
@click.option("--snapshot", default=None, help="Resolve as of this time (default: now).")
@pass_context
def gt_freeze(ctx: Context, name: str, snapshot: str | None) -> None:
    """Freeze a global tag: immutable, and resolved as of its snapshot time forever."""
    with ctx.writing() as s:
        g = store.freeze_global_tag(s, name, snapshot_time=parse_time(snapshot))
    click.echo(f"global tag {name} frozen, snapshot {fmt_time(g.snapshot_time)}")


@gt.command("clone")
@click.argument("source")
@click.argument("destination")
@click.option("--description", default="")
@pass_context
def gt_clone(ctx: Context, source: str, destination: str, description: str) -> None:
    """Create DESTINATION (open) with the map of SOURCE."""
    with ctx.writing() as s:
        store.clone_global_tag(s, source, destination, description)
    click.echo(f"global tag {destination} created from {source} (open)")


@gt.command("show")
@click.argument("name")
@click.option("--at", "at", default=None, help="The map as it was at this time.")
@JSON_OPTION
@pass_context
def gt_show(ctx: Context, name: str, at: str | None, as_json: bool) -> None:
    """Show a global tag and its record -> tag map."""
    with ctx.reading() as s:
        g = store.get_global_tag(s, name)
        mapping = store.global_tag_map(s, g, as_of=parse_time(at))
        rows = [(r, t.name, t.type_name, t.state.value) for r, t in sorted(mapping.items())]
        info: dict[str, Any] = {
            "name": g.name,
            "state": g.state,
            "snapshot_time": g.snapshot_time,
            "description": g.description,
            "created_at": g.created_at,
            "frozen_at": g.frozen_at,
        }
    if as_json:
        info["records"] = {r: {"tag": t, "type": ty, "tag_state": st} for r, t, ty, st in rows}
        echo_json(info)
        return
    snap = f", snapshot {fmt_time(g.snapshot_time)}" if g.snapshot_time else ""
    click.echo(f"global tag {g.name}: {g.state.value}{snap}")
    if g.description:
        click.echo(f"  {g.description}")
    echo_table(["record", "tag", "type", "tag state"], rows)


@gt.command("list")
@JSON_OPTION
@pass_context
def gt_list(ctx: Context, as_json: bool) -> None:
    """List global tags."""
    with ctx.reading() as s:
        gts = store.list_global_tags(s)
        rows = [(g.name, g.state.value, fmt_time(g.snapshot_time), g.description) for g in gts]
    if as_json:
        echo_json(
            [
                {"name": n, "state": st, "snapshot_time": sn, "description": d}
                for n, st, sn, d in rows
            ]
        )
    else:
        echo_table(["global tag", "state", "snapshot", "description"], rows)


# --- lookups -------------------------------------------------------------------------------------
@click.command("get")
@click.option("--gt", "gt_name", required=True, help="Global tag.")
@click.option("--run", "run", type=click.IntRange(min=0), default=None, help="Run number.")
@click.option("--time", "when", default=None, help="Look the run up by time in the run registry.")
@click.option("--record", default=None, help="Only this record.")
@click.option("--at", "at", default=None, help="Replay the lookup as it was at this time.")
@click.option("--content", is_flag=True, help="Include the payload content (with --json).")
@JSON_OPTION
@pass_context
def get(
    ctx: Context,
    gt_name: str,
    run: int | None,
    when: str | None,
    record: str | None,
    at: str | None,
    content: bool,
    as_json: bool,
) -> None:
    """Look up the constants of a run: per record the payload in force and its IOV."""
    if (run is None) == (when is None):
        raise click.UsageError("give exactly one of --run and --time")
    with ctx.reading() as s:
        if run is None:
            moment = parse_time(when)
            assert moment is not None
            run = store.run_at(s, moment)
        result = resolve(s, gt_name, run, record=record, as_of=parse_time(at))
        contents = (
            {
                r.record: decode_document(r.payload_type, store.payload_bytes(s, r.payload_hash))
                for r in result.records.values()
            }
            if content
            else {}
        )
    if as_json:
        echo_json(
            {
                "global_tag": gt_name,
                "run": run,
                "as_of": result.as_of,
                "records": {
                    r.record: {
                        "tag": r.tag,
                        "type": r.payload_type,
                        "payload": r.payload_hash,
                        "since": r.since,
                        "until": r.until,
                        **({"content": contents[r.record]} if content else {}),
                    }
                    for r in result.records.values()
                },
            }
        )
        return
    echo_table(
        ["record", "type", "payload", "since", "until", "tag"],
        [
            (
                r.record,
                r.payload_type,
                r.payload_hash[:16],
                r.since,
                "-" if r.until is None else r.until,
                r.tag,
            )
            for r in sorted(result.records.values(), key=lambda x: x.record)
        ],
    )


# --- run registry --------------------------------------------------------------------------------
@click.group("run")
def run_group() -> None:
    """The run registry (optional): start/end times and run types."""


@run_group.command("add")
@click.argument("number", type=click.IntRange(min=0))
@click.option("--start", default=None, help="Start time (ISO 8601).")
@click.option("--end", default=None, help="End time (ISO 8601).")
@click.option("--type", "run_type", default="physics")
@pass_context
def run_add(ctx: Context, number: int, start: str | None, end: str | None, run_type: str) -> None:
    """Register a run."""
    with ctx.writing() as s:
        store.register_run(
            s, number, start_time=parse_time(start), end_time=parse_time(end), run_type=run_type
        )
    click.echo(f"run {number} registered")


STORE_COMMANDS = [db, type_group, payload, tag, iov, gt, get, run_group]
