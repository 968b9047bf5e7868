"""Benchmark of the live pipeline: from an observation's acceptance to its alarm in the API.

Starts the real centre (uvicorn, the detector in its own process) on SQLite and on PostgreSQL
(a cluster of its own, fsync on), seeds a France-size caseload (default 16,000 cases: 15,000
PSEM cases, each with a drawn 35-vertex exclusion zone, and 1,000 BAR pairs, a wearer's
bracelet and the protected person's device, posted apart), then posts GPS fixes from 4 clients
at each target rate (default 600 and 2,400 obs/s) in batches. A few fixes per second are
markers that enter a PSEM zone; for each, the latency is the time from the POST's
acknowledgement to the alarm first listed by GET /api/alarms?after=... (and from its sending,
which counts the POST's wait for a group commit: `sent_to_seen_ms_p50_p99_max`, goal
`p99_ms_from_sent`). The BAR pairs' fixes
are load the detector checks (proximity), not markers. Also measured per rate: the detector's
share of a core, bytes written per observation (SQLite: the centre's processes' write_bytes
and a checkpoint at the rate's end; PostgreSQL: its WAL and the data pages it wrote out, by its
own statistics, a CHECKPOINT at the rate's end), and once per
database the restart gap: from a kill -9 of the detector to its next step. Beside those counts,
what the disk itself wrote (`device_bytes_per_obs`, after a sync: every process's writes, so a
figure for a quiet host) and on PostgreSQL its WAL write calls a second: each commit's flush
writes its last WAL page again whole, bytes its own statistics count once.

How the alarm is watched for: `--watch stream` (default) as the console does, reading the queue
on each event of its live stream; `--watch poll` reads it every 10 ms, a load of its own (a
hundred audited reads a second) that the centre does not otherwise carry.
Prints p50/p99 and the sustained throughput; writes bench/results/pipeline.json. Not a test.

    .venv/bin/python bench/pipeline.py [--rates 600,2400] [--seconds 290] [--cases 16000]
        [--bar 1000] [--databases sqlite,postgresql] [--clients 4] [--watch poll] [--quick]

`--quick` is a smaller run (2,000 cases of which 125 BAR pairs, 8 s per rate) for a first look
(its bytes hold no compaction of spans, which comes every 60 s).
`--seeded FILE` starts from a SQLite file seeded before (see `seed`): SQLite runs on a copy of
it, PostgreSQL gets its rows copied in (`copy_seeded`), the one way to measure it at 16,000 cases.
`--steady` measures a centre at its steady state under the retention purge (`steady_state`): the
rates' readings fill the pages a purge left, where by default the tables grow, as a new centre's.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import multiprocessing
import os
import platform
import random
import secrets
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import httpx

from vigie.ports import free_port

RESULTS = Path(__file__).with_name("results") / "pipeline.json"
DeviceKind = Literal["bracelet", "home_unit", "protected_device"]  # DeviceIn.kind
DeviceRole = Literal["wearer", "home_unit", "protected"]  # AssignmentIn.role
PASSWORD = "bench password 123"
WALL = time.time() - time.perf_counter()  # wall clock = perf_counter + WALL (one host)
POLL_S = 0.01  # the poller's pause: a seen time is at most this (plus one request) late


def seed(url: str, cases: int, bar: int) -> None:
    """`cases` cases, the last `bar` of them BAR pairs (wearer D<n>, protected device P<n>)."""
    from vigie.api.security import create_user
    from vigie.cases import devices, people, placements
    from vigie.cases.forms import AssignmentIn, ContactIn, DeviceIn, PersonIn, PlacementIn, ZoneIn
    from vigie.store import open_database
    from vigie.store.schema import upgrade

    upgrade(url)
    database = open_database(url)
    with database.session() as session:
        # Observations come in through an integration account; an operator watches the queue.
        create_user(session, "bench", PASSWORD, "integration", "Bench")
        create_user(session, "bench-watch", PASSWORD, "operator", "Bench watcher")
        who = {
            role: people.create_contact(
                session, ContactIn(role=role, name=role, email=f"{role}@bench.invalid"), "bench"
            ).id
            for role in ("judge", "prosecutor", "spip")
        }
        for n in range(cases - bar):
            lat, lon = zone_centre(n)
            person = people.create_person(
                session,
                PersonIn(
                    last_name=f"P{n}",
                    first_name="X",
                    birth_date=date(1980, 1, 1),
                    home_lat=lat + 0.05,
                    home_lon=lon,
                ),
                "bench",
            )
            ring = drawn_zone(n, lat, lon)
            form = PlacementIn(
                case_ref=f"K{n}",
                person_id=person.id,
                measure="psem",
                court_order_ref="B",
                court_order_date=date(2026, 11, 20),
                start_date=date(2026, 11, 23),
                judge_id=who["judge"],
                prosecutor_id=who["prosecutor"],
                spip_id=who["spip"],
                law={
                    "as_of": "2026-11-23",
                    "sentences": [
                        {"quantum": "P8Y", "category": "crime", "recidivism": False, "offences": []}
                    ],
                    "facts": {
                        "route": "R61-33",
                        "detained": True,
                        "dangerousness_established": True,
                        "commission_opinion": True,
                    },
                },
                zones=[
                    ZoneIn(
                        id="Z",
                        type="exclusion",
                        geometry={"type": "Polygon", "coordinates": [ring]},
                    )
                ],
                signal_timeout_s=86_400,
            )
            placement = placements.create(session, form, "bench")
            devices.create_device(session, DeviceIn(id=f"D{n}", kind="bracelet"), "bench")
            devices.assign(session, placement, AssignmentIn(device_id=f"D{n}", role="wearer"), "b")
        for n in range(cases - bar, cases):
            lat, lon = zone_centre(n)
            wearer, victim = (
                people.create_person(
                    session,
                    PersonIn(
                        last_name=f"{initial}{n}",
                        first_name="X",
                        birth_date=date(1980, 1, 1),
                        home_lat=lat + offset,
                        home_lon=lon,
                    ),
                    "bench",
                )
                for initial, offset in (("P", 0.05), ("V", -BAR_APART))
            )
            form = PlacementIn(
                case_ref=f"K{n}",
                person_id=wearer.id,
                protected_person_id=victim.id,
                measure="bar",
                court_order_ref="B",
                court_order_date=date(2026, 11, 20),
                start_date=date(2026, 11, 23),
                judge_id=who["judge"],
                prosecutor_id=who["prosecutor"],
                spip_id=who["spip"],
                law={
                    "as_of": "2026-11-23",
                    "facts": {
                        "under_judicial_supervision": True,
                        "victim_consent": True,
                        "incurred_years": 5,
                        "relationship": "spouse",
                        "alert_distance_km": 2,
                    },
                },
                signal_timeout_s=86_400,
            )
            placement = placements.create(session, form, "bench")
            pair: tuple[tuple[str, DeviceKind, DeviceRole], ...] = (
                (f"D{n}", "bracelet", "wearer"),
                (f"P{n}", "protected_device", "protected"),
            )
            for device, kind, role in pair:
                devices.create_device(session, DeviceIn(id=device, kind=kind), "bench")
                devices.assign(session, placement, AssignmentIn(device_id=device, role=role), "b")
    database.dispose()


BAR_APART = 0.3  # degrees of latitude between a BAR pair's fixes (about 33 km): no alarm


def zone_centre(n: int) -> tuple[float, float]:
    return 43.0 + (n % 100) * 0.05, 1.0 + (n // 100) * 0.05


def drawn_zone(n: int, lat: float, lon: float) -> list[list[float]]:
    """A 35-vertex ring as a clerk draws one: about 400 m across, irregular, closed."""
    rng = random.Random(n)
    ring = []
    for i in range(34):
        angle = 2 * math.pi * i / 34
        r = 0.002 * (0.8 + 0.4 * rng.random())
        ring.append([lon + r * 1.4 * math.cos(angle), lat + r * math.sin(angle)])
    return [*ring, ring[0]]


# What docs/production-postgresql.md's Patroni configuration sets that changes the bytes a
# primary writes (`--pg-production`): pages with checksums, hint bits logged (pg_rewind needs
# one or the other; with checksums a page's first hint bit after a checkpoint logs it whole),
# and those whole pages compressed. synchronous_commit=on is the server's default; the standby
# it waits for receives the WAL, and writes nothing on the primary.
PRODUCTION_INITDB = ["--data-checksums"]
PRODUCTION_SETTINGS = {"wal_log_hints": "on", "wal_compression": "lz4"}


@contextlib.contextmanager
def postgres(production: bool = False) -> Iterator[str]:
    """A PostgreSQL 15 cluster of the run's own (fsync on: bytes written are real), its URL;
    `production`: made and started as the production documentation configures it."""
    sys.path.insert(0, str(Path(__file__).parents[1]))
    # The tests' settings (no breach confirmation, cheap password hashing, development mode)
    # are set on import: the centre measured is not to inherit them.
    environment = dict(os.environ)
    from tests.conftest import PG_BIN, real_clock_env

    from vigie.ports import free_port
    from vigie.store.pg_local import as_owner

    os.environ.clear()
    os.environ.update(environment)

    root = Path(tempfile.mkdtemp(prefix="vigie-bench-pg-"))
    root.chmod(0o755)
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    initdb = [str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "vigie"]
    subprocess.run(
        as_owner(*initdb, "-E", "UTF8", "--locale=C.UTF-8", *(PRODUCTION_INITDB * production)),
        check=True,
        capture_output=True,
        env=real_clock_env(),
    )
    port = free_port()
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c max_connections=200"
    if production:
        options += "".join(f" -c {name}={value}" for name, value in PRODUCTION_SETTINGS.items())
    start = [str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o", options]
    subprocess.run(as_owner(*start, "start"), check=True, capture_output=True, env=real_clock_env())
    pid = int((data / "postmaster.pid").read_text().split()[0])
    base = f"postgresql+psycopg://vigie@127.0.0.1:{port}"
    try:
        from sqlalchemy import create_engine, text

        engine = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("CREATE DATABASE vigie"))
        engine.dispose()
        yield f"{base}/vigie"
    finally:
        os.kill(pid, signal.SIGINT)
        time.sleep(2)
        shutil.rmtree(root, ignore_errors=True)


def pg_settings(url: str, settings: list[str]) -> None:
    """Set the run's server settings (`--pg-set name=value`), then reload them."""
    if not settings:
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        for setting in settings:
            name, _, value = setting.partition("=")
            # ALTER SYSTEM takes no parameter: a plain name and value only, quoted here.
            if not name.isidentifier() or not value.replace(".", "").isalnum():
                raise SystemExit(f"--pg-set {setting!r}: name=value expected (letters, digits)")
            conn.execute(text(f"ALTER SYSTEM SET {name} = '{value}'"))
        conn.execute(text("SELECT pg_reload_conf()"))
    engine.dispose()


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(p) for p in text.split()]


