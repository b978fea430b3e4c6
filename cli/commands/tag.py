"""``conddb tag create|list|show|lock|diff|where``: tags, ordered IOVs of one payload type."""

from __future__ import annotations

import click

from cli.context import (
    Context,
    echo_json,
    echo_table,
    fmt_time,
    parse_time,
    pass_context,
)
from cli.options import DESCRIPTION, JSON_OPTION, as_of, payload_type, tag_argument

from .iov import print_iovs


@click.group()
def tag() -> None:
    """Tags: ordered IOVs of one payload type."""


@tag.command("create")
@click.argument("name")
@payload_type("Payload type of the tag.", required=True)
@DESCRIPTION
@pass_context
def tag_create(ctx: Context, name: str, type_name: str, description: str) -> None:
    """Create an open tag."""
    from conditions import store

    with ctx.writing() as s:
        store.create_tag(s, name, type_name, description)
    click.echo(f"tag {name} created ({type_name}, open)")


@tag.command("list")
@payload_type("Only tags of this payload type.")
@JSON_OPTION
@pass_context
def tag_list(ctx: Context, type_name: str | None, as_json: bool) -> None:
    """List tags with their state and number of IOV rows."""
    from conditions import store

    if ctx.is_remote():
        remote = ctx.remote().tags(type_name)
        if as_json:
            echo_json(remote)
        else:
            echo_table(
                ["tag", "type", "state", "iovs", "description"],
                [(t["name"], t["type"], t["state"], t["iovs"], t["description"]) for t in remote],
            )
        return
    with ctx.reading() as s:
        rows = store.list_tags(s, type_name)
    if as_json:
        from conditions.service.serializers import tag_json

        echo_json([tag_json(t, n) for t, n in rows])
    else:
        echo_table(
            ["tag", "type", "state", "iovs", "description"],
            [(t.name, t.type_name, t.state.value, n, t.description) for t, n in rows],
        )


@tag.command("show")
@tag_argument()
@as_of("Show the IOVs as they were")
@JSON_OPTION
@pass_context
def tag_show(ctx: Context, name: str, at: str | None, as_json: bool) -> None:
    """Show a tag and its IOVs in force."""
    from conditions import store

    if ctx.is_remote():  # the read API's shape (conditions/service/serializers.py)
        info = ctx.remote().tag(name, as_of=parse_time(at))
        if as_json:
            echo_json(info)
            return
        click.echo(f"tag {info['name']}: {info['type']}, {info['state']}")
        echo_table(
            ["since", "until", "payload", "inserted"],
            [
                (
                    i["since"],
                    "-" if i["until"] is None else i["until"],
                    i["payload_hash"][:16],
                    i["insertion_time"],
                )
                for i in info["iovs"]
            ],
        )
        return
    with ctx.reading() as s:
        t = store.get_tag(s, name)
        iovs = store.list_iovs(s, name, as_of=parse_time(at))
    if as_json:  # the read API's shape: GET /v1/tags/{name}
        from conditions.service.serializers import iov_row_json, tag_json

        echo_json({**tag_json(t), "iovs": [iov_row_json(i) for i in iovs]})
        return
    click.echo(f"tag {t.name}: {t.type_name}, {t.state.value}, created {fmt_time(t.created_at)}")
    if t.description:
        click.echo(f"  {t.description}")
    print_iovs(iovs)


@tag.command("lock")
@tag_argument()
@pass_context
def tag_lock(ctx: Context, name: str) -> None:
    """Lock a tag for good: no IOV can be added to it afterwards."""
    from conditions import store

    with ctx.writing() as s:
        t = store.lock_tag(s, name)
    click.echo(f"tag {name} locked at {fmt_time(t.locked_at)}")


@tag.command("diff")
@tag_argument("a")
@tag_argument("b")
@as_of("Compare the tags as they were")
@click.option("--all", "show_all", is_flag=True, help="Also list the run ranges that agree.")
@JSON_OPTION
@pass_context
def tag_diff(ctx: Context, a: str, b: str, at: str | None, show_all: bool, as_json: bool) -> None:
    """Compare two tags IOV by IOV: which run ranges resolve to different payloads.

    Runs are split at every since of either tag (conditions/iov.py segments); a range where
    one tag has no IOV shows "-" for it. Exit code 0 either way."""
    from conditions import iov, store

    as_of = parse_time(at)
    with ctx.reading() as s:
        columns = [
            [
                iov.Interval(r.since, r.until, r.payload_hash, r.insertion_time)
                for r in store.list_iovs(s, name, as_of=as_of)
            ]
            for name in (a, b)
        ]
    segs = iov.segments(columns)
    rows = [
        {
            "first": g.first,
            "last": g.last,
            a: g.keys[0],
            b: g.keys[1],
            "same": g.keys[0] == g.keys[1],
        }
        for g in segs
        if g.keys != (None, None)
    ]
    shown = rows if show_all else [r for r in rows if not r["same"]]
    if as_json:
        echo_json({"a": a, "b": b, "as_of": as_of, "segments": shown})
        return
    differ = sum(not r["same"] for r in rows)
    click.echo(f"{a} vs {b}: {differ} run range(s) differ, {len(rows) - differ} agree")
    echo_table(
        ["first", "last", a, b, ""],
        [
            (
                r["first"],
                "-" if r["last"] is None else r["last"],
                str(r[a] or "-")[:16],
                str(r[b] or "-")[:16],
                "same" if r["same"] else "differs",
            )
            for r in shown
        ],
    )


@tag.command("where")
@tag_argument()
@JSON_OPTION
@pass_context
def tag_where(ctx: Context, name: str, as_json: bool) -> None:
    """Which global tags use tag NAME (for which record; superseded map rows too)."""
    from conditions import store
    from conditions.store.search import global_tags_using_tags

    with ctx.reading() as s:
        store.get_tag(s, name)  # a missing tag is an error, not "(none)"
        rows = global_tags_using_tags(s, [name])
    if as_json:
        echo_json(
            [
                {
                    "global_tag": r.global_tag,
                    "record": r.record,
                    "since": r.insertion_time,
                    "current": r.current,
                }
                for r in rows
            ]
        )
        return
    echo_table(
        ["global tag", "record", "mapped at", ""],
        [
            (r.global_tag, r.record, fmt_time(r.insertion_time), "" if r.current else "superseded")
            for r in rows
        ],
    )
