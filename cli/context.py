"""Shared plumbing of the ``conddb`` commands: the database, output, times, errors.

Light on purpose: only click at import time (SQLAlchemy and the library are imported when a
command first asks for the database), so ``conddb ... --help`` stays fast.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

#: The ``--json`` flag every read command takes.
JSON_OPTION = click.option("--json", "as_json", is_flag=True, help="Print JSON.")


@dataclass
class Context:
    """What every command needs: the database URL and a lazily created engine."""

    url: str | None
    _engine: Engine | None = field(default=None, repr=False)

    def engine(self, *, check_schema: bool = True) -> Engine:
        if self._engine is None:
            from conditions.db import make_engine

            self._engine = make_engine(self.url)
            if check_schema:
                from conditions.migrate import require_head

                require_head(self._engine)
        return self._engine

    def close(self) -> None:
        """Release the engine's connections (at the end of every command)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None

    @contextmanager
    def writing(self) -> Iterator[Session]:
        from conditions.db import write_session

        with write_session(self.engine()) as s:
            yield s

    @contextmanager
    def reading(self) -> Iterator[Session]:
        from conditions.db import read_session

        with read_session(self.engine()) as s:
            yield s


pass_context = click.make_pass_decorator(Context)


def parse_time(value: str | None) -> dt.datetime | None:
    """ISO 8601 time -> aware UTC datetime, by the one policy of :mod:`conditions.times`
    (a time without a zone is refused)."""
    from conditions.errors import ConddbError
    from conditions.times import parse_utc

    try:
        return parse_utc(value)
    except ConddbError as exc:
        raise click.BadParameter(exc.one_line()) from None


def fmt_time(value: dt.datetime | None) -> str:
    from conditions.times import format_utc

    return format_utc(value) or "-"


def to_jsonable(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return fmt_time(value)
    if hasattr(value, "value") and not isinstance(value, int | float | str):
        return value.value
    return str(value)


def echo_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, sort_keys=True, default=to_jsonable))


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print rows as an aligned plain-text table."""
    cells = [[str(h) for h in headers]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(row[k]) for row in cells) for k in range(len(headers))]
    for n, row in enumerate(cells):
        click.echo("  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip())
        if n == 0:
            click.echo("  ".join("-" * w for w in widths))
    if not rows:
        click.echo("(none)", err=False)

