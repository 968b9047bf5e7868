"""The schema: migrations apply on both databases, and the append-only rules hold."""

import importlib
import random
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from alembic import command
from alembic.script import ScriptDirectory
from sqlalchemy import (
    PrimaryKeyConstraint,
    UniqueConstraint,
    create_engine,
    insert,
    inspect,
    text,
)
from sqlalchemy.exc import DBAPIError

from tests.cases import factories as make
from tests.conftest import fresh_database
from tests.store.test_spans import KINDS, T0, reference, some_readings
from vigie.cases import placements
from vigie.store import Database, open_database, spans
from vigie.store import observations as log
from vigie.store.fix_payload import stored_payload
from vigie.store.models import Base, Observation
from vigie.store.schema import alembic_config, current_heads, upgrade


def test_migrations_reach_head_and_are_idempotent(database_url: str) -> None:
    head = ScriptDirectory.from_config(alembic_config(database_url)).get_current_head()
    assert current_heads(database_url) == {head}
    upgrade(database_url)  # a second run changes nothing and does not fail
    assert current_heads(database_url) == {head}


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


def test_a_database_a_newer_release_migrated_is_refused_by_name(
    empty_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Software rolled back after an upgrade migrated the store: neither `vigie db upgrade` nor
    the centre can use it, and they say why and what to do, not Alembic's "Can't locate
    revision" from a traceback."""
    import subprocess
    import sys

    from vigie.store.schema import SchemaAhead, require_current

    upgrade(empty_database_url)
    database = open_database(empty_database_url)
    with database.session() as session:
        session.execute(text("UPDATE alembic_version SET version_num = '9999_future'"))
    newer = pytest.raises(SchemaAhead, match=r"revision 9999_future, which this Vigie does not")
    with newer:
        upgrade(empty_database_url)
    with newer:
        require_current(database)
    database.dispose()
    command = [sys.executable, "-c", "from vigie.cli import main; main()", "db", "upgrade"]
    monkeypatch.setenv("VIGIE_DATABASE_URL", empty_database_url)
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 1
    assert result.stderr.startswith("vigie: the database ") and "a newer release" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_observation_key_is_kept_and_turned_time_first(empty_database_url: str) -> None:
    """Migrations 0020 (PostgreSQL) and 0021 (SQLite): readings stored before them stay, one per
    (device, dedup_key), and a resend is still refused; the index on it is (dedup_key, device)."""
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
    assert unique == [["dedup_key", "device"]]


def test_sqlite_rebuilds_the_observation_table_losing_nothing(tmp_path: Path) -> None:
    """Migration 0021 rebuilds SQLite's table: the same rows and ids, quarantined readings kept
    (dropping the old table must not cascade), still append-only, still the parent of the
    quarantine; and back down to 0020 the same."""
    url = f"sqlite:///{tmp_path / 'vigie.sqlite'}"
    upgrade(url, "0020")
    engine = create_engine(url)
    rows = "SELECT id, device, dedup_key, payload FROM observations ORDER BY id"
    with engine.begin() as conn:
        conn.exec_driver_sql("PRAGMA foreign_keys=ON")
        for n in range(6):
            conn.execute(
                text(
                    "INSERT INTO observations (device, dedup_key, t, received_at, type, payload)"
                    " VALUES (:d, :k, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'tamper', :p)"
                ),
                {"d": f"B{n % 2}", "k": f"seq:{n}", "p": f'{{"n": {n}}}'},
            )
        conn.exec_driver_sql("DELETE FROM observations WHERE id = 2")  # a gap in the ids
        conn.exec_driver_sql(
            "INSERT INTO quarantined_observations VALUES (4, 'lat', 'no', 0, CURRENT_TIMESTAMP)"
        )
        before = conn.execute(text(rows)).all()
    engine.dispose()
    for step in ("0021", "0020", "0021"):
        if step == "0020":
            command.downgrade(alembic_config(url), step)
        else:
            upgrade(url, step)
        engine = create_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            assert conn.execute(text(rows)).all() == before
            assert conn.exec_driver_sql(
                "SELECT observation_id FROM quarantined_observations"
            ).all() == [(4,)]
            names = {
                n
                for (n,) in conn.exec_driver_sql(
                    "SELECT name FROM sqlite_master WHERE tbl_name = 'observations'"
                )
            }
        assert {"observations_no_update", "ix_observations_device_id"} <= names
        assert ("uq_observations_key" in names) == (step == "0021")
        with pytest.raises(DBAPIError, match="append-only"), engine.begin() as conn:
            conn.exec_driver_sql("UPDATE observations SET device = 'B9'")
        with pytest.raises(DBAPIError, match="FOREIGN KEY"), engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            conn.exec_driver_sql(
                "INSERT INTO quarantined_observations "
                "VALUES (99, 'lat', 'no', 0, CURRENT_TIMESTAMP)"
            )
        with engine.begin() as conn:
            conn.exec_driver_sql("PRAGMA foreign_keys=ON")
            new = conn.exec_driver_sql(
                "INSERT INTO observations (device, dedup_key, t, received_at, type, payload) "
                "VALUES ('B0', 'seq:0', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'tamper', '{}') "
                "ON CONFLICT (device, dedup_key) DO NOTHING"
            )
            assert new.rowcount == 0  # a resend of a stored reading
            conn.rollback()
        engine.dispose()


def test_sqlite_rebuild_is_not_stopped_by_an_orphan_it_did_not_make(tmp_path: Path) -> None:
    """A quarantine row whose reading was lost before (foreign keys were off, say) is left as it
    is: the rebuild checks only the orphans it would add."""
    url = f"sqlite:///{tmp_path / 'vigie.sqlite'}"
    upgrade(url, "0020")
    engine = create_engine(url)
    with engine.begin() as conn:
        conn.exec_driver_sql(
            "INSERT INTO quarantined_observations VALUES (77, 'lat', 'no', 0, CURRENT_TIMESTAMP)"
        )
    engine.dispose()
    upgrade(url, "0021")
    assert current_heads(url) == {"0021"}
    engine = create_engine(url)
    with engine.begin() as conn:
        kept = conn.exec_driver_sql("SELECT observation_id FROM quarantined_observations").all()
        orphans = conn.exec_driver_sql("PRAGMA foreign_key_check").all()
    engine.dispose()
    assert kept == [(77,)]
    assert [row[0] for row in orphans] == ["quarantined_observations"]


def test_the_per_device_index_is_device_type_time(empty_database_url: str) -> None:
    """Migration 0022: the per-device index (device, id) becomes (device, type, t), and back
    on a downgrade, the stored readings untouched."""
    upgrade(empty_database_url, "0021")
    engine = create_engine(empty_database_url)
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO observations (device, dedup_key, t, received_at, type, payload) "
                "VALUES ('B1', 'seq:1', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP, 'tamper', '{}')"
            )
        )

    def per_device() -> dict[str, list[str]]:
        found = inspect(engine)
        found.clear_cache()
        return {
            str(i["name"]): list(i["column_names"])
            for i in found.get_indexes("observations")
            if i["column_names"][0] == "device"
        }

    assert per_device() == {"ix_observations_device_id": ["device", "id"]}
    upgrade(empty_database_url, "0022")
    assert per_device() == {"ix_observations_device_type_t": ["device", "type", "t"]}
    command.downgrade(alembic_config(empty_database_url), "0021")
    assert per_device() == {"ix_observations_device_id": ["device", "id"]}
    upgrade(empty_database_url)
    with engine.begin() as conn:
        assert conn.execute(text("SELECT device, dedup_key FROM observations")).all() == [
            ("B1", "seq:1")
        ]
    engine.dispose()


