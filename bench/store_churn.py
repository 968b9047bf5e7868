"""Benchmark of what the store writes per observation at France's size, and the floor under it.

Issue 13 asks for under 2 MB/s written at 2,400 obs/s (833 bytes per observation).
`bench/pipeline.py` measures the whole centre over 20 s on a freshly seeded database; this
measures the observation table alone, as the schema makes it (`vigie.store.models`, each
database's DDL), holding a history of `--history` readings per device (a centre after a while),
then appending `--readings` readings, each taken up to 2 s before its commit, in commits of
`--batch` rows of random devices, as the API takes them. Variants:

- `device_first_key`: two device-first indexes, `(device, dedup_key)` (unique: what decides a
  duplicate and a conflict) and the per-device index (every per-device read; `(device, id)`
  before migration 0022, `(device, type, t)` since): the schema before migrations 0020
  (PostgreSQL) and 0021 (SQLite);
- `time_first_key`: the unique key's columns the other way round, `(dedup_key, device)`: the
  same constraint, and the gateways' keys (`seq:` + the reading's time in ms * 8) then append
  at one end; the per-device index kept: the schema since (both databases);
- `no_device_index`: neither (the floor: the rows alone, with their primary key; the `(type, t)`
  index of the runs before migration 0023 as well);
- `whole_payload`: the schema, each fix's payload whole, repeating its columns: the rows as
  they were stored before `vigie.store.fix_payload` (every variant but this one stores a fix's
  payload without what its columns give back; a plain fix's is then `{}`).

SQLite (WAL, synchronous=FULL, as the centre opens it): this process's `write_bytes`, what
reached the block layer, WAL appends (every page a commit dirtied, whole) and checkpoints, one
at the end so that every page is counted in the file too (`--sqlite-autocheckpoint` sets how
often the others come; 0, only that one).
PostgreSQL (a server of the run's own, its default settings): its WAL bytes and the data pages
it wrote out, a CHECKPOINT included at the end so that every page the appends dirtied is
counted once. A device's newest keys sit on a leaf page of their own in each device-first
index, so each reading dirties a page per such index; PostgreSQL writes a page once per
checkpoint (and logs it whole once after each), SQLite at every commit. PostgreSQL's default
run appends 720,000 readings: five minutes at 2,400 obs/s, one checkpoint interval.

    .venv/bin/python bench/store_churn.py [--databases sqlite,postgresql] [--devices 16000]

Writes bench/results/store-churn.json with the commit measured. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sqlite3
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import psycopg
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import CreateIndex, CreateTable

from pipeline import commit, postgres
from vigie.store import observations as log
from vigie.store.database import json_text
from vigie.store.fix_payload import stored_payload
from vigie.store.models import Observation

RESULTS = Path(__file__).with_name("results") / "store-churn.json"
# Each variant's unique key; `no_device_index` drops the per-device index too (the floor).
KEYS = {
    "device_first_key": "(device, dedup_key)",
    "time_first_key": "(dedup_key, device)",
    "no_device_index": None,
    "whole_payload": "(dedup_key, device)",
}
VARIANTS = tuple(KEYS)
SCHEMA = {"sqlite": "time_first_key", "postgresql": "time_first_key"}  # since 0021 and 0020
GOAL_BYTES_PER_OBS = 2_000_000 / 2_400
T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
COLUMNS = "source, device, seq, dedup_key, t, received_at, type, lat, lon, accuracy_m, payload"


def ddl(dialect: Dialect, variant: str) -> list[str]:
    """The observation table and its indexes as the models declare them, with the variant's
    unique key (or none) in place of the schema's."""
    table: Any = Observation.__table__
    statements = [str(CreateTable(table).compile(dialect=dialect))]
    assert "UNIQUE" not in statements[0], "the schema's key changed: this benchmark must follow it"
    # The schema's own unique index (`uq_observations_key`) is replaced by the variant's.
    per_device = {"ix_observations_device_type_t"} if KEYS[variant] else set()
    assert per_device <= {index.name for index in table.indexes}, "follow the schema's index"
    for index in table.indexes:
        if index.name in per_device:
            statements.append(str(CreateIndex(index).compile(dialect=dialect)))
    if KEYS[variant]:
        statements.append(
            f"CREATE UNIQUE INDEX uq_observations_key ON observations {KEYS[variant]}"
        )
    return statements


def fix_record(device: str, t: datetime, rng: random.Random) -> dict[str, Any]:
    """One gateway fix's record, as a Teltonika gateway hands it in (its key from `seq`)."""
    ms = round(t.timestamp() * 1000)
    return {
        "kind": "obs",
        "device": device,
        "t": t.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "seq": ms * 8,
        "type": "position",
        "lat": round(48.8 + rng.random() / 10, 6),
        "lon": round(2.3 + rng.random() / 10, 6),
        "accuracy_m": 6.0,
    }


