"""The per-lookup change check of the in-memory IOV index: one tiny statement on a raw connection.

A global-tag index (:mod:`conditions.store.index`) is stamped with the **sum** of the change
counters (migration 0005) of the global tag and of every tag its map rows ever named.  Counters
only grow (the triggers refuse anything else) and a missing counter row counts as 0, so the sum
over a fixed set of counters changes exactly when one of them does; the set itself only grows by
a map row, which bumps the global tag's own counter.  Hence "sum unchanged" <=> "nothing a lookup
could see has changed", checked with one primary-key statement::

    SELECT coalesce(sum(n), 0) FROM change_counter
    WHERE (scope = 'gt' AND object_id = ?) OR (scope = 'tag' AND object_id IN (?, ...))

It runs on a raw DB-API connection (psycopg 3 in autocommit mode, a prepared statement; sqlite3),
not through SQLAlchemy: the check costs about one raw indexed SELECT.  On SQLite,
``PRAGMA data_version`` (changes only when another connection commits) answers first: while it
has not moved on a connection, the sums that connection last read still hold, and no statement
is run at all.

Why not PostgreSQL ``LISTEN/NOTIFY``: the notification reaches the listener *after* the writer's
commit has returned, so a client that writes and then reads (through this process or another)
could get the old answer in between; the counter statement is exact by construction.

Connections: a free list (LIFO) of raw connections detached from the engine's pool (so that the
engine's connect hooks ran on them: SQLite pragmas, PostgreSQL ``plan_cache_mode``); a thread
takes one, runs the check, gives it back; at most :data:`KEEP` idle ones are kept.

:class:`AsyncChangeCheck` is the same statement for an event loop on PostgreSQL: one psycopg
``AsyncConnection`` (autocommit, prepared statement) per loop, so that the loop waits for the
round trip without blocking and without a thread hop (the service's lean lookups,
:mod:`conditions.service.flights`).
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

__all__ = ["AsyncChangeCheck", "ChangeCheck"]

#: Idle raw connections kept per engine (more threads at once open more, closed after use).
KEEP = 4


def _check_sql(n_tags: int, mark: str) -> str:
    tags = ", ".join([mark] * n_tags) if n_tags else "NULL"
    return (
        "SELECT coalesce(sum(n), 0) FROM change_counter WHERE (scope = 'gt' AND object_id = "
        f"{mark}) OR (scope = 'tag' AND object_id IN ({tags}))"
    )


class _Raw:
    """One detached DB-API connection with its cursor (and, on SQLite, its data_version)."""

    def __init__(self, engine: Engine) -> None:
        self.fairy = engine.raw_connection()
        self.dbapi: Any = self.fairy.driver_connection
        assert self.dbapi is not None
        self.fairy.detach()  # ours now: not counted in (nor returned to) the engine's pool
        self.sqlite = engine.dialect.name == "sqlite"
        if not self.sqlite:
            self.dbapi.autocommit = True  # each statement sees every commit before it
        self.cursor = self.dbapi.cursor()
        self.data_version = -1
        self.sums: dict[tuple[int, tuple[int, ...]], int] = {}

    def close(self) -> None:
        with contextlib.suppress(Exception):  # already broken: nothing to release
            self.fairy.close()


class ChangeCheck:
    """Counter sums of global tags read with one statement on a raw connection."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._idle: list[_Raw] = []
        self._mark = "?" if engine.dialect.name == "sqlite" else "%s"
        self._sql: dict[int, str] = {}

    def counter_sum(self, gt_id: int, tag_ids: tuple[int, ...]) -> int:
        """Sum of the counters of global tag ``gt_id`` and tags ``tag_ids`` (committed now).

        A broken connection (server restart) is replaced once; when the database cannot be
        reached at all, the driver's error is raised as SQLAlchemy's :class:`DBAPIError` (the
        service answers it with a 503), whether opening or reading failed."""
        dbapi_error = self.engine.dialect.loaded_dbapi.Error
        for attempt in (1, 2):
            raw: _Raw | None = None
            try:
                raw = self._idle.pop() if self._idle else _Raw(self.engine)
                value = self._read(raw, gt_id, tag_ids)
            except (dbapi_error, DBAPIError) as exc:
                if raw is not None:
                    raw.close()
                if attempt == 1:
                    continue  # a connection the server dropped: once more on a new one
                if isinstance(exc, DBAPIError):
                    raise
                # as SQLAlchemy would raise it
                raise DBAPIError.instance(
                    "change check", (gt_id, *tag_ids), exc, dbapi_error
                ) from exc
            if len(self._idle) < KEEP:
                self._idle.append(raw)
            else:
                raw.close()
            return value
        raise AssertionError("unreachable")  # pragma: no cover

    def _read(self, raw: _Raw, gt_id: int, tag_ids: tuple[int, ...]) -> int:
        key = (gt_id, tag_ids)
        if raw.sqlite:
            # read BEFORE the sum: a commit in between moves it, so the sum is re-read next time
            version = raw.cursor.execute("PRAGMA data_version").fetchone()[0]
            if version == raw.data_version:
                held = raw.sums.get(key)
                if held is not None:
                    return held
            else:
                raw.data_version = version
                raw.sums.clear()
        sql = self._sql.get(len(tag_ids))
        if sql is None:
            sql = self._sql.setdefault(len(tag_ids), _check_sql(len(tag_ids), self._mark))
        params = (gt_id, *tag_ids)
        if raw.sqlite:
            value = int(raw.cursor.execute(sql, params).fetchone()[0])
            if len(raw.sums) < 1024:
                raw.sums[key] = value
            return value
        raw.cursor.execute(sql, params, prepare=True)
        return int(raw.cursor.fetchone()[0])

    def close(self) -> None:
        """Close the idle connections (those in use are closed when given back)."""
        while self._idle:
            self._idle.pop().close()


