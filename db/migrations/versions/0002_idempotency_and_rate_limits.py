"""Idempotency records and rate-limit buckets, shared by every replica.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "idempotency",
        sa.Column("key", sa.String(64), primary_key=True),
        sa.Column("token", sa.String(32), nullable=False),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("state", sa.String(8), nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("answer", sa.Text),
    )
    op.create_index("idempotency_created", "idempotency", ["created_at"])
    op.create_table(
        "rate_buckets",
        sa.Column("key", sa.String(100), primary_key=True),
        sa.Column("tokens", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("granted", sa.Boolean, nullable=False),
    )
    op.create_index("rate_buckets_updated", "rate_buckets", ["updated_at"])


def downgrade() -> None:
    op.drop_table("rate_buckets")
    op.drop_table("idempotency")