def reading(device: str, t: datetime, rng: random.Random, whole: bool = False) -> tuple[Any, ...]:
    """One gateway fix as the store keeps it (`observations.row_for`, its payload as `append`
    stores it), as a row of values; `whole`, its payload the record whole, as before."""
    record = fix_record(device, t, rng)
    row = log.row_for(record, t, t + timedelta(milliseconds=80), source="teltonika")
    row["payload"] = record if whole else stored_payload(row)
    return tuple(json_text(row[c]) if c == "payload" else row[c] for c in COLUMNS.split(", "))


def process_write_bytes() -> int:
    """What this process has written to storage so far (SQLite's WAL and checkpoints)."""
    with open("/proc/self/io") as io:
        return next(int(line.split()[1]) for line in io if line.startswith("write_bytes"))


def pg_configure(db: psycopg.Connection[Any], settings: list[str]) -> None:
    """Settings `name=value`, as a production server would be set, then reloaded."""
    for setting in settings:
        name, _, value = setting.partition("=")
        db.execute(f"ALTER SYSTEM SET {name} = '{value}'")
    db.execute("SELECT pg_reload_conf()")


def pg_written(db: psycopg.Connection[Any]) -> tuple[int, int]:
    """The server's WAL bytes and data pages written so far, after a CHECKPOINT: what the
    run dirtied is written out and counted."""
    db.execute("CHECKPOINT")
    wal = db.execute("SELECT wal_bytes FROM pg_stat_wal").fetchone()
    pages = db.execute(
        "SELECT (buffers_clean + buffers_backend + buffers_checkpoint)"
        " * current_setting('block_size')::bigint FROM pg_stat_bgwriter"
    ).fetchone()
    assert wal is not None and pages is not None
    return int(wal[0]), int(pages[0])


