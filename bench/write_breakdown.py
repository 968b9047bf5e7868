"""Benchmark of where the centre's writes go: each table's and index's share of what a database
writes at one rate of `bench/pipeline.py`'s load (16,000 cases by default, 2,400 obs/s).

The pipeline bench says how many bytes an observation costs; this says which objects and which
kinds of commit write them, so that a change is aimed at the biggest part and its effect seen:

- **SQLite:** a reader is held open from the rate's start (after a checkpoint that empties the
  WAL), so the WAL keeps every frame the rate wrote (no checkpoint can restart it); then each
  frame's page is named by `dbstat` (the page's table or index at the end: a page freed and
  taken by another table is counted as the later one's), and each commit is classed by what it
  wrote (ingest, a detection step, a step that raised alarms, an audit entry alone, a span
  compaction). A checkpoint would later write each distinct page once more: `distinct_bytes`.
- **PostgreSQL:** `pg_waldump` over the rate's WAL: bytes by record type (with the full-page
  images apart) and by relation. The data pages that the server writes out (about as many
  bytes again, `bench/pipeline.py` counts them) are not split by relation in PostgreSQL 15;
  what each relation grew by is (`new_pages`): PostgreSQL 15 writes each new page twice, its
  zeros to extend the file and then its rows at a checkpoint.

Holding the WAL open makes SQLite's latencies of this run no measure of anything.

    .venv/bin/python bench/write_breakdown.py [--seeded FILE] [--rate 2400] [--seconds 30]
        [--databases sqlite,postgresql] [--steady] [--out bench/results/write-breakdown.json]

`--seeded` as `bench/pipeline.py` takes it (a SQLite file seeded by `pipeline.seed`); without
it the run seeds its databases through the application first (over an hour at 16,000 cases),
which is why `make bench` leaves this one out.
"""

from __future__ import annotations

import argparse
import json
import re
import sqlite3
import struct
import subprocess
import sys
from collections import Counter, defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool

import pipeline
from vigie.store.pg_local import as_owner

RESULTS = Path(__file__).with_name("results") / "write-breakdown.json"
PG_WALDUMP = Path("/usr/lib/postgresql/15/bin/pg_waldump")
WAL_HEADER = 32  # bytes of a SQLite WAL file's header
FRAME_HEADER = 24  # bytes before each frame's page
TOP = 25  # objects and commit kinds listed


def commit_kind(objects: set[str]) -> str:
    """What a SQLite commit was, by the objects it wrote."""
    if objects & {"observation_spans", "device_latest", "span_watermark"}:
        return "span compaction"
    if "alarms" in objects or "alarm_events" in objects:
        return "detection step with alarms"
    if "observations" in objects and "audit_log" in objects:
        return "ingest (rows, key, audit)"
    if objects & {"engine_steps", "engine_state", "ix_engine_steps_partition"}:
        return "detection step"
    if objects <= {"audit_log", "audit_head", "sqlite_schema"}:
        return "audit entry alone (an audited read)"
    return "other"


