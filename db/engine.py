"""The metadata database: one SQLAlchemy engine, SQLite or PostgreSQL, and the two kinds of
transaction every caller uses.

SQLite is the default because it needs nothing installed or started: a hidden file in the
storage folder, in WAL mode so readers never wait for the writer. Its one trap is a
transaction that reads and then writes: in WAL mode, if another connection committed in
between, the upgrade to a writer fails at once with "database is locked" (the busy timeout
does not apply). So write transactions begin `IMMEDIATE` (they wait for the write lock
first, under the busy timeout) and read ones stay deferred. On PostgreSQL both are plain
transactions; rows a write must read first are locked with `FOR UPDATE`.

A database that cannot be reached raises `DatabaseUnavailableError` from either kind, which
the API answers with 503 `database_unavailable`; the pool checks connections before use, so
a restarted server is picked up again without restarting the service.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Literal

from sqlalchemy import Connection, create_engine, event, make_url
from sqlalchemy.engine import URL
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.pool import ConnectionPoolEntry

from config import DatabaseSettings

logger = logging.getLogger(__name__)

SQLITE_FILE = ".chatterbox.sqlite3"  # hidden: storage listings skip it, and so does everything built on them
SQLITE_BUSY_SECONDS = 30  # a writer waits this long for another's write lock before failing
Dialect = Literal["sqlite", "postgresql"]


class DatabaseUnavailableError(RuntimeError):
    """The database could not be reached or failed for a reason of its own (not the request's)."""


def database_url(settings: DatabaseSettings, storage_dir: Path) -> URL:
    """The configured URL, with PostgreSQL's driver named (psycopg 3); SQLite in the storage
    folder when none is configured."""
    if settings.url is None:
        storage_dir.mkdir(parents=True, exist_ok=True)
        return make_url(f"sqlite:///{(storage_dir / SQLITE_FILE).resolve()}")
    url = make_url(settings.url)
    if url.drivername in ("postgresql", "postgres"):
        url = url.set(drivername="postgresql+psycopg")
    return url


def _unavailable(error: DBAPIError) -> bool:
    """Failures of the server or the connection, not of the statement: retrying later may work."""
    return isinstance(error, OperationalError | InterfaceError) or error.connection_invalidated


class Database:
    def __init__(self, url: URL, pool_size: int = 10, connect_timeout_seconds: float = 5.0) -> None:
        self.url = url
        self.dialect: Dialect = "sqlite" if url.get_backend_name() == "sqlite" else "postgresql"
        if self.dialect == "sqlite":
            self.engine = create_engine(url, connect_args={"timeout": SQLITE_BUSY_SECONDS, "check_same_thread": False}, pool_size=pool_size)
            event.listen(self.engine, "connect", _sqlite_connection)
            event.listen(self.engine, "begin", _sqlite_begin)
        else:
            self.engine = create_engine(
                url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True, pool_recycle=1800,
                # prepare_threshold None: no statement is prepared on the server, so each is planned with
                # its values (a search word's pattern decides between the trigram index and a scan)
                connect_args={"connect_timeout": max(1, round(connect_timeout_seconds)), "prepare_threshold": None},
            )

    @classmethod
    def from_settings(cls, settings: DatabaseSettings, storage_dir: Path) -> Database:
        return cls(database_url(settings, storage_dir), settings.pool_size, settings.connect_timeout_seconds)

    @property
    def location(self) -> str:
        """Where the database is, without its password (for logs and /health)."""
        return self.url.render_as_string(hide_password=True)

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A transaction that only reads (deferred on SQLite: it never waits for writers)."""
        with self._transaction(immediate=False) as connection:
            yield connection

    @contextmanager
    def write(self) -> Iterator[Connection]:
        """A transaction that writes: committed when the block ends, rolled back if it raises."""
        with self._transaction(immediate=True) as connection:
            yield connection

    @contextmanager
    def _transaction(self, immediate: bool) -> Iterator[Connection]:
        try:
            with self.engine.connect() as connection:
                if immediate:
                    connection = connection.execution_options(sqlite_immediate=True)
                with connection.begin():
                    yield connection
        except DBAPIError as exc:
            if not _unavailable(exc):
                raise
            logger.warning("database unavailable", extra={"database": self.location, "error": str(exc.orig)[:300]})
            raise DatabaseUnavailableError(f"the database is unavailable: {type(exc.orig).__name__}") from exc

    def ping(self) -> None:
        """One round trip that reads nothing (a health probe's: it costs the same at any size)."""
        with self.read() as connection:
            connection.exec_driver_sql("SELECT 1")

    def close(self) -> None:
        self.engine.dispose()


def _sqlite_connection(dbapi_connection, _record: ConnectionPoolEntry) -> None:
    """WAL (readers never wait for the writer), case-sensitive LIKE as on PostgreSQL (the
    code casefolds what it searches), and transactions begun by `_sqlite_begin` instead of
    by the driver, which would begin them deferred behind our back."""
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    for pragma in ("journal_mode=WAL", "synchronous=NORMAL", "case_sensitive_like=ON", "foreign_keys=ON"):
        cursor.execute(f"PRAGMA {pragma}")
    cursor.close()


def _sqlite_begin(connection: Connection) -> None:
    immediate = connection.get_execution_options().get("sqlite_immediate", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
