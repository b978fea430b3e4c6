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
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from cli import options

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine
    from sqlalchemy.orm import Session

    from conditions.service.remote import RemoteSource

#: The ``--json`` flag every read command takes (declared in :mod:`cli.options`).
JSON_OPTION = options.JSON_OPTION


#: The ``--db`` forms ``conddb`` accepts, as said in every "bad --db" error.
ACCEPTED_URLS = "sqlite:///path, postgresql://user@host/db, https://host (or http://host:port)"


class BadDatabaseURL(click.ClickException):
    """A ``--db`` / ``$CONDDB_URL`` value that is no URL conddb can use (one line, exit 1)."""


def url_kind(url: str) -> str:
    """``"sqlite"``, ``"postgresql"`` or ``"http"`` for an accepted ``--db`` value; else
    :class:`BadDatabaseURL` saying what is wrong and the accepted forms (no import beyond click)."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if sep and scheme == "sqlite" and rest.startswith("/") and len(rest) > 1:
        return "sqlite"
    if sep and scheme.split("+")[0] in ("postgresql", "postgres") and rest:
        return "postgresql"
    if sep and scheme in ("http", "https") and rest.strip("/"):
        return "http"
    if not sep:
        guess = f" (a file? use sqlite:///{url})" if url.strip() and ":" not in url else ""
        what = f"--db {url!r} is not a database URL{guess}"
    elif scheme == "sqlite":
        what = f"--db {url!r} names no SQLite file (three slashes, then the path)"
    else:
        what = f"--db {url!r}: unsupported scheme {scheme + '://'!r}"
    return _raise(f"{what} - accepted forms: {ACCEPTED_URLS}")


def _raise(line: str) -> str:
    raise BadDatabaseURL(line)


def sqlite_path(url: str) -> Path:
    """The file of a ``sqlite:///path`` URL."""
    return Path(url.partition("://")[2][1:].partition("?")[0]).expanduser()


@dataclass
class Context:
    """What every command needs: the database URL and a lazily created engine.

    Read commands open the database with ``reading()``, which never creates one: a missing
    SQLite file is an error saying so (only ``conddb db upgrade`` and the write commands that
    follow it create the file).  An ``http(s)://`` URL is a remote service: read commands go
    through :meth:`remote` (the HTTP client), write commands refuse it.
    """

    url: str | None
    _engine: Engine | None = field(default=None, repr=False)
    _remote: RemoteSource | None = field(default=None, repr=False)

    def resolved_url(self) -> str:
        from conditions.db import default_url

        return self.url or default_url()

    def kind(self) -> str:
        """``sqlite``, ``postgresql`` or ``http`` (a bad value is one line, exit 1)."""
        return url_kind(self.resolved_url())

    def is_remote(self) -> bool:
        return self.kind() == "http"

    def remote(self) -> RemoteSource:
        """The read-only adapter over the HTTP service named by ``--db https://host``."""
        if self._remote is None:
            from conditions.service.remote import RemoteSource

            self._remote = RemoteSource(self.resolved_url())
        return self._remote

    def engine(self, *, check_schema: bool = True, create: bool = False) -> Engine:
        """The database engine; with ``create`` False a missing SQLite file is an error."""
        if self._engine is None:
            from conditions.db import make_engine

            url = self.resolved_url()
            kind = url_kind(url)
            if kind == "http":
                raise BadDatabaseURL(
                    f"--db {url} is a remote service, this command needs the database "
                    "itself - use sqlite:///path or postgresql://user@host/db",
                )
            if kind == "sqlite" and not create:
                path = sqlite_path(url)
                if str(path) != ":memory:" and not path.is_file():
                    from conditions.errors import NotFound

                    raise NotFound(
                        f"no SQLite database at {path}",
                        "check --db / CONDDB_URL (a typo?), or create it with `conddb db upgrade` "
                        "and the same --db",
                    )
            self._engine = make_engine(url)
            if check_schema:
                from conditions.migrate import require_head

                require_head(self._engine)
        return self._engine

    def close(self) -> None:
        """Release the engine's connections (at the end of every command)."""
        if self._engine is not None:
            self._engine.dispose()
            self._engine = None
        if self._remote is not None:
            self._remote.close()
            self._remote = None

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
