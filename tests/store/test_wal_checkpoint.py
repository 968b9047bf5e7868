"""SQLite's WAL is written into the file every `WAL_CHECKPOINT_BYTES`, whatever the file's pages:
fewer checkpoints write the same hot pages fewer times."""

from __future__ import annotations

import sqlite3
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from vigie import clock
from vigie.store import database, open_database
from vigie.store import observations as log
from vigie.store.schema import upgrade


def append_readings(url: str, commits: int, per_commit: int = 400) -> int:
    """Append readings through the centre's own connections; the WAL file's size after."""
    db = open_database(url)
    now = clock.now()
    fix = {"kind": "obs", "device": "B1", "type": "position", "lat": 1.0, "lon": 2.0}
    try:
        for c in range(commits):
            with db.session() as session:
                rows = [
                    log.row_for(
                        fix | {"seq": c * per_commit + n},
                        now - timedelta(seconds=n),
                        now,
                        source="test",
                    )
                    for n in range(per_commit)
                ]
                log.append(session, rows)
        return Path(url.removeprefix("sqlite:///") + "-wal").stat().st_size
    finally:
        db.dispose()


@pytest.mark.parametrize("page_size", [database.PAGE_SIZE, 4096])
def test_every_connection_checkpoints_at_the_same_size_whatever_its_pages(
    tmp_path: Path, page_size: int
) -> None:
    path = tmp_path / "vigie.sqlite"
    if page_size != database.PAGE_SIZE:  # a file made before new files got small pages
        made = sqlite3.connect(path)
        made.execute(f"PRAGMA page_size={page_size}")
        made.execute("PRAGMA journal_mode=WAL")
        made.close()
    db = open_database(f"sqlite:///{path}")
    try:
        with db.engine.connect() as conn:
            assert conn.scalar(text("PRAGMA page_size")) == page_size
            pages = conn.scalar(text("PRAGMA wal_autocheckpoint"))
    finally:
        db.dispose()
    assert pages == database.WAL_CHECKPOINT_BYTES // page_size
    assert pages * page_size > 1000 * database.PAGE_SIZE  # beyond SQLite's default of 1,000 pages


def test_the_wal_grows_past_sqlites_default_and_no_further_than_the_setting(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'deferred.sqlite'}"
    upgrade(url)
    # SQLite's default would have written the WAL out, and started it again, at 1,000 pages.
    assert append_readings(url, commits=25) > 2 * 1000 * database.PAGE_SIZE

    monkeypatch.setattr(database, "WAL_CHECKPOINT_BYTES", 256 * 1024)
    url = f"sqlite:///{tmp_path / 'bounded.sqlite'}"
    upgrade(url)
    # Several MB written through the WAL: checkpointed each time it passed 256 KB, the WAL
    # started again from its beginning, so its file holds 256 KB and a commit's pages at most.
    assert append_readings(url, commits=25) < 256 * 1024 + 200 * database.PAGE_SIZE
