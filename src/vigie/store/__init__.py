"""Storage of the monitoring centre: SQLAlchemy models, repositories, Alembic migrations."""

from vigie.store.database import Database, open_database

__all__ = ["Database", "open_database"]
