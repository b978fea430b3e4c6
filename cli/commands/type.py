"""``conddb type add|list``: payload types."""

from __future__ import annotations

import click

from cli.context import Context, echo_json, echo_table, pass_context
from cli.options import DESCRIPTION, JSON_OPTION


@click.group("type")
def type_group() -> None:
    """Payload types."""


@type_group.command("add")
@click.argument("name")
@DESCRIPTION
@pass_context
def type_add(ctx: Context, name: str, description: str) -> None:
    """Register a payload type (plain-JSON payloads unless it has a typed schema)."""
    from conditions import store

    with ctx.writing() as s:
        store.register_payload_type(s, name, description)
    click.echo(f"payload type {name} registered")


@type_group.command("list")
@JSON_OPTION
@pass_context
def type_list(ctx: Context, as_json: bool) -> None:
    """List the registered payload types."""
    from conditions import store
    from conditions.documents import typed_types
    from conditions.service.serializers import payload_type_json

    typed = typed_types()
    with ctx.reading() as s:
        docs = [payload_type_json(p, typed) for p in store.list_payload_types(s)]
    if as_json:  # the read API's shape: GET /v1/types
        echo_json(docs)
    else:
        rows = [(d["name"], d["kind"], d["description"]) for d in docs]
        echo_table(["type", "kind", "description"], rows)
