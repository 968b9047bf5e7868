"""Benchmark of a packed observation store: what it would write per observation, and read.

Issue 13 asks for under 2 MB/s written at 2,400 obs/s (833 bytes per observation).
`bench/store_churn.py` shows why the schema cannot get there: a row per reading and a
device-first index written at every commit cost a page per reading on SQLite (13 KB a reading in
commits of 100) and 1.5 KB even without that index on PostgreSQL. This measures the redesign the
README proposes, on the same workload (16,000 devices, readings taken up to 2 s before their
commit, in commits of 100 and of 1,000 (`--batches`)), before anyone builds it. Not the schema:

- **the log** (level 0): one row per ingest commit, its new readings packed and compressed
  (each as the store would need it back: source, receipt time, the record whole);
- **the duplicate key**, one entry per reading, time first: `(dedup_key, device)` as now, or
  (`--keys`) one integer, the reading's second and 32 bits of a hash (`compact_key`);
- **the tail**: how a device's readings younger than the last compaction are found. A table
  `(bucket, device, log_id)`, time first (1 s buckets), one entry per device a commit holds; on
  PostgreSQL also (`--pg-tails`) a GIN index on each log row's devices instead, whose pending
  list takes new entries in order and merges them into the index in bulk;
- **compaction** (level 1), each `--compact-s` of readings, in one transaction: every device's
  readings of the span moved from the log into one compressed chunk of its own, the chunks
  indexed device first (the only device-first writes: one entry per device per span), the
  span's log rows and tail entries deleted;
- or (`spans` among `--pg-tails` / `--sqlite-tails`) **no level 1**: the log is kept, and each
  `--compact-s` of readings (60 s, as the store's spans are now) gets one span row per device,
  time first, holding the ids of its readings (a reading's id its log row's id times 2^16 plus
  its place in the row) as compressed deltas, the way `observation_spans` finds a device's
  readings by their ids today. No tail and no chunks: a device's readings since the last span
  are found by reading every log row since then; older ones through the spans, one log row
  decompressed for each reading's row (`docs/store-redesign.md`, "Level 1 first, or later?").

The chunk index is seeded with `--spans` chunks per device (a day of history at 5-minute spans;
empty bodies: only the index's size matters to what new entries cost). Bytes as
`bench/store_churn.py` counts them (SQLite: this process's `write_bytes`, WAL and checkpoints;
PostgreSQL: WAL and data pages written, a CHECKPOINT at the end). Reads, per device at the end
of the run: its readings since the last compaction (tail) and its last hour (chunks and tail);
and the newest reading of each of 50 devices (a console's page of wearers). The `spans` way
seeds no history (its span rows are appended time first, whatever came before) and its last
hour is the whole run's track (under 10 minutes): `read_track_ms_per_reading` is that read's
cost per reading read.

    .venv/bin/python bench/store_packed.py [--databases sqlite,postgresql] [--devices 16000]

Writes bench/results/store-packed.json (or `--out`) with the commit measured. Not a test.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
import zlib
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import psycopg

from pipeline import postgres
from store_churn import (
    GOAL_BYTES_PER_OBS,
    T0,
    fix_record,
    no_server,
    pg_configure,
    pg_written,
    process_write_bytes,
    save,
)
from vigie.store import observations as log

RESULTS = Path(__file__).with_name("results") / "store-packed.json"
RATE = 2_400  # readings per second the simulated clock runs at
# Each database's tables. The tail is a table on SQLite; on PostgreSQL a table too (`btree`)
# or a GIN index on each log row's devices (`gin`, its pending list: entries appended, merged
# into the index in bulk).
DDL = {
    "sqlite": [
        "CREATE TABLE obs_log (id INTEGER PRIMARY KEY, bucket INTEGER NOT NULL,"
        " readings INTEGER NOT NULL, body BLOB NOT NULL)",
        "CREATE TABLE obs_tail (bucket INTEGER NOT NULL, device TEXT NOT NULL,"
        " log_id INTEGER NOT NULL, PRIMARY KEY (bucket, device, log_id)) WITHOUT ROWID",
        "CREATE TABLE obs_chunks (id INTEGER PRIMARY KEY, device TEXT NOT NULL,"
        " span_end INTEGER NOT NULL, readings INTEGER NOT NULL, body BLOB NOT NULL)",
        "CREATE INDEX ix_obs_chunks_device ON obs_chunks (device, span_end)",
    ],
    "postgresql": [
        "DROP TABLE IF EXISTS obs_log, obs_keys, obs_tail, obs_chunks, obs_spans",
        "CREATE TABLE obs_log (id BIGSERIAL PRIMARY KEY, bucket BIGINT NOT NULL,"
        " readings INTEGER NOT NULL, devices TEXT[], body BYTEA NOT NULL)",
        "CREATE TABLE obs_chunks (id BIGSERIAL PRIMARY KEY, device TEXT NOT NULL,"
        " span_end BIGINT NOT NULL, readings INTEGER NOT NULL, body BYTEA NOT NULL)",
        "CREATE INDEX ix_obs_chunks_device ON obs_chunks (device, span_end)",
    ],
}
# The duplicate key: `text`, `(dedup_key, device)` as the schema has it; `compact`, one integer,
# the reading's second then 32 bits of a hash of both (`compact_key`), time first too.
KEY_DDL = {
    "text": {
        "sqlite": "CREATE TABLE obs_keys (dedup_key TEXT NOT NULL, device TEXT NOT NULL,"
        " PRIMARY KEY (dedup_key, device)) WITHOUT ROWID",
        "postgresql": "CREATE TABLE obs_keys (dedup_key TEXT NOT NULL, device TEXT NOT NULL,"
        " PRIMARY KEY (dedup_key, device))",
    },
    "compact": {
        "sqlite": "CREATE TABLE obs_keys (k INTEGER PRIMARY KEY)",
        "postgresql": "CREATE TABLE obs_keys (k BIGINT PRIMARY KEY)",
    },
}
# No level 1: a span row per device per `--compact-s`, time first, its readings' ids.
SPANS_DDL = {
    "sqlite": "CREATE TABLE obs_spans (span_end INTEGER NOT NULL, device TEXT NOT NULL,"
    " ids BLOB NOT NULL, PRIMARY KEY (span_end, device)) WITHOUT ROWID",
    "postgresql": "CREATE TABLE obs_spans (span_end BIGINT NOT NULL, device TEXT NOT NULL,"
    " ids BYTEA NOT NULL, PRIMARY KEY (span_end, device))",
}
PLACE_BITS = 16  # a reading's id: its log row's id << 16 | its place in the row
PG_TAIL = {
    "btree": [
        "CREATE TABLE obs_tail (bucket BIGINT NOT NULL, device TEXT NOT NULL,"
        " log_id BIGINT NOT NULL, PRIMARY KEY (bucket, device, log_id))",
    ],
    "gin": ["CREATE INDEX ix_obs_log_devices ON obs_log USING gin (devices) WITH (fastupdate)"],
    "spans": ["DROP TABLE IF EXISTS obs_spans", SPANS_DDL["postgresql"]],
}


def reading(device: str, t: datetime, rng: random.Random) -> tuple[str, str, dict[str, Any]]:
    """One gateway fix as `bench/store_churn.py` makes it: (dedup key, device, what is kept)."""
    record = fix_record(device, t, rng)
    received = t + timedelta(milliseconds=80)
    row = log.row_for(record, t, received, source="teltonika")
    kept = {"source": row["source"], "received_at": received.isoformat(), "record": record}
    return row["dedup_key"], device, kept


def compact_key(dedup_key: str, device: str) -> int:
    """The reading's second (a gateway key is `seq:` + its time in ms * 8), then 32 bits of a
    hash of key and device. Two readings of one second share it once in 4 billion pairs: the
    design must then look at the stored readings of that device and second (not measured)."""
    second = int(dedup_key.removeprefix("seq:")) // 8_000
    digest = hashlib.blake2b(f"{dedup_key}\x1f{device}".encode(), digest_size=4).digest()
    return (second << 32) | int.from_bytes(digest, "big")


def pack(kept: list[Any]) -> bytes:
    return zlib.compress(json.dumps(kept, separators=(",", ":")).encode(), 1)


def pack_ids(ids: list[int]) -> bytes:
    """Increasing ids as compressed deltas."""
    deltas = [b - a for a, b in zip([0, *ids], ids, strict=False)]
    return zlib.compress(json.dumps(deltas, separators=(",", ":")).encode(), 1)


def unpack_ids(body: bytes) -> list[int]:
    ids, last = [], 0
    for delta in json.loads(zlib.decompress(body)):
        last += delta
        ids.append(last)
    return ids


class Packed(Protocol):
    """The packed store on one database, and what it wrote so far."""

    def seed(self, devices: list[str], spans: int) -> None: ...
    def append(self, rows: list[tuple[str, str, dict[str, Any]]], bucket: int) -> None: ...
    def compact(self, span_end: int, bucket: int) -> None: ...
    def recent(self, device: str, buckets: list[int]) -> int: ...
    def hour(self, device: str, span_from: int, buckets: list[int]) -> int: ...
    def latest(self, device: str, buckets: list[int]) -> dict[str, Any] | None: ...
    def written(self) -> int: ...


class _Sql:
    """What both databases run alike, through a DB-API connection with `mark` placeholders."""

    mark = "?"
    tail = "btree"
    key = "text"
    db: Any

    def _keys_new(self, rows: list[tuple[str, str, dict[str, Any]]]) -> set[tuple[str, str]]:
        """The rows' (key, device) pairs not stored before, now stored."""
        m = self.mark
        if self.key == "compact":
            by_key = {compact_key(k, d): (k, d) for k, d, _ in rows}
            values = ", ".join(f"({m})" for _ in by_key)
            found = self.db.execute(
                f"INSERT INTO obs_keys (k) VALUES {values} ON CONFLICT DO NOTHING RETURNING k",
                list(by_key),
            ).fetchall()
            return {by_key[k] for (k,) in found}
        values = ", ".join(f"({m}, {m})" for _ in rows)
        flat = [v for key, device, _ in rows for v in (key, device)]
        found = self.db.execute(
            f"INSERT INTO obs_keys (dedup_key, device) VALUES {values}"
            " ON CONFLICT DO NOTHING RETURNING dedup_key, device",
            flat,
        ).fetchall()
        return {(k, d) for k, d in found}

    def _append(self, rows: list[tuple[str, str, dict[str, Any]]], bucket: int) -> None:
        m = self.mark
        new = self._keys_new(rows)
        kept = [r for r in rows if (r[0], r[1]) in new]
        if not kept:
            return
        devices = sorted({d for _, d, _ in kept})
        body = pack([[d, k] for _, d, k in kept])
        if self.tail == "spans":
            self.db.execute(
                f"INSERT INTO obs_log (bucket, readings, body) VALUES ({m}, {m}, {m})",
                (bucket, len(kept), body),
            )
            return
        if self.tail == "gin":
            self.db.execute(
                "INSERT INTO obs_log (bucket, readings, devices, body) VALUES"
                f" ({m}, {m}, {m}, {m})",
                (bucket, len(kept), devices, body),
            )
            return
        log_id = self.db.execute(
            f"INSERT INTO obs_log (bucket, readings, body) VALUES ({m}, {m}, {m}) RETURNING id",
            (bucket, len(kept), body),
        ).fetchone()[0]
        values = ", ".join(f"({m}, {m}, {m})" for _ in devices)
        self.db.execute(
            f"INSERT INTO obs_tail (bucket, device, log_id) VALUES {values}",
            [v for d in devices for v in (bucket, d, log_id)],
        )

    def _compact(self, span_end: int, bucket: int) -> None:
        """Everything logged before `bucket` into per-device chunks ending `span_end`."""
        m = self.mark
        if self.tail == "spans":
            self._span(span_end, bucket)
            return
        last = self.db.execute(
            f"SELECT max(id) FROM obs_log WHERE bucket < {m}", (bucket,)
        ).fetchone()[0]
        if last is None:
            return
        per_device: dict[str, list[Any]] = defaultdict(list)
        for (body,) in self.db.execute(f"SELECT body FROM obs_log WHERE id <= {m}", (last,)):
            for device, kept in json.loads(zlib.decompress(body)):
                per_device[device].append(kept)
        chunks = [
            (d, span_end, len(per_device[d]), pack(per_device[d])) for d in sorted(per_device)
        ]
        self.db.cursor().executemany(
            "INSERT INTO obs_chunks (device, span_end, readings, body)"
            f" VALUES ({m}, {m}, {m}, {m})",
            chunks,
        )
        self.db.execute(f"DELETE FROM obs_log WHERE id <= {m}", (last,))
        if self.tail == "btree":
            self.db.execute(f"DELETE FROM obs_tail WHERE log_id <= {m}", (last,))

    watermark = 0  # the spans way: the last log row spanned
    _page: dict[str, Any]
    _page_of: tuple[int, int | None] | None = None  # what `_page` was read at

    def _span(self, span_end: int, bucket: int) -> None:
        """The log rows since the watermark, logged before `bucket`: one span row per device,
        its readings' ids; the log is kept."""
        m = self.mark
        ids: dict[str, list[int]] = defaultdict(list)
        last = self.watermark
        for log_id, body in self.db.execute(
            f"SELECT id, body FROM obs_log WHERE id > {m} AND bucket < {m} ORDER BY id",
            (self.watermark, bucket),
        ):
            for place, (device, _) in enumerate(json.loads(zlib.decompress(body))):
                ids[device].append(log_id << PLACE_BITS | place)
            last = log_id
        if last == self.watermark:
            return
        self.db.cursor().executemany(
            f"INSERT INTO obs_spans (span_end, device, ids) VALUES ({m}, {m}, {m})",
            [(span_end, d, pack_ids(ids[d])) for d in sorted(ids)],
        )
        self.watermark = last

    def _since_span(self) -> Iterator[tuple[str, dict[str, Any]]]:
        """Every reading in the log rows since the last span, in stored order: each row read."""
        for (body,) in self.db.execute(
            f"SELECT body FROM obs_log WHERE id > {self.mark} ORDER BY id", (self.watermark,)
        ):
            yield from json.loads(zlib.decompress(body))

    def _unspanned(self, device: str) -> list[dict[str, Any]]:
        """A device's readings in the log rows since the last span."""
        return [kept for d, kept in self._since_span() if d == device]

    def _spanned(self, device: str, span_from: int) -> list[dict[str, Any]]:
        """A device's readings through its spans from `span_from` (one seek a span, as a
        time-first key allows): each reading's log row read once."""
        m = self.mark
        last_span = self.db.execute("SELECT max(span_end) FROM obs_spans").fetchone()[0]
        if last_span is None:
            return []
        spans = list(range(span_from, last_span + 1))
        marks = ", ".join([m] * len(spans))
        ids = [
            i
            for (body,) in self.db.execute(
                f"SELECT ids FROM obs_spans WHERE device = {m} AND span_end IN ({marks})",
                (device, *spans),
            )
            for i in unpack_ids(body)
        ]
        rows = sorted({i >> PLACE_BITS for i in ids})
        if not rows:
            return []
        marks = ", ".join([m] * len(rows))
        bodies = {
            log_id: json.loads(zlib.decompress(body))
            for log_id, body in self.db.execute(
                f"SELECT id, body FROM obs_log WHERE id IN ({marks})", rows
            )
        }
        return [bodies[i >> PLACE_BITS][i & ((1 << PLACE_BITS) - 1)][1] for i in ids]

    def recent(self, device: str, buckets: list[int]) -> int:
        """A device's readings still in the log (since the last compaction): how many. One
        seek per bucket (neither database skips through an index's first column by itself)."""
        if self.tail == "spans":
            return len(self._unspanned(device))
        m = self.mark
        found = 0
        marks = ", ".join([m] * len(buckets))
        found_in: tuple[object, ...] = (device, *buckets)
        if self.tail == "gin":
            query = f"SELECT body FROM obs_log WHERE devices @> ARRAY[{m}] AND bucket >= {m}"
            found_in = (device, buckets[0])
        else:
            query = (
                "SELECT body FROM obs_log WHERE id IN (SELECT log_id FROM obs_tail"
                f" WHERE device = {m} AND bucket IN ({marks}))"
            )
        for (body,) in self.db.execute(query, found_in):
            found += sum(1 for d, _ in json.loads(zlib.decompress(body)) if d == device)
        return found

    def hour(self, device: str, span_from: int, buckets: list[int]) -> int:
        """A device's last hour: its chunks from `span_from`, then the log."""
        if self.tail == "spans":
            return len(self._spanned(device, max(span_from, 0))) + self.recent(device, buckets)
        m = self.mark
        found = 0
        for (body,) in self.db.execute(
            f"SELECT body FROM obs_chunks WHERE device = {m} AND span_end >= {m} AND readings > 0",
            (device, span_from),
        ):
            found += len(json.loads(zlib.decompress(body)))
        return found + self.recent(device, buckets)

    def latest(self, device: str, buckets: list[int]) -> dict[str, Any] | None:
        """A device's newest reading: from the newest log row it is in, else its newest chunk
        (what a console's list of wearers needs for each)."""
        if self.tail == "spans":  # a page reads the log since the last span once, for all
            m = self.mark
            newest = self.db.execute(
                f"SELECT max(id) FROM obs_log WHERE id > {m}", (self.watermark,)
            ).fetchone()[0]
            if self._page_of != (self.watermark, newest):
                self._page = dict(self._since_span())  # the newest of each device last
                self._page_of = (self.watermark, newest)
            found = self._page.get(device)
            # Not found there: `device_latest` in the store (written by each span), not here.
            return None if found is None else dict(found)
        m = self.mark
        if self.tail == "gin":
            query = f"SELECT body FROM obs_log WHERE devices @> ARRAY[{m}] ORDER BY id DESC LIMIT 1"
            found_in: tuple[object, ...] = (device,)
        else:
            marks = ", ".join([m] * len(buckets))
            query = (
                "SELECT body FROM obs_log WHERE id = (SELECT max(log_id) FROM obs_tail"
                f" WHERE device = {m} AND bucket IN ({marks}))"
            )
            found_in = (device, *buckets)
        row = self.db.execute(query, found_in).fetchone()
        if row is not None:
            mine = [kept for d, kept in json.loads(zlib.decompress(row[0])) if d == device]
            return dict(mine[-1])
        row = self.db.execute(
            f"SELECT body FROM obs_chunks WHERE device = {m} AND readings > 0"
            " ORDER BY span_end DESC LIMIT 1",
            (device,),
        ).fetchone()
        return None if row is None else dict(json.loads(zlib.decompress(row[0]))[-1])


