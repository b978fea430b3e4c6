"""Global-tag lifecycle, validation reports, approvals, prompt-tag synchronisation (issue 18).

Revision ID: 0006
Revises: 0004 (the lead re-chains it after 0005)
Create Date: 2026-12-01

* ``global_tag.state`` becomes ``open | testing | validated | published | invalid``; existing
  ``frozen`` rows become ``published``.  The guards that refused changes to a frozen global tag
  now refuse them for ``published`` and ``invalid`` ones; the one change a published tag allows
  is ``published -> invalid`` (state, ``invalid_reason`` and ``replaced_by`` only).
* ``tag.synchronization`` (``offline | prompt | express``) and the ``sync_state`` singleton (the
  FCSR), raised by an ``AFTER INSERT`` trigger on ``processed_run``.  The IOV guard refuses a
  prompt append below the FCSR (express: below the next run to be taken).  On PostgreSQL it reads
  the FCSR row ``FOR SHARE``: an append waits for an uncommitted FCSR move and then sees it, and
  the move waits for the uncommitted append.  SQLite has one writer at a time.
* ``validation_report``, ``global_tag_approval``, ``processed_run``, ``drift_ack``: append-only.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
NEW_STATES = ("open", "testing", "validated", "published", "invalid")
OLD_STATES = ("open", "frozen")
FROZEN_MSG = "global tag is frozen (published or invalid)"
APPEND_ONLY = ("validation_report", "global_tag_approval", "processed_run", "drift_ack")
IMMUTABLE_GT = "('published', 'invalid')"
#: A published global tag may change only its state to invalid (and say why / what replaces it).
PUBLISHED_CHANGE = (
    "OLD.state = 'invalid' OR (OLD.state = 'published' AND (NEW.state <> 'invalid' "
    "OR NEW.id <> OLD.id OR NEW.name <> OLD.name "
    "OR NEW.snapshot_time IS NOT OLD.snapshot_time OR NEW.frozen_at IS NOT OLD.frozen_at "
    "OR NEW.created_at IS NOT OLD.created_at OR NEW.description IS NOT OLD.description))"
)
SYNC_MSG = "prompt or express tag append below the first condition-safe run"

# ---- SQLite ------------------------------------------------------------------------------------
SQLITE_OLD = {  # name -> (timing, condition) as 0001 made them
    "global_tag_frozen_no_update": ("BEFORE UPDATE ON global_tag", "OLD.state = 'frozen'"),
    "global_tag_frozen_no_delete": ("BEFORE DELETE ON global_tag", "OLD.state = 'frozen'"),
    "global_tag_map_frozen": (
        "BEFORE INSERT ON global_tag_map",
        "(SELECT state FROM global_tag WHERE id = NEW.global_tag_id) = 'frozen'",
    ),
}
SQLITE_NEW = {
    "global_tag_frozen_no_update": ("BEFORE UPDATE ON global_tag", PUBLISHED_CHANGE),
    "global_tag_frozen_no_delete": (
        "BEFORE DELETE ON global_tag",
        f"OLD.state IN {IMMUTABLE_GT}",
    ),
    "global_tag_map_frozen": (
        "BEFORE INSERT ON global_tag_map",
        f"(SELECT state FROM global_tag WHERE id = NEW.global_tag_id) IN {IMMUTABLE_GT}",
    ),
}
SQLITE_REPLACE_OLD = (
    "EXISTS (SELECT 1 FROM global_tag WHERE (id = NEW.id OR name = NEW.name) AND state = 'frozen')"
)
SQLITE_REPLACE_NEW = (
    "EXISTS (SELECT 1 FROM global_tag "
    f"WHERE (id = NEW.id OR name = NEW.name) AND state IN {IMMUTABLE_GT})"
)
SQLITE_SYNC = """
CREATE TRIGGER iov_sync_guard BEFORE INSERT ON iov FOR EACH ROW
WHEN ((SELECT synchronization FROM tag WHERE id = NEW.tag_id) = 'prompt'
       AND NEW.since < (SELECT fcsr FROM sync_state WHERE id = 1))
  OR ((SELECT synchronization FROM tag WHERE id = NEW.tag_id) = 'express'
       AND NEW.since < MAX((SELECT fcsr FROM sync_state WHERE id = 1),
                           (SELECT COALESCE(MAX(run) + 1, 0) FROM run)))