def sqlite_wal(path: str, observations: int) -> dict[str, Any]:
    """Every frame of the WAL at `path` of its generation (its salt: the reader held since the
    WAL was emptied kept any checkpoint from restarting it), bytes by object and by kind of
    commit, per observation."""
    wal = Path(path + "-wal").read_bytes()
    page: int = struct.unpack(">I", wal[8:12])[0]
    salt = wal[16:24]
    frame = FRAME_HEADER + page
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        names = dict(db.execute("SELECT pageno, name FROM dbstat"))
    by_object: Counter[str] = Counter()
    distinct: defaultdict[str, set[int]] = defaultdict(set)
    kinds: Counter[str] = Counter()
    kind_frames: Counter[str] = Counter()
    objects: set[str] = set()
    frames = 0
    offset = WAL_HEADER
    while offset + frame <= len(wal) and wal[offset + 8 : offset + 16] == salt:
        number, size_after = struct.unpack(">II", wal[offset : offset + 8])
        name = names.get(number, "(free at the end)")
        by_object[name] += 1
        distinct[name].add(number)
        objects.add(name)
        frames += 1
        if size_after:  # a commit's last frame
            kind = commit_kind(objects)
            kinds[kind] += 1
            kind_frames[kind] += frames
            objects, frames = set(), 0
        offset += frame

    def per_obs(count: int) -> int:
        return round(count * page / observations)

    return {
        "page_size": page,
        "wal_bytes_per_obs": per_obs(sum(by_object.values())),
        "distinct_page_bytes_per_obs": per_obs(sum(len(p) for p in distinct.values())),
        "objects": [
            {
                "object": name,
                "wal_bytes_per_obs": per_obs(n),
                "distinct_bytes": per_obs(len(distinct[name])),
            }
            for name, n in by_object.most_common(TOP)
        ],
        "commits": [
            {
                "kind": kind,
                "commits": n,
                "pages_each": round(kind_frames[kind] / n, 1),
                "wal_bytes_per_obs": per_obs(kind_frames[kind]),
            }
            for kind, n in kinds.most_common(TOP)
        ],
    }


def scalar(url: str, query: str) -> Any:
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        value = conn.execute(text(query)).scalar()
    engine.dispose()
    return value


_RECORD = re.compile(r"^rmgr: (\S+)\s+len \(rec/tot\):\s*(\d+)/\s*(\d+).*?desc: (\S+)")
_BLOCK = re.compile(r"blkref #\d+: rel \d+/\d+/(\d+)")


# A relation's name, a TOAST table's as its owner's ("engine_state (TOAST)").
NAMED = "coalesce(o.relname || ' (TOAST)', c.relname)"
CLASSES = "pg_class c LEFT JOIN pg_class o ON o.reltoastrelid = c.oid AND c.relkind = 't'"


def postgres_wal(url: str, start: str, end: str, observations: int) -> dict[str, Any]:
    """The WAL between two positions, per observation: by record type (full-page images apart)
    and by the relation of each record's first block."""
    data = scalar(url, "SHOW data_directory")
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        relations: dict[str, str] = {
            str(node): name
            for node, name in conn.execute(
                text(f"SELECT pg_relation_filenode(c.oid), {NAMED} FROM {CLASSES}")
            )
            if node is not None
        }
    engine.dispose()
    dump = subprocess.run(
        # As the cluster's owner: the bench's clusters are `postgres`'s when run as root.
        as_owner(str(PG_WALDUMP), "-p", f"{data}/pg_wal", "-s", start, "-e", end),
        capture_output=True,
        text=True,
    )
    if dump.returncode and not dump.stdout:
        raise RuntimeError(f"pg_waldump: {dump.stderr.strip()}")
    records: Counter[str] = Counter()
    images: Counter[str] = Counter()
    by_relation: Counter[str] = Counter()
    for line in dump.stdout.splitlines():
        found = _RECORD.match(line)
        if not found:
            continue
        rmgr, length, total, desc = found.groups()
        kind = f"{rmgr}/{desc}"
        records[kind] += int(length)
        images[kind] += int(total) - int(length)
        block = _BLOCK.search(line)
        by_relation[relations.get(block.group(1), block.group(1)) if block else "-"] += int(total)

    def per_obs(count: int) -> int:
        return round(count / observations)

    totals = records + images
    return {
        "wal_bytes_per_obs": per_obs(sum(totals.values())),
        "full_page_image_bytes_per_obs": per_obs(sum(images.values())),
        "records": [
            {"record": kind, "bytes_per_obs": per_obs(n), "of_which_images": per_obs(images[kind])}
            for kind, n in totals.most_common(TOP)
        ],
        "relations": [
            {"relation": name, "bytes_per_obs": per_obs(n)}
            for name, n in by_relation.most_common(TOP)
        ],
    }


