"""Initial conditions schema: payloads, tags, IOVs, global tags, run registry, immutability guards.

Revision ID: 0001
Revises:
Create Date: 2026-11-29

Besides the tables, this revision installs database-level guards (triggers) on both backends, so
that a client which bypasses the library (raw SQL, another ORM) still cannot:

* update or delete a payload or an IOV row (append-only history);
* append an IOV to a locked tag, or change / delete a locked tag;
* change a frozen global tag, or add / change / delete its map rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

TIME = sa.DateTime(timezone=True)
TAG_STATE = sa.Enum("open", "locked", name="tag_state")
GT_STATE = sa.Enum("open", "frozen", name="global_tag_state")

# (trigger name, table, timing/event, condition or None, message) for SQLite; PostgreSQL gets the
# same rules as plpgsql functions below.
SQLITE_GUARDS = [
    ("payload_no_update", "payload", "BEFORE UPDATE", None, "payloads are immutable"),
    ("payload_no_delete", "payload", "BEFORE DELETE", None, "payloads are immutable"),
    ("iov_no_update", "iov", "BEFORE UPDATE", None, "IOVs are append-only"),
    ("iov_no_delete", "iov", "BEFORE DELETE", None, "IOVs are append-only"),
    (
        "iov_tag_locked",
        "iov",
        "BEFORE INSERT",
        "(SELECT state FROM tag WHERE id = NEW.tag_id) = 'locked'",
        "tag is locked",
    ),
    ("tag_locked_no_update", "tag", "BEFORE UPDATE", "OLD.state = 'locked'", "tag is locked"),
    ("tag_locked_no_delete", "tag", "BEFORE DELETE", "OLD.state = 'locked'", "tag is locked"),
    (
        "global_tag_frozen_no_update",
        "global_tag",
        "BEFORE UPDATE",
        "OLD.state = 'frozen'",
        "global tag is frozen",
    ),
    (
        "global_tag_frozen_no_delete",
        "global_tag",
        "BEFORE DELETE",
        "OLD.state = 'frozen'",
        "global tag is frozen",
    ),
    (
        "global_tag_map_no_update",
        "global_tag_map",
        "BEFORE UPDATE",
        None,
        "map rows are append-only",
    ),
    (
        "global_tag_map_no_delete",
        "global_tag_map",
        "BEFORE DELETE",
        None,
        "map rows are append-only",
    ),
    (
        "global_tag_map_frozen",
        "global_tag_map",
        "BEFORE INSERT",
        "(SELECT state FROM global_tag WHERE id = NEW.global_tag_id) = 'frozen'",
        "global tag is frozen",
    ),
]

POSTGRES_GUARDS = """
CREATE FUNCTION conddb_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'conddb: % on % refused: %', TG_OP, TG_TABLE_NAME, TG_ARGV[0]
        USING ERRCODE = 'integrity_constraint_violation';
END $$;

CREATE FUNCTION conddb_iov_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT state FROM tag WHERE id = NEW.tag_id) = 'locked' THEN
        RAISE EXCEPTION 'conddb: INSERT on iov refused: tag is locked'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE FUNCTION conddb_gt_map_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (SELECT state FROM global_tag WHERE id = NEW.global_tag_id) = 'frozen' THEN
        RAISE EXCEPTION 'conddb: INSERT on global_tag_map refused: global tag is frozen'
            USING ERRCODE = 'integrity_constraint_violation';
    END IF;
    RETURN NEW;
END $$;

CREATE TRIGGER payload_immutable BEFORE UPDATE OR DELETE ON payload
    FOR EACH ROW EXECUTE FUNCTION conddb_refuse('payloads are immutable');
CREATE TRIGGER iov_append_only BEFORE UPDATE OR DELETE ON iov
    FOR EACH ROW EXECUTE FUNCTION conddb_refuse('IOVs are append-only');
CREATE TRIGGER iov_tag_locked BEFORE INSERT ON iov
    FOR EACH ROW EXECUTE FUNCTION conddb_iov_guard();
CREATE TRIGGER tag_locked BEFORE UPDATE OR DELETE ON tag
    FOR EACH ROW WHEN (OLD.state = 'locked') EXECUTE FUNCTION conddb_refuse('tag is locked');
CREATE TRIGGER global_tag_frozen BEFORE UPDATE OR DELETE ON global_tag
    FOR EACH ROW WHEN (OLD.state = 'frozen')
    EXECUTE FUNCTION conddb_refuse('global tag is frozen');
CREATE TRIGGER global_tag_map_append_only BEFORE UPDATE OR DELETE ON global_tag_map
    FOR EACH ROW EXECUTE FUNCTION conddb_refuse('map rows are append-only');
CREATE TRIGGER global_tag_map_frozen BEFORE INSERT ON global_tag_map
    FOR EACH ROW EXECUTE FUNCTION conddb_gt_map_guard();
