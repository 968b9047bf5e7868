"""Benchmark of PostgreSQL's observation rows trimmed in place: how far below the schema's bytes
a row per reading can go, before anyone rebuilds the store as a packed log.

`docs/store-redesign.md` estimated that a compact duplicate key and a leaner row would bring
the pipeline's 1,033-1,139 bytes an observation to about 810-950, "at the goal at best". This
measures it, with the schema as migrated (`vigie.store.schema.upgrade`) and each variant's
changes made on it:

- `schema`: as migrated;
- `seq_key`: the duplicate key `(seq, device)` for readings with a sequence number (every
  gateway reading: its number is its time, `gateway.readings.sequence`) and `(dedup_key,
  device)` for the others and for conflict rows, two partial unique indexes: the same
  duplicates and conflicts found as now, exactly (no hash: nothing to collide);
- `seq_key_null_text`: that, and a sequenced reading's `dedup_key` left NULL (it repeats
  `seq:` and the number);
- `no_pk_brin`: the primary key's b-tree replaced by a BRIN index on `id` (ids only grow);
- `seq_key_brin`: both;
- `lean`: `seq_key_null_text` and `no_pk_brin`, the table's columns reordered so that no
  padding is left between them (fixed-width first);
- `schema_after_purge`: the schema, the history's older half deleted and vacuumed before the
  appends (a centre at its steady state under the retention purge: see `PURGED`).

Workload as the pipeline's ingest writes it: `--history` readings stored and frozen, then
`--readings` appended in commits of `--batch`, each commit taking its ids first and COPYing its
rows (`store.observations._copy_insert`), 16,000 devices at random, gateway sequence numbers.
Bytes: WAL and data pages written, the closing CHECKPOINT counted, per reading appended.
Reads: a device's track of `--track` stored readings fetched by their ids in one query, as
the spans' reads do (`store.spans`), median of 50 devices.

    .venv/bin/python bench/store_row_trims.py [--variants schema,lean] [--out FILE]

Writes bench/results/store-row-trims.json with the commit measured. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg

from pipeline import commit, postgres
from vigie.store.schema import upgrade

RESULTS = Path(__file__).with_name("results") / "store-row-trims.json"
COLUMNS = (
    "source, conflict_of, device, seq, dedup_key, t, received_at, type, lat, lon, accuracy_m, "
    "payload"
)
T0 = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
RATE = 2_400  # readings a second: their times, and so their sequence numbers
SEQ_KEY = [
    "DROP INDEX uq_observations_key",
    "CREATE UNIQUE INDEX uq_observations_seq ON observations (seq, device)"
    " WHERE seq IS NOT NULL AND conflict_of IS NULL",
    "CREATE UNIQUE INDEX uq_observations_key ON observations (dedup_key, device)"
    " WHERE seq IS NULL OR conflict_of IS NOT NULL",
]
BRIN = [
    "ALTER TABLE quarantined_observations"
    " DROP CONSTRAINT fk_quarantined_observations_observation_id_observations",
    "ALTER TABLE observations DROP CONSTRAINT pk_observations",
    "CREATE INDEX ix_observations_id ON observations USING brin (id)",
]
LEAN_TABLE = [
    "ALTER TABLE quarantined_observations"
    " DROP CONSTRAINT fk_quarantined_observations_observation_id_observations",
    "DROP TABLE observations",
    "CREATE TABLE observations (id bigserial NOT NULL, seq bigint, t timestamptz NOT NULL,"
    " received_at timestamptz NOT NULL, lat float8, lon float8, accuracy_m float8,"
    " conflict_of bigint, device varchar(64) NOT NULL, dedup_key varchar(64),"
    " type varchar(20) NOT NULL, source varchar(80), payload jsonb NOT NULL)"
    " WITH (autovacuum_freeze_min_age = 0, autovacuum_vacuum_insert_threshold = 100000,"
    " autovacuum_vacuum_insert_scale_factor = 0)",  # the schema's (migration 0026)
    "CREATE INDEX ix_observations_id ON observations USING brin (id)",
    *SEQ_KEY[1:],
]
VARIANTS: dict[str, list[str]] = {
    "schema": [],
    "seq_key": SEQ_KEY,
    "seq_key_null_text": [*SEQ_KEY, "ALTER TABLE observations ALTER dedup_key DROP NOT NULL"],
    "no_pk_brin": BRIN,
    "seq_key_brin": BRIN + SEQ_KEY,
    "lean": LEAN_TABLE,
    "schema_after_purge": [],
}
NULL_TEXT = {"seq_key_null_text", "lean"}
# The history's older half deleted before the appends, as the retention purge deletes the fixes
# older than its cutoff (`store.observations.purge_locations`), then vacuumed: a centre at its
# steady state, whose new readings fill the pages its old ones left, where a growing table
# takes new pages (PostgreSQL 15 writes each twice: zeros to extend the file, then its rows).
PURGED = {"schema_after_purge"}


def written(db: psycopg.Connection[Any]) -> int:
    """WAL and data pages written so far (`bench/pipeline.py`'s count)."""
    found = db.execute(
        "SELECT (SELECT wal_bytes FROM pg_stat_wal) + (buffers_clean + buffers_backend"
        " + buffers_checkpoint) * current_setting('block_size')::bigint FROM pg_stat_bgwriter"
    ).fetchone()
    assert found is not None
    return int(found[0])


def checkpoint(db: psycopg.Connection[Any]) -> None:
    """A CHECKPOINT, returned from once the checkpointer has reported it."""
    before = db.execute("SELECT checkpoints_req FROM pg_stat_bgwriter").fetchone()
    db.execute("CHECKPOINT")
    for _ in range(200):
        db.execute("SELECT pg_stat_clear_snapshot()")
        if db.execute("SELECT checkpoints_req FROM pg_stat_bgwriter").fetchone() != before:
            break
        time.sleep(0.05)
    time.sleep(0.5)  # its buffers' count is reported with the same message, but be sure


def readings(
    count: int, start: datetime, devices: int, rng: random.Random, null_text: bool
) -> Iterator[tuple[Any, ...]]:
    """Gateway fixes of random devices, `RATE` a second from `start`: rows in `COLUMNS` order."""
    for i in range(count):
        t = start + timedelta(microseconds=i * 1_000_000 // RATE)
        seq = int(t.timestamp() * 1000) * 8 * 1000 + i % 1000  # unique: ms * 8 leaves room
        received = t + timedelta(seconds=1)
        key = None if null_text else f"seq:{seq}"
        lat, lon = 43.6 + rng.random() * 0.1, 1.4 + rng.random() * 0.1
        device = f"D{rng.randrange(devices):05d}"
        yield ("teltonika", None, device, seq, key, t, received, "position", lat, lon, 8.0, "{}")


def run(variant: str, args: argparse.Namespace) -> dict[str, Any]:
    rng = random.Random(7)
    null_text = variant in NULL_TEXT
    with postgres() as url:
        upgrade(url)
        with psycopg.connect(
            url.replace("postgresql+psycopg", "postgresql"), autocommit=True
        ) as db:
            for statement in VARIANTS[variant]:
                db.execute(statement)
            history_start = T0 - timedelta(seconds=args.history / RATE + 60)
            with db.cursor().copy(f"COPY observations ({COLUMNS}) FROM STDIN") as copy:
                for row in readings(args.history, history_start, args.devices, rng, null_text):
                    copy.write_row(row)
            db.execute("VACUUM (FREEZE, ANALYZE) observations")
            if variant in PURGED:
                db.execute("DELETE FROM observations WHERE id <= %s", (args.history // 2,))
                # The second vacuum recycles the index pages the first one deleted.
                db.execute("VACUUM (FREEZE, ANALYZE) observations")
                db.execute("VACUUM (FREEZE, ANALYZE) observations")
            checkpoint(db)
            before = written(db)
            found = db.execute("SELECT pg_get_serial_sequence('observations', 'id')").fetchone()
            assert found is not None
            ids_sql = f"SELECT nextval('{found[0]}') FROM generate_series(1, %s)"
            rows = list(readings(args.readings, T0, args.devices, rng, null_text))
            began = time.perf_counter()
            for k in range(0, len(rows), args.batch):
                part = rows[k : k + args.batch]
                with db.transaction():
                    db.execute("SELECT pg_current_xact_id(), pg_advisory_xact_lock(7420001)")
                    ids = [r[0] for r in db.execute(ids_sql, (len(part),)).fetchall()]
                    with db.cursor().copy(f"COPY observations (id, {COLUMNS}) FROM STDIN") as copy:
                        for row_id, row in zip(ids, part, strict=True):
                            copy.write_row((row_id, *row))
            seconds = time.perf_counter() - began
            checkpoint(db)
            total = written(db) - before
            reads = track_reads(db, args)
            sizes: dict[str, int] = dict(
                db.execute(
                    "SELECT relname, pg_relation_size(oid) FROM pg_class"
                    " WHERE relname LIKE '%observations%' AND relkind IN ('r', 'i')"
                    " AND relname NOT LIKE '%quarantined%'"
                ).fetchall()
            )
    return {
        "variant": variant,
        "bytes_per_reading": round(total / args.readings),
        "append_s": round(seconds, 1),
        "track_read_ms_median": reads,
        "relation_bytes": sizes,
    }


def track_reads(db: psycopg.Connection[Any], args: argparse.Namespace) -> float:
    """Median ms to fetch a device's stored readings by their ids, as the spans' reads do."""
    times = []
    for n in range(50):
        device = f"D{n * 97 % args.devices:05d}"
        ids = [r[0] for r in db.execute("SELECT id FROM observations WHERE device = %s", (device,))]
        ids = ids[: args.track]
        began = time.perf_counter()
        got = db.execute("SELECT id, lat, lon FROM observations WHERE id = ANY(%s)", (ids,))
        assert len(got.fetchall()) == len(ids)
        times.append((time.perf_counter() - began) * 1000)
    return round(statistics.median(times), 2)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument("--devices", type=int, default=16_000)
    parser.add_argument("--history", type=int, default=1_000_000, help="readings stored first")
    parser.add_argument("--readings", type=int, default=144_000, help="appended (60 s at 2,400)")
    parser.add_argument("--batch", type=int, default=100, help="readings a commit")
    parser.add_argument("--track", type=int, default=60, help="a device's readings read by id")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    runs = []
    for variant in args.variants.split(","):
        found = run(variant, args)
        runs.append(found)
        print(
            f"{variant:>18}: {found['bytes_per_reading']:>5} bytes a reading, a track of "
            f"{args.track} read by id in {found['track_read_ms_median']} ms (median)",
            flush=True,
        )
    result = {
        "benchmark": "PostgreSQL's observation rows trimmed in place: bytes a reading, reads",
        "commit": commit(),
        "devices": args.devices,
        "history": args.history,
        "readings": args.readings,
        "batch": args.batch,
        "runs": runs,
        "load_average": os.getloadavg(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
