"""Change counters: one row per tag and per global tag, bumped by triggers in the writing
transaction, so that in-memory IOV indexes can be invalidated exactly.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01

``change_counter(scope, object_id, n)``: ``scope`` is ``'tag'`` or ``'gt'``; ``n`` increases by
one (at least) with every change a lookup could see:

* an IOV row appended to a tag -> ``('tag', tag_id)``;
* a tag created or updated (lock) -> ``('tag', id)``;
* a map row appended to a global tag -> ``('gt', global_tag_id)``;
* a global tag created or updated (freeze, state change, snapshot) -> ``('gt', id)``.

The triggers run inside the writer's transaction, whoever the writer is (library, CLI, HTTP,
import, raw SQL), so a reader that reads the counters *before* the rows it caches can never keep
a stale answer: a missing row means 0.  Counters only grow: an UPDATE that does not increase
``n`` and any DELETE (and, on SQLite, a REPLACE over an existing row; on PostgreSQL, TRUNCATE)
are refused.  PostgreSQL bumps once per statement and tag (transition tables), so a bulk load of
many IOVs costs one counter update per statement; SQLite has row triggers only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

MESSAGE = "change counters only grow"

#: (table, counter scope, id column of NEW) for the row-level bumps.
BUMPS = [
    ("iov", "tag", "tag_id"),
    ("tag", "tag", "id"),
    ("global_tag_map", "gt", "global_tag_id"),
    ("global_tag", "gt", "id"),
]


def _sqlite_bump(scope: str, column: str) -> str:
    # UPDATE first, then INSERT only when missing: never a key conflict (no REPLACE needed).
    return (
        f"UPDATE change_counter SET n = n + 1 WHERE scope = '{scope}' "
        f"AND object_id = NEW.{column}; "
        "INSERT INTO change_counter (scope, object_id, n) "
        f"SELECT '{scope}', NEW.{column}, 1 WHERE NOT EXISTS (SELECT 1 FROM change_counter "
        f"WHERE scope = '{scope}' AND object_id = NEW.{column});"
    )


POSTGRES = """
CREATE FUNCTION conddb_bump_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- TG_ARGV[0]: scope, TG_ARGV[1]: id column; one bump per distinct id of the statement,
    -- in id order (concurrent writers lock counter rows in the same order: no deadlock).
    EXECUTE format(
        'INSERT INTO change_counter (scope, object_id, n) '
        'SELECT %L, k, 1 FROM (SELECT DISTINCT %I AS k FROM new_rows) d ORDER BY k '
        'ON CONFLICT (scope, object_id) DO UPDATE SET n = change_counter.n + 1',
        TG_ARGV[0], TG_ARGV[1]);
    RETURN NULL;
END $$;

CREATE FUNCTION conddb_counter_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' OR NEW.n <= OLD.n OR NEW.scope <> OLD.scope
       OR NEW.object_id <> OLD.object_id THEN
        RAISE EXCEPTION 'conddb: % on change_counter refused: change counters only grow', TG_OP
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER change_counter_grows BEFORE UPDATE OR DELETE ON change_counter
    FOR EACH ROW EXECUTE FUNCTION conddb_counter_guard();
CREATE TRIGGER change_counter_no_truncate BEFORE TRUNCATE ON change_counter
    FOR EACH STATEMENT EXECUTE FUNCTION conddb_refuse('change counters only grow');
"""

POSTGRES_DROP = """
DROP TRIGGER IF EXISTS change_counter_no_truncate ON change_counter;
DROP TRIGGER IF EXISTS change_counter_grows ON change_counter;
DROP FUNCTION IF EXISTS conddb_counter_guard();
DROP FUNCTION IF EXISTS conddb_bump_rows();
"""

SQLITE_GUARDS = {
    "change_counter_grows": (
        "BEFORE UPDATE ON change_counter FOR EACH ROW WHEN NEW.n <= OLD.n "
        "OR NEW.scope <> OLD.scope OR NEW.object_id <> OLD.object_id"
    ),
    "change_counter_no_delete": "BEFORE DELETE ON change_counter FOR EACH ROW",
    "change_counter_no_replace": (
        "BEFORE INSERT ON change_counter FOR EACH ROW WHEN EXISTS (SELECT 1 FROM "
        "change_counter WHERE scope = NEW.scope AND object_id = NEW.object_id)"
    ),
}


def upgrade() -> None:
    op.create_table(
        "change_counter",
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("object_id", sa.Integer(), nullable=False),
        sa.Column("n", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("scope", "object_id", name=op.f("pk_change_counter")),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES)
        for table, scope, column in BUMPS:
            for event in ("INSERT", "UPDATE"):
                if table in ("iov", "global_tag_map") and event == "UPDATE":
                    continue  # append-only tables: updates are refused by the 0001 guards
                op.execute(
                    f"CREATE TRIGGER {table}_bump_{event.lower()} AFTER {event} ON {table} "
                    "REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT "
                    f"EXECUTE FUNCTION conddb_bump_rows('{scope}', '{column}')"
                )
        return
    for name, when in SQLITE_GUARDS.items():
        op.execute(
            f"CREATE TRIGGER {name} {when} BEGIN SELECT RAISE(ABORT, "
            f"'conddb: change_counter change refused: {MESSAGE}'); END"
        )
    for table, scope, column in BUMPS:
        events = ("INSERT",) if table in ("iov", "global_tag_map") else ("INSERT", "UPDATE")
        for event in events:
            op.execute(
                f"CREATE TRIGGER {table}_bump_{event.lower()} AFTER {event} ON {table} "
                f"FOR EACH ROW BEGIN {_sqlite_bump(scope, column)} END"
            )


def _bump_triggers() -> list[tuple[str, str]]:
    """(trigger, table) of every bump trigger created by :func:`upgrade`."""
    return [
        (f"{table}_bump_{event}", table)
        for table, *_ in BUMPS
        for event in ("insert", "update")
        if event == "insert" or table not in ("iov", "global_tag_map")
    ]


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, table in _bump_triggers():
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (f" ON {table}" if postgres else ""))
    if postgres:
        op.execute(POSTGRES_DROP)
    else:
        for name in SQLITE_GUARDS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_table("change_counter")