def sizes(url: str) -> dict[str, int]:
    """Each relation's size in bytes (main fork), by name."""
    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        found = conn.execute(
            text(
                f"SELECT {NAMED}, pg_relation_size(c.oid) FROM {CLASSES}"
                " WHERE c.relkind IN ('r', 'i', 't', 'm')"
                " AND pg_relation_filenode(c.oid) IS NOT NULL"
            )
        )
        named = {name: int(size) for name, size in found}
    engine.dispose()
    return named


def grown(before: dict[str, int], after: dict[str, int], observations: int) -> list[dict[str, Any]]:
    """What each relation grew by in the rate, in bytes an observation, the largest first."""
    growth = Counter({name: size - before.get(name, 0) for name, size in after.items()})
    return [
        {"relation": name, "bytes_per_obs": round(n / observations)}
        for name, n in growth.most_common(TOP)
        if n > 0
    ]


def keep(url: str) -> None:
    """Keep the rate's WAL segments for pg_waldump (a checkpoint would recycle them): their
    number only, not what is written."""
    engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("ALTER SYSTEM SET wal_keep_size = '4GB'"))
        conn.execute(text("SELECT pg_reload_conf()"))
    engine.dispose()


def traced(load: Callable[..., dict[str, Any]], found: dict[str, Any]) -> Callable[..., Any]:
    """`pipeline.load`, with each database's writes of the rate broken down into `found`."""

    def wrapper(
        args: argparse.Namespace,
        base: str,
        headers: Any,
        rate: int,
        server: int,
        url: str,
        *rest: Any,
    ) -> dict[str, Any]:
        if url.startswith("postgresql"):
            keep(url)
            start = scalar(url, "SELECT pg_current_wal_insert_lsn()")
            before = sizes(url)
            figures = load(args, base, headers, rate, server, url, *rest)
            end = scalar(url, "SELECT pg_current_wal_flush_lsn()")  # all of it readable
            found["postgresql"] = postgres_wal(url, start, end, figures["observations"])
            found["postgresql"]["new_pages"] = grown(before, sizes(url), figures["observations"])
            return figures
        path = url.removeprefix("sqlite:///")
        reader = sqlite3.connect(path, isolation_level=None, timeout=60)
        try:
            reader.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchall()
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM sqlite_schema").fetchall()  # holds the WAL
            figures = load(args, base, headers, rate, server, url, *rest)
            found["sqlite"] = sqlite_wal(path, figures["observations"])
        finally:
            reader.close()
        return figures

    return wrapper


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--seeded", type=Path, help="a seeded SQLite file, as bench/pipeline.py takes it"
    )
    parser.add_argument("--rate", type=int, default=2400)
    parser.add_argument("--seconds", type=float, default=30)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument(
        "--steady", action="store_true", help="a centre at its steady state (pipeline --steady)"
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args()
    found: dict[str, Any] = {}
    pipeline.load = traced(pipeline.load, found)
    figures = Path(args.out).with_suffix(".pipeline.json")
    sys.argv = [
        "pipeline.py",
        *("--databases", args.databases, "--rates", str(args.rate)),
        *("--seconds", str(args.seconds), "--out", str(figures)),
        *(("--seeded", str(args.seeded)) if args.seeded else ()),
        *(("--steady",) if args.steady else ()),
    ]
    pipeline.main()
    measured = json.loads(figures.read_text())
    figures.unlink()
    result = {
        "benchmark": "where the centre's writes go, object by object, at one rate",
        "commit": pipeline.commit(),
        "rate_obs_s": args.rate,
        "seconds": args.seconds,
        "steady_state": args.steady,
        "cases": measured["cases"],
        "runs": [
            {
                "database": run["database"],
                "bytes_written_per_obs": run["rates"][0]["bytes_written_per_obs"],
                "observations": run["rates"][0]["observations"],
                "breakdown": found.get(run["database"]),
            }
            for run in measured["runs"]
        ],
        "when": measured["when"],
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
