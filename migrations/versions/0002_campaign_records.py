"""Campaign records: which constants a calibration campaign produced, from which inputs.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

Campaign rows are immutable like payloads (triggers on both backends).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

TABLES = ("campaign", "campaign_payload")


def upgrade() -> None:
    op.create_table(
        "campaign",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("first_run", sa.BigInteger(), nullable=False),
        sa.Column("last_run", sa.BigInteger(), nullable=False),
        sa.Column("manifest_sha256", sa.String(64), nullable=False),
        sa.Column("info", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_campaign")),
        sa.UniqueConstraint("name", name=op.f("uq_campaign_name")),
    )
    op.create_table(
        "campaign_payload",
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("record", sa.String(100), nullable=False),
        sa.Column("payload_hash", sa.String(64), nullable=False),
        sa.Column("tag_id", sa.Integer(), nullable=False),
        sa.Column("since", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["campaign_id"], ["campaign.id"], name=op.f("fk_campaign_payload_campaign_id_campaign")
        ),
        sa.ForeignKeyConstraint(
            ["payload_hash"],
            ["payload.hash"],
            name=op.f("fk_campaign_payload_payload_hash_payload"),
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tag.id"], name=op.f("fk_campaign_payload_tag_id_tag")
        ),
        sa.PrimaryKeyConstraint("campaign_id", "record", name=op.f("pk_campaign_payload")),
    )
    op.create_index(op.f("ix_campaign_payload_payload_hash"), "campaign_payload", ["payload_hash"])
    if op.get_bind().dialect.name == "postgresql":
        for table in TABLES:
            op.execute(
                f"CREATE TRIGGER {table}_immutable BEFORE UPDATE OR DELETE ON {table} "
                "FOR EACH ROW EXECUTE FUNCTION conddb_refuse('campaign records are immutable')"
            )
    else:
        for table in TABLES:
            for event in ("UPDATE", "DELETE"):
                op.execute(
                    f"CREATE TRIGGER {table}_no_{event.lower()} BEFORE {event} ON {table} "
                    f"FOR EACH ROW BEGIN SELECT RAISE(ABORT, "
                    f"'conddb: {table} change refused: campaign records are immutable'); END"
                )


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for table in TABLES:
        if postgres:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_immutable ON {table}")
        else:
            for event in ("update", "delete"):
                op.execute(f"DROP TRIGGER IF EXISTS {table}_no_{event}")
    op.drop_table("campaign_payload")
    op.drop_table("campaign")
