"""Export (and import) of one case with a long history, in bounded memory.

A home-detention case is seeded in a fresh SQLite centre with a bracelet fix every 30 s (a year
is 1,051,200 fixes: the default) and a home unit's presence report every 10 minutes; then
`vigie.export` writes its archive, which is verified, and imported into a second fresh centre.
Each of the three runs in a fresh process of its own (spawned), so its peak resident memory
(ru_maxrss) is its own: it is reported with the same process's baseline just before the work,
and the difference is what the work held. MB/s is of the archive's uncompressed members (what
a reader gets) and of the zip itself. While the import runs, another process stores a reading
every 20 ms as the API would (`live_ingest`): how long those waited to commit is how long the
import kept the centre from storing readings. Prints the figures, writes
``bench/results/export.json``. Not a test.

    .venv/bin/python bench/export.py [--fixes N] [--no-import] [--sqlite-page-size 4096]
        [--uncompacted]

`--sqlite-page-size` makes the source file with pages of that size (a file made before new
files got 1 KB pages), to see what small pages cost a long read; `--uncompacted` leaves the year
out of spans (the centre compacts every minute; a read then scans it all as the tail). The
results of either go to ``bench/results/export-<size>[-uncompacted].json``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import multiprocessing
import platform
import queue
import resource
import sqlite3
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

RESULTS = Path(__file__).with_name("results") / "export.json"
YEAR_OF_FIXES = 365 * 24 * 120
START = datetime(2025, 11, 24, tzinfo=UTC)
DeviceKind = Literal["bracelet", "home_unit", "protected_device"]  # DeviceIn.kind
DeviceRole = Literal["wearer", "home_unit", "protected"]  # AssignmentIn.role


def seed(url: str, fixes: int, page_size: int | None = None, compacted: bool = True) -> None:
    """The case, then its observations, stored as the gateway stores them (batches of 10,000),
    then compacted into spans as the centre does every minute (`compacted`: else the whole year
    is the tail a read scans, as after a long stop of compaction); the file made first with
    pages of `page_size` bytes if given (else a new file's)."""
    from sqlalchemy import select
    from tests.cases import factories as make

    from vigie import clock
    from vigie.cases import devices, placements
    from vigie.cases.forms import AssignmentIn, DeviceIn
    from vigie.store import observations as log
    from vigie.store import open_database, spans
    from vigie.store.models import DeviceAssignment
    from vigie.store.schema import upgrade

    if page_size:
        made = sqlite3.connect(url.removeprefix("sqlite:///"))
        made.execute(f"PRAGMA page_size={int(page_size)}")
        made.execute("PRAGMA journal_mode=WAL")
        made.close()
    upgrade(url)
    db = open_database(url)
    with db.session() as session:
        wearer, who = make.person(session), make.contacts(session)
        placement = placements.create(
            session, make.placement_form(wearer, who, case_ref="Y1"), "bench"
        )
        units: tuple[tuple[str, DeviceKind, DeviceRole], ...] = (
            ("B1", "bracelet", "wearer"),
            ("H1", "home_unit", "home_unit"),
        )
        for device, kind, role in units:
            devices.create_device(session, DeviceIn(id=device, kind=kind), "bench")
            devices.assign(session, placement, AssignmentIn(device_id=device, role=role), "bench")
        for a in session.scalars(select(DeviceAssignment)):
            a.since = START - timedelta(days=1)  # assigned before the year began
    assert clock  # the centre's clock is left alone: times here are explicit
    batch: list[dict[str, Any]] = []
    for i in range(fixes):
        t = START + timedelta(seconds=30 * i)
        text = t.isoformat().replace("+00:00", "Z")
        record = {"kind": "obs", "device": "B1", "t": text, "type": "position", "seq": i}
        record |= {"lat": 48.85 + (i % 1000) * 1e-5, "lon": 2.35, "accuracy_m": 8.0}
        batch.append(log.row_for(record, t, t + timedelta(seconds=1), source="bench"))
        if i % 20 == 0:
            presence = {"kind": "obs", "device": "H1", "t": text, "type": "presence"}
            batch.append(
                log.row_for(
                    presence | {"present": True}, t, t + timedelta(seconds=1), source="bench"
                )
            )
        if len(batch) >= 10_000:
            with db.session() as session:
                log.append(session, batch)
            batch = []
    if batch:
        with db.session() as session:
            log.append(session, batch)
    if compacted:
        spans.compact_all(db)
    db.dispose()


def _peak_mib() -> float:
    """This process's peak resident memory (VmHWM: unlike ru_maxrss, not inherited across the
    spawn's exec from the parent that seeded the database)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_export(url: str, key: str, out: str, results: Any) -> None:
    from vigie.export import keys
    from vigie.export.case_export import ExportRequest, export_case
    from vigie.store import open_database

    db = open_database(url)
    signing = keys.load_signing_key(Path(key))
    baseline = _peak_mib()
    began = time.perf_counter()
    manifest = export_case(db, ExportRequest("Y1", "bench"), signing, Path(out))
    seconds = time.perf_counter() - began
    results.put(
        {
            "seconds": seconds,
            "baseline_mib": baseline,
            "peak_mib": _peak_mib(),
            "members": manifest["members"],
        }
    )


def run_verify(out: str, results: Any) -> None:
    from vigie.export.verify import verify

    baseline = _peak_mib()
    began = time.perf_counter()
    verify(Path(out))
    results.put(
        {"seconds": time.perf_counter() - began, "baseline_mib": baseline, "peak_mib": _peak_mib()}
    )


def run_import(url: str, out: str, results: Any) -> None:
    from vigie.export.importer import import_archive
    from vigie.store import open_database

    db = open_database(url)
    baseline = _peak_mib()
    began = time.perf_counter()
    imported = import_archive(db, Path(out), "bench")
    results.put(
        {
            "seconds": time.perf_counter() - began,
            "baseline_mib": baseline,
            "peak_mib": _peak_mib(),
            "added": imported.added,
        }
    )


def live_ingest(url: str, stop: Any, results: Any) -> None:
    """The centre's ingest meanwhile: a reading every 20 ms, each in its own transaction, as
    the API stores them; how long each waited to commit (an import holding the writer)."""
    from sqlalchemy.exc import OperationalError

    from vigie.store import observations as log
    from vigie.store import open_database

    db = open_database(url)
    waits: list[float] = []
    failed = 0
    t = datetime(2026, 11, 30, tzinfo=UTC)
    while not stop.is_set():
        t += timedelta(seconds=1)
        record: dict[str, Any] = {
            "kind": "obs",
            "device": "LIVE1",
            "t": t.isoformat(),
            "type": "position",
        }
        record |= {"lat": 48.85, "lon": 2.35, "accuracy_m": 10.0}
        began = time.perf_counter()
        try:
            with db.session() as session:
                log.append(session, [log.row_for(record, t, t, source="bench")])
        except OperationalError:  # "database is locked" after SQLite's 30 s busy timeout
            failed += 1
        waits.append(time.perf_counter() - began)
        time.sleep(0.02)
    results.put({"waits": waits, "failed": failed})


def in_own_process(target: Any, *args: Any) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    process = context.Process(target=target, args=(*args, results))
    process.start()
    while True:
        try:
            found: dict[str, Any] = results.get(timeout=1)
            break
        except queue.Empty:
            if not process.is_alive():
                raise RuntimeError(f"{target.__name__} failed ({process.exitcode})") from None
    process.join()
    if process.exitcode != 0:
        raise RuntimeError(f"{target.__name__} failed ({process.exitcode})")
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fixes", type=int, default=YEAR_OF_FIXES)
    parser.add_argument("--no-import", action="store_true")
    parser.add_argument("--sqlite-page-size", type=int, choices=(512, 1024, 2048, 4096, 8192))
    parser.add_argument(
        "--uncompacted", action="store_true", help="leave the year out of spans (all tail)"
    )
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).parents[1]))  # tests.cases.factories
    from pipeline import commit
    from vigie.export import keys
    from vigie.store.schema import upgrade

    with tempfile.TemporaryDirectory(prefix="vigie-bench-export-") as folder:
        root = Path(folder)
        source, target = f"sqlite:///{root / 'a.sqlite'}", f"sqlite:///{root / 'b.sqlite'}"
        began = time.perf_counter()
        seed(source, args.fixes, args.sqlite_page_size, compacted=not args.uncompacted)
        seeded = time.perf_counter() - began
        with contextlib.closing(sqlite3.connect(root / "a.sqlite")) as made:
            page_size = made.execute("PRAGMA page_size").fetchone()[0]
        keys.generate(root / "centre.key", "signing")
        out = root / "Y1.zip"
        exported = in_own_process(run_export, source, str(root / "centre.key"), str(out))
        zipped = out.stat().st_size
        members = sum(m["bytes"] for m in exported["members"])
        records = {m["name"]: m["records"] for m in exported["members"] if "records" in m}
        verified = in_own_process(run_verify, str(out))
        imported = live = None
        if not args.no_import:
            upgrade(target)
            context = multiprocessing.get_context("spawn")
            stop, told = context.Event(), context.Queue()
            ingest = context.Process(target=live_ingest, args=(target, stop, told))
            ingest.start()
            imported = in_own_process(run_import, target, str(out))
            stop.set()
            live = told.get(timeout=60)
            ingest.join()
    mib = 1024 * 1024
    figures: dict[str, Any] = {
        "commit": commit(),
        "sqlite_page_size": page_size,
        "compacted": not args.uncompacted,
        "observations": records["observations.jsonl"],
        "seed_s": round(seeded, 1),
        "export": {
            "seconds": round(exported["seconds"], 1),
            "members_mib": round(members / mib, 1),
            "zip_mib": round(zipped / mib, 1),
            "mb_per_s_members": round(members / mib / exported["seconds"], 1),
            "mb_per_s_zip": round(zipped / mib / exported["seconds"], 1),
            "observations_per_s": round(records["observations.jsonl"] / exported["seconds"]),
            "peak_rss_mib": round(exported["peak_mib"], 1),
            "baseline_rss_mib": round(exported["baseline_mib"], 1),
        },
        "verify": {
            "seconds": round(verified["seconds"], 1),
            "mb_per_s_members": round(members / mib / verified["seconds"], 1),
            "peak_rss_mib": round(verified["peak_mib"], 1),
            "baseline_rss_mib": round(verified["baseline_mib"], 1),
        },
        "machine": f"{platform.machine()}, {multiprocessing.cpu_count()} cores, "
        f"Python {platform.python_version()}, SQLite",
    }
    if imported is not None:
        figures["import"] = {
            "seconds": round(imported["seconds"], 1),
            "observations_per_s": round(
                imported["added"].get("observations", 0) / imported["seconds"]
            ),
            "peak_rss_mib": round(imported["peak_mib"], 1),
            "baseline_rss_mib": round(imported["baseline_mib"], 1),
        }
        assert live is not None
        waits = sorted(live["waits"])
        figures["import"]["ingest_meanwhile"] = {
            "readings": len(waits),
            "failed": live["failed"],
            "wait_ms_p50_p99_max": [
                round(1000 * waits[int(q * (len(waits) - 1))], 1) for q in (0.5, 0.99, 1.0)
            ],
        }
    print(json.dumps(figures, indent=2))
    results = RESULTS
    if args.sqlite_page_size or args.uncompacted:
        variant = f"{args.sqlite_page_size or ''}{'-uncompacted' if args.uncompacted else ''}"
        results = RESULTS.with_name(f"export-{variant.strip('-')}.json")
    results.parent.mkdir(exist_ok=True)
    results.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
