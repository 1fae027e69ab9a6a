"""Migrations: Alembic's, applied by the service when it starts (and by `scripts/db.py
upgrade` for operators who migrate separately).

Several replicas may start at once against one PostgreSQL: the upgrade runs in one
transaction holding an advisory lock, so one replica migrates and the others wait, then find
nothing left to do. PostgreSQL's DDL is transactional, so a failed migration leaves the
schema as it was. On SQLite the write transaction's lock does the same.
"""

from __future__ import annotations

import logging
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, text

from db.engine import Database, DatabaseUnavailableError
from lifecycle.periodic import TICK_SECONDS, PeriodicTasks, Task

logger = logging.getLogger(__name__)

MIGRATIONS = Path(__file__).with_name("migrations")
MIGRATION_LOCK = 7_346_142_001  # the advisory lock's key: any number no other application on the server uses


def alembic_config(connection: Connection | None = None) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest migration this code knows."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(database: Database) -> str | None:
    """The migration the database is at (None: an empty database)."""
    with database.read() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def upgrade(database: Database) -> str:
    """Apply every migration the database lacks; returns the revision it is at now."""
    with database.write() as connection:
        if database.dialect == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": MIGRATION_LOCK})
        before = MigrationContext.configure(connection).get_current_revision()
        command.upgrade(alembic_config(connection), "head")
        after = MigrationContext.configure(connection).get_current_revision()
    if after != before:
        logger.info("database migrated", extra={"database": database.location, "from_revision": before, "to_revision": after})
    assert after is not None
    return after


def new_revision(database: Database, message: str) -> None:
    """A new migration file comparing the tables of `db.schema` with the database (which must
    be at the head): for developers changing the schema."""
    with database.write() as connection:
        command.revision(alembic_config(connection), message=message, autogenerate=True)


class Schema:
    """Whether the database is migrated to this code's head. The service migrates when it
    starts; a database that cannot be reached then does not stop it: it serves (reads and
    writes answer 503, /health says why) and migrates in the background once it can."""

    def __init__(self, database: Database) -> None:
        self.database = database
        self.ready = False
        self._periodic = PeriodicTasks("database-schema", [Task("upgrade", lambda: -1.0 if self.ready else TICK_SECONDS * 10, self.ensure)])

    def ensure(self) -> bool:
        if not self.ready:
            upgrade(self.database)
            self.ready = True
        return True

    def start(self) -> None:
        try:
            self.ensure()
        except DatabaseUnavailableError:
            logger.exception("the database could not be migrated at start; retrying in the background", extra={"database": self.database.location})
        self._periodic.start()

    def close(self) -> None:
        self._periodic.stop()
