"""Fixtures of the export tests: a lived centre, keys, and a second, empty centre to import into."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import fresh_database
from tests.export.story import Story, live
from vigie.export import keys
from vigie.store import Database, open_database


@dataclass(frozen=True)
class Keys:
    signing: Path
    recipient_public: Path
    recipient_private: Path


@pytest.fixture
def export_keys(tmp_path: Path) -> Keys:
    folder = tmp_path / "keys"
    keys.generate(folder / "centre.key", "signing")
    keys.generate(folder / "victim.key", "recipient")
    return Keys(folder / "centre.key", folder / "victim.key.pub", folder / "victim.key")


@pytest.fixture
def story(db: Database, monkeypatch: pytest.MonkeyPatch) -> Story:
    return live(db, monkeypatch)


@pytest.fixture
def other_url(request: pytest.FixtureRequest, database_url: str, tmp_path: Path) -> Iterator[str]:
    """A second, empty centre on the same database kind."""
    backend = "sqlite" if database_url.startswith("sqlite") else "postgresql"
    folder = tmp_path / "other"
    folder.mkdir()
    with fresh_database(request, backend, folder) as url:
        yield url


@pytest.fixture
def other(other_url: str) -> Iterator[Database]:
    database = open_database(other_url)
    yield database
    database.dispose()


@pytest.fixture
def c1_archive(db: Database, story: Story, export_keys: Keys, tmp_path: Path) -> Path:
    """The lived centre's case C1, exported without its protected data."""
    from tests.export.test_round_trip import export

    archive = tmp_path / "C1.zip"
    export(db, "C1", export_keys, archive, sealed=False)
    return archive