def test_no_index_repeats_the_leading_columns_of_another(empty_database_url: str) -> None:
    """Every plain index is written at every insert: one that is only the first columns of
    another index or unique key of its table serves no read the other does not (0023 dropped
    observations' (type, t), unread since 0022; 0024 two such prefixes; 0025 the per-device
    index, for spans). The database carries the models' indexes, no other, and a downgrade makes
    the dropped ones again."""
    keys: dict[str, list[tuple[str, list[str]]]] = {}
    for table in Base.metadata.sorted_tables:
        # A partial index (`WHERE ...`) holds some rows only: it stands for no other.
        found = [
            (str(i.name), [c.name for c in i.columns])
            for i in table.indexes
            if not any(
                i.dialect_options[d].get("where") is not None for d in ("sqlite", "postgresql")
            )
        ]
        found += [
            (str(c.name), [col.name for col in c.columns])
            for c in table.constraints
            if isinstance(c, UniqueConstraint | PrimaryKeyConstraint)
        ]
        keys[table.name] = found
    repeated = [
        (table, name, other)
        for table, found in keys.items()
        for name, columns in found
        for other, longer in found
        if name.startswith("ix_") and other != name and longer[: len(columns)] == columns
    ]
    assert repeated == []

    engine = create_engine(empty_database_url)

    def plain(table: str) -> set[str]:
        found = inspect(engine)
        found.clear_cache()
        return {str(i["name"]) for i in found.get_indexes(table) if not i["unique"]}

    # PostGIS's index of the zones' geometry: a column of PostgreSQL's alone, outside the models.
    own = {"zones": {"ix_zones_geom"}} if engine.dialect.name == "postgresql" else {}

    def declared(table: str) -> set[str]:
        models = {str(i.name) for i in Base.metadata.tables[table].indexes if not i.unique}
        return models | own.get(table, set())

    dropped = {  # 0025 drops the per-device index too (spans in its place)
        "observations": {"ix_observations_type_t", "ix_observations_device_type_t"},
        "alarm_events": {"ix_alarm_events_case_ref"},
        "zones": {"ix_zones_placement_id"},
    }
    upgrade(empty_database_url)
    assert {table: plain(table) for table in keys} == {table: declared(table) for table in keys}
    command.downgrade(alembic_config(empty_database_url), "0022")
    assert {t: plain(t) for t in dropped} == {t: declared(t) | i for t, i in dropped.items()}
    upgrade(empty_database_url)
    assert {t: plain(t) for t in dropped} == {t: declared(t) for t in dropped}
    engine.dispose()


