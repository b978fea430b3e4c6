"""The ``conddb`` command: a thin click layer over :mod:`conditions` and :mod:`fitting`.

Every domain error becomes one line ``Error: <what is wrong> - <what to do>`` on stderr and exit
code 1; no traceback reaches the user.
"""

from __future__ import annotations

import os
import sys
from typing import Any

import click
from sqlalchemy.exc import DBAPIError, OperationalError

from conditions.errors import ConddbError

from .campaign_commands import CAMPAIGN_COMMANDS
from .context import Context
from .schema_commands import schema
from .store_commands import STORE_COMMANDS


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--db",
    "url",
    envvar="CONDDB_URL",
    default=None,
    metavar="URL",
    help="Database URL (postgresql://... or sqlite:///path). Default: $CONDDB_URL, else the "
    "embedded SQLite file $CONDDB_HOME/conddb.sqlite (~/.local/share/juno-conddb/).",
)
@click.version_option(package_name="juno-conddb")
@click.pass_context
def conddb(ctx: click.Context, url: str | None) -> None:
    """JUNO conditions database: calibration constants by run number."""
    ctx.obj = Context(url)


for command in [*STORE_COMMANDS, schema, *CAMPAIGN_COMMANDS]:
    conddb.add_command(command)


def _optional_commands() -> None:
    """Commands of the other parts of the project: service, mock detector, tokens."""
    from .demo import demo
    from .export_files import export_files
    from .serve import serve
    from .simulate import simulate
    from .store_commands import gt
    from .tokens import token
    from .transfer import export_cmd, import_cmd
    from .trend import gt_diff, trend

    for command in (demo, serve, simulate, token, trend, export_cmd, import_cmd, export_files):
        conddb.add_command(command)
    gt.add_command(gt_diff)


_optional_commands()


def main(argv: list[str] | None = None) -> Any:
    """Entry point: run ``conddb`` and turn every expected failure into one line."""
    try:
        return conddb.main(args=argv, prog_name="conddb", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("Aborted.", err=True)
        sys.exit(1)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except ConddbError as exc:
        click.echo(f"Error: {exc.one_line()}", err=True)
        sys.exit(1)
    except OperationalError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        click.echo(
            f"Error: cannot use the database ({reason}) - check --db / CONDDB_URL and that the "
            "server is running",
            err=True,
        )
        sys.exit(1)
    except DBAPIError as exc:
        reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
        click.echo(
            f"Error: the database refused the change ({reason}) - nothing was written", err=True
        )
        sys.exit(1)
    except OSError as exc:
        click.echo(f"Error: {exc.strerror or exc}: {exc.filename or ''} - check the path", err=True)
        sys.exit(1)
    except Exception as exc:
        if os.environ.get("CONDDB_DEBUG"):
            raise
        click.echo(
            f"Error: internal error ({type(exc).__name__}: {exc}) - nothing was written; "
            "rerun with CONDDB_DEBUG=1 for the traceback and report it",
            err=True,
        )
        sys.exit(1)


if __name__ == "__main__":  # pragma: no cover
    main()