def detector_pid(server: int) -> int | None:
    """The detection process: the server's child running vigie's spawned detector."""
    for pid in children(server):
        with contextlib.suppress(OSError):
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            if b"resource_tracker" not in cmd:
                return pid
    return None


def cpu_s(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_s(url: str) -> float | None:
    """CPU seconds the PostgreSQL server has used so far, every process of it (None on SQLite):
    the postmaster's own and its reaped children's, and its live children's (the checkpointer,
    the WAL writer, the backends): what a setting such as `wal_compression` costs in CPU."""
    if not url.startswith("postgresql"):
        return None
    data = Path(pg_one(url, "SELECT current_setting('data_directory')")[0])
    postmaster = int((data / "postmaster.pid").read_text().split()[0])
    fields = Path(f"/proc/{postmaster}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = sum(int(f) for f in fields[11:15])  # utime, stime, cutime, cstime
    return ticks / os.sysconf("SC_CLK_TCK") + sum(cpu_s(pid) for pid in children(postmaster))


def written(server: int, url: str) -> int:
    """Bytes written to storage so far. SQLite: the centre's processes' `write_bytes`.
    PostgreSQL: its own count, the WAL and the data pages it wrote out. Not the backends'
    `write_bytes`: the kernel counts in them every page of shared buffers they dirty (shared
    memory), 7-10 times what reaches the disk."""
    if url.startswith("postgresql"):
        wal, pages = pg_one(
            url,
            "SELECT wal_bytes, (buffers_clean + buffers_backend + buffers_checkpoint)"
            " * current_setting('block_size')::bigint FROM pg_stat_wal, pg_stat_bgwriter",
        )
        return int(wal) + int(pages)
    return sum(write_bytes(pid) for pid in [server, *children(server)])


def write_bytes(pid: int) -> int:
    """A process's `write_bytes` (0 once it is gone)."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/io").read_text().splitlines():
            if line.startswith("write_bytes:"):
                return int(line.split()[1])
    return 0


def maintenance(url: str) -> list[int] | None:
    """PostgreSQL's autovacuums and autoanalyzes so far, over the centre's tables (None on
    SQLite): a rate's bytes count what they write too, so the figures say when one ran."""
    if not url.startswith("postgresql"):
        return None
    row = pg_one(
        url, "SELECT sum(autovacuum_count), sum(autoanalyze_count) FROM pg_stat_user_tables"
    )
    return [int(row[0] or 0), int(row[1] or 0)]


def by_minute(timed: list[tuple[float, float]]) -> list[float]:
    """The p99 of each minute's latencies (seconds from the rate's start, ms), in order."""
    minutes: dict[int, list[float]] = {}
    for at, ms in timed:
        minutes.setdefault(int(at // 60), []).append(ms)
    return [round(percentile(minutes[m], 0.99), 1) for m in sorted(minutes)]


def device_written(url: str) -> int | None:
    """Bytes written so far by the block device that holds the database, after a sync: what
    reached the disk, the filesystem's journal and the WAL pages written again by each commit
    included, which neither count above sees. Every process's writes: a figure for a quiet
    host only. None where the device has no counters (a tmpfs)."""
    if url.startswith("postgresql"):
        path = pg_one(url, "SELECT current_setting('data_directory')")[0]
    else:
        path = url.removeprefix("sqlite:///")
    os.sync()
    device = os.stat(path).st_dev
    stat = Path(f"/sys/dev/block/{os.major(device)}:{os.minor(device)}/stat")
    if not stat.exists():
        return None
    return int(stat.read_text().split()[6]) * 512  # sectors written (of 512 bytes)


def wal_writes(url: str) -> int | None:
    """PostgreSQL's write calls of WAL so far (None on SQLite). Each writes whole 8 KB pages
    from the page where the last one ended: a commit's flush writes its page's earlier bytes
    again, which `wal_bytes` (each byte once) leaves out; at most a page a write."""
    if not url.startswith("postgresql"):
        return None
    return int(pg_one(url, "SELECT wal_write FROM pg_stat_wal")[0])


def checkpoints(url: str) -> int | None:
    """PostgreSQL's checkpoints so far, timed and requested (None on SQLite): a rate's window
    between the bench's own checkpoints is one checkpoint interval only if none fell in it."""
    if not url.startswith("postgresql"):
        return None
    return int(pg_one(url, "SELECT checkpoints_timed + checkpoints_req FROM pg_stat_bgwriter")[0])


def pg_one(url: str, sql: str) -> Any:
    """The one row of a statement on the bench's PostgreSQL, on a connection of its own."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool)
    with engine.connect() as conn:
        row = conn.execute(text(sql)).one()
    engine.dispose()
    return row


def settle(url: str) -> None:
    """PostgreSQL vacuums, then writes out, what the centre's start dirtied (restored state,
    first steps; a first start writes every placement and zone shape of the detector's
    tables, 31,000 rows at 16,000 cases, `alarms.journal`) now: else autovacuum and the
    checkpointer do it during the first rate, whose figure then says "first start"."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(text("VACUUM ANALYZE"))
    engine.dispose()
    checkpoint(url)


HISTORY_BATCH = 5_000  # readings a commit when a steady state's history is stored


def steady_state(url: str, readings: int, cases: int) -> dict[str, Any]:
    """A centre at its steady state under the retention purge: `readings` fixes stored 400 days
    before, then deleted by the purge itself (`observations.purge_locations`) and the tables
    vacuumed, as a centre's history is once it reaches its retention period. The rates'
    readings then fill the pages those left; a new centre's tables grow instead (the default
    run), which PostgreSQL 15 pays twice a new page (zeros to extend the file, then its rows).
    Done before the centre starts: the detector never reads them."""
    from vigie.store import observations, open_database

    database = open_database(url)
    dialect = database.engine.dialect
    old = datetime.now(UTC).replace(microsecond=0) - timedelta(days=400)
    started = time.perf_counter()
    for first in range(0, readings, HISTORY_BATCH):
        rows = []
        for n in range(first, min(readings, first + HISTORY_BATCH)):
            t = old + timedelta(milliseconds=n)
            lat, lon = zone_centre(n % cases)
            record = {"device": f"D{n % cases}", "seq": n + 1, "t": iso(t), "type": "position"}
            record |= {"lat": lat + 0.02, "lon": lon, "accuracy_m": 10}
            rows.append(observations.row_for(record, t, t, source="api:bench"))
        with database.session() as session:
            observations.append(session, observations.prepare(rows, dialect))
    purged = observations.purge_locations(database, old + timedelta(days=1))
    database.engine.dispose()
    if url.startswith("postgresql"):
        from sqlalchemy import create_engine, text
        from sqlalchemy.pool import NullPool

        engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            # As the autovacuum after the purge (every 100,000 inserts: migration 0026); the
            # second recycles the index pages the first deleted.
            for _ in range(2):
                conn.execute(text("VACUUM ANALYZE observations"))
        engine.dispose()
    return {
        "history_readings": readings,
        "purged": purged,
        "seconds": round(time.perf_counter() - started, 1),
    }


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def sqlite_checkpoint(url: str) -> int:
    """Write what SQLite's WAL holds into the file now, as PostgreSQL's CHECKPOINT does there:
    the centre's connections do it only each time the WAL passes its checkpoint size, so the
    pages a rate dirtied would otherwise be written, and counted, in the next. PASSIVE: it
    waits for no writer. Returns the bytes it wrote (this process's `write_bytes`)."""
    before = write_bytes(os.getpid())
    with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)) as conn:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
    return write_bytes(os.getpid()) - before


def checkpoint(url: str) -> None:
    """A PostgreSQL CHECKPOINT, returning once its pages written are in `pg_stat_bgwriter`: the
    command returns when the checkpoint is done, but the checkpointer reports its figures a
    moment later, and `written` read then would leave them to the next rate's count."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.pool import NullPool

    requested = text("SELECT pg_stat_clear_snapshot(), checkpoints_req FROM pg_stat_bgwriter")
    engine = create_engine(url, poolclass=NullPool, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        before = conn.execute(requested).one()[1]
        conn.execute(text("CHECKPOINT"))
        deadline = time.monotonic() + 10
        while conn.execute(requested).one()[1] == before and time.monotonic() < deadline:
            time.sleep(0.05)
    engine.dispose()


def start_server(url: str, port: int) -> subprocess.Popen[bytes]:
    # Production mode: a secret of the run's own (the development default is refused).
    secret = secrets.token_urlsafe(48)
    env = os.environ | {"VIGIE_DATABASE_URL": url, "VIGIE_TICK_S": "1", "VIGIE_JWT_SECRET": secret}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "vigie.api.app:app_from_env",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
        ],
        env=env,
    )
    deadline = time.monotonic() + 300  # a first start compiles every zone: a minute, loaded
    while time.monotonic() < deadline:
        try:
            # Ready: serving, and detection's engine loaded (health answers 200, not 503).
            httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=1).raise_for_status()
            return process
        except (httpx.HTTPStatusError, httpx.TransportError):
            time.sleep(0.2)
    process.kill()
    raise RuntimeError("server did not start")


def quantiles(values: list[float]) -> list[float] | None:
    """[p50, p99] of `values` (ms), None for none."""
    return p50_p99(values) if values else None


def p50_p99(values: list[float]) -> list[float]:
    """[p50, p99] of `values` (ms), at least one."""
    return [round(statistics.median(values), 1), round(percentile(values, 0.99), 1)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    # `kill` (SIGTERM) unwinds like Ctrl-C: the servers started are stopped, not orphaned.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rates", default="600,2400", help="target observations per second")
    parser.add_argument(
        "--seconds",
        type=float,
        default=290,
        help="per rate: one checkpoint interval of PostgreSQL's defaults (5 min; a rate starts "
        "and ends with a CHECKPOINT, so shorter counts every page's first write after one more "
        "often than the server would), and long enough for what grows with the run: 60 s hid "
        "a detector stall every 5 s that grew with the BAR devices' history; at least the "
        "compaction period (VIGIE_SPAN_EVERY_S, 60 s)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=5,
        help="seconds between the centre's readiness and the first rate: the start's own work "
        "(the standby detector's imports, the first checkpoints of a cold start; on PostgreSQL "
        "a VACUUM and a CHECKPOINT then write its pages out) is measured by server_ready_s and "
        "restart_gap_s, not counted against the first rate",
    )
    parser.add_argument("--cases", type=int, default=16_000)
    parser.add_argument("--bar", type=int, default=1000, help="of the cases, BAR pairs")
    parser.add_argument("--batch", type=int, default=100, help="observations per POST")
    parser.add_argument("--clients", type=int, default=4, help="posting clients")
    parser.add_argument("--markers", type=int, default=10, help="zone entries per second")
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument("--quick", action="store_true", help="2,000 cases, 8 s per rate")
    parser.add_argument(
        "--seeded",
        type=Path,
        help="a SQLite file seeded before with the same --cases and --bar (copied, not changed: "
        "SQLite runs on a copy, PostgreSQL gets its rows)",
    )
    parser.add_argument(
        "--steady",
        action="store_true",
        help="measure a centre at its steady state under the retention purge: before the rates, "
        "a history of readings stored, then purged and vacuumed (`steady_state`)",
    )
    parser.add_argument(
        "--pg-set",
        action="append",
        default=[],
        help="a PostgreSQL server setting for the run, name=value (reloadable ones: "
        "wal_compression=lz4, checkpoint_timeout=15min, ...); the server's defaults otherwise",
    )
    parser.add_argument(
        "--pg-production",
        action="store_true",
        help="PostgreSQL made and started as docs/production-postgresql.md configures it (data "
        "checksums, wal_log_hints=on, wal_compression=lz4), not with the server's defaults",
    )
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the results go")
    parser.add_argument(
        "--profile",
        type=Path,
        help="folder where py-spy (if installed) records the API and the detector at each rate",
    )
    parser.add_argument(
        "--trace",
        type=Path,
        help="a file each marker's times are added to (ms from its rate's start: acknowledged, "
        "its step begun, its alarm seen), to find when the slow ones came",
    )
    parser.add_argument(
        "--watch",
        choices=("stream", "poll"),
        default="stream",
        help="see alarms as the console does (event stream, then read) or by polling every 10 ms",
    )
    args = parser.parse_args()
    if args.quick:
        args.cases, args.bar, args.seconds = 2000, 125, 8.0
    rates = [int(r) for r in args.rates.split(",")]
    # Marker cases send nothing but their marker: a first fix, never an impossible jump from
    # where the case was (vigie.detect.plausibility holds those as suspect).
    args.reserved = math.ceil(args.seconds * args.markers * len(rates) * 1.1) + args.clients
    if args.reserved > args.cases - args.bar:
        parser.error("--seconds x --markers x rates exceeds PSEM cases: one marker per case")

    calibration = calibrate()
    runs = []
    with contextlib.ExitStack() as stack:
        urls = {}
        for database in args.databases.split(","):
            if database == "sqlite":
                folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="vigie-bench-"))
                urls[database] = f"sqlite:///{Path(folder) / 'vigie.sqlite'}"
            else:
                urls[database] = stack.enter_context(postgres(args.pg_production))
                pg_settings(urls[database], args.pg_set)
        # Seeding is most of a run's time (the clerk's path, case by case): every database's
        # at once, each in a process of its own; then each is measured alone.
        print(f"seeding {args.cases} cases ({args.bar} BAR) in {', '.join(urls)} ...", flush=True)
        spawn = multiprocessing.get_context("spawn")
        seeded: dict[str, tuple[float, str]] = {}
        if args.seeded:
            from vigie.store.schema import upgrade

            source = urls.get("sqlite") or "sqlite:///" + str(
                Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="vigie-bench-")))
                / "seeded.sqlite"
            )
            shutil.copyfile(args.seeded, source.removeprefix("sqlite:///"))
            upgrade(source)  # seeded by an earlier version of the schema, perhaps
            if "sqlite" in urls:
                seeded["sqlite"] = (0.0, "a copy of the seeded SQLite file")
            if "postgresql" in urls:
                upgrade(urls["postgresql"])
                copied_s = copy_seeded(source, urls["postgresql"])
                seeded["postgresql"] = (copied_s, "copied from the seeded SQLite file")
        with ProcessPoolExecutor(len(urls), mp_context=spawn) as pool:
            seeding = {
                db: pool.submit(timed_seed, url, args.cases, args.bar)
                for db, url in urls.items()
                if db not in seeded
            }
            seeded |= {
                db: (future.result(), "seeded in the run through the application's functions")
                for db, future in seeding.items()
            }
        for database, url in urls.items():
            runs.append(run(args, rates, database, url, *seeded[database]))
    production = PRODUCTION_INITDB + [f"{k}={v}" for k, v in PRODUCTION_SETTINGS.items()]
    result = {
        "benchmark": "pipeline acceptance -> alarm visible in the API",
        "commit": commit(),
        "cases": args.cases,
        "clients": args.clients,
        "batch": args.batch,
        "bar_pairs": args.bar,
        "zones": "one drawn 35-vertex exclusion zone per PSEM case",
        # How often the centre made spans (`vigie.store.spans`): its writes are in the bytes.
        "span_every_s": span_every_s(),
        "postgresql_settings": production * args.pg_production + args.pg_set or "defaults",
        "goals": GOALS,
        "met": met(runs),
        "runs": runs,
        "load_average": os.getloadavg(),
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "calibration_ms": calibration,
        },
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


def span_every_s() -> float:
    """The centre's compaction period, as its settings (and the environment) give it."""
    from vigie.settings import Settings

    return Settings().span_every_s


# Issue 13's "done when", at every rate measured, on every database.
GOALS = {"p99_ms": 200, "write_mb_s": 2.0, "restart_gap_s": 5.0}


def met(runs: list[dict[str, Any]]) -> dict[str, bool]:
    """Each goal, held by every rate of every run (a run without a figure does not hold it)."""
    rates = [rate for run in runs for rate in run["rates"]]
    return {
        "every_marker_seen": all(r["alarms_seen"] == r["markers"] for r in rates),
        "p99_ms": all((r["latency_ms_p99"] or math.inf) < GOALS["p99_ms"] for r in rates),
        # The same from the POST's sending, its wait for a group commit included.
        "p99_ms_from_sent": all(
            (r["sent_to_seen_ms_p50_p99_max"] or [math.inf] * 3)[1] < GOALS["p99_ms"] for r in rates
        ),
        "write_mb_s": all(r["write_mb_s"] < GOALS["write_mb_s"] for r in rates),
        # The same by what the disk wrote (every process's: a quiet host's figure).
        "device_mb_s": all((r.get("device_mb_s") or math.inf) < GOALS["write_mb_s"] for r in rates),
        "restart_gap_s": all(
            (run["restart_gap_s"] or math.inf) < GOALS["restart_gap_s"] for run in runs
        ),
    }


def commit() -> str:
    found = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True)
    return found.stdout.strip()


