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
- `key_only`: the schema without its per-device index (the time-first key kept);
- `whole_payload`: the schema, each fix's payload whole, repeating its columns: the rows as
  they were stored before `vigie.store.fix_payload` (every variant but this one stores a fix's
  payload without what its columns give back; a plain fix's is then `{}`);
- `tail_and_spans`: the schema without its per-device index, and what
  `docs/store-redesign.md` proposes in its stead (not the schema, not built): each reading's
  entry in a tail `(bucket, device, type, id)`, time first, its bucket the commit's receipt
  second; every 5 minutes of receipt time, in the commit that crosses it, the tail's entries
  before it made into a span row per device and type `(span, device, type)`, time first, with
  the readings' ids (deltas, compressed), each device's newest span noted in `device_latest`,
  and those tail entries deleted;
- `spans_1min`: the same without a tail (a read of the last minute scans the rows stored since
  the last span), a span every minute, of the rows stored since the one before.

Run those two with as many readings as 5 minutes take at 2,400 a second (`--readings 720000`),
or no span, or too few, are made in the window.

`--later` (PostgreSQL) also measures what the appended rows leave to a later vacuum: a
`VACUUM (FREEZE)` after the run, as the anti-wraparound vacuum will do weeks later (the history
is frozen when seeded, so only the appended rows count). `--pg-vacuum-defaults` takes the
append-only tables' autovacuum settings off (`vigie.store.storage`), as before migration 0026;
`--pg-fillfactor-defaults` fills `device_latest`'s pages whole, as before 0027.
The appends run faster than 2,400 a second: give the server's clocks the same ratio
(`--pg-set autovacuum_naptime=10s --pg-set checkpoint_timeout=50s` for about 6 times as fast).
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
import zlib
from array import array
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from typing import Any, Protocol

import psycopg
from sqlalchemy.dialects import postgresql as postgresql_dialect
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.engine import Dialect
from sqlalchemy.schema import CreateTable, Table

from pipeline import commit, postgres
from vigie.settings import Settings
from vigie.store import observations as log
from vigie.store.database import json_text
from vigie.store.fix_payload import stored_payload
from vigie.store.models import DeviceLatest, Observation, ObservationSpan, SpanWatermark
from vigie.store.spans import BATCH, statements
from vigie.store.storage import (
    APPEND_ONLY,
    FREEZE_ON_INSERT,
    REWRITTEN_EACH_MINUTE,
    resetting,
)

RESULTS = Path(__file__).with_name("results") / "store-churn.json"
# Each variant's unique key; `no_device_index` drops the per-device index too (the floor).
KEYS = {
    "device_first_key": "(device, dedup_key)",
    "time_first_key": "(dedup_key, device)",
    "no_device_index": None,
    "whole_payload": "(dedup_key, device)",
    "key_only": "(dedup_key, device)",
    "tail_and_spans": "(dedup_key, device)",
    "spans_1min": "(dedup_key, device)",
    "schema": "(dedup_key, device)",
}
# The receipt time between two compactions: `schema`'s is the centre's default.
SPAN_S = {"tail_and_spans": 300, "spans_1min": 60, "schema": Settings().span_every_s}
VARIANTS = tuple(KEYS)
SCHEMA = {"sqlite": "schema", "postgresql": "schema"}  # since 0025
# The per-device index of the schema from 0022 to 0024 (`time_first_key` and the variants
# before it).
PER_DEVICE = "CREATE INDEX ix_observations_device_type_t ON observations (device, type, t)"
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
    assert not [i for i in table.indexes if not i.unique], "follow the schema's indexes"
    if KEYS[variant] and variant not in SPAN_S and variant != "key_only":
        statements.append(PER_DEVICE)
    if KEYS[variant]:
        statements.append(
            f"CREATE UNIQUE INDEX uq_observations_key ON observations {KEYS[variant]}"
        )
    if variant == "schema":
        for model in (ObservationSpan, DeviceLatest, SpanWatermark):
            made = model.__table__
            assert isinstance(made, Table)  # a model's own table, declared as any FromClause
            statements.append(str(CreateTable(made).compile(dialect=dialect)))
    elif variant in SPAN_S:
        statements += tail_ddl(dialect.name == "postgresql")
    return statements


def compact_sql(dialect: str) -> list[str]:
    """What `vigie.store.spans.write` runs, as this benchmark's connections take it (SQLite's
    named parameters as they are, psycopg's `%(name)s`): the spans, the newest readings, the
    watermark."""
    moved = (
        "INSERT INTO span_watermark (id, upto) VALUES (1, :upto) "
        "ON CONFLICT (id) DO UPDATE SET upto = excluded.upto"
    )
    found = [*statements(dialect), moved]
    if dialect == "postgresql":
        found = [
            q.replace("%", "%%").replace(":mark", "%(mark)s").replace(":upto", "%(upto)s")
            for q in found
        ]
    return found


def tail_ddl(pg: bool) -> list[str]:
    """The tail, the spans and each device's newest span, time first (`SPAN_S`'s variants;
    `spans_1min` leaves its tail empty)."""
    number, blob = ("bigint", "bytea") if pg else ("INTEGER", "BLOB")
    clustered = "" if pg else " WITHOUT ROWID"
    return [
        f"CREATE TABLE observation_tail (bucket {number} NOT NULL, device text NOT NULL, "
        f"type text NOT NULL, id {number} NOT NULL, PRIMARY KEY (bucket, device, type, id))"
        + clustered,
        f"CREATE TABLE observation_spans (span {number} NOT NULL, device text NOT NULL, "
        f"type text NOT NULL, first_id {number} NOT NULL, last_id {number} NOT NULL, "
        f"ids {blob} NOT NULL, PRIMARY KEY (span, device, type))" + clustered,
        f"CREATE TABLE device_latest (device text NOT NULL, type text NOT NULL, "
        f"span {number} NOT NULL, PRIMARY KEY (device, type))" + clustered,
    ]


def spans_of(entries: list[tuple[str, str, int]]) -> list[tuple[str, str, int, int, bytes]]:
    """A span row per device and type of the tail's entries: first and last id, every id as
    deltas, compressed."""
    by: dict[tuple[str, str], list[int]] = defaultdict(list)
    for device, kind, row_id in entries:
        by[device, kind].append(row_id)
    out = []
    for (device, kind), ids in sorted(by.items()):
        ids.sort()
        deltas = array("q", [ids[0]] + [b - a for a, b in pairwise(ids)])
        out.append((device, kind, ids[0], ids[-1], zlib.compress(deltas.tobytes())))
    return out


def bucket_of(rows: list[tuple[Any, ...]]) -> int:
    """The commit's receipt second (the latest receipt of its rows)."""
    received = COLUMNS.split(", ").index("received_at")
    return int(max(row[received] for row in rows).timestamp())


def tail_entries(stored: list[tuple[tuple[Any, ...], int]], bucket: int) -> list[Any]:
    """The tail's entries of the rows stored (each with its new id), in the commit's bucket."""
    names = COLUMNS.split(", ")
    device, kind = names.index("device"), names.index("type")
    return [(bucket, row[device], row[kind], i) for row, i in stored]


class Spans:
    """When a store of `SPAN_S`'s variants makes spans: each commit that crosses a span's end
    (by receipt time) makes the spans it closes."""

    def __init__(self, variant: str) -> None:
        self.span_s: float | None = SPAN_S.get(variant)  # `schema`'s a float (the setting's)
        self.tail = variant == "tail_and_spans"
        self.real = variant == "schema"  # `vigie.store.spans`' own tables and grouping
        self.end: float | None = None
        self.compacted = 0  # the last id made into a span (`spans_1min`)

    def due(self, rows: list[tuple[Any, ...]]) -> list[tuple[int, int]]:
        """The (end, span number) of each span this commit closes."""
        span_s = self.span_s
        if span_s is None:
            return []
        bucket = bucket_of(rows)
        end = self.end or (bucket // span_s + 1) * span_s
        closed = []
        while bucket >= end:
            # `schema`'s float ends are only counted: its stores compact all, whatever the span.
            closed.append((int(end), int(end // span_s - 1)))
            end += span_s
        self.end = end
        return closed


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
        self.db.execute("PRAGMA temp_store=MEMORY")  # as well
        if autocheckpoint is not None:  # WAL pages between checkpoints (0: none but the last)
            self.db.execute(f"PRAGMA wal_autocheckpoint={int(autocheckpoint)}")
        for statement in ddl(sqlite_dialect.dialect(), variant):
            self.db.execute(statement)
        marks = ", ".join("?" * len(COLUMNS.split(", ")))
        self.insert = (
            f"INSERT INTO observations ({COLUMNS}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        )
        self.spans = Spans(variant)

    def seed(self, rows: list[tuple[Any, ...]]) -> None:
        self.db.execute("BEGIN")
        self.db.executemany(self.insert, [_sqlite(r) for r in rows])
        if self.spans.real:  # the history spanned, as migration 0025 leaves it
            self._compact(0, 0)
        self.db.execute("COMMIT")
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        self.spans.compacted = (
            self.db.execute("SELECT max(id) FROM observations").fetchone()[0] or 0
        )

    def append(self, rows: list[tuple[Any, ...]]) -> None:
        self.db.execute("BEGIN")
        if not self.spans.tail:
            self.db.executemany(self.insert, [_sqlite(r) for r in rows])
        else:  # row by row, for each new row's id (a duplicate has none)
            stored = [
                (row, found[0])
                for row in rows
                if (
                    found := self.db.execute(self.insert + " RETURNING id", _sqlite(row)).fetchone()
                )
            ]
            entries = tail_entries(stored, bucket_of(rows))
            self.db.executemany("INSERT INTO observation_tail VALUES (?, ?, ?, ?)", entries)
        for end, span in self.spans.due(rows):
            self._compact(end, span)
        self.db.execute("COMMIT")

    def _compact(self, end: int, span: int) -> None:
        if self.spans.real:  # after the ingest's commit, a transaction a batch, as the centre
            self.db.execute("COMMIT")
            last = self.db.execute("SELECT coalesce(max(id), 0) FROM observations").fetchone()[0]
            for mark in range(self.spans.compacted, last, BATCH):
                self.db.execute("BEGIN")
                for statement in compact_sql("sqlite"):
                    self.db.execute(statement, {"mark": mark, "upto": min(last, mark + BATCH)})
                self.db.execute("COMMIT")
            self.spans.compacted = last
            self.db.execute("BEGIN")  # the caller's COMMIT ends it
            return
        if self.spans.tail:
            taken, since = "FROM observation_tail WHERE bucket < ?", end
        else:
            taken, since = "FROM observations WHERE id > ?", self.spans.compacted
        entries = self.db.execute(f"SELECT device, type, id {taken}", (since,)).fetchall()
        made = [(span, *row) for row in spans_of(entries)]
        self.db.executemany("INSERT INTO observation_spans VALUES (?, ?, ?, ?, ?, ?)", made)
        latest = [row[1:3] + row[:1] for row in made]
        self.db.executemany("INSERT OR REPLACE INTO device_latest VALUES (?, ?, ?)", latest)
        if self.spans.tail:
            self.db.execute(f"DELETE {taken}", (since,))
        self.spans.compacted = max([self.spans.compacted] + [row[4] for row in made])

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

    def __init__(
        self,
        url: str,
        variant: str,
        settings: list[str],
        vacuum_defaults: bool = False,
        fillfactor_defaults: bool = False,
    ) -> None:
        self.db = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True)
        pg_configure(self.db, settings)
        self.db.execute(
            "DROP TABLE IF EXISTS observations, observation_tail, observation_spans, "
            "device_latest, span_watermark"
        )
        # SQLAlchemy's PostgreSQL dialect (PGDialect_psycopg) leaves its __init__ unannotated.
        dialect = postgresql_dialect.dialect()  # type: ignore[no-untyped-call]
        for statement in ddl(dialect, variant):
            self.db.execute(statement)
        if vacuum_defaults:
            made = {row[0] for row in self.db.execute("SELECT relname FROM pg_class")}
            for table in set(APPEND_ONLY) & made:
                self.db.execute(resetting(table, FREEZE_ON_INSERT))
        if fillfactor_defaults and variant == "schema":
            self.db.execute(resetting("device_latest", REWRITTEN_EACH_MINUTE))
        marks = ", ".join(["%s"] * (len(COLUMNS.split(", ")) - 1) + ["%s::jsonb"])
        self.insert = (
            f"INSERT INTO observations ({COLUMNS}) VALUES ({marks}) ON CONFLICT DO NOTHING"
        )
        self.spans = Spans(variant)

    def seed(self, rows: list[tuple[Any, ...]]) -> None:
        with self.db.cursor().copy(f"COPY observations ({COLUMNS}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        if self.spans.real:  # the history spanned, as migration 0025 leaves it
            with self.db.cursor() as cursor:
                self._compact(cursor, 0, 0)
        self.db.execute("VACUUM (FREEZE, ANALYZE) observations")  # history frozen: `later`
        self.db.execute("CHECKPOINT")
        found = self.db.execute("SELECT coalesce(max(id), 0) FROM observations").fetchone()
        self.spans.compacted = found[0] if found else 0

    def append(self, rows: list[tuple[Any, ...]]) -> None:
        with self.db.transaction(), self.db.cursor() as cursor:
            if not self.spans.tail:
                cursor.executemany(self.insert, rows)
            else:
                cursor.executemany(self.insert + " RETURNING id", rows, returning=True)
                stored = []
                for row in rows:  # a result per row: empty for a duplicate
                    found = cursor.fetchone()
                    if found is not None:
                        stored.append((row, found[0]))
                    cursor.nextset()
                cursor.executemany(
                    "INSERT INTO observation_tail VALUES (%s, %s, %s, %s)",
                    tail_entries(stored, bucket_of(rows)),
                )
            due = self.spans.due(rows)
            if not self.spans.real:
                for end, span in due:
                    self._compact(cursor, end, span)
        if self.spans.real and due:
            with self.db.cursor() as cursor:
                self._compact(cursor, 0, 0)

    def _compact(self, cursor: psycopg.Cursor[Any], end: int, span: int) -> None:
        if self.spans.real:  # a transaction a batch (`append` calls this after its commit)
            found = cursor.execute("SELECT coalesce(max(id), 0) FROM observations").fetchone()
            last = found[0] if found else 0
            for mark in range(self.spans.compacted, last, BATCH):
                with self.db.transaction():
                    for statement in compact_sql("postgresql"):
                        cursor.execute(statement, {"mark": mark, "upto": min(last, mark + BATCH)})
            self.spans.compacted = last
            return
        if self.spans.tail:
            taken, since = "FROM observation_tail WHERE bucket < %s", end
        else:
            taken, since = "FROM observations WHERE id > %s", self.spans.compacted
        entries = cursor.execute(f"SELECT device, type, id {taken}", (since,)).fetchall()
        made = [(span, *row) for row in spans_of(entries)]
        cursor.executemany("INSERT INTO observation_spans VALUES (%s, %s, %s, %s, %s, %s)", made)
        cursor.executemany(
            "INSERT INTO device_latest VALUES (%s, %s, %s) ON CONFLICT (device, type) "
            "DO UPDATE SET span = excluded.span",
            [row[1:3] + row[:1] for row in made],
        )
        if self.spans.tail:
            cursor.execute(f"DELETE {taken}", (since,))
        self.spans.compacted = max([self.spans.compacted] + [row[4] for row in made])

    def written(self) -> int:
        return sum(pg_written(self.db))

    def rewritten(self) -> dict[str, int] | None:
        """`device_latest` after the run: its size and its key's, and how many of its updates
        stayed in their page (HOT) of how many (None without the table)."""
        found = self.db.execute(
            "SELECT pg_relation_size(relid), pg_relation_size('pk_device_latest'),"
            " n_tup_hot_upd, n_tup_upd FROM pg_stat_user_tables WHERE relname = 'device_latest'"
        ).fetchone()
        if found is None:
            return None
        names = ("table_bytes", "key_bytes", "hot_updates", "updates")
        return dict(zip(names, map(int, found), strict=True))

    def later(self) -> int:
        """Bytes the anti-wraparound vacuum will write for what is stored and not frozen."""
        before = self.written()
        made = {row[0] for row in self.db.execute("SELECT relname FROM pg_class")}
        for table in sorted({"observations", *APPEND_ONLY} & made):
            self.db.execute(f"VACUUM (FREEZE) {table}")
        return self.written() - before

    def close(self) -> None:
        self.db.close()


@contextmanager
def store(
    database: str, variant: str, url: str | None, args: argparse.Namespace
) -> Iterator[Store]:
    if database == "postgresql":
        assert url is not None
        pg = PostgresStore(
            url, variant, args.pg_set, args.pg_vacuum_defaults, args.pg_fillfactor_defaults
        )
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
        later, latest = None, None
        if isinstance(target, PostgresStore):
            time.sleep(1)  # the statistics of the last commits reported
            latest = target.rewritten()
            if args.later:
                later = target.later() / readings
    return {
        "database": database,
        "variant": variant,
        "readings": readings,
        "seed_s": round(seeded_s, 1),
        "bytes_written_per_obs": round(per_obs),
        "mb_s_at_2400_obs_s": round(per_obs * 2_400 / 1e6, 2),
        "goal_met": per_obs < GOAL_BYTES_PER_OBS,
        "append_s": round(seconds, 1),
        **({} if later is None else {"later_vacuum_bytes_per_obs": round(later)}),
        **({} if latest is None else {"device_latest": latest}),
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
        "--later", action="store_true", help="PostgreSQL: measure what a later freeze writes"
    )
    parser.add_argument(
        "--pg-vacuum-defaults",
        action="store_true",
        help="PostgreSQL: the append-only tables without their autovacuum settings (before 0026)",
    )
    parser.add_argument(
        "--pg-fillfactor-defaults",
        action="store_true",
        help="PostgreSQL: device_latest's pages filled whole (before 0027)",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
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
        "append_only_autovacuum": "server defaults (before 0026)"
        if args.pg_vacuum_defaults
        else FREEZE_ON_INSERT,
        "device_latest_fillfactor": 100
        if args.pg_fillfactor_defaults
        else int(REWRITTEN_EACH_MINUTE["fillfactor"]),
    }
    save(args.out, result, args.pg_set, runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
