"""The schema's life: `vigie db upgrade` runs the Alembic migrations shipped in the package."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from alembic import command
from alembic.config import Config

if TYPE_CHECKING:
    from vigie.store.database import Database

MIGRATIONS = Path(__file__).with_name("migrations")


def alembic_config(url: str) -> Config:
    config = Config(str(MIGRATIONS / "alembic.ini"))
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision` (idempotent)."""
    command.upgrade(alembic_config(url), revision)


def current_revision(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext

    from vigie.store.database import create_store_engine

    engine = create_store_engine(url)
    try:
        with engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()
    finally:
        engine.dispose()


class SchemaBehind(RuntimeError):
    """The database's schema is not the one this code was written for."""


def require_current(database: Database) -> None:
    """Refuse a database whose schema is not this code's head: a process started on an older
    schema would fail at every detection step, or write columns that are not there, while its
    health looked fine for a moment. Migrating stays a deliberate act (`vigie db upgrade`)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())
    with database.engine.connect() as conn:
        found = set(MigrationContext.configure(conn).get_current_heads())
    if found != heads:
        where = database.engine.url.render_as_string(hide_password=True)
        raise SchemaBehind(
            f"the database {where} is at schema revision {', '.join(sorted(found)) or 'none'}; "
            f"this Vigie needs {', '.join(sorted(heads))}: run `vigie db upgrade` first"
        )