class PackedSqlite(_Sql):
    """The centre's SQLite file (WAL, synchronous=FULL); bytes are this process's."""

    def __init__(self, folder: Path, tail: str, key: str) -> None:
        self.tail, self.key = tail, key
        self.db = sqlite3.connect(folder / "vigie.sqlite", isolation_level=None)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        spans = [SPANS_DDL["sqlite"]] if tail == "spans" else []
        for statement in [*DDL["sqlite"], KEY_DDL[key]["sqlite"], *spans]:
            self.db.execute(statement)

    def seed(self, devices: list[str], spans: int) -> None:
        if self.tail == "spans":
            return  # span rows are appended time first: history does not change their cost
        self.db.execute("BEGIN")
        self.db.executemany(
            "INSERT INTO obs_chunks (device, span_end, readings, body) VALUES (?, ?, 0, x'')",
            ((d, -s) for s in range(spans, 0, -1) for d in devices),
        )
        self.db.execute("COMMIT")
        self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def append(self, rows: list[tuple[str, str, dict[str, Any]]], bucket: int) -> None:
        self.db.execute("BEGIN")
        self._append(rows, bucket)
        self.db.execute("COMMIT")

    def compact(self, span_end: int, bucket: int) -> None:
        self.db.execute("BEGIN")
        self._compact(span_end, bucket)
        self.db.execute("COMMIT")

    def written(self) -> int:
        return process_write_bytes()


