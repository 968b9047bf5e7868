"""Alembic environment: runs migrations on the connection Vigie hands over, or on the URL set."""

from collections import Counter

from alembic import context
from sqlalchemy import Connection

from vigie.store.database import create_store_engine
from vigie.store.models import Base

config = context.config
target_metadata = Base.metadata


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:
        context.configure(connection=connection, target_metadata=target_metadata)
        with context.begin_transaction():
            context.run_migrations()
        return
    engine = create_store_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        sqlite = conn.dialect.name == "sqlite"
        if sqlite:
            # SQLite's way to change a table (its copy, under `render_as_batch`): foreign keys
            # off, so that dropping the old table breaks no reference to it; checked after, for
            # references the migrations broke (an orphan already there is left as it was).
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            before = _orphans(conn)
            conn.commit()
        context.configure(connection=conn, target_metadata=target_metadata, render_as_batch=True)
        with context.begin_transaction():
            context.run_migrations()
            if sqlite and (broken := _orphans(conn) - before):
                raise RuntimeError(f"the migration broke foreign keys: {dict(broken)}")
    engine.dispose()


def _orphans(conn: Connection) -> Counter[tuple[str, str]]:
    """Rows whose reference finds nothing, counted by table and the table referred to."""
    return Counter((row[0], row[2]) for row in conn.exec_driver_sql("PRAGMA foreign_key_check"))


run_migrations()
