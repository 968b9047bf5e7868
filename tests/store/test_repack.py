"""`vigie db repack`: an existing SQLite file gets the pages a new one gets, everything kept."""

import logging
import sqlite3
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from typer.testing import CliRunner, Result

from vigie import clock
from vigie.api import create_app
from vigie.cli import app
from vigie.settings import Settings, settings
from vigie.store import audit, open_database
from vigie.store import observations as log
from vigie.store.database import PAGE_SIZE
from vigie.store.schema import upgrade


def old_file(path: Path) -> str:
    """A centre's file as made before new files got small pages: 4 KB, WAL, schema, readings."""
    made = sqlite3.connect(path)
    made.execute("PRAGMA page_size=4096")
    made.execute("PRAGMA journal_mode=WAL")
    made.close()
    url = f"sqlite:///{path}"
    upgrade(url)
    db = open_database(url)
    now = clock.now()
    fix = {"kind": "obs", "device": "B1", "type": "position", "lat": 1.0, "lon": 2.0}
    with db.session() as session:
        rows = [
            log.row_for(fix | {"seq": n}, now - timedelta(seconds=n), now, source="test")
            for n in range(500)
        ]
        log.append(session, rows)
        audit.record(session, "ops", "read", "case:1")
    db.dispose()
    return url


def pragma(path: Path, name: str) -> object:
    connection = sqlite3.connect(path)
    try:
        return connection.execute(f"PRAGMA {name}").fetchone()[0]
    finally:
        connection.close()


@pytest.fixture
def vigie(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Result]]:
    def run(url: str, *args: str) -> Result:
        monkeypatch.setenv("VIGIE_DATABASE_URL", url)
        settings.cache_clear()
        return CliRunner().invoke(app, list(args))

    yield run
    settings.cache_clear()


def test_repack_gives_an_old_file_small_pages_and_keeps_everything(
    tmp_path: Path, vigie: Callable[..., Result]
) -> None:
    path = tmp_path / "old.sqlite"
    url = old_file(path)
    assert pragma(path, "page_size") == 4096 != PAGE_SIZE
    result = vigie(url, "db", "repack")
    assert result.exit_code == 0, result.output
    assert f"pages of 4096 bytes are now {PAGE_SIZE}" in result.output
    assert pragma(path, "page_size") == PAGE_SIZE
    assert pragma(path, "journal_mode") == "wal"
    assert pragma(path, "integrity_check") == "ok"
    db = open_database(url)
    with db.reading() as session:
        assert log.count(session) == 500
        assert audit.verify(session) == (1, None)
        assert session.execute(text("PRAGMA foreign_key_check")).all() == []
    db.dispose()
    again = vigie(url, "db", "repack")
    assert again.exit_code == 0 and "nothing to do" in again.output


def test_repack_refuses_while_the_centre_has_the_file_open(
    tmp_path: Path, vigie: Callable[..., Result]
) -> None:
    path = tmp_path / "old.sqlite"
    url = old_file(path)
    centre = open_database(url)
    with centre.reading() as session:  # the pool keeps this connection open afterwards
        assert log.count(session) == 500
    try:
        result = vigie(url, "db", "repack")
    finally:
        centre.dispose()
    assert result.exit_code == 2
    assert "in use" in result.output and "stop the centre" in result.output
    assert pragma(path, "page_size") == 4096
    assert pragma(path, "journal_mode") == "wal"


def test_repack_is_for_sqlite_only(vigie: Callable[..., Result]) -> None:
    result = vigie("postgresql+psycopg://vigie@127.0.0.1:1/vigie", "db", "repack")
    assert result.exit_code == 2
    assert "only a SQLite file" in result.output


def test_repack_of_a_missing_file_makes_none(tmp_path: Path, vigie: Callable[..., Result]) -> None:
    missing = tmp_path / "typo.sqlite"
    result = vigie(f"sqlite:///{missing}", "db", "repack")
    assert result.exit_code == 2
    assert "no such file" in result.output
    assert not missing.exists()


def test_the_centre_says_at_start_when_its_file_would_write_less_repacked(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = old_file(tmp_path / "old.sqlite")
    new = f"sqlite:///{tmp_path / 'new.sqlite'}"
    upgrade(new)
    said: dict[str, list[str]] = {}
    for url in (old, new):
        caplog.clear()
        with caplog.at_level(logging.WARNING), TestClient(create_app(Settings(database_url=url))):
            pass
        said[url] = [r.getMessage() for r in caplog.records if "vigie db repack" in r.getMessage()]
    assert said[new] == []
    assert said[old] == [
        f"this SQLite file has pages of 4096 bytes where a new one has {PAGE_SIZE}: it writes "
        "about 40 % more a reading (docs/store-redesign.md); `vigie db repack`, with the "
        "centre stopped, rewrites it"
    ]