def save(path: Path, result: dict[str, Any], pg_set: list[str], runs: list[dict[str, Any]]) -> None:
    """A store benchmark's figures as JSON, with what every one of them records: the commit
    measured, PostgreSQL's settings, the goal, the machine and the time."""
    result["commit"] = commit()
    result["postgresql_settings"] = pg_set or "defaults"
    result["goal_bytes_per_obs"] = round(GOAL_BYTES_PER_OBS)
    result["runs"] = runs
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    result["when"] = datetime.now(UTC).isoformat(timespec="seconds")
    path.parent.mkdir(exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {path}")


@contextmanager
def no_server() -> Iterator[None]:
    """SQLite's stand-in for `pipeline.postgres`: no server, no URL."""
    yield None


class Store(Protocol):
    """A database holding the observation table, and what it wrote so far."""

    def seed(self, rows: list[tuple[Any, ...]]) -> None: ...
    def append(self, rows: list[tuple[Any, ...]]) -> None: ...
    def written(self) -> int: ...


class SqliteStore:
    """The centre's SQLite file; bytes are this process's `write_bytes`."""

    def __init__(
        self, folder: Path, variant: str, page_size: int | None, autocheckpoint: int | None
    ) -> None:
        self.db = sqlite3.connect(folder / "vigie.sqlite", isolation_level=None)
        if page_size is not None:  # before anything is written: a new file's pages
            self.db.execute(f"PRAGMA page_size={int(page_size)}")
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")  # as `vigie.store.database` opens it
        if autocheckpoint is not None:  # WAL pages between checkpoints (0: none but the last)
            self.db.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint)}")
        for statement in ddl(sqlite_dialect.dialect(), variant):
            self.db.execute(statement)
        marks = ", ".join("?" * len(COLUMNS.split(", ")))
        self.insert = (
            f"INSERT INTO observations ({COLUMNS}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        )

    def seed(self, rows: list[tuple[Any, ...]]) -> None:
        self.db.execute("BEGIN")
        self.db.executemany(self.insert, [_sqlite(r) for r in rows])
        self.db.execute("COMMIT")
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def append(self, rows: list[tuple[Any, ...]]) -> None:
        self.db.execute("BEGIN")
        self.db.executemany(self.insert, [_sqlite(r) for r in rows])
        self.db.execute("COMMIT")

    def written(self) -> int:
        """Bytes written so far, the WAL checkpointed first: every page a commit dirtied is
        then counted in the file too, once, as PostgreSQL's final CHECKPOINT counts its own."""
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return process_write_bytes()

    def close(self) -> None:
        self.db.close()


def _sqlite(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """Times as the centre's SQLite columns keep them (ISO text)."""
    return tuple(v.isoformat(sep=" ") if isinstance(v, datetime) else v for v in row)


class PostgresStore:
    """A PostgreSQL server of the run's own; bytes are its WAL and data pages written."""

    def __init__(self, url: str, variant: str, settings: list[str]) -> None:
        self.db = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True)
        pg_configure(self.db, settings)
        self.db.execute("DROP TABLE IF EXISTS observations")
        for statement in ddl(postgresql_dialect.dialect(), variant):
            self.db.execute(statement)  # type: ignore[call-overload]
        marks = ", ".join(["%s"] * (len(COLUMNS.split(", ")) - 1) + ["%s::jsonb"])
        self.insert = (
            f"INSERT INTO observations ({COLUMNS}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        )

    def seed(self, rows: list[tuple[Any, ...]]) -> None:
        with self.db.cursor().copy(f"COPY observations ({COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        self.db.execute("VACUUM ANALYZE observations")
        self.db.execute("CHECKPOINT")

    def append(self, rows: list[tuple[Any, ...]]) -> None:
        with self.db.transaction(), self.db.cursor() as cursor:
            cursor.executemany(self.insert, rows)  # type: ignore[arg-type]

    def written(self) -> int:
        return sum(pg_written(self.db))

    def close(self) -> None:
        self.db.close()


@contextmanager
def store(
    database: str, variant: str, url: str | None, args: argparse.Namespace
) -> Iterator[Store]:
    if database == "postgresql":
        assert url is not None
        pg = PostgresStore(url, variant, args.pg_set)
        try:
            yield pg
        finally:
            pg.close()
        return
    with tempfile.TemporaryDirectory(prefix="vigie-churn-") as folder:
        lite = SqliteStore(Path(folder), variant, args.sqlite_page_size, args.sqlite_autocheckpoint)
        try:
            yield lite
        finally:
            lite.close()


def run(
    database: str, variant: str, url: str | None, args: argparse.Namespace, readings: int
) -> dict[str, Any]:
    rng = random.Random(13)
    whole = variant == "whole_payload"
    names = [f"T{n:06d}" for n in range(args.devices)]
    period_s = args.devices / 2_400  # each device's fix interval at 2,400 readings/s
    with store(database, variant, url, args) as target:
        began = time.perf_counter()
        target.seed(
            [
                reading(d, T0 + timedelta(seconds=k * period_s), rng, whole)
                for k in range(args.history)
                for d in names
            ]
        )
        seeded_s = time.perf_counter() - began
        now = T0 + timedelta(seconds=args.history * period_s)
        before, began = target.written(), time.perf_counter()
        for _ in range(readings // args.batch):
            now += timedelta(seconds=args.batch / 2_400)
            target.append(
                [
                    reading(names[d], now - timedelta(seconds=2 * rng.random()), rng, whole)
                    for d in rng.sample(range(args.devices), args.batch)
                ]
            )
        seconds = time.perf_counter() - began
        per_obs = (target.written() - before) / readings
    return {
        "database": database,
        "variant": variant,
        "readings": readings,
        "seed_s": round(seeded_s, 1),
        "bytes_written_per_obs": round(per_obs),
        "mb_s_at_2400_obs_s": round(per_obs * 2_400 / 1e6, 2),
        "goal_met": per_obs < GOAL_BYTES_PER_OBS,
        "append_s": round(seconds, 1),
    }


def main(argv: list[str]) -> int:
    """Run every variant on each database and write the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--devices", type=int, default=16_000)
    parser.add_argument("--history", type=int, default=60, help="readings stored per device")
    parser.add_argument("--readings", type=int, default=48_000, help="appended (SQLite)")
    parser.add_argument("--pg-readings", type=int, default=720_000, help="appended (PostgreSQL)")
    parser.add_argument("--batch", type=int, default=100, help="readings per commit")
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument(
        "--pg-set", action="append", default=[], help="a PostgreSQL setting, name=value"
    )
    parser.add_argument(
        "--sqlite-page-size", type=int, help="SQLite's page size (bytes; default: the centre's)"
    )
    parser.add_argument(
        "--sqlite-autocheckpoint",
        type=int,
        help="SQLite's wal_autocheckpoint (WAL pages; 0: only the final checkpoint)",
    )
    args = parser.parse_args(argv)
    runs: list[dict[str, Any]] = []
    for database in args.databases.split(","):
        readings = args.pg_readings if database == "postgresql" else args.readings
        with postgres() if database == "postgresql" else no_server() as url:
            found = [run(database, v, url, args, readings) for v in args.variants.split(",")]
        floor = next((f for f in found if f["variant"] == "no_device_index"), None)
        for figures in found:
            line = (
                f"{database:10s} {figures['variant']:16s} "
                f"{figures['bytes_written_per_obs']:6d} bytes/obs "
                f"({figures['mb_s_at_2400_obs_s']} MB/s at 2,400 obs/s)"
            )
            if floor is not None:
                ratio = figures["bytes_written_per_obs"] / floor["bytes_written_per_obs"]
                figures["over_floor"] = round(ratio, 1)
                line += f", {figures['over_floor']}x the floor"
            print(line, flush=True)
        runs += found
    result = {
        "benchmark": "store: bytes written per observation appended",
        "devices": args.devices,
        "history_per_device": args.history,
        "batch": args.batch,
        "schema_variant": SCHEMA,
        "sqlite_page_size": args.sqlite_page_size or "default",
        "sqlite_autocheckpoint": "default"
        if args.sqlite_autocheckpoint is None
        else args.sqlite_autocheckpoint,
    }
    save(RESULTS, result, args.pg_set, runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
