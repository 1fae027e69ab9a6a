"""Alembic's entry point for `db.migrate`: it runs the migrations on the connection (and in
the transaction) that `db.migrate.upgrade` opened and locked."""

from alembic import context

from db.schema import described_here, metadata

connection = context.config.attributes["connection"]
context.configure(connection=connection, target_metadata=metadata, include_name=described_here, render_as_batch=connection.dialect.name == "sqlite")
with context.begin_transaction():
    context.run_migrations()
