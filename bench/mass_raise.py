"""A mass event: how long the detection step's fold takes to raise thousands of alarms at once.

A centre-wide event (a network down, every home unit of a region silent) raises an alarm for
each case in one detection step, and every operator waits for that step. Measured in-process
on a migrated store: `episodes.fold` of 2,000 and 20,000 `raised` events of new cases (their
events stored, their alarms inserted, the events tied to them), against a baseline run in turn
on the same store: the ORM's unit of work inserting the same alarms alone (objects added and
flushed, the way `fold` inserted them before 2026-12-07). The median of `--repeat` runs; prints
figures and writes bench/results/mass-raise.json. Not a test.

    .venv/bin/python bench/mass_raise.py [--databases sqlite,postgresql] [--repeat 3]
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import statistics
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ingest_hold import store
from pipeline import calibrate, commit
from vigie.alarms import episodes
from vigie.store import Database
from vigie.store.models import Alarm

RESULTS = Path(__file__).parent / "results" / "mass-raise.json"
SIZES = (2_000, 20_000)
NOW = datetime(2026, 12, 7, 20, tzinfo=UTC)
_runs = itertools.count()


def raised(size: int) -> list[dict[str, Any]]:
    """`size` tamper raises of cases never seen before."""
    run = next(_runs)
    return [
        {
            "t": NOW,
            "case": f"R{run}-{n}",
            "kind": "tamper",
            "state": "raised",
            "device": f"B{n}",
            "detail": {"what": "strap_open"},
        }
        for n in range(size)
    ]


def folded(db: Database, size: int) -> float:
    """Seconds `fold` takes to raise `size` alarms, to its return."""
    events = raised(size)
    with db.session() as session:
        began = time.perf_counter()
        opened = episodes.fold(session, events, NOW)
        took = time.perf_counter() - began
    assert len(opened) == size
    return took


def flushed(db: Database, size: int) -> float:
    """Seconds the ORM's unit of work takes to insert `size` alarms alone."""
    events = raised(size)
    with db.session() as session:
        began = time.perf_counter()
        alarms = [
            Alarm(
                case_ref=e["case"],
                partition=0,
                kind=e["kind"],
                device=e["device"],
                priority=1,
                status="open",
                raised_at=e["t"],
                opened_at=NOW,
                last_event_at=e["t"],
                event_count=1,
                detail=e["detail"],
            )
            for e in events
        ]
        session.add_all(alarms)
        session.flush()
        took = time.perf_counter() - began
    assert all(alarm.id for alarm in alarms)
    return took


def measure(db: Database, repeat: int) -> list[dict[str, Any]]:
    out = []
    for size in SIZES:
        fold_s, flush_s = [], []
        for _ in range(repeat):  # in turn: both see the same table size and host load
            fold_s.append(folded(db, size))
            flush_s.append(flushed(db, size))
        fold, flush = statistics.median(fold_s), statistics.median(flush_s)
        out.append(
            {
                "alarms": size,
                "fold_s": round(fold, 3),
                "orm_flush_of_the_alarms_alone_s": round(flush, 3),
                "ratio": round(flush / fold, 2),
            }
        )
        print(
            f"  {size:>6,} alarms: fold {fold:.2f} s, the ORM's flush of the alarms alone "
            f"{flush:.2f} s ({flush / fold:.1f}x)"
        )
    return out


def main(argv: list[str]) -> int:
    """Run the benchmark and write its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args(argv)
    runs = {}
    for kind in args.databases.split(","):
        print(kind)
        with store(kind) as db:
            runs[kind] = measure(db, args.repeat)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "alarms raised at once by one fold",
                "repeat": args.repeat,
                "runs": runs,
                "commit": commit(),
                "calibration_ms": calibrate(),
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