def calibrate() -> float:
    """The machine's single-core speed at the time, as a fixed pure-Python loop's best of five
    (ms): the host is shared, and one code's figures an hour apart have differed by half."""
    best = float("inf")
    for _ in range(5):
        start = time.perf_counter()
        sum(range(10**6))
        best = min(best, time.perf_counter() - start)
    return round(best * 1000, 1)


def timed_seed(url: str, cases: int, bar: int) -> float:
    """`seed`, in seconds."""
    started = time.perf_counter()
    seed(url, cases, bar)
    return time.perf_counter() - started


COPY_ROWS = 5000  # rows a statement when copying a seeded store


def copy_seeded(source: str, target: str) -> float:
    """Copy every row of the seeded SQLite store `source` into the fresh PostgreSQL store
    `target` (both at the schema's head); the seconds taken. Seeding through the application
    takes 20 min for 16,000 cases on SQLite and 3.5 times as long on PostgreSQL.

    Table by table in foreign-key order, read and written through the models' column types
    (SQLite keeps JSON and datetimes as text: the types convert). Verbatim: the rows the
    migrations put in (the audit chain's head, the placement watermark) give way to the file's,
    the audit log keeps its ids and hashes, placements their `changed` (its trigger is off
    meanwhile); then the watermark and the id sequences continue above what was copied.
    """
    from sqlalchemy import select, text

    from vigie.store.database import create_store_engine
    from vigie.store.models import Base

    started = time.perf_counter()
    reader, writer = create_store_engine(source), create_store_engine(target)
    tables = Base.metadata.sorted_tables  # alembic_version is not a model: left as upgraded
    with reader.connect() as src, writer.begin() as dst:
        dst.execute(text("ALTER TABLE placements DISABLE TRIGGER USER"))
        for table in reversed(tables):
            dst.execute(table.delete())
        for table in tables:
            query = select(table).order_by(*table.primary_key.columns)
            rows = src.execution_options(yield_per=COPY_ROWS).execute(query).mappings()
            for chunk in rows.partitions():
                dst.execute(table.insert(), [dict(row) for row in chunk])
            if (column := table.autoincrement_column) is not None:
                name, key = table.name, column.name
                dst.execute(
                    text(
                        f"SELECT setval(pg_get_serial_sequence('{name}', '{key}'), "
                        f"coalesce(max({key}), 1), max({key}) IS NOT NULL) FROM {name}"
                    )
                )
        dst.execute(text("ALTER TABLE placements ENABLE TRIGGER USER"))
        dst.execute(
            text(
                "UPDATE placement_watermark SET value = "
                "greatest(value, (SELECT coalesce(max(changed), 0) FROM placements))"
            )
        )
    # Statistics and visibility now, and the load written out: else autovacuum and the
    # checkpointer (hundreds of MB of the copy's pages) would do it mid-measurement.
    with writer.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
        conn.execute(text("CHECKPOINT"))
    reader.dispose()
    writer.dispose()
    return time.perf_counter() - started


