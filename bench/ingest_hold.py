"""How long one big ingest holds the writer: the batch's rows made ready inside the transaction
(a list handed to `observations.append`, the way before) against before it (`prepare`).

On SQLite every detection step and every other ingest waits while an ingest holds the writer;
on PostgreSQL an ordered ingest holds the order lock from its ids to its commit. Measured
in-process on a migrated store: batches of 1,000, 5,000 and 20,000 position fixes (the API's
largest) over 16,000 devices, each way in turn on fresh keys, `--repeat` times; the median time
from taking the writer (opening the transaction) to the commit, and what `prepare` took before
it. Prints figures and writes bench/results/ingest-hold.json. Not a test.

    .venv/bin/python bench/ingest_hold.py [--databases sqlite,postgresql] [--repeat 5]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline import commit, postgres
from vigie.store import Database, open_database
from vigie.store import observations as log
from vigie.store.schema import upgrade

RESULTS = Path(__file__).parent / "results" / "ingest-hold.json"
SIZES = (1_000, 5_000, 20_000)
DEVICES = 16_000
NOW = datetime(2026, 12, 4, 12, tzinfo=UTC)


def batch(first_seq: int, size: int) -> list[dict[str, Any]]:
    """`size` fixes with fresh sequence numbers, as the API makes its rows."""
    rows = []
    for i in range(size):
        at = NOW - timedelta(seconds=size - i)
        record = {
            "kind": "obs",
            "device": f"D{i % DEVICES}",
            "seq": first_seq + i,
            "t": at.isoformat().replace("+00:00", "Z"),
            "type": "position",
            "lat": 43.0 + i * 1e-6,
            "lon": 1.0,
            "accuracy_m": 5.0,
        }
        rows.append(log.row_for(record, at, NOW, source="api:bench"))
    return rows


def held(db: Database, rows: list[dict[str, Any]], prepared: bool) -> tuple[float, float]:
    """(ms preparing before the writer, ms holding it) of one batch."""
    began = time.perf_counter()
    ready = log.prepare(rows, db.engine.dialect) if prepared else None
    taken = time.perf_counter()
    with db.session() as session:
        accepted = log.append(session, ready if ready is not None else rows)
    done = time.perf_counter()
    assert len(accepted.ids) == len(rows)
    return (taken - began) * 1000, (done - taken) * 1000


def measure(db: Database, repeat: int) -> list[dict[str, Any]]:
    out = []
    seq = 0
    for size in SIZES:
        ways: dict[str, list[tuple[float, float]]] = {"inside": [], "prepared": []}
        for _ in range(repeat):
            for way in ways:  # in turn: both see the same table size and host load
                seq += size
                ways[way].append(held(db, batch(seq, size), way == "prepared"))
        inside = statistics.median(h for _, h in ways["inside"])
        prepared = statistics.median(h for _, h in ways["prepared"])
        out.append(
            {
                "batch": size,
                "held_ms_made_inside": round(inside, 1),
                "held_ms_prepared": round(prepared, 1),
                "prepare_ms": round(statistics.median(p for p, _ in ways["prepared"]), 1),
                "held_ratio": round(inside / prepared, 2),
            }
        )
        print(
            f"  {size:>6,} readings: writer held {inside:.0f} ms made inside, "
            f"{prepared:.0f} ms prepared before ({inside / prepared:.1f}x less)"
        )
    return out


@contextmanager
def sqlite_url() -> Iterator[str]:
    """The URL of a SQLite file in a folder of its own, removed after."""
    with tempfile.TemporaryDirectory(prefix="vigie-bench-hold-") as root:
        yield f"sqlite:///{root}/centre.db"


@contextmanager
def store(kind: str) -> Iterator[Database]:
    """A migrated, empty store of `kind`."""
    with postgres() if kind == "postgresql" else sqlite_url() as url:
        upgrade(url)
        db = open_database(url)
        try:
            yield db
        finally:
            db.dispose()


def main(argv: list[str]) -> int:
    """Run the benchmark and write its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args(argv)
    runs = {}
    for kind in args.databases.split(","):
        print(kind)
        with store(kind) as db:
            runs[kind] = measure(db, args.repeat)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "how long one ingest holds the writer",
                "repeat": args.repeat,
                "runs": runs,
                "commit": commit(),
                "load_average": os.getloadavg(),
            },
            indent=2,
        )
        + "\n"
    )
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
