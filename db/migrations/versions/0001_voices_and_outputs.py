"""Voices and outputs: the records the voice library and the outputs browser list.

Revision ID: 0001
Revises:
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def ordered_text(length: int) -> sa.types.TypeEngine[str]:
    return sa.String(length).with_variant(sa.String(length, collation="C"), "postgresql")


def upgrade() -> None:
    op.create_table(
        "voices",
        sa.Column("key", ordered_text(200), primary_key=True),
        sa.Column("name", ordered_text(200), nullable=False),
        sa.Column("folder", ordered_text(500), nullable=False),
        sa.Column("tags", sa.Text, nullable=False),
        sa.Column("search_text", sa.Text, nullable=False),
        sa.Column("created_at", sa.Float, nullable=False),
        sa.Column("updated_at", sa.Float, nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("usage_count", sa.Integer, nullable=False),
        sa.Column("last_used_at", sa.Float),
        sa.Column("stored_usage_count", sa.Integer, nullable=False),
        sa.Column("row_version", sa.BigInteger, nullable=False),
        sa.Column("etag", sa.String(40), nullable=False),
        sa.Column("record", sa.Text, nullable=False),
    )
    for name, columns in {
        "voices_folder": ["folder"], "voices_created": ["created_at"], "voices_updated": ["updated_at"],
        "voices_duration": ["duration"], "voices_usage": ["usage_count"], "voices_last_used": ["last_used_at"],
    }.items():
        op.create_index(name, "voices", columns)
    op.create_table(
        "outputs",
        sa.Column("filename", ordered_text(300), primary_key=True),
        sa.Column("type", sa.String(16), nullable=False),
        sa.Column("created", sa.Float, nullable=False),
        sa.Column("duration", sa.Float, nullable=False),
        sa.Column("size", sa.BigInteger, nullable=False),
        sa.Column("voice", sa.String(200)),
        sa.Column("search_text", sa.Text, nullable=False),
        sa.Column("record", sa.Text, nullable=False),
    )
    for name, columns in {
        "outputs_created": ["created", "filename"], "outputs_duration": ["duration", "filename"], "outputs_size": ["size", "filename"],
        "outputs_voice": ["voice", "created"], "outputs_type": ["type", "created"],
    }.items():
        op.create_index(name, "outputs", columns)


def downgrade() -> None:
    op.drop_table("outputs")
    op.drop_table("voices")
