"""``conddb token add|list|revoke``: bearer tokens of the conditions service (stored hashed)."""

from __future__ import annotations

from pathlib import Path

import click

from cli.context import JSON_OPTION, echo_json, echo_table

TOKENS_FILE = click.option(
    "--file",
    "path",
    envvar="CONDDB_TOKENS_FILE",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Tokens file (default: $CONDDB_TOKENS_FILE).",
)


@click.group("token")
def token() -> None:
    """Bearer tokens of the write API (only their SHA-256 is stored)."""


@token.command("add")
@click.argument("name")
@click.option(
    "--role",
    type=click.Choice(["reader", "uploader", "admin"]),
    default="uploader",
    show_default=True,
    help="reader < uploader (payloads, tags, IOVs) < admin (global tags).",
)
@TOKENS_FILE
def token_add(name: str, role: str, path: Path) -> None:
    """Create a token for NAME; it is printed once and cannot be shown again."""
    from conditions.service.auth import Role, add_token

    secret = add_token(path, name, Role.parse(role))
    click.echo(secret)
    click.echo(f"token {name} ({role}) added to {path}; keep it secret, it is not stored", err=True)


@token.command("list")
@JSON_OPTION
@TOKENS_FILE
def token_list(path: Path, as_json: bool) -> None:
    """List token names, roles and states (never the tokens)."""
    from conditions.service.auth import read_tokens

    rows = read_tokens(path)
    if as_json:
        echo_json(
            [
                {
                    "name": r.name,
                    "role": r.role.label,
                    "revoked": r.revoked,
                    "created_at": r.created_at,
                }
                for r in rows
            ]
        )
        return
    echo_table(
        ["name", "role", "state", "created"],
        [(r.name, r.role.label, "revoked" if r.revoked else "active", r.created_at) for r in rows],
    )


@token.command("revoke")
@click.argument("name")
@TOKENS_FILE
def token_revoke(name: str, path: Path) -> None:
    """Revoke the tokens of NAME (running servers notice within one request)."""
    from conditions.service.auth import revoke_token

    n = revoke_token(path, name)
    if n == 0:
        raise click.ClickException(f"no active token named {name!r} - see `conddb token list`")
    click.echo(f"{n} token(s) of {name} revoked")
