"""Benchmark of per-device reads at France's size: what the console's pages cost as history grows.

The supervision page reads when every active device last spoke and its battery; the wearers map
reads every wearer's newest fix. On the `(device, id)` index (migration 0021, the queries of
commit 6b9ef33, kept here as the baseline) each walked every device's whole history; on
`(device, type, t)` (0022, `vigie.store.observations.newest_times` / `newest_of_type`) each
is a seek a device and type; since 0025, `device_latest` and the spans (compacted before the
reads, as the centre does every 60 s). Both run on the same readings, 16,000 devices with
`--shallow` then `--deep` readings each (a fix every 30 s, a battery report every tenth), so
the growth with history and the ratio between them come from one run.

    .venv/bin/python bench/device_reads.py [--databases sqlite,postgresql] [--devices 16000]

Writes bench/results/device-reads.json with the commit measured. Not a test.
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

from sqlalchemy import and_, create_engine, func, insert, select, text
from sqlalchemy.orm import Session

from pipeline import commit, postgres
from vigie.store import Database, open_database, spans
from vigie.store import observations as log
from vigie.store.models import Device, Observation
from vigie.store.schema import upgrade
from vigie.web import activity

RESULTS = Path(__file__).with_name("results") / "device-reads.json"
END = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def old_last_contact(session: Session, ids: list[str]) -> dict[str, Any]:
    """6b9ef33's `supervision`: max(t) per device, grouped."""
    query = (
        select(Observation.device, func.max(Observation.t))
        .where(Observation.device.in_(ids))
        .group_by(Observation.device)
    )
    return dict(session.execute(query).all())


def old_newest(session: Session, ids: list[str], kind: str) -> dict[str, Any]:
    """6b9ef33's `latest_battery` (battery: the payload) and wearers map (position: the place):
    each device's newest time of that type, grouped, joined back to its row."""
    latest = (
        select(Observation.device, func.max(Observation.t).label("t"))
        .where(Observation.type == kind, Observation.device.in_(ids))
        .group_by(Observation.device)
        .subquery()
    )
    on = and_(
        Observation.device == latest.c.device,
        Observation.t == latest.c.t,
        Observation.type == kind,
    )
    said = Observation.lat if kind == "position" else Observation.payload
    rows = session.execute(select(Observation.device, said).join(latest, on))
    return dict(rows.all())


READS: dict[str, tuple[Callable[..., dict[str, Any]], Callable[..., dict[str, Any]]]] = {
    "last_contact": (old_last_contact, log.newest_times),
    "battery": (lambda s, ids: old_newest(s, ids, "battery"), activity.latest_battery),
    "newest_fix": (
        lambda s, ids: old_newest(s, ids, "position"),
        lambda s, ids: log.newest_of_type(s, ids, "position"),
    ),
}


def readings(devices: list[str], first: int, last: int) -> Iterator[list[dict[str, Any]]]:
    """Readings `first` to `last` (0 the newest, every 30 s back), in batches of 20,000."""
    batch: list[dict[str, Any]] = []
    for k in range(first, last):
        t = END - timedelta(seconds=30 * k)
        for n, device in enumerate(devices):
            battery = (k + n) % 10 == 0
            record: dict[str, Any] = {"kind": "obs", "device": device, "t": t.isoformat()}
            if battery:
                record |= {"type": "battery", "level": 0.5}
            else:
                record |= {"type": "position", "lat": 45.0, "lon": 5.0, "accuracy_m": 8.0}
            batch.append(log.row_for(record, t, t, source="bench"))
            if len(batch) >= 20_000:
                yield batch
                batch = []
    if batch:
        yield batch


def fill(database: Database, devices: list[str], first: int, last: int) -> None:
    for batch in readings(devices, first, last):
        with database.session() as session:
            session.execute(insert(Observation), batch)