BEGIN SELECT RAISE(ABORT, 'conddb: INSERT on iov refused: {msg}'); END
"""
SQLITE_FCSR = [
    "CREATE TRIGGER processed_run_moves_fcsr AFTER INSERT ON processed_run FOR EACH ROW "
    "BEGIN UPDATE sync_state SET fcsr = MAX(fcsr, NEW.run + 1) WHERE id = 1; END",
    "CREATE TRIGGER sync_state_no_decrease BEFORE UPDATE ON sync_state FOR EACH ROW "
    "WHEN NEW.fcsr < OLD.fcsr OR NEW.id <> OLD.id BEGIN SELECT RAISE(ABORT, "
    "'conddb: UPDATE on sync_state refused: the FCSR never moves back'); END",
    "CREATE TRIGGER sync_state_no_delete BEFORE DELETE ON sync_state FOR EACH ROW "
    "BEGIN SELECT RAISE(ABORT, 'conddb: DELETE on sync_state refused: the FCSR stays'); END",
    "CREATE TRIGGER sync_state_no_insert BEFORE INSERT ON sync_state FOR EACH ROW "
    "WHEN EXISTS (SELECT 1 FROM sync_state) BEGIN SELECT RAISE(ABORT, "
    "'conddb: INSERT on sync_state refused: one FCSR row'); END",
]
SQLITE_FCSR_NAMES = (
    "processed_run_moves_fcsr",
    "sync_state_no_decrease",
    "sync_state_no_delete",
    "sync_state_no_insert",
    "iov_sync_guard",
)

# ---- PostgreSQL --------------------------------------------------------------------------------
PG_MAP_GUARD = """
CREATE OR REPLACE FUNCTION conddb_gt_map_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT state::text FROM global_tag WHERE id = NEW.global_tag_id FOR SHARE) {test} THEN
        RAISE EXCEPTION 'conddb: INSERT on global_tag_map refused: {msg}'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
"""
PG_SYNC = """
CREATE FUNCTION conddb_iov_sync_guard() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    sync text;
    safe bigint;
BEGIN
    SELECT synchronization::text INTO sync FROM tag WHERE id = NEW.tag_id;
    IF sync = 'offline' THEN
        RETURN NEW;
    END IF;
    SELECT fcsr INTO safe FROM sync_state WHERE id = 1 FOR SHARE;
    IF sync = 'express' THEN
        safe := GREATEST(safe, (SELECT COALESCE(MAX(run) + 1, 0) FROM run));
    END IF;
    IF NEW.since < safe THEN
        RAISE EXCEPTION 'conddb: INSERT on iov refused: % tag append at since % is below the '
            'first condition-safe run (FCSR) %', sync, NEW.since, safe
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER iov_sync_guard BEFORE INSERT ON iov
    FOR EACH ROW EXECUTE FUNCTION conddb_iov_sync_guard();
CREATE FUNCTION conddb_move_fcsr() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE sync_state SET fcsr = GREATEST(fcsr, NEW.run + 1) WHERE id = 1;
    RETURN NEW;
END $$;
CREATE TRIGGER processed_run_moves_fcsr AFTER INSERT ON processed_run
    FOR EACH ROW EXECUTE FUNCTION conddb_move_fcsr();
CREATE TRIGGER sync_state_no_decrease BEFORE UPDATE ON sync_state
    FOR EACH ROW WHEN (NEW.fcsr < OLD.fcsr OR NEW.id <> OLD.id)
    EXECUTE FUNCTION conddb_refuse('the FCSR never moves back');
CREATE TRIGGER sync_state_no_delete BEFORE DELETE OR TRUNCATE ON sync_state
    FOR EACH STATEMENT EXECUTE FUNCTION conddb_refuse('the FCSR stays');
