"""Benchmark of detection's restart gap: from a kill -9 of the detector to its next step.

Seeds a France-size caseload straight into the store (default 16,000 PSEM cases, each with a
drawn 35-vertex exclusion zone, as `bench/pipeline.py` draws them, and a bracelet), starts the
real detection process (`vigie.alarms.detector.DetectorProcess`, as the API process runs it),
feeds it a fix per wearer and a few seconds of steps after a checkpoint (the journal a restart
re-runs), then kills it with SIGKILL several times and times each restart: spawn, imports,
restore of the checkpoint and its placements, re-run of the journaled steps, first new step.
Each restart's CPU seconds (the new detector's, spawn to that step) are reported too: on a
host shared with other work the wall-clock gap swings, the CPU it took does not.
The API's own part (the health endpoint polled every 50 ms in `bench/pipeline.py`) is left out.

    .venv/bin/python bench/restart.py [--cases 16000] [--databases sqlite,postgresql] [--kills 3]

Writes bench/results/restart.json with the commit measured. Not a test.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import statistics
import sys
import tempfile
import threading
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

from pipeline import commit, cpu_s, drawn_zone, postgres, zone_centre

RESULTS = Path(__file__).with_name("results") / "restart.json"
FEED_S = 4.0  # seconds of steps journaled after the checkpoint before each kill


def seed(url: str, cases: int) -> None:
    """The placements' rows as the case forms leave them, inserted in bulk."""
    from vigie.store import open_database
    from vigie.store.models import Contact, Device, DeviceAssignment, Person, Placement, Zone
    from vigie.store.schema import upgrade

    upgrade(url)
    database = open_database(url)
    with database.session() as session:
        who = [Contact(role=r, name=r, email=f"{r}@bench.invalid") for r in ("j", "p", "s")]
        session.add_all(who)
        session.flush()
        for start in range(0, cases, 2000):
            people = [
                Person(last_name=f"P{n}", first_name="X") for n in range(start, start + 2000)
            ][: max(0, cases - start)]
            session.add_all(people)
            session.flush()
            placements = []
            for person in people:
                n = int(person.last_name[1:])
                placements.append(
                    Placement(
                        case_ref=f"K{n}",
                        person_id=person.id,
                        measure="psem",
                        court_order_ref="B",
                        court_order_date=date(2026, 11, 20),
                        start_date=date(2026, 11, 23),
                        judge_id=who[0].id,
                        prosecutor_id=who[1].id,
                        spip_id=who[2].id,
                        law_input={},
                        law_decision={},
                        schedule=[],
                        protected_places=[],
                        signal_timeout_s=86_400,
                    )
                )
            session.add_all(placements)
            session.add_all(Device(id=f"D{p.case_ref[1:]}", kind="bracelet") for p in placements)
            session.flush()
            for p in placements:
                n = int(p.case_ref[1:])
                lat, lon = zone_centre(n)
                ring = drawn_zone(n, lat, lon)
                session.add(
                    Zone(
                        placement_id=p.id,
                        key="Z",
                        type="exclusion",
                        geometry={"type": "Polygon", "coordinates": [ring]},
                    )
                )
                session.add(DeviceAssignment(device_id=f"D{n}", placement_id=p.id, role="wearer"))
            session.flush()
    database.dispose()


def feed(url: str, cases: int, first: int, count: int) -> None:
    """`count` fixes of wearers from `first` on (cycling), outside their zones, stored now."""
    from vigie.store import observations as log
    from vigie.store import open_database

    database = open_database(url)
    now = datetime.now(UTC)
    rows = []
    for k in range(count):
        n = (first + k) % cases
        lat, lon = zone_centre(n)
        t = now - timedelta(milliseconds=count - k)
        record = {
            "kind": "obs",
            "device": f"D{n}",
            "t": t.isoformat(),
            "type": "position",
            "lat": lat + 0.05,
            "lon": lon,
            "accuracy_m": 10.0,
        }
        rows.append(log.row_for(record, t, now, source="bench"))
    with database.session() as session:
        log.append(session, rows)
    database.dispose()


class Detector:
    """The API process's side of detection, run in a thread of this one."""

    def __init__(self, url: str) -> None:
        from vigie.alarms.detector import DetectorProcess
        from vigie.settings import Settings

        self.process = DetectorProcess(Settings(database_url=url))
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        self._loop.run_until_complete(self.process.run())

    def stepped_after(self, since: datetime, timeout: float) -> float | None:
        """Seconds until a warm step later than `since` (perf counter), None past `timeout`."""
        started = time.perf_counter()
        while time.perf_counter() - started < timeout:
            health = self.process.health
            if health.warm and health.last_step_at is not None and health.last_step_at > since:
                return time.perf_counter() - started
            time.sleep(0.01)
        return None

    def stop(self) -> None:
        self.process.stop()
        self._thread.join(timeout=60)


def measure(url: str, cases: int, kills: int) -> dict[str, Any]:
    started = time.perf_counter()
    seed(url, cases)
    seeded_s = time.perf_counter() - started
    detector = Detector(url)
    cold = detector.stepped_after(datetime.now(UTC), 600)
    print(f"  cold start (every placement compiled): {cold and round(cold, 2)} s", flush=True)
    feed(url, cases, 0, cases)  # every wearer's state
    detector.process.wake()
    detector.stepped_after(datetime.now(UTC), 120)
    gaps = []
    cpus = []  # the new detector's CPU seconds until that step: what a shared host cannot hide
    for k in range(kills):
        time.sleep(5.5)  # a checkpoint is taken (every 5 s) ...
        ending = time.perf_counter() + FEED_S
        i = 0
        while time.perf_counter() < ending:  # ... then journaled steps it does not hold
            feed(url, cases, (k * 997 + i * 200) % cases, 200)
            detector.process.wake()
            time.sleep(0.1)
            i += 1
        pid = detector.process.pid
        assert pid is not None
        killed = datetime.now(UTC)
        os.kill(pid, signal.SIGKILL)
        gap = detector.stepped_after(killed, 120)
        restarted = detector.process.pid  # the restarted process's; none yet: 0 s
        cpu = cpu_s(restarted) if restarted is not None else 0.0
        print(f"  restart {k + 1}: {gap and round(gap, 2)} s, {cpu:.2f} s of CPU", flush=True)
        gaps.append(None if gap is None else round(gap, 2))
        cpus.append(round(cpu, 2))
    detector.stop()
    done = [g for g in gaps if g is not None]
    return {
        "seed_s": round(seeded_s, 1),
        "cold_start_s": None if cold is None else round(cold, 2),
        "restart_gap_s": gaps,
        "restart_gap_median_s": statistics.median(done) if done else None,
        "restart_gap_max_s": max(done) if done else None,
        "restart_cpu_s": cpus,
        "load_average": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=16_000)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args()
    runs = []
    for database in args.databases.split(","):
        print(f"{database}: {args.cases} cases", flush=True)
        if database == "sqlite":
            with tempfile.TemporaryDirectory() as tmp:
                url = f"sqlite:///{tmp}/restart.sqlite"
                runs.append({"database": database, **measure(url, args.cases, args.kills)})
        else:
            with postgres() as url:
                runs.append({"database": database, **measure(url, args.cases, args.kills)})
    result = {
        "benchmark": "detector restart: kill -9 to its next step",
        "commit": commit(),
        "cases": args.cases,
        "zones": "one drawn 35-vertex exclusion zone per case",
        "goal_s": 5,
        "runs": runs,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    args.output.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    sys.exit(0)


if __name__ == "__main__":
    main()