def timed(database: Database, read: Callable[..., dict[str, Any]], ids: list[str]) -> float:
    runs = []
    for _ in range(3):
        with database.session() as session:
            began = time.perf_counter()
            found = read(session, ids)
            runs.append(time.perf_counter() - began)
        assert len(found) == len(ids), (read, len(found))
    return statistics.median(runs) * 1000


@contextmanager
def databases(kind: str) -> Iterator[tuple[str, str]]:
    """Two empty databases of `kind`: at 0021 (the old index) and at head."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory(prefix="vigie-device-reads-") as folder:
            yield f"sqlite:///{folder}/old.sqlite", f"sqlite:///{folder}/new.sqlite"
        return
    with postgres() as url:
        base = url.rsplit("/", 1)[0]
        engine = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("CREATE DATABASE bench_old"))
            conn.execute(text("CREATE DATABASE bench_new"))
        engine.dispose()
        yield f"{base}/bench_old", f"{base}/bench_new"


def run(kind: str, count: int, shallow: int, deep: int, tail: int) -> dict[str, Any]:
    devices = [f"D{n:05d}" for n in range(count)]
    result: dict[str, Any] = {"database": kind, "devices": count, "reads": {}}
    with databases(kind) as (old_url, new_url):
        upgrade(old_url, "0021")
        upgrade(new_url)
        pair = {"old": open_database(old_url), "new": open_database(new_url)}
        for database in pair.values():
            with database.session() as session:
                session.execute(insert(Device), [{"id": d, "kind": "bracelet"} for d in devices])
        began = time.perf_counter()
        for depth_from, depth_to in ((0, shallow), (shallow, deep)):
            for database in pair.values():
                fill(database, devices, depth_from, depth_to)
            spans.compact_all(pair["new"])  # as the centre does every `span_every_s`
            for name, (old, new) in READS.items():
                figures = result["reads"].setdefault(name, {})
                figures[f"old_ms_at_{depth_to}"] = round(timed(pair["old"], old, devices), 1)
                figures[f"new_ms_at_{depth_to}"] = round(timed(pair["new"], new, devices), 1)
        # Then readings not compacted yet (newer: the tail every read scans, a compaction
        # period's worth: 9 a device at 16,000 devices is a minute at 2,400 a second).
        fill(pair["new"], devices, -tail, 0)
        for name, (_, new) in READS.items():
            figures = result["reads"][name]
            figures[f"new_ms_with_a_tail_of_{tail * count}"] = round(
                timed(pair["new"], new, devices), 1
            )
        result["fill_s"] = round(time.perf_counter() - began, 1)
        for database in pair.values():
            database.dispose()
    for figures in result["reads"].values():
        figures["old_growth"] = round(
            figures[f"old_ms_at_{deep}"] / figures[f"old_ms_at_{shallow}"], 1
        )
        figures["new_growth"] = round(
            figures[f"new_ms_at_{deep}"] / figures[f"new_ms_at_{shallow}"], 1
        )
        figures[f"new_over_old_at_{deep}"] = round(
            figures[f"old_ms_at_{deep}"] / figures[f"new_ms_at_{deep}"], 1
        )
    return result


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--devices", type=int, default=16_000)
    parser.add_argument(
        "--shallow", type=int, default=10, help="readings a device first (10+: one a battery)"
    )
    parser.add_argument("--deep", type=int, default=100, help="readings a device, then")
    parser.add_argument(
        "--tail", type=int, default=9, help="readings a device, then, left uncompacted"
    )
    args = parser.parse_args(argv)
    runs = []
    for kind in args.databases.split(","):
        found = run(kind, args.devices, args.shallow, args.deep, args.tail)
        runs.append(found)
        for name, figures in found["reads"].items():
            print(f"{kind:10} {name:12} " + ", ".join(f"{k} {v}" for k, v in figures.items()))
    RESULTS.parent.mkdir(exist_ok=True)
    result = {
        "benchmark": "per-device reads of every active device, as history grows",
        "commit": commit(),
        "runs": runs,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {RESULTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
