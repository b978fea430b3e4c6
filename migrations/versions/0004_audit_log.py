"""Audit log table: one append-only row per write attempt (HTTP and CLI).

Revision ID: 0004
Revises: 0002 (the lead re-chains it after 0003)
Create Date: 2026-12-01

Guards on both backends, like the other immutable tables: no UPDATE, no DELETE; on SQLite no
``INSERT OR REPLACE`` over an existing row (REPLACE deletes without firing DELETE triggers); on
PostgreSQL no ``TRUNCATE`` (row triggers do not fire on it).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ROW_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
MESSAGE = "audit records are append-only"
SQLITE_TRIGGERS = {
    "audit_log_no_update": "BEFORE UPDATE ON audit_log FOR EACH ROW",
    "audit_log_no_delete": "BEFORE DELETE ON audit_log FOR EACH ROW",
    "audit_log_no_replace": (
        "BEFORE INSERT ON audit_log FOR EACH ROW "
        "WHEN EXISTS (SELECT 1 FROM audit_log WHERE id = NEW.id)"
    ),
}


def upgrade() -> None:
    op.create_table(
        "audit_log",
        sa.Column("id", ROW_ID, autoincrement=True, nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("origin", sa.String(16), nullable=False),
        sa.Column("who", sa.String(100), nullable=True),
        sa.Column("role", sa.String(16), nullable=True),
        sa.Column("client", sa.String(100), nullable=True),
        sa.Column("action", sa.String(100), nullable=False),
        sa.Column("target", sa.String(300), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_log")),
    )
    op.create_index(op.f("ix_audit_log_recorded_at"), "audit_log", ["recorded_at"])
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log "
            f"FOR EACH ROW EXECUTE FUNCTION conddb_refuse('{MESSAGE}')"
        )
        op.execute(
            "CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log "
            f"FOR EACH STATEMENT EXECUTE FUNCTION conddb_refuse('{MESSAGE}')"
        )
    else:
        for name, when in SQLITE_TRIGGERS.items():
            op.execute(
                f"CREATE TRIGGER {name} {when} BEGIN SELECT RAISE(ABORT, "
                f"'conddb: audit_log change refused: {MESSAGE}'); END"
            )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_no_truncate ON audit_log")
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
    else:
        for name in SQLITE_TRIGGERS:
            op.execute(f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index(op.f("ix_audit_log_recorded_at"), table_name="audit_log")
    op.drop_table("audit_log")