"""

POSTGRES_GUARDS_DROP = """
DROP TRIGGER IF EXISTS global_tag_map_frozen ON global_tag_map;
DROP TRIGGER IF EXISTS global_tag_map_append_only ON global_tag_map;
DROP TRIGGER IF EXISTS global_tag_frozen ON global_tag;
DROP TRIGGER IF EXISTS tag_locked ON tag;
DROP TRIGGER IF EXISTS iov_tag_locked ON iov;
DROP TRIGGER IF EXISTS iov_append_only ON iov;
DROP TRIGGER IF EXISTS payload_immutable ON payload;
DROP FUNCTION IF EXISTS conddb_gt_map_guard();
DROP FUNCTION IF EXISTS conddb_iov_guard();
DROP FUNCTION IF EXISTS conddb_refuse();
"""


def _create_tables() -> None:
    op.create_table(
        "payload_type",
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_payload_type")),
    )
    op.create_table(
        "global_tag",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("state", GT_STATE, nullable=False),
        sa.Column("snapshot_time", TIME, nullable=True),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("frozen_at", TIME, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_global_tag")),
        sa.UniqueConstraint("name", name=op.f("uq_global_tag_name")),
    )
    op.create_table(
        "run",
        sa.Column("run", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("start_time", TIME, nullable=True),
        sa.Column("end_time", TIME, nullable=True),
        sa.Column("run_type", sa.String(100), nullable=False),
        sa.CheckConstraint("run >= 0", name=op.f("ck_run_run_not_negative")),
        sa.PrimaryKeyConstraint("run", name=op.f("pk_run")),
    )
    op.create_index("ix_run_start_time", "run", ["start_time"])
    op.create_table(
        "payload",
        sa.Column("hash", sa.String(64), nullable=False),
        sa.Column("type_name", sa.String(100), nullable=False),
        sa.Column("schema_version", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("provenance", sa.JSON(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.CheckConstraint("length(hash) = 64", name=op.f("ck_payload_hash_length")),
        sa.ForeignKeyConstraint(
            ["type_name"], ["payload_type.name"], name=op.f("fk_payload_type_name_payload_type")
        ),
        sa.PrimaryKeyConstraint("hash", name=op.f("pk_payload")),
    )
    op.create_index(op.f("ix_payload_type_name"), "payload", ["type_name"])
    op.create_table(
        "tag",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("type_name", sa.String(100), nullable=False),
        sa.Column("state", TAG_STATE, nullable=False),
        sa.Column("description", sa.Text(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("locked_at", TIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["type_name"], ["payload_type.name"], name=op.f("fk_tag_type_name_payload_type")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tag")),
        sa.UniqueConstraint("name", name=op.f("uq_tag_name")),
    )
    op.create_index(op.f("ix_tag_type_name"), "tag", ["type_name"])
    op.create_table(
        "global_tag_map",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("global_tag_id", sa.Integer(), nullable=False),
        sa.Column("record", sa.String(100), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("insertion_time", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["global_tag_id"],
            ["global_tag.id"],
            name=op.f("fk_global_tag_map_global_tag_id_global_tag"),
        ),
        sa.ForeignKeyConstraint(["tag_id"], ["tag.id"], name=op.f("fk_global_tag_map_tag_id_tag")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_global_tag_map")),
    )
    op.create_index(
        "ix_global_tag_map_gt_record_time",
        "global_tag_map",
        ["global_tag_id", "record", "insertion_time"],
    )
    op.create_index(op.f("ix_global_tag_map_tag_id"), "global_tag_map", ["tag_id"])
    op.create_table(
        "iov",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            autoincrement=True,
            nullable=False,
        ),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("since", sa.BigInteger(), nullable=False),
        sa.Column("insertion_time", TIME, nullable=False),
        sa.Column("payload_hash", sa.String(64), nullable=False),
        sa.CheckConstraint("since >= 0", name=op.f("ck_iov_since_not_negative")),
        sa.ForeignKeyConstraint(
            ["payload_hash"], ["payload.hash"], name=op.f("fk_iov_payload_hash_payload")
        ),
        sa.ForeignKeyConstraint(["tag_id"], ["tag.id"], name=op.f("fk_iov_tag_id_tag")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_iov")),
    )
    op.create_index(op.f("ix_iov_payload_hash"), "iov", ["payload_hash"])
    op.create_index("ix_iov_tag_since_time", "iov", ["tag_id", "since", "insertion_time", "id"])


def _create_guards() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_GUARDS)
        return
    for name, table, when, condition, message in SQLITE_GUARDS:
        where = f" WHEN {condition}" if condition else ""
        op.execute(
            f"CREATE TRIGGER {name} {when} ON {table} FOR EACH ROW{where} "
            f"BEGIN SELECT RAISE(ABORT, 'conddb: {table} change refused: {message}'); END"
        )


def upgrade() -> None:
    _create_tables()
    _create_guards()


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute(POSTGRES_GUARDS_DROP)
    else:
        for name, *_ in SQLITE_GUARDS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    for table in ("iov", "global_tag_map", "tag", "payload", "run", "global_tag", "payload_type"):
        op.drop_table(table)
    if op.get_bind().dialect.name == "postgresql":
        TAG_STATE.drop(op.get_bind(), checkfirst=True)
        GT_STATE.drop(op.get_bind(), checkfirst=True)