class PackedPostgres(_Sql):
    """A PostgreSQL server of the run's own; bytes are its WAL and data pages written."""

    mark = "%s"

    def __init__(self, url: str, settings: list[str], tail: str, key: str) -> None:
        self.tail, self.key = tail, key
        self.db = psycopg.connect(url.replace("postgresql+psycopg", "postgresql"), autocommit=True)
        pg_configure(self.db, settings)
        self.wal = self.pages = 0
        for statement in [*DDL["postgresql"], KEY_DDL[key]["postgresql"], *PG_TAIL[tail]]:
            self.db.execute(statement)

    def seed(self, devices: list[str], spans: int) -> None:
        if self.tail == "spans":
            return  # span rows are appended time first: history does not change their cost
        with self.db.cursor().copy(
            "COPY obs_chunks (device, span_end, readings, body) FROM STDIN"
        ) as copy:
            for s in range(spans, 0, -1):
                for d in devices:
                    copy.write_row((d, -s, 0, b""))
        self.db.execute("VACUUM ANALYZE obs_chunks")
        self.db.execute("CHECKPOINT")

    def append(self, rows: list[tuple[str, str, dict[str, Any]]], bucket: int) -> None:
        with self.db.transaction():
            self._append(rows, bucket)

    def compact(self, span_end: int, bucket: int) -> None:
        with self.db.transaction():
            self._compact(span_end, bucket)

    def written(self) -> int:
        self.wal, self.pages = pg_written(self.db)  # the parts, for the figures
        return self.wal + self.pages


