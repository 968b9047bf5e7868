"""Column types that behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, DateTime, Dialect, Integer, String, TypeDecorator
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.types import TypeEngine

# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL wants 64 bits for append-only logs.
BigId = BigInteger().with_variant(Integer(), "sqlite")
Json = JSON().with_variant(JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """A tz-aware UTC datetime: SQLite keeps no offset, so values are normalised on the way in.

    On SQLite the value is text in SQLAlchemy's own DATETIME form ("2026-11-23 12:00:00.000000"),
    written and read here by the C `isoformat`/`fromisoformat`: SQLAlchemy's format string and
    regular expression cost more than the rest of an observation's row, twice per ingested row.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String())
        return dialect.type_descriptor(self.impl)

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store keeps UTC-aware datetimes only")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        stored: datetime = value
        if isinstance(value, str):  # SQLite
            stored = datetime.fromisoformat(value)
        return stored.replace(tzinfo=UTC) if stored.tzinfo is None else stored.astimezone(UTC)
