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
    """Bring the database at `url` to `revision` (idempotent). A database a newer Vigie migrated
    is refused by name (SchemaAhead), not with Alembic's "Can't locate revision"."""
    found, known = current_heads(url), known_revisions()
    if not found <= known:
        raise SchemaAhead(url, found - known)
    command.upgrade(alembic_config(url), revision)


def known_revisions() -> set[str]:
    """Every revision this release's migrations know."""
    from alembic.script import ScriptDirectory

    scripts = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return {script.revision for script in scripts.walk_revisions()}


def current_heads(url: str) -> set[str]:
    """The revisions the database at `url` is at (none for a new one)."""
    from alembic.runtime.migration import MigrationContext

    from vigie.store.database import create_store_engine

    engine = create_store_engine(url)
    try:
        with engine.connect() as conn:
            return set(MigrationContext.configure(conn).get_current_heads())
    finally:
        engine.dispose()


class SchemaBehind(RuntimeError):
    """The database's schema is not the one this code was written for."""


class SchemaAhead(SchemaBehind):
    """The database was migrated by a newer Vigie: this one cannot run on it, nor undo that."""

    def __init__(self, url: str, unknown: set[str]) -> None:
        from sqlalchemy.engine import make_url

        where = make_url(url).render_as_string(hide_password=True)
        super().__init__(
            f"the database {where} is at schema revision {', '.join(sorted(unknown))}, which "
            "this Vigie does not know: a newer release migrated it. Run that release, or "
            "restore a backup taken before the upgrade (`vigie db restore`)"
        )


def require_current(database: Database) -> None:
    """Refuse a database whose schema is not this code's head: a process started on an older
    schema would fail at every detection step, or write columns that are not there, while its
    health looked fine for a moment. Migrating stays a deliberate act (`vigie db upgrade`)."""
    from alembic.runtime.migration import MigrationContext
    from alembic.script import ScriptDirectory

    heads = set(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())
    with database.engine.connect() as conn:
        found = set(MigrationContext.configure(conn).get_current_heads())
    known = known_revisions()
    if not found <= known:
        raise SchemaAhead(database.engine.url.render_as_string(hide_password=False), found - known)
    if found != heads:
        where = database.engine.url.render_as_string(hide_password=True)
        raise SchemaBehind(
            f"the database {where} is at schema revision {', '.join(sorted(found)) or 'none'}; "
            f"this Vigie needs {', '.join(sorted(heads))}: run `vigie db upgrade` first"
        )
