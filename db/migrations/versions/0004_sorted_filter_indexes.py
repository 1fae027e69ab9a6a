"""Indexes for the outputs browser's type filter under each of its sorts, and for the voice
library's per-folder usage stats, so each is read in index order instead of sorted.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05
"""

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

INDEXES = {
    "outputs_type_duration": ("outputs", ["type", "duration", "filename"]),
    "outputs_type_size": ("outputs", ["type", "size", "filename"]),
    "outputs_type_name": ("outputs", ["type", "filename"]),
    "voices_folder_usage": ("voices", ["folder", "usage_count"]),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