"""
PG_SYNC_DROP = """
DROP TRIGGER IF EXISTS sync_state_no_delete ON sync_state;
DROP TRIGGER IF EXISTS sync_state_no_decrease ON sync_state;
DROP TRIGGER IF EXISTS processed_run_moves_fcsr ON processed_run;
DROP FUNCTION IF EXISTS conddb_move_fcsr();
DROP TRIGGER IF EXISTS iov_sync_guard ON iov;
DROP FUNCTION IF EXISTS conddb_iov_sync_guard();
"""


def _pg() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def _sqlite_trigger(name: str, timing: str, condition: str, message: str) -> None:
    op.execute(f"DROP TRIGGER IF EXISTS {name}")
    table = timing.split(" ON ")[1]
    op.execute(
        f"CREATE TRIGGER {name} {timing} FOR EACH ROW WHEN {condition} BEGIN SELECT RAISE(ABORT, "
        f"'conddb: {table} change refused: {message}'); END"
    )


def _swap_state_type(values: tuple[str, ...], mapping: dict[str, str]) -> None:
    """PostgreSQL: replace the ``global_tag_state`` enum (the triggers using it are dropped)."""
    op.execute("DROP TRIGGER IF EXISTS global_tag_frozen ON global_tag")
    op.execute("DROP TRIGGER IF EXISTS global_tag_frozen_no_delete ON global_tag")
    op.execute("ALTER TYPE global_tag_state RENAME TO global_tag_state_old")
    sa.Enum(*values, name="global_tag_state").create(op.get_bind())
    cases = " ".join(f"WHEN '{a}' THEN '{b}'" for a, b in mapping.items())
    op.execute(
        "ALTER TABLE global_tag ALTER COLUMN state TYPE global_tag_state USING "
        f"(CASE state::text {cases} ELSE state::text END)::global_tag_state"
    )
    op.execute("DROP TYPE global_tag_state_old")


def _sqlite_retype_state(
    old: tuple[str, ...], new: tuple[str, ...], mapping: dict[str, str]
) -> None:
    """SQLite: migrate the states and re-declare ``global_tag.state`` as ``VARCHAR(<longest>)``.

    SQLite keeps the declared type only as text (affinity TEXT either way, no length check), so
    the declaration is edited in place (``writable_schema``, the documented way for a change
    that leaves the stored rows as they are) instead of rebuilding the table, which would drop
    its guard triggers and trip the foreign keys of every table that points at it.
    """
    for name in (*SQLITE_NEW, "global_tag_no_replace"):
        op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for a, b in mapping.items():
        op.execute(f"UPDATE global_tag SET state = '{b}' WHERE state = '{a}'")
    bind = op.get_bind()
    version = bind.exec_driver_sql("PRAGMA schema_version").scalar_one()
    was, now = (f"state VARCHAR({max(map(len, v))}) NOT NULL" for v in (old, new))
    op.execute("PRAGMA writable_schema = ON")
    op.execute(
        f"UPDATE sqlite_master SET sql = replace(sql, '{was}', '{now}') "
        "WHERE type = 'table' AND name = 'global_tag'"
    )
    op.execute(f"PRAGMA schema_version = {int(version) + 1}")
    op.execute("PRAGMA writable_schema = OFF")


def _create_tables() -> None:
    op.create_table(
        "validation_report",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("global_tag_id", sa.Integer(), nullable=False),
        sa.Column("map_hash", sa.String(64), nullable=False),
        sa.Column("first_run", sa.BigInteger(), nullable=False),
        sa.Column("last_run", sa.BigInteger(), nullable=False),
        sa.Column("who", sa.String(100), nullable=False),
        sa.Column("code_version", sa.String(100), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("passed", sa.Boolean(), nullable=False),
        sa.Column("checks", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["global_tag_id"], ["global_tag.id"],
            name=op.f("fk_validation_report_global_tag_id_global_tag"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_validation_report")),
    )
    op.create_index(
        op.f("ix_validation_report_global_tag_id"), "validation_report", ["global_tag_id"]
    )
    op.create_table(
        "global_tag_approval",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("global_tag_id", sa.Integer(), nullable=False),
        sa.Column("map_hash", sa.String(64), nullable=False),
        sa.Column("who", sa.String(100), nullable=False),
        sa.Column("approved_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["global_tag_id"], ["global_tag.id"],
            name=op.f("fk_global_tag_approval_global_tag_id_global_tag"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_global_tag_approval")),
    )
    op.create_index(
        op.f("ix_global_tag_approval_global_tag_id"), "global_tag_approval", ["global_tag_id"]
    )
    op.create_table(
        "processed_run",
        sa.Column("run", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("processed_at", TIME, nullable=False),
        sa.Column("who", sa.String(100), nullable=False),
        sa.PrimaryKeyConstraint("run", name=op.f("pk_processed_run")),
    )
    op.create_table(
        "sync_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("fcsr", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sync_state")),
    )
    op.execute("INSERT INTO sync_state (id, fcsr) VALUES (1, 0)")
    op.create_table(
        "drift_ack",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("global_tag", sa.String(100), nullable=False),
        sa.Column("flag", sa.String(300), nullable=False),
        sa.Column("who", sa.String(100), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("acked_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_drift_ack")),
    )
    op.create_index("ix_drift_ack_gt_flag", "drift_ack", ["global_tag", "flag"], unique=True)


def _append_only_guards() -> None:
    for table in APPEND_ONLY:
        msg = f"{table} rows are append-only"
        if _pg():
            op.execute(
                f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
                f"FOR EACH ROW EXECUTE FUNCTION conddb_refuse('{msg}')"
            )
            op.execute(
                f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
                f"FOR EACH STATEMENT EXECUTE FUNCTION conddb_refuse('{msg}')"
            )
        else:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    f"FOR EACH ROW BEGIN SELECT RAISE(ABORT, "
                    f"'conddb: {event} on {table} refused: {msg}'); END"
                )


def _drop_append_only_guards() -> None:
    for table in APPEND_ONLY:
        if _pg():
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
            op.execute(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        else:
            for event in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{event}")


def upgrade() -> None:
    sync = sa.Enum("offline", "prompt", "express", name="tag_sync")
    if _pg():
        sync.create(op.get_bind())
        _swap_state_type(NEW_STATES, {"frozen": "published"})
        op.execute(
            "CREATE TRIGGER global_tag_frozen BEFORE UPDATE ON global_tag FOR EACH ROW "
            f"WHEN ({PUBLISHED_CHANGE.replace(' IS NOT ', ' IS DISTINCT FROM ')}) "
            f"EXECUTE FUNCTION conddb_refuse('{FROZEN_MSG}')"
        )
        op.execute(
            "CREATE TRIGGER global_tag_frozen_no_delete BEFORE DELETE ON global_tag FOR EACH ROW "
            f"WHEN (OLD.state IN {IMMUTABLE_GT}) EXECUTE FUNCTION conddb_refuse('{FROZEN_MSG}')"
        )
        op.execute(PG_MAP_GUARD.format(test=f"IN {IMMUTABLE_GT}", msg=FROZEN_MSG))
        op.add_column("global_tag", sa.Column("invalid_reason", sa.Text(), nullable=True))
        op.add_column("global_tag", sa.Column("replaced_by", sa.String(100), nullable=True))
    else:
        _sqlite_retype_state(OLD_STATES, NEW_STATES, {"frozen": "published"})
        op.add_column("global_tag", sa.Column("invalid_reason", sa.Text(), nullable=True))
        op.add_column("global_tag", sa.Column("replaced_by", sa.String(100), nullable=True))
        for name, (timing, condition) in SQLITE_NEW.items():
            _sqlite_trigger(name, timing, condition, FROZEN_MSG)
        _sqlite_trigger(
            "global_tag_no_replace", "BEFORE INSERT ON global_tag", SQLITE_REPLACE_NEW,
            FROZEN_MSG + " (key exists)",
        )
    op.add_column(
        "tag", sa.Column("synchronization", sync, nullable=False, server_default="offline")
    )
    _create_tables()
    _append_only_guards()
    if _pg():
        op.execute(PG_SYNC)
    else:
        op.execute(SQLITE_SYNC.format(msg=SYNC_MSG))
        for statement in SQLITE_FCSR:
            op.execute(statement)


def downgrade() -> None:
    if _pg():
        op.execute(PG_SYNC_DROP)
    else:
        for name in SQLITE_FCSR_NAMES:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    _drop_append_only_guards()
    op.drop_index("ix_drift_ack_gt_flag", table_name="drift_ack")
    op.drop_table("drift_ack")
    op.drop_table("sync_state")
    op.drop_table("processed_run")
    op.drop_index(op.f("ix_global_tag_approval_global_tag_id"), table_name="global_tag_approval")
    op.drop_table("global_tag_approval")
    op.drop_index(op.f("ix_validation_report_global_tag_id"), table_name="validation_report")
    op.drop_table("validation_report")
    op.drop_column("tag", "synchronization")
    if _pg():
        sa.Enum(name="tag_sync").drop(op.get_bind())
    old = {"published": "frozen", "invalid": "frozen", "testing": "open", "validated": "open"}
    if _pg():
        _swap_state_type(OLD_STATES, old)
        op.execute(
            "CREATE TRIGGER global_tag_frozen BEFORE UPDATE OR DELETE ON global_tag "
            "FOR EACH ROW WHEN (OLD.state = 'frozen') "
            "EXECUTE FUNCTION conddb_refuse('global tag is frozen')"
        )
        op.execute(PG_MAP_GUARD.format(test="= 'frozen'", msg="global tag is frozen"))
        op.drop_column("global_tag", "replaced_by")
        op.drop_column("global_tag", "invalid_reason")
    else:
        op.execute("ALTER TABLE global_tag DROP COLUMN replaced_by")
        op.execute("ALTER TABLE global_tag DROP COLUMN invalid_reason")
        _sqlite_retype_state(NEW_STATES, OLD_STATES, old)
        for name, (timing, condition) in SQLITE_OLD.items():
            _sqlite_trigger(name, timing, condition, "global tag is frozen")
        _sqlite_trigger(
            "global_tag_no_replace", "BEFORE INSERT ON global_tag", SQLITE_REPLACE_OLD,
            "global tag is frozen (key exists)",
        )
