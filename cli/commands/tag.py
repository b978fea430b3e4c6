"""``conddb tag create|list|show|lock``: tags, ordered IOVs of one payload type."""

from __future__ import annotations

import click

from cli.context import (
    JSON_OPTION,
    Context,
    echo_json,
    echo_table,
    fmt_time,
    parse_time,
    pass_context,
)

from .iov import iov_json, print_iovs


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
    from conditions import store

    with ctx.writing() as s:
        store.create_tag(s, name, type_name, description)
    click.echo(f"tag {name} created ({type_name}, open)")


@tag.command("list")
@click.option("--type", "type_name", default=None, help="Only tags of this payload type.")
@JSON_OPTION
@pass_context
def tag_list(ctx: Context, type_name: str | None, as_json: bool) -> None:
    """List tags with their state and number of IOV rows."""
    from conditions import store

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
    from conditions import store

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
        info["iovs"] = [iov_json(i) for i in iovs]
        echo_json(info)
        return
    click.echo(f"tag {t.name}: {t.type_name}, {t.state.value}, created {fmt_time(t.created_at)}")
    if t.description:
        click.echo(f"  {t.description}")
    print_iovs(iovs)


@tag.command("lock")
@click.argument("name")
@pass_context
def tag_lock(ctx: Context, name: str) -> None:
    """Lock a tag for good: no IOV can be added to it afterwards."""
    from conditions import store

    with ctx.writing() as s:
        t = store.lock_tag(s, name)
    click.echo(f"tag {name} locked at {fmt_time(t.locked_at)}")