def test_the_migration_spans_every_stored_reading(empty_database_url: str) -> None:
    """Migration 0025 on a centre with history: the readings stored before it are found by the
    spans exactly as by a scan (batches of the migration cut through minutes), the watermark is
    past them, `device_latest` holds each device's newest, and a downgrade gives the index back
    with the readings untouched."""
    upgrade(empty_database_url, "0024")
    db = open_database(empty_database_url)
    rng = random.Random(25)
    stored = some_readings(rng, 400, T0)
    # As the code of 0024 stored them: no `imported_from` (0028), each payload as stored.
    before = [
        {k: v for k, v in r.items() if k != "imported_from"} | {"payload": stored_payload(r)}
        for r in stored
    ]
    with db.session() as session:
        session.execute(insert(Observation.__table__), before)
    with db.reading() as session:
        last = log.last_id(session)
    # Before 0025 the table has no spans: a read must not go through them yet.
    since, until = T0 + timedelta(minutes=3, seconds=20), T0 + timedelta(minutes=100)
    truth = {d: reference(db, d, KINDS, since, until) for d in ("B0", "B4")}
    migration = importlib.import_module("vigie.store.migrations.versions.0025_observation_spans")
    original, migration.BATCH = migration.BATCH, 37  # batches that end inside minutes
    try:
        upgrade(empty_database_url)
    finally:
        migration.BATCH = original
    with db.reading() as session:
        assert spans.watermark(session) == last and spans.lag(session) == 0
        for device, ids in truth.items():
            assert set(ids) <= set(spans.located(session, [device], KINDS, since, until).ids)
        newest = log.newest_of_type(session, ["B0"], "position")["B0"]
    fixes_b0 = [r for r in stored if r["device"] == "B0" and r["type"] == "position"]
    assert newest.at == max(r["t"] for r in fixes_b0)
    command.downgrade(alembic_config(empty_database_url), "0024")
    with db.reading() as session:
        assert log.count(session) == 400
    engine = create_engine(empty_database_url)
    names = {i["name"] for i in inspect(engine).get_indexes("observations")}
    engine.dispose()
    db.dispose()
    assert "ix_observations_device_type_t" in names
