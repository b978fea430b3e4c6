"""``conddb schema list|show|example``: JSON Schemas and example documents of the typed payloads."""

from __future__ import annotations

import click

from cli.context import JSON_OPTION, echo_json, echo_table


@click.group()
def schema() -> None:
    """JSON Schemas of the typed payload types."""


@schema.command("list")
@JSON_OPTION
def schema_list(as_json: bool) -> None:
    """List the typed payload types, their schema versions and what they hold."""
    from conditions.payloads import LATEST, PAYLOAD_TYPES, model_class

    rows = []
    for name in sorted(PAYLOAD_TYPES):
        doc = (model_class(name).__doc__ or "").strip().splitlines()
        rows.append(
            (
                name,
                ",".join(str(v) for v in sorted(PAYLOAD_TYPES[name])),
                LATEST[name],
                doc[0] if doc else "",
            )
        )
    if as_json:
        echo_json(
            [{"type": n, "versions": v, "latest": latest, "summary": d} for n, v, latest, d in rows]
        )
    else:
        echo_table(["type", "versions", "latest", "summary"], rows)


@schema.command("show")
@click.argument("type_name", metavar="TYPE")
@click.option(
    "--version", "version", type=int, default=None, help="Schema version (default: latest)."
)
def schema_show(type_name: str, version: int | None) -> None:
    """Print the JSON Schema of TYPE (the document form `conddb payload put` validates)."""
    from conditions.payloads import json_schema

    echo_json(json_schema(type_name, version))


@schema.command("example")
@click.argument("type_name", metavar="TYPE")
def schema_example(type_name: str) -> None:
    """Print a valid example document of TYPE (the paper's reference numbers), ready for
    `conddb payload put TYPE FILE`: e.g. `conddb schema example light_yield > y0.json`."""
    import json

    from conditions.errors import InvalidInput
    from conditions.payloads import PAYLOAD_TYPES, examples

    found = examples.all_payloads().get(type_name)
    if found is None:
        raise InvalidInput(
            f"no example for payload type {type_name!r}",
            f"typed payload types: {', '.join(sorted(PAYLOAD_TYPES))}",
        )
    click.echo(json.dumps(json.loads(found.model_dump_json()), indent=2))
