"""Benchmark of what a detection step's own statements cost, each against its former way.

- `fence`: the row a step locks first (`vigie.store.engine_state.fence`), read whole with its
  checkpoint (a `--snapshot-kb` engine, the size of 16,000 cases'), its statement built at each
  call, as every step did before commit b8df587, against read without it, as now.
- `burst`: a step that opens `--alarms` alarms at once (a power cut over a region, a detector
  catching up after a restart), each with a `locate` command and a rate change, as
  `PartitionStep.step` writes them: one alarm at a time (each event folded, each command queued
  and audited by a call of its own, as the step did before commit d560b00: today's functions,
  which for one alarm make the round trips the former ones made) against all in one call
  (`episodes.fold`, `reporting.ask_fixes` and `command_queue.queue_many` as now). With one
  alarm both ways are the same calls: their difference is the run's noise.
- `limit_idle`: a step's transaction that only fences its row, without and with the statement
  (`engine_state.limit_idle`, commit 8329dcc) that has PostgreSQL end it if it sits idle once
  it comes to the locks the centre shares: the round trip a step that may take them pays (one
  with no event, command, audit or periodic work pays none; on SQLite the call makes none).

Both ways run in the same process, on the same database, in turns; milliseconds per step
(median of `--repeat`) and the ratio.

    .venv/bin/python bench/step_writes.py [--databases sqlite,postgresql] [--alarms 1,10,100]

Writes bench/results/step-writes.json with the commit measured. Not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from pipeline import commit, postgres
from vigie.alarms import episodes
from vigie.alarms.reporting import ask_fixes
from vigie.gateway import command_queue
from vigie.store import Database, engine_state, open_database
from vigie.store.models import Device, EngineState
from vigie.store.schema import upgrade

RESULTS = Path(__file__).with_name("results") / "step-writes.json"
T0 = datetime(2026, 12, 3, 10, tzinfo=UTC)


@contextmanager
def database(kind: str) -> Iterator[str]:
    """A migrated, empty store of `kind`: a SQLite file, or a PostgreSQL server of its own."""
    if kind == "postgresql":
        with postgres() as url:
            upgrade(url)
            yield url
    else:
        with tempfile.TemporaryDirectory(prefix="vigie-bench-") as folder:
            url = f"sqlite:///{Path(folder) / 'vigie.sqlite'}"
            upgrade(url)
            yield url


def timed(step: Callable[[], Any], repeat: int) -> float:
    """Median milliseconds of `step` over `repeat` calls."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        step()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def fence_costs(db: Database, snapshot_kb: int, repeat: int) -> dict[str, float]:
    """A step's fence with the engine's checkpoint read along, then without (now)."""
    with db.session() as session:
        engine_state.fence(session, 0, None).snapshot = os.urandom(snapshot_kb * 1024)

    def before() -> None:  # the fence of b2c638a, its statement built at each call as it was
        whole = (
            select(EngineState)
            .where(EngineState.partition == 0)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        with db.session() as session:
            session.scalars(whole).first()

    def now() -> None:
        with db.session() as session:
            engine_state.fence(session, 0, None)

    # Untimed once each (caches, plans), then in turns.
    before()
    now()
    was, is_ = timed(before, repeat), timed(now, repeat)
    return {"before_ms": round(was, 2), "now_ms": round(is_, 2), "ratio": round(was / is_, 2)}


def limit_costs(db: Database, repeat: int) -> dict[str, float]:
    """A step's transaction fencing its row, without then with `engine_state.limit_idle`."""

    def before() -> None:
        with db.session() as session:
            engine_state.fence(session, 0, None)

    def now() -> None:
        with db.session() as session:
            engine_state.fence(session, 0, None)
            engine_state.limit_idle(session)

    before()
    now()
    was, is_ = timed(before, repeat), timed(now, repeat)
    return {"before_ms": round(was, 3), "now_ms": round(is_, 3), "ratio": round(was / is_, 2)}


def events(n: int, step: int) -> list[dict[str, Any]]:
    """`n` zone entries of as many cases, each raising its alarm (a step's worth)."""
    t = T0 + timedelta(minutes=step)
    return [
        {
            "t": t,
            "case": f"C{step}-{i}",
            "kind": "zone_entry",
            "state": "raised",
            "device": f"B{i}",
            "detail": {"zone": "Z1", "lat": 48.85, "lon": 2.35},
        }
        for i in range(n)
    ]


def write_one_by_one(session: Session, found: list[dict[str, Any]]) -> None:
    """The former way: an event folded, then its commands queued, each by a call of its own."""
    for event in found:
        (alarm,) = episodes.fold(session, [event], T0)
        ask_fixes(session, [(event["device"], 0, "breach")], T0)
        command_queue.queue(
            session,
            event["device"],
            "report_every",
            {"seconds": 15},
            "pipeline",
            T0,
            reason=f"alarm {alarm.id} open",
            alarm_id=alarm.id,
        )


def write_together(session: Session, found: list[dict[str, Any]]) -> None:
    """The way now: the step's events folded at once, its commands queued at once."""
    opened = episodes.fold(session, found, T0)
    ask_fixes(session, [(e["device"], 0, "breach") for e in found], T0)
    command_queue.queue_many(
        session,
        [
            command_queue.Wanted(
                a.device, "report_every", {"seconds": 15}, f"alarm {a.id} open", a.id
            )
            for a in opened
        ],
        "pipeline",
        T0,
    )


class Undone(Exception):
    """Ends a benchmark's step by rolling its transaction back."""


def burst_costs(db: Database, alarms: int, repeat: int) -> dict[str, float]:
    """A step opening `alarms` alarms, written one by one then together (each step its own
    cases; the devices' standing commands cleared between steps, so each asks again)."""
    with db.session() as session:
        known = set(session.scalars(select(Device.id)))
        session.add_all(
            Device(id=f"B{i}", kind="bracelet") for i in range(alarms) if f"B{i}" not in known
        )
    steps = iter(range(10**6))

    def run(write: Callable[[Session, list[dict[str, Any]]], None]) -> Callable[[], None]:
        def step() -> None:
            try:
                with db.session() as session:
                    write(session, events(alarms, next(steps)))
                    session.flush()
                    raise Undone  # rolled back: no command left standing, the next step asks
            except Undone:
                pass

        return step

    before, now = run(write_one_by_one), run(write_together)
    before()
    now()
    was, is_ = timed(before, repeat), timed(now, repeat)
    return {"before_ms": round(was, 2), "now_ms": round(is_, 2), "ratio": round(was / is_, 2)}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--alarms", default="1,10,100", help="alarms a step opens, per run")
    parser.add_argument("--snapshot-kb", type=int, default=200, help="the engine's checkpoint")
    parser.add_argument("--repeat", type=int, default=50)
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    runs = []
    for kind in args.databases.split(","):
        with database(kind) as url:
            db = open_database(url)
            try:
                run: dict[str, Any] = {"database": kind}
                run["fence"] = fence_costs(db, args.snapshot_kb, args.repeat)
                run["limit_idle"] = limit_costs(db, args.repeat * 4)
                run["burst"] = {
                    n: burst_costs(db, n, max(5, args.repeat // n))
                    for n in (int(a) for a in args.alarms.split(","))
                }
            finally:
                db.dispose()
        print(json.dumps(run), flush=True)
        runs.append(run)
    result = {
        "benchmark": "a detection step's own statements, each against its former way",
        "commit": commit(),
        "snapshot_kb": args.snapshot_kb,
        "runs": runs,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    args.out.parent.mkdir(exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
