"""``conddb db upgrade|current|downgrade``: schema migrations of the database."""

from __future__ import annotations

import click

from cli.context import Context, pass_context


@click.group()
def db() -> None:
    """Schema migrations of the database."""


@db.command("upgrade")
@click.argument("revision", default="head")
@pass_context
def db_upgrade(ctx: Context, revision: str) -> None:
    """Create or upgrade the schema (default: to the newest revision) and register known types."""
    from conditions import migrate, store
    from conditions.documents import typed_types

    engine = ctx.engine(check_schema=False, create=True)
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
    from conditions import migrate

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
    from conditions import migrate

    engine = ctx.engine(check_schema=False)
    if not yes:
        click.confirm(
            f"Downgrade {engine.url!r} to {revision}? Data in dropped tables is lost", abort=True
        )
    migrate.downgrade(engine, revision)
    click.echo(f"database at revision {migrate.current_revision(engine) or '(empty)'}")