@contextmanager
def packed(
    database: str, url: str | None, settings: list[str], tail: str, key: str
) -> Iterator[Packed]:
    if database == "postgresql":
        assert url is not None
        pg = PackedPostgres(url, settings, tail, key)
        try:
            yield pg
        finally:
            pg.db.close()
        return
    with tempfile.TemporaryDirectory(prefix="vigie-packed-") as folder:
        lite = PackedSqlite(Path(folder), tail, key)
        try:
            yield lite
        finally:
            lite.db.close()


def run(
    database: str, url: str | None, args: argparse.Namespace, batch: int, tail: str, key: str
) -> dict[str, Any]:
    rng = random.Random(13)
    names = [f"T{n:06d}" for n in range(args.devices)]
    with packed(database, url, args.pg_set, tail, key) as store:
        began = time.perf_counter()
        store.seed(names, args.spans)
        seeded_s = time.perf_counter() - began
        now, span, compactions = T0, 0, 0
        before, began = store.written(), time.perf_counter()
        wal = getattr(store, "wal", 0)
        for _ in range(args.readings // batch):
            now += timedelta(seconds=batch / RATE)
            seconds = (now - T0).total_seconds()
            if seconds // args.compact_s > span:
                span = int(seconds // args.compact_s)
                store.compact(span, int(seconds // args.bucket_s))
                compactions += 1
            store.append(
                [
                    reading(names[d], now - timedelta(seconds=2 * rng.random()), rng)
                    for d in rng.sample(range(args.devices), batch)
                ],
                int(seconds // args.bucket_s),
            )
        append_s = time.perf_counter() - began
        per_obs = (store.written() - before) / args.readings
        wal = (getattr(store, "wal", 0) - wal) / args.readings
        # Reads, after the run: the tail since the last compaction, and the last hour.
        since = int(span * args.compact_s // args.bucket_s)
        buckets = list(range(since, int((now - T0).total_seconds() // args.bucket_s) + 1))
        hour_from = span - int(3600 // args.compact_s)
        sample = rng.sample(names, 200)
        recent_ms, hour_ms, counted, tracked = [], [], 0, 0
        for device in sample:
            t = time.perf_counter()
            counted += store.recent(device, buckets)
            recent_ms.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            tracked += store.hour(device, hour_from, buckets)
            hour_ms.append((time.perf_counter() - t) * 1000)
        # A console page of 50 wearers, each one's newest reading.
        page_ms, newest = [], 0
        for page in range(4):
            t = time.perf_counter()
            newest += sum(store.latest(d, buckets) is not None for d in sample[page * 50 :][:50])
            page_ms.append((time.perf_counter() - t) * 1000)
    figures = {
        "database": database,
        "tail": tail,
        "key": key,
        "batch": batch,
        "readings": args.readings,
        "compactions": compactions,
        "seed_s": round(seeded_s, 1),
        "bytes_written_per_obs": round(per_obs),
        "mb_s_at_2400_obs_s": round(per_obs * RATE / 1e6, 2),
        "goal_met": per_obs < GOAL_BYTES_PER_OBS,
        "append_s": round(append_s, 1),
        "read_recent_ms_median": round(statistics.median(recent_ms), 2),
        "read_recent_ms_max": round(max(recent_ms), 2),
        "read_hour_ms_median": round(statistics.median(hour_ms), 2),
        "read_hour_ms_max": round(max(hour_ms), 2),
        "recent_readings_read": counted,
        "hour_readings_read": tracked,
        "read_track_ms_per_reading": round(sum(hour_ms) / max(tracked, 1), 4),
        "read_latest_of_50_ms_median": round(statistics.median(page_ms), 1),
        "read_latest_of_50_ms_max": round(max(page_ms), 1),
        "latest_found_of_200": newest,
    }
    if database == "postgresql":
        figures["wal_bytes_per_obs"] = round(wal)
    return figures


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--devices", type=int, default=16_000)
    parser.add_argument("--spans", type=int, default=288, help="chunks seeded per device")
    parser.add_argument(
        "--readings", type=int, default=1_400_000, help="appended (9.7 min: a near-full tail)"
    )
    parser.add_argument("--batches", default="100,1000", help="readings per commit, each run")
    parser.add_argument("--keys", default="text,compact", help="duplicate keys, each run")
    parser.add_argument(
        "--pg-tails", default="btree,gin", help="PostgreSQL's tails (btree, gin, spans), each run"
    )
    parser.add_argument(
        "--sqlite-tails", default="btree", help="SQLite's tails (btree, spans), each run"
    )
    parser.add_argument("--bucket-s", type=float, default=1.0, help="the tail's buckets")
    parser.add_argument("--compact-s", type=float, default=300.0, help="seconds of readings")
    parser.add_argument(
        "--pg-set", action="append", default=[], help="a PostgreSQL setting, name=value"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    runs = []
    for database in args.databases.split(","):
        with postgres() if database == "postgresql" else no_server() as url:
            tails = (args.pg_tails if database == "postgresql" else args.sqlite_tails).split(",")
            for tail, key, batch in [
                (t, k, int(b))
                for t in tails
                for k in args.keys.split(",")
                for b in args.batches.split(",")
            ]:
                figures = run(database, url, args, batch, tail, key)
                print(
                    f"{database:10s} tail {tail:5s} key {key:7s} commits of {batch:5d}:"
                    f" {figures['bytes_written_per_obs']:6d}"
                    f" bytes/obs ({figures['mb_s_at_2400_obs_s']} MB/s at 2,400 obs/s), reads:"
                    f" recent {figures['read_recent_ms_median']} ms, last hour"
                    f" {figures['read_hour_ms_median']} ms",
                    flush=True,
                )
                runs.append(figures)
    result = {
        "benchmark": "a packed observation store (a redesign, not the schema): bytes per reading",
        "devices": args.devices,
        "spans_seeded_per_device": args.spans,
        "bucket_s": args.bucket_s,
        "compact_s": args.compact_s,
    }
    save(args.out, result, args.pg_set, runs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
