"""Alembic environment of juno-conddb.

Used through :mod:`conditions.migrate` (``conddb db upgrade``) or plain ``alembic`` with the
``alembic.ini`` at the top of the repository.  On PostgreSQL the migration runs under an advisory
lock, so two processes upgrading at once do not race.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import text

from conditions.db import make_engine
from conditions.model import Base

MIGRATION_LOCK_ID = 0x4A554E4F  # "JUNO"

config = context.config
target_metadata = Base.metadata


def _run(connection: object) -> None:
    context.configure(
        connection=connection,  # type: ignore[arg-type]
        target_metadata=target_metadata,
        render_as_batch=True,
        compare_type=True,
    )
    with context.begin_transaction():
        if context.get_context().dialect.name == "postgresql":  # type: ignore[union-attr]
            context.execute(text(f"SELECT pg_advisory_xact_lock({MIGRATION_LOCK_ID})"))
        context.run_migrations()


def run_migrations_online() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    engine = make_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.connect() as conn:
            _run(conn)
            conn.commit()
    finally:
        engine.dispose()


if context.is_offline_mode():
    context.configure(
        url=config.get_main_option("sqlalchemy.url"),
        target_metadata=target_metadata,
        literal_binds=True,
    )
    with context.begin_transaction():
        context.run_migrations()
else:
    run_migrations_online()
