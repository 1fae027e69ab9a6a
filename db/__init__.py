"""The metadata database (SQLite by default, PostgreSQL when replicas share it): the engine
and its transactions (`engine.py`), the tables (`schema.py`), migrations (`migrate.py`)."""

from db.engine import Database, DatabaseUnavailableError

__all__ = ["Database", "DatabaseUnavailableError"]
