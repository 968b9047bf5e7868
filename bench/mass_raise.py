"""A mass event: how long a detection step takes to raise, or audit, thousands of things at once.

A centre-wide event (a network down, every home unit of a region silent) raises an alarm for
each case in one detection step, and every operator waits for that step. Measured in-process
on a migrated store: `episodes.fold` of 2,000 and 20,000 `raised` events of new cases (their
events stored, their alarms inserted, the events tied to them), against a baseline run in turn
on the same store: the ORM's unit of work inserting the same alarms alone (objects added and
flushed, the way `fold` inserted them before 2026-12-07). And the audit of a step that refuses
that many placements (each refusal an entry): `audit.record_many` of 1, 2,000 and 20,000
entries, against the way it appended them before 2026-12-08 (each entry hashed, then ORM
objects added and flushed) in turn. The median of `--repeat` runs (of 250 for one entry);
prints figures and writes bench/results/mass-raise.json. Not a test.

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
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, cast

from sqlalchemy import Table, update

from ingest_hold import store
from pipeline import calibrate, commit
from vigie import clock
from vigie.alarms import episodes
from vigie.store import Database, audit
from vigie.store.models import Alarm, AuditEntry, AuditHead

RESULTS = Path(__file__).parent / "results" / "mass-raise.json"
SIZES = (2_000, 20_000)
AUDIT_SIZES = (1, 2_000, 20_000)
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


def refusals(size: int) -> list[audit.Act]:
    """What a step refusing `size` placements audits."""
    run = next(_runs)
    return [
        ("pipeline", "placement_refused", f"case:R{run}-{n}", {"reason": "no device", "n": n})
        for n in range(size)
    ]


def appended(db: Database, size: int) -> float:
    """Seconds `audit.record_many` takes to append `size` entries."""
    acts = refusals(size)
    with db.session() as session:
        began = time.perf_counter()
        entries = audit.record_many(session, acts)
        took = time.perf_counter() - began
    assert len(entries) == size
    return took


def orm_appended(db: Database, size: int) -> float:
    """Seconds the same entries took as `record_many` appended them before: the head taken,
    each entry hashed in turn, ORM objects added, the head set, the session flushed."""
    acts = refusals(size)
    head = cast(Table, AuditHead.__table__)
    with db.session() as session:
        began = time.perf_counter()
        taken = update(head).where(head.c.id == 1).values(last_hash=head.c.last_hash)
        if db.is_sqlite:
            prev_hash = session.execute(taken.returning(head.c.last_hash)).scalar_one()
        else:
            limit = audit._limit_idle(size)  # the same statement as before
            prev_hash = session.execute(taken.returning(head.c.last_hash, limit)).one()[0]
        at, entries = clock.now(), []
        for actor, action, target, detail in acts:
            said = json.loads(json.dumps(detail or {}, default=str))
            digest = audit.entry_hash(prev_hash, at, actor, action, target, said)
            entries.append(
                AuditEntry(
                    at=at,
                    actor=actor,
                    action=action,
                    target=target,
                    detail=said,
                    prev_hash=prev_hash,
                    hash=digest,
                )
            )
            prev_hash = digest
        session.add_all(entries)
        session.execute(update(head).where(head.c.id == 1).values(last_hash=prev_hash))
        session.flush()
        took = time.perf_counter() - began
    assert all(entry.id for entry in entries)
    return took


def in_turn(
    new: Callable[[Database, int], float],
    old: Callable[[Database, int], float],
    db: Database,
    size: int,
    runs: int,
) -> tuple[float, float]:
    """Medians of `runs` runs of each way, in turn: both see the same table size and load."""
    new_s, old_s = [], []
    for _ in range(runs):
        new_s.append(new(db, size))
        old_s.append(old(db, size))
    return statistics.median(new_s), statistics.median(old_s)


def measure_audit(db: Database, repeat: int) -> list[dict[str, Any]]:
    out = []
    for size in AUDIT_SIZES:
        new, orm = in_turn(appended, orm_appended, db, size, repeat if size > 1 else 250)
        out.append(
            {
                "entries": size,
                "record_many_s": round(new, 5),
                "orm_as_before_s": round(orm, 5),
                "ratio": round(orm / new, 2),
            }
        )
        print(
            f"  {size:>6,} audit entries: record_many {new * 1000:.2f} ms, as before "
            f"{orm * 1000:.2f} ms ({orm / new:.1f}x)"
        )
    return out


def measure(db: Database, repeat: int) -> list[dict[str, Any]]:
    out = []
    for size in SIZES:
        fold, flush = in_turn(folded, flushed, db, size, repeat)
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
    runs, audits = {}, {}
    for kind in args.databases.split(","):
        print(kind)
        with store(kind) as db:
            runs[kind] = measure(db, args.repeat)
            audits[kind] = measure_audit(db, args.repeat)
    RESULTS.write_text(
        json.dumps(
            {
                "benchmark": "alarms raised at once by one fold",
                "repeat": args.repeat,
                "runs": runs,
                "audit": audits,
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
