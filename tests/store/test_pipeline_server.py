"""`bench/pipeline.py --pg-production`: the bench's PostgreSQL is made and started as
docs/production-postgresql.md configures the production servers, so that the bytes it
reports are those such a server writes; without it, the server's defaults."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
from pipeline import PRODUCTION_SETTINGS, postgres

DOCS = Path(__file__).resolve().parents[2] / "docs" / "production-postgresql.md"


def settings(url: str) -> dict[str, str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return {
                name: conn.execute(text(f"SHOW {name}")).scalar_one()
                for name in ("data_checksums", "wal_log_hints", "wal_compression")
            }
    finally:
        engine.dispose()


@pytest.mark.processes
@pytest.mark.parametrize("production", [False, True])
def test_the_bench_server_is_configured_as_production_or_left_to_its_defaults(
    production: bool,
) -> None:
    with postgres(production) as url:
        found = settings(url)
    on = "on" if production else "off"
    assert found == {
        "data_checksums": on,
        "wal_log_hints": on,
        "wal_compression": "lz4" if production else "off",
    }


def test_the_production_settings_are_those_the_documentation_gives() -> None:
    """The Patroni configuration of the documentation: the same settings, and checksums."""
    documented = DOCS.read_text()
    assert "data-checksums" in documented
    for name, value in PRODUCTION_SETTINGS.items():
        assert f"{name}: {value}" in documented or f'{name}: "{value}"' in documented, name
