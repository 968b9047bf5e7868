"""The schema: migrations apply on both databases, and the append-only rules hold."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect, text
from sqlalchemy.exc import DBAPIError

from tests.cases import factories as make
from tests.conftest import fresh_database
from vigie.cases import placements
from vigie.store import Database
from vigie.store.schema import alembic_config, current_revision, upgrade


def test_migrations_reach_head_and_are_idempotent(database_url: str) -> None:
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    assert current_revision(database_url) == head
    upgrade(database_url)  # a second run changes nothing and does not fail
    assert current_revision(database_url) == head


def test_tables_exist(db: Database) -> None:
    tables = set(inspect(db.engine).get_table_names())
    assert {"observations", "alarms", "audit_log", "placements", "zones", "outbox"} <= tables


def test_observations_cannot_be_updated(db: Database) -> None:
    with db.session() as session:
        session.execute(
            text(
                "INSERT INTO observations (device, dedup_key, t, received_at, type, payload) "
                "VALUES ('B1', 'seq:1', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'tamper', '{}')"
            )
        )
    with pytest.raises(DBAPIError, match="append-only"), db.session() as session:
        session.execute(text("UPDATE observations SET device = 'B2'"))


def test_postgis_geometry_derived_from_zone_geojson(db: Database, database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        assert "geom" not in {c["name"] for c in inspect(db.engine).get_columns("zones")}
        return
    with db.session() as session:
        wearer, who = make.person(session), make.contacts(session)
        zone = {"id": "Z1", "type": "exclusion", "geometry": make.square(45.0, 5.0, 0.01)}
        circle = {"type": "circle", "lat": 46.0, "lon": 5.0, "radius_m": 1000}
        zones = [zone, {"id": "Z2", "type": "exclusion", "geometry": circle}]
        placements.create(session, make.placement_form(wearer, who, zones=zones), "t")
    with db.session() as session:
        inside, srid = session.execute(
            text(
                "SELECT ST_Contains(geom, ST_SetSRID(ST_MakePoint(5.0, 45.0), 4326)), "
                "ST_SRID(geom) FROM zones WHERE key = 'Z1'"
            )
        ).one()
        near, far = session.execute(
            text(
                "SELECT ST_Contains(geom, ST_SetSRID(ST_MakePoint(5.0, 46.008), 4326)), "
                "ST_Contains(geom, ST_SetSRID(ST_MakePoint(5.0, 46.01), 4326)) "
                "FROM zones WHERE key = 'Z2'"
            )
        ).one()
    assert (inside, srid) == (True, 4326)
    assert (near, far) == (True, False)  # 890 m and 1,112 m from a 1 km circle's centre


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A database with no schema at all, to migrate step by step."""
    with fresh_database(request, request.param, tmp_path, migrated=False) as url:
        yield url


def test_existing_accounts_get_a_token_key_each(empty_database_url: str) -> None:
    """Accounts made before revocable tokens get a random key of their own on upgrade."""
    upgrade(empty_database_url, "0001")
    engine = create_engine(empty_database_url)
    with engine.begin() as conn:
        for name in ("ana", "bob"):
            conn.execute(
                text(
                    "INSERT INTO users (username, password_hash, role, full_name, active, "
                    "created_at) VALUES (:n, 'x', 'operator', :n, true, CURRENT_TIMESTAMP)"
                ),
                {"n": name},
            )
    upgrade(empty_database_url)
    with engine.connect() as conn:
        keys = conn.execute(text("SELECT token_key FROM users ORDER BY username")).scalars().all()
    engine.dispose()
    assert len(set(keys)) == 2 and all(len(key) == 32 for key in keys)


def test_a_centre_refuses_a_database_behind_its_schema(empty_database_url: str) -> None:
    """Started on an older schema (a forgotten `vigie db upgrade`), the API says so and does not
    serve, instead of answering while every detection step fails."""
    from fastapi.testclient import TestClient

    from vigie.api.app import create_app
    from vigie.settings import Settings
    from vigie.store import open_database
    from vigie.store.schema import SchemaBehind, require_current

    upgrade(empty_database_url, "0001")
    app = create_app(Settings(dev=True, database_url=empty_database_url, run_pipeline=False))
    behind = pytest.raises(SchemaBehind, match=r"revision 0001.*run `vigie db upgrade`")
    with behind, TestClient(app):
        pass
    upgrade(empty_database_url)
    database = open_database(empty_database_url)
    require_current(database)  # at head: nothing to say
    database.dispose()


def test_the_observation_key_is_kept_and_on_postgresql_turned_time_first(
    empty_database_url: str,
) -> None:
    """Migration 0020: readings stored before it stay, one per (device, dedup_key), and a resend
    is still refused; PostgreSQL's index on it is (dedup_key, device), SQLite's constraint stays."""
    upgrade(empty_database_url, "0019")
    insert = text(
        "INSERT INTO observations (device, dedup_key, t, received_at, type, payload) "
        "VALUES (:d, :k, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'tamper', '{}') "
        "ON CONFLICT (device, dedup_key) DO NOTHING"
    )
    engine = create_engine(empty_database_url)
    stored = [("B1", "seq:1"), ("B1", "seq:2"), ("B2", "seq:1")]
    with engine.begin() as conn:
        for device, key in stored:
            conn.execute(insert, {"d": device, "k": key})
    upgrade(empty_database_url)
    with engine.begin() as conn:
        assert conn.execute(insert, {"d": "B2", "k": "seq:1"}).rowcount == 0  # a resend
        assert conn.execute(insert, {"d": "B2", "k": "seq:2"}).rowcount == 1
        kept = conn.execute(text("SELECT device, dedup_key FROM observations ORDER BY id")).all()
    found = inspect(engine)
    unique = [i["column_names"] for i in found.get_indexes("observations") if i["unique"]]
    unique += [c["column_names"] for c in found.get_unique_constraints("observations")]
    engine.dispose()
    assert [tuple(r) for r in kept] == [*stored, ("B2", "seq:2")]
    if empty_database_url.startswith("postgresql"):
        assert unique == [["dedup_key", "device"]]
    else:
        assert unique == [["device", "dedup_key"]]
