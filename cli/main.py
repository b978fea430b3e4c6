"""The ``conddb`` command: a lazy click group over :mod:`cli.commands` (one module per noun).

``conddb --help`` and TAB completion import nothing but click and this table; ``conddb NOUN ...``
imports ``cli.commands.NOUN`` alone, and that module imports the library inside the functions that
need it, so a command pays only for what it uses (see ``benchmarks/bench_cli.py``).

Every domain error becomes one line ``Error: <what is wrong> - <what to do>`` on stderr and exit
code 1; no traceback reaches the user.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click

from .context import Context
from .lazy import LazyCommand, LazyGroup

#: ``conddb NAME`` -> where the command lives and its one-line help (checked against the
#: command's own help by tests/integration/test_cli.py).
COMMANDS: dict[str, LazyCommand] = {
    name: LazyCommand(f"cli.commands.{module}:{attribute}", short_help)
    for name, module, attribute, short_help in [
        ("db", "db", "db", "Schema migrations of the database."),
        ("type", "type", "type_group", "Payload types."),
        ("payload", "payload", "payload", "Immutable, content-hashed payloads."),
        ("tag", "tag", "tag", "Tags: ordered IOVs of one payload type."),
        ("iov", "iov", "iov", "Intervals of validity."),
        ("gt", "gt", "gt", "Global tags: record -> tag maps used by reconstruction."),
        (
            "get",
            "get",
            "get",
            "Look up the constants of a run: per record the payload in force and its IOV.",
        ),
        (
            "search",
            "search",
            "search",
            "Find global tags, tags, payload types and campaigns whose name contains TEXT "
            "(case-insensitive), and payloads whose hash starts with TEXT (>= 4 hex digits).",
        ),
        (
            "run",
            "run",
            "run_group",
            "The run registry, prompt processing (FCSR) and tag synchronisation.",
        ),
        ("schema", "schema", "schema", "JSON Schemas of the typed payload types."),
        (
            "campaign",
            "campaign",
            "campaign",
            "Calibration campaigns: run their fits and upload the constants atomically.",
        ),
        (
            "fit",
            "fit",
            "fit",
            "Run one fitting JOB on a campaign and print, save or upload its payload.",
        ),
        (
            "trend",
            "trend",
            "trend",
            "Series of tracked calibration scalars across runs, with flagged steps and slow "
            "drifts.",
        ),
        (
            "serve",
            "serve",
            "serve",
            "Serve the read API (cacheable GETs) and the token-protected write API over HTTP.",
        ),
        (
            "simulate",
            "simulate",
            "simulate",
            "Generate mock JUNO calibration data (mock detector with known truth).",
        ),
        (
            "token",
            "token",
            "token",
            "Bearer tokens of the write API (only their SHA-256 is stored).",
        ),
        (
            "export",
            "transfer",
            "export_cmd",
            "Write the database (or one global tag) to a zip file with SHA-256 checks.",
        ),
        (
            "import",
            "transfer",
            "import_cmd",
            "Import a file made by `conddb export`, in one transaction (all or nothing).",
        ),
        (
            "export-files",
            "export_files",
            "export_files",
            "Write the payload files of GLOBAL_TAG as <type>/<sha256> under --out, with a "
            "checksum manifest, for the C++ nopayloadclient.",
        ),
        (
            "demo",
            "demo",
            "demo",
            "Simulate campaigns, fit them, store the constants, look up a run, write a trend "
            "report.",
        ),
    ]
}


@click.group(
    cls=LazyGroup,
    lazy_commands=COMMANDS,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--db",
    "url",
    envvar="CONDDB_URL",
    default=None,
    metavar="URL",
    help="Database: sqlite:///path, postgresql://user@host/db, or a conditions service "
    "https://host (read commands only). Default: $CONDDB_URL, else the embedded SQLite file "
    "$CONDDB_HOME/conddb.sqlite (~/.local/share/juno-conddb/).",
)
@click.version_option(package_name="juno-conddb")
@click.pass_context
def conddb(ctx: click.Context, url: str | None) -> None:
    """JUNO conditions database: calibration constants by run number.

    Errors are one line on stderr, `Error: what is wrong - what to do`, exit code 1; with
    --json they are one JSON object {"error": ..., "hint": ...} on stderr instead (stdout then
    stays empty). Ctrl-C stops with "interrupted - nothing was written", exit code 130.
    """
    ctx.obj = Context(url)
    ctx.call_on_close(ctx.obj.close)


def _loaded(module: str, name: str) -> Any:
    """``module.name`` if ``module`` was imported, else None.

    An exception can only be an instance of a class whose module is loaded, so the error mapping
    below checks ``sqlalchemy`` and ``conditions`` errors without importing either for commands
    that never touched them (``--help``, completion, ``token``, ``schema``...)."""
    loaded = sys.modules.get(module)
    return None if loaded is None else getattr(loaded, name, None)


#: The one line of an interrupted command (Ctrl-C): writes are transactions, so none happened.
INTERRUPTED = "interrupted — nothing was written"


def error_parts(exc: Exception) -> tuple[str, str] | None:
    """(what is wrong, what to do) for an expected failure, None for an unexpected one."""
    conddb_error = _loaded("conditions.errors", "ConddbError")
    if conddb_error is not None and isinstance(exc, conddb_error):
        return exc.message, exc.hint
    dbapi = _loaded("sqlalchemy.exc", "DBAPIError")
    if dbapi is not None and isinstance(exc, dbapi):
        from conditions.errors import from_db_error

        mapped = from_db_error(exc)
        return mapped.message, mapped.hint
    if isinstance(exc, OSError):
        return f"{exc.strerror or exc}: {exc.filename or ''}", "check the path"
    return None


def error_line(exc: Exception) -> str | None:
    """The one line ``Error: ...`` for an expected failure, None for an unexpected one."""
    parts = error_parts(exc)
    if parts is None:
        return None
    message, hint = parts
    return f"Error: {message} - {hint}" if hint else f"Error: {message}"


def _fail(message: str, hint: str, code: int, as_json: bool) -> None:
    """Report one failure (one line, or one JSON object with ``--json``) on stderr and exit."""
    if as_json:
        import json

        click.echo(json.dumps({"error": message, "hint": hint}), err=True)
    else:
        click.echo(f"Error: {message} - {hint}" if hint else f"Error: {message}", err=True)
    sys.exit(code)


def _click_parts(exc: click.ClickException) -> tuple[str, str]:
    text = exc.format_message().removeprefix("Error: ")
    message, sep, hint = text.partition(" - ")
    if isinstance(exc, click.UsageError) and not sep and exc.ctx is not None:
        hint = f"see `{exc.ctx.command_path} --help`"
    return message, hint


def main(argv: list[str] | None = None) -> Any:
    """Entry point: run ``conddb`` and turn every expected failure into one line."""
    args = sys.argv[1:] if argv is None else list(argv)
    as_json = "--json" in args
    try:
        return conddb.main(args=args, prog_name="conddb", standalone_mode=False)
    except (KeyboardInterrupt, click.exceptions.Abort) as exc:
        if isinstance(exc, click.exceptions.Abort) and not isinstance(
            exc.__cause__ or exc.__context__, KeyboardInterrupt
        ):
            _fail("aborted", "nothing was written", 1, as_json)
        if not as_json:
            click.echo(INTERRUPTED, err=True)
            sys.exit(130)
        _fail(INTERRUPTED, "", 130, as_json)
    except click.ClickException as exc:
        if not as_json:
            exc.show()
            sys.exit(exc.exit_code)
        _fail(*_click_parts(exc), exc.exit_code, as_json)
    except Exception as exc:
        parts = error_parts(exc)
        if parts is None:
            if os.environ.get("CONDDB_DEBUG"):
                raise
            parts = (
                f"internal error ({type(exc).__name__}: {exc})",
                "nothing was written; rerun with CONDDB_DEBUG=1 for the traceback and report it",
            )
        _fail(*parts, 1, as_json)


if __name__ == "__main__":  # pragma: no cover
    main()