def run(
    args: argparse.Namespace,
    rates: list[int],
    database: str,
    url: str,
    seeded_s: float,
    seed_note: str,
) -> dict[str, Any]:
    """Serve the seeded store, load at each rate and watch; then the restart gap. The figures
    of one database."""
    steady = None
    if args.steady:
        # Room for every rate's readings and the markers, with a margin.
        readings = int(sum(rates) * args.seconds * 1.5)
        print(f"{database}: {readings} readings stored and purged (--steady)", flush=True)
        steady = steady_state(url, readings, args.cases)
    print(f"{database}: measuring", flush=True)
    port = free_port()
    started = time.perf_counter()
    server = start_server(url, port)
    ready_s = time.perf_counter() - started
    base = f"http://127.0.0.1:{port}"
    client = httpx.Client(base_url=base, timeout=30)
    token = client.post("/api/auth/token", json={"username": "bench", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    watch_token = client.post(
        "/api/auth/token", json={"username": "bench-watch", "password": PASSWORD}
    ).json()["access_token"]
    watcher = {"Authorization": f"Bearer {watch_token}"}

    acked: dict[str, float] = {}  # case -> time its marker fix was acknowledged
    seen: dict[str, float] = {}
    steps: dict[str, float] = {}  # case -> when the step that opened its alarm began
    stop = threading.Event()

    def look(http: httpx.Client, last: int) -> int:
        """Read the alarms opened since `last` (as an integration follows the queue)."""
        listed = http.get(
            "/api/alarms", params={"kind": "zone_entry", "after": last, "limit": 1000}
        )
        now = time.perf_counter()
        for alarm in listed.json():
            seen.setdefault(alarm["case"], now)
            opened = datetime.fromisoformat(alarm["opened_at"].replace("Z", "+00:00"))
            steps.setdefault(alarm["case"], opened.timestamp() - WALL)
            last = max(last, alarm["id"])
        return last

    def poll() -> None:
        last = 0
        with httpx.Client(base_url=base, headers=watcher, timeout=30) as http:
            while not stop.is_set():
                last = look(http, last)
                time.sleep(POLL_S)

    def stream() -> None:
        last = 0
        with (
            httpx.Client(base_url=base, headers=watcher, timeout=None) as http,
            http.stream("GET", "/api/console/stream") as events,
        ):
            for line in events.iter_lines():
                if stop.is_set():
                    return
                if line == "event: changed":
                    last = look(http, last)

    def watch() -> None:
        with contextlib.suppress(httpx.HTTPError):  # the server goes away at the end
            (stream if args.watch == "stream" else poll)()

    poller = threading.Thread(target=watch, daemon=True)
    poller.start()
    time.sleep(args.settle)
    if url.startswith("postgresql"):
        settle(url)
    else:
        sqlite_checkpoint(url)  # the first rate starts, as each after it, with the WAL written out
    markers = iter(range(args.reserved))
    marker_lock = threading.Lock()
    phases = []
    try:
        for rate in rates:
            phases.append(
                load(
                    args,
                    base,
                    headers,
                    rate,
                    server.pid,
                    url,
                    markers,
                    marker_lock,
                    acked,
                    seen,
                    steps,
                )
            )
        gap = restart_gap(client, server.pid)
    finally:
        stop.set()
        server.terminate()
        server.wait(timeout=30)
    return {
        "database": database,
        "watch": args.watch,
        "seed_s": round(seeded_s, 1),
        "seed_note": seed_note,
        "server_ready_s": round(ready_s, 1),
        "settle_s": args.settle,
        "steady_state": steady,
        "rates": phases,
        "restart_gap_s": gap,
    }


def load(
    args: argparse.Namespace,
    base: str,
    headers: dict[str, str],
    rate: int,
    server: int,
    url: str,
    markers: Iterator[int],
    marker_lock: threading.Lock,
    acked: dict[str, float],
    seen: dict[str, float],
    steps: dict[str, float],
) -> dict[str, Any]:
    """Post at `rate` from the clients for `seconds`; the phase's figures."""
    mine: list[str] = []
    sent = [0] * args.clients
    posted: dict[str, float] = {}  # marker -> when its POST was sent
    posts_ms: list[float] = []  # each POST, sent -> acknowledged (group commit's wait in it)
    detector = detector_pid(server)
    cpu0 = cpu_s(detector) if detector else 0.0
    postgres_cpu0 = postgres_cpu_s(url)
    bytes0 = written(server, url)
    maintained0 = maintenance(url)
    checkpoints0 = checkpoints(url)
    wal_writes0 = wal_writes(url)
    device0 = device_written(url)
    # SQLite: the detector's part (its own commits, and the checkpoints that its commits run
    # when they take the WAL past `WAL_CHECKPOINT_BYTES`, whoever dirtied those pages).
    detector_bytes0 = write_bytes(detector) if detector and not url.startswith("postgresql") else 0
    start = time.perf_counter()
    per_client = rate / args.clients
    marker_every = args.clients / args.markers
    regular = args.cases - args.reserved  # the cases that report all along

    def post(k: int) -> None:
        seq = k * 10**7 + rate * 10**5
        next_marker = start + k / args.markers
        with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
            n = args.reserved + k
            while time.perf_counter() - start < args.seconds:
                now = datetime.now(UTC)
                t = iso(now)
                batch: list[dict[str, Any]] = []
                marker: str | None = None
                if time.perf_counter() >= next_marker:
                    with marker_lock:
                        case = next(markers)
                    lat, lon = zone_centre(case)
                    marker = f"K{case}"
                    # A breach is held until a second fix confirms it (vigie.detect.persistence):
                    # the marker is a fix inside a second ago and this one, which raises.
                    before = iso(now - timedelta(seconds=1))
                    batch += [
                        {"device": f"D{case}", "seq": 10**9 + 2 * case + i, "t": when}
                        | {"type": "position", "lat": lat, "lon": lon, "accuracy_m": 5}
                        for i, when in enumerate((before, t))
                    ]
                    next_marker += marker_every
                while len(batch) < args.batch:
                    n = args.reserved + (n + args.clients - args.reserved) % regular
                    lat, lon = zone_centre(n)
                    seq += 1
                    batch.append(
                        {"device": f"D{n}", "seq": seq, "t": t, "type": "position"}
                        | {"lat": lat + 0.02, "lon": lon, "accuracy_m": 10}
                    )
                    if n >= args.cases - args.bar:  # the protected person, far away
                        batch.append(
                            {"device": f"P{n}", "seq": seq, "t": t, "type": "position"}
                            | {"lat": lat - BAR_APART, "lon": lon, "accuracy_m": 10}
                        )
                began = time.perf_counter()
                response = http.post("/api/observations", json={"observations": batch})
                response.raise_for_status()
                ended = time.perf_counter()
                posts_ms.append((ended - began) * 1000)
                if marker:
                    acked[marker], posted[marker] = ended, began
                    mine.append(marker)
                sent[k] += len(batch)
                ahead = (sent[k] / per_client) - (time.perf_counter() - start)
                if ahead > 0:
                    time.sleep(ahead)

    threads = [threading.Thread(target=post, args=(k,)) for k in range(args.clients)]
    for thread in threads:
        thread.start()
    spies = profile(args, {"api": server, "detector": detector}, f"{url.split(':')[0]}-{rate}")
    for thread in threads:
        thread.join()
    for spy in spies:
        spy.wait()
    elapsed = time.perf_counter() - start
    detector_cpu = (cpu_s(detector) - cpu0) if detector else None
    postgres_cpu = postgres_cpu_s(url)
    deadline = time.perf_counter() + 15
    while time.perf_counter() < deadline and not set(mine) <= set(seen):
        time.sleep(0.05)
    total = sum(sent)
    bytes_written = written(server, url) - bytes0
    checkpointed = checkpoints(url)
    wal_written = wal_writes(url)
    if url.startswith("postgresql"):
        # The window's WAL and the pages written out in it leave out the pages the load dirtied
        # and the checkpointer writes later: a CHECKPOINT now counts them too, once.
        checkpoint(url)
        bytes_written = written(server, url) - bytes0
    else:
        bytes_written += sqlite_checkpoint(url)
    maintained = maintenance(url)
    device1 = device_written(url)
    detector_bytes = None
    if detector and not url.startswith("postgresql"):
        detector_bytes = write_bytes(detector) - detector_bytes0
    latencies_ms = [(seen[c] - acked[c]) * 1000 for c in mine if c in seen]
    # Where the time goes: acknowledged -> the detector's step begins (waking, waiting for the
    # step under way) and that step's beginning -> seen (detecting, committing, telling, reading).
    to_step = [(steps[c] - acked[c]) * 1000 for c in mine if c in seen]
    step_to_seen = [(seen[c] - steps[c]) * 1000 for c in mine if c in seen]
    # From the client's sending: the POST's own time (its wait for a group commit) too.
    from_sent = [(seen[c] - posted[c]) * 1000 for c in mine if c in seen]
    figures = {
        "target_rate_obs_s": rate,
        "achieved_rate_obs_s": round(total / elapsed, 1),
        "observations": total,
        "seconds": round(elapsed, 2),
        "markers": len(mine),
        "alarms_seen": len(latencies_ms),
        "latency_ms_p50": round(statistics.median(latencies_ms), 1) if latencies_ms else None,
        "latency_ms_p99": round(percentile(latencies_ms, 0.99), 1) if latencies_ms else None,
        "latency_ms_max": round(max(latencies_ms), 1) if latencies_ms else None,
        # Per minute of the rate, by acknowledgement: a cost that grows with the run (state
        # kept, alarms left open) shows as a rising row where the whole rate's p99 may not.
        "latency_ms_p99_by_minute": by_minute(
            [(acked[c] - start, (seen[c] - acked[c]) * 1000) for c in mine if c in seen]
        ),
        "sent_to_seen_ms_p50_p99_max": [*p50_p99(from_sent), round(max(from_sent), 1)]
        if from_sent
        else None,
        "post_ms_p50_p99": quantiles(posts_ms),
        "ack_to_step_ms_p50_p99": quantiles(to_step),
        "step_to_seen_ms_p50_p99": quantiles(step_to_seen),
        "detector_cpu_share": round(detector_cpu / elapsed, 3) if detector_cpu else None,
        "postgresql_cpu_share": (
            None
            if postgres_cpu is None or postgres_cpu0 is None
            else round((postgres_cpu - postgres_cpu0) / elapsed, 3)
        ),
        "bytes_written_per_obs": round(bytes_written / total) if total else None,
        "write_mb_s": round(bytes_written / elapsed / 1e6, 2),
        "detector_bytes_per_obs": (
            round(detector_bytes / total) if detector_bytes is not None and total else None
        ),
        "autovacuums_autoanalyzes": (
            None
            if maintained is None or maintained0 is None
            else [b - a for a, b in zip(maintained0, maintained, strict=True)]
        ),
        # The server's own checkpoints in the window, the bench's closing one not counted: with
        # none, the bytes are those of one checkpoint interval as long as the window.
        "server_checkpoints": (
            None if checkpointed is None or checkpoints0 is None else checkpointed - checkpoints0
        ),
        # PostgreSQL's WAL write calls a second, and the most their rewrites of a page's earlier
        # bytes can add to `bytes_written_per_obs` (a page a write; not counted in it).
        "wal_writes_per_s": (
            None
            if wal_written is None or wal_writes0 is None
            else round((wal_written - wal_writes0) / elapsed, 1)
        ),
        "wal_rewrite_max_bytes_per_obs": (
            None
            if wal_written is None or wal_writes0 is None or not total
            else round((wal_written - wal_writes0) * 8192 / total)
        ),
        # What the disk wrote meanwhile, every process's (see `device_written`).
        "device_bytes_per_obs": (
            None
            if device0 is None or device1 is None or not total
            else round((device1 - device0) / total)
        ),
        "device_mb_s": (
            None
            if device0 is None or device1 is None
            else round((device1 - device0) / elapsed / 1e6, 2)
        ),
        "load_average": os.getloadavg(),
    }
    print(json.dumps(figures), flush=True)
    if args.trace is not None:  # each marker's times, from the rate's start, for the slow ones
        with args.trace.open("a") as trace:
            for c in mine:
                if c in seen:
                    at = {"acked": acked[c], "step": steps[c], "seen": seen[c]}
                    line = {"database": url.split(":")[0], "rate": rate, "marker": c}
                    line |= {k: round((v - start) * 1000, 1) for k, v in at.items()}
                    trace.write(json.dumps(line) + "\n")
    return figures


def profile(
    args: argparse.Namespace, pids: dict[str, int | None], tag: str
) -> list[subprocess.Popen[bytes]]:
    """py-spy on each process for the phase (`--profile`): flat lines "stack count" per file."""
    spy = shutil.which("py-spy", path=str(Path(sys.executable).parent)) or shutil.which("py-spy")
    if args.profile is None or spy is None:
        return []
    args.profile.mkdir(parents=True, exist_ok=True)
    seconds = str(max(1, int(args.seconds) - 1))
    return [
        subprocess.Popen(
            [
                *(spy, "record", "-p", str(pid), "-d", seconds, "-r", "100", "-f", "raw"),
                *("--nonblocking", "-o", str(args.profile / f"{name}-{tag}.txt")),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for name, pid in pids.items()
        if pid
    ]


def restart_gap(client: httpx.Client, server: int) -> float | None:
    """kill -9 of the detector; seconds until a new one has restored and stepped."""
    detector = detector_pid(server)
    if detector is None:
        return None
    killed_at = time.perf_counter()
    killed = datetime.now(UTC)
    os.kill(detector, signal.SIGKILL)
    deadline = killed_at + 120
    while time.perf_counter() < deadline:
        with contextlib.suppress(httpx.HTTPError, ValueError):
            pipeline = client.get("/api/health").json().get("pipeline") or {}
            last = pipeline.get("last_step_at")
            if pipeline.get("warm") and last and datetime.fromisoformat(last) > killed:
                return round(time.perf_counter() - killed_at, 2)
        time.sleep(0.05)
    return None


if __name__ == "__main__":
    main()
