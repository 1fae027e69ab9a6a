"""Trigram indexes for `search` on outputs and voices (see `db/text_search.py`), and an index
that answers a voice listing's folder and tag filters, in any of its sorts, without reading
the voices' records.

SQLite: an FTS5 table with the trigram tokenizer per searched table, holding no copy of the
text (`content=` the table itself) but where in each row each trigram is, so a word is
found as a phrase of its trigrams; kept in step by triggers and filled from the rows
already there. PostgreSQL: pg_trgm's GIN index
(the extension is trusted: a database owner may create it, and managed services offer it).

A later migration that rebuilds `outputs` or `voices` on SQLite (Alembic's batch mode copies
the table) drops these triggers with the old table and may renumber its rows: it must create
the triggers again and rebuild the FTS5 table (`INSERT INTO <t>_search(<t>_search) VALUES('rebuild')`).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-08
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

SEARCHED = ("outputs", "voices")
LISTING = ["folder", "tags", "key", "usage_count", "last_used_at", "created_at", "updated_at", "duration"]  # the filters, then every sort's column


def _sqlite_index(table: str) -> list[str]:
    index = f"{table}_search"
    remove_old = f"INSERT INTO {index}({index}, rowid, search_text) VALUES ('delete', old.rowid, old.search_text);"
    add_new = f"INSERT INTO {index}(rowid, search_text) VALUES (new.rowid, new.search_text);"
    return [
        f"CREATE VIRTUAL TABLE {index} USING fts5(search_text, content='{table}', content_rowid='rowid', tokenize='trigram')",
        f"CREATE TRIGGER {index}_insert AFTER INSERT ON {table} BEGIN {add_new} END",
        f"CREATE TRIGGER {index}_delete AFTER DELETE ON {table} BEGIN {remove_old} END",
        f"CREATE TRIGGER {index}_update AFTER UPDATE OF search_text ON {table} BEGIN {remove_old} {add_new} END",
        f"INSERT INTO {index}({index}) VALUES ('rebuild')",
    ]


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        statements = [statement for table in SEARCHED for statement in _sqlite_index(table)]
    else:
        statements = ["CREATE EXTENSION IF NOT EXISTS pg_trgm"]
        statements += [f"CREATE INDEX {table}_search ON {table} USING gin (search_text gin_trgm_ops)" for table in SEARCHED]
    for statement in statements:
        op.execute(statement)
    op.create_index("voices_folder_listing", "voices", LISTING)


def downgrade() -> None:
    op.drop_index("voices_folder_listing", table_name="voices")
    for table in SEARCHED:
        if op.get_bind().dialect.name == "sqlite":
            for trigger in ("insert", "delete", "update"):
                op.execute(f"DROP TRIGGER {table}_search_{trigger}")
            op.execute(f"DROP TABLE {table}_search")
        else:
            op.execute(f"DROP INDEX {table}_search")