class AsyncChangeCheck:
    """:meth:`ChangeCheck.counter_sum` awaited on an event loop (PostgreSQL only): one psycopg
    ``AsyncConnection`` in autocommit mode (each statement sees every commit before it began),
    opened on first use on the running loop and replaced when used from another loop (a
    connection belongs to the loop that opened it) or after a failure."""

    def __init__(self, engine: Engine) -> None:
        if engine.dialect.name != "postgresql":
            raise ValueError("AsyncChangeCheck is for PostgreSQL (SQLite: ChangeCheck)")
        self.engine = engine
        self._conninfo = engine.url.set(drivername="postgresql").render_as_string(
            hide_password=False
        )
        self._conn: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._connecting: asyncio.Lock | None = None
        self._sql: dict[int, str] = {}

    async def counter_sum(self, gt_id: int, tag_ids: tuple[int, ...]) -> int:
        """As :meth:`ChangeCheck.counter_sum`: a broken connection is replaced once; a database
        that cannot be reached raises SQLAlchemy's :class:`DBAPIError`."""
        import psycopg

        sql = self._sql.get(len(tag_ids))
        if sql is None:
            sql = self._sql.setdefault(len(tag_ids), _check_sql(len(tag_ids), "%s"))
        params = (gt_id, *tag_ids)
        for attempt in (1, 2):
            try:
                conn = await self._connection()
                async with conn.cursor() as cur:
                    await cur.execute(sql, params, prepare=True)
                    row = await cur.fetchone()
                return int(row[0])
            except psycopg.Error as exc:
                self._drop()
                if attempt == 1:
                    continue  # a connection the server dropped: once more on a new one
                raise DBAPIError.instance("change check", params, exc, psycopg.Error) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    async def _connection(self) -> Any:
        import psycopg

        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            self._drop()
            self._loop, self._connecting = loop, asyncio.Lock()
        assert self._connecting is not None
        async with self._connecting:  # one connect at a time per loop
            if self._conn is None or self._conn.closed:
                self._conn = await psycopg.AsyncConnection.connect(self._conninfo, autocommit=True)
        return self._conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            with contextlib.suppress(Exception):  # already broken, or its loop is gone
                conn.pgconn.finish()  # synchronous: the loop it belongs to may be closed

    def close(self) -> None:
        """Close the connection (the next check opens a new one)."""
        self._drop()
