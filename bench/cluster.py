"""Benchmark of the cluster's detection tier: how fast W workers drain a pre-filled stream.

Starts 3 `nats-server` nodes on loopback (`vigie.cluster.local`, `sync_interval: always` as the
design recommends) and a PostgreSQL of the run's own (fsync on), opens the cases of a simulated
population (`vigie.sim`, the demo's clerk path) and publishes a day of their readings to
`VIGIE_OBS` as the gateways would (one stream message per reading, each device's in order, 128
in flight, every PubAck awaited). The day is an earlier one (shifted by whole days, so the
curfew hours stay where the simulation put them): the workers meet a backlog, as after an outage
of the detection tier, the catch-up case of design scale-ha.md §5.4.

Then, for W = 1, 2, 4 detection workers (`vigie cluster worker`, each a process; a fresh copy of
the seeded database each time, so every partition starts from an empty `engine_state`), it
times the drain from the first committed step to every stream message processed, and records:
readings/s; CPU-seconds per 1,000 readings of each tier (the 3 NATS servers, the workers,
PostgreSQL's postmaster and backends, from /proc/<pid>/stat, children reaped included);
PostgreSQL commits/s (pg_stat_database.xact_commit, flushed by the backends about once a
second); the load average. Prints speedup_2 = rate(2)/rate(1) and rate(4)/rate(2) against the
pass criteria on 2 cores (≥ 1.3; ≥ 0.95: no collapse when oversubscribed), and the arithmetic
for more machines, throughput = min(W × c_worker, c_stream, c_pg), from the CPU figures.

    .venv/bin/python bench/cluster.py [--cases 650] [--workers 1,2,4] [--partitions 16]
        [--per-message 1] [--repeat 1] [--database-url URL] [--quick]

`--quick`: 40 cases (about 19k readings). `--database-url`: an empty migrated PostgreSQL
database to seed (its server must allow CREATE DATABASE: each run copies it) instead of a
server of the run's own. Writes bench/results/cluster.json with the commit measured. Not a test
(tests/cluster/test_bench.py runs it at a tiny size).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypedDict

from pipeline import calibrate, commit, postgres

RESULTS = Path(__file__).with_name("results") / "cluster.json"
IN_FLIGHT = 128  # publishes awaiting their PubAck at once during the pre-fill
LEASE_S = 3.0
SPEEDUP_2_MIN = 1.3
NO_COLLAPSE_MIN = 0.95
TICK = os.sysconf("SC_CLK_TCK")


# ---------------------------------------------------------------- CPU of a tier


def _times(pid: int) -> tuple[float, float]:
    """(own CPU-s, CPU-s of its reaped children) of a process; zeros if it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0, 0.0
    return (int(fields[11]) + int(fields[12])) / TICK, (int(fields[13]) + int(fields[14])) / TICK


def _children(pid: int) -> list[int]:
    found = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(p) for p in (task / "children").read_text().split()]
    return found


def tier_cpu(roots: list[int]) -> float:
    """CPU-seconds of processes and all their descendants, living or reaped. A child that ends
    between two readings moves into its parent's reaped time, so differences stay exact."""
    total = 0.0
    pending = list(roots)
    while pending:
        pid = pending.pop()
        own, reaped = _times(pid)
        total += own + reaped
        pending += _children(pid)
    return total


# ---------------------------------------------------------------- the population


def population(cases: int, seed_value: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The simulated placements and their day of readings, moved back by whole days until the
    last one is at least a minute old (the day's schedules stay at their hours)."""
    from vigie import clock
    from vigie.commands.centre import simulated_population

    placements, observations = simulated_population(cases, seed_value)
    last = datetime.fromisoformat(observations[-1]["t"].replace("Z", "+00:00"))
    days = 0
    while last - timedelta(days=days) > clock.now() - timedelta(minutes=1):
        days += 1
    for record in observations:
        t = datetime.fromisoformat(record["t"].replace("Z", "+00:00")) - timedelta(days=days)
        record["t"] = t.isoformat().replace("+00:00", "Z")
    return placements, observations


def open_cases(url: str, placements: list[dict[str, Any]]) -> None:
    """Each simulated placement made a real case, as the demo's clerk does."""
    from vigie.commands.centre import _demo_accounts, _demo_contacts, _open_case
    from vigie.store import open_database

    database = open_database(url)
    try:
        with database.session() as session:
            _demo_accounts(session)
            contacts = _demo_contacts(session)
            for index, record in enumerate(placements):
                mine = {role: ids[index % len(ids)] for role, ids in contacts.items()}
                _open_case(session, record, mine)
    finally:
        database.dispose()


def routes(placements: list[dict[str, Any]], partitions: int) -> dict[str, int]:
    """Device -> partition, as the gateways' directory routes them."""
    from vigie.cluster.partitions import partition_of

    return {
        placement[role]: partition_of(placement["case"], partitions)
        for placement in placements
        for role in ("wearer", "home_unit", "protected")
        if placement.get(role)
    }


async def prefill(
    urls: str, partitions: int, observations: list[dict[str, Any]], route: dict[str, int], per: int
) -> dict[str, Any]:
    """Publish every reading (in `per`-reading messages) and await each PubAck; what it cost."""
    from vigie import clock
    from vigie.cluster.connection import connect
    from vigie.cluster.publisher import ObservationPublisher
    from vigie.cluster.topology import STREAM
    from vigie.settings import Settings
    from vigie.store import observations as log

    config = Settings(nats_urls=urls, partitions=partitions)
    connection = await connect(config, "bench-prefill")
    publisher = ObservationPublisher(connection.jetstream(), "bench")
    received = clock.now()
    messages: list[tuple[str, list[dict[str, Any]]]] = []
    pending: dict[str, list[dict[str, Any]]] = {}
    for record in observations:  # in time order; a device's message once it holds `per`
        if record["device"] not in route:
            continue
        own = pending.setdefault(record["device"], [])
        own.append(record)
        if len(own) == per:
            messages.append((record["device"], pending.pop(record["device"])))
    messages += list(pending.items())
    queue: asyncio.Queue[tuple[str, list[dict[str, Any]]]] = asyncio.Queue()
    for message in messages:
        queue.put_nowait(message)
    locks: dict[str, asyncio.Lock] = {}
    stored = [0]  # readings in messages the stream took (a repeated reading's id is refused)

    async def sender() -> None:
        while not queue.empty():
            device, records = queue.get_nowait()
            rows = [log.row_for(r, _t(r), received, source="bench") for r in records]
            # Taken in order, locked at once (FIFO): a device's messages keep their order.
            async with locks.setdefault(device, asyncio.Lock()):
                done = await publisher.publish(device, route[device], rows)
            stored[0] += done.new

    began = time.perf_counter()
    await asyncio.gather(*(sender() for _ in range(IN_FLIGHT)))
    seconds = time.perf_counter() - began
    state = (await connection.jetstream().stream_info(STREAM)).state
    await connection.close()
    return {
        "messages": state.messages,
        "readings": stored[0],
        "repeated_readings_refused": sum(len(rows) for _, rows in messages) - stored[0],
        "seconds": round(seconds, 1),
        "retries": publisher.retries,
    }


def _t(record: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(record["t"].replace("Z", "+00:00"))


# ---------------------------------------------------------------- one drain


def _admin(url: str) -> Any:
    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    return create_engine(make_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT")


@contextlib.contextmanager
def copy_of(template: str, name: str) -> Iterator[str]:
    """A new database made from the seeded one (nothing of an earlier run), dropped after."""
    from sqlalchemy import text
    from sqlalchemy.engine import make_url

    source = make_url(template)
    admin = _admin(template)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}" TEMPLATE "{source.database}"'))
        yield source.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def postmaster(url: str) -> int:
    """The server's postmaster: the parent of this connection's backend."""
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            backend = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
            status = Path(f"/proc/{backend}/status").read_text()  # while it lives
    finally:
        engine.dispose()
    return int(next(line for line in status.splitlines() if line.startswith("PPid:")).split()[1])


class LeaseHolders:
    """Who holds the partitions' leases now (read from `vigie_leases` on a loop of its own)."""

    def __init__(self, urls: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._js: Any = self._run(self._open(urls))

    def _run(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(30)

    async def _open(self, urls: str) -> Any:
        import nats

        self._connection = await nats.connect(servers=urls.split(","))
        return self._connection.jetstream()

    async def _holders(self) -> set[str]:
        from vigie.cluster.kv_listing import live_values
        from vigie.cluster.topology import LEASES

        leases = await live_values(self._js, LEASES)
        return {json.loads(value)["worker"] for value in leases.values() if value}

    def holders(self) -> set[str]:
        result: set[str] = self._run(self._holders())
        return result

    def close(self) -> None:
        self._run(self._connection.close())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


def _vigie() -> str:
    return str(Path(sys.executable).parent / "vigie")


def drain(
    args: argparse.Namespace,
    nats: Any,
    url: str,
    pg_root: int,
    workers: int,
    messages: int,
    readings: int,
    folder: Path,
) -> dict[str, Any]:
    """Start `workers` workers on a fresh copy of the seeded database; time the drain from the
    first committed step, and from the moment every worker holds partitions (steady: the
    start-up hand-overs of rendezvous hashing behind)."""
    from sqlalchemy import create_engine, func, select, text

    from vigie.store.models import Alarm, EngineState, Observation

    engine = create_engine(url, pool_size=1)
    env = os.environ | {
        "VIGIE_MODE": "cluster",
        "VIGIE_DATABASE_URL": url,
        "VIGIE_NATS_URLS": nats.urls_setting,
        "VIGIE_PARTITIONS": str(args.partitions),
        "VIGIE_LEASE_S": str(LEASE_S),
        "VIGIE_RENEW_S": "1",
        "VIGIE_ESCALATION_AFTER_S": "3600",  # detection measured, not reminders to operators
    }
    names = [f"bench-{workers}-{index}" for index in range(workers)]

    def state() -> tuple[int, int]:
        with engine.connect() as conn:
            done = conn.execute(select(func.coalesce(func.sum(EngineState.processed), 0)))
            commits = conn.execute(
                text("SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()")
            )
            return int(done.scalar_one()), int(commits.scalar_one())

    def mark() -> Mark:
        done, commits = state()
        return Mark(time.perf_counter(), done, commits, cpu(nats, pids, pg_root))

    print(f"W={workers}: starting", flush=True)
    load_before = os.getloadavg()
    spawned = time.perf_counter()
    processes = []
    for name in names:
        with (folder / f"{name}.log").open("wb") as log:
            command = [_vigie(), "cluster", "worker", "--name", name]
            processes.append(
                subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
            )
    pids = [p.pid for p in processes]
    leases = LeaseHolders(nats.urls_setting)
    try:
        first: Mark | None = None
        steady: Mark | None = None
        looked = 0.0
        deadline = spawned + args.timeout
        while True:
            now = mark()
            if now.done >= messages:
                break
            if time.perf_counter() > deadline:
                raise RuntimeError(f"W={workers}: {now.done} of {messages} in {args.timeout} s")
            if any(p.poll() is not None for p in processes):
                raise RuntimeError(f"W={workers}: a worker exited; see {folder}")
            if first is None and now.done:
                first = now
            if first is not None and steady is None and now.at - looked >= 0.5:
                looked = now.at
                if leases.holders() >= set(names):
                    steady = now
            time.sleep(0.1)
        load_after = os.getloadavg()
    finally:
        leases.close()
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    with engine.connect() as conn:
        archived = conn.execute(select(func.count()).select_from(Observation)).scalar_one()
        alarms = conn.execute(select(func.count()).select_from(Alarm)).scalar_one()
        steps = conn.execute(select(func.coalesce(func.sum(EngineState.step), 0))).scalar_one()
    engine.dispose()
    first = first or now  # drained between two looks
    figures = {
        "workers": workers,
        **window(first, now, messages, readings),
        "start_to_first_step_s": round(first.at - spawned, 2),
        "start_to_drained_s": round(now.at - spawned, 2),
        "rate_from_start_readings_per_s": round(readings / (now.at - spawned), 1),
        "steady": window(steady, now, messages, readings) if steady else None,
        "steady_from_s": round(steady.at - first.at, 2) if steady else None,
        "steps": int(steps),
        "archived": int(archived),
        "alarms": int(alarms),
        "load_average_before": load_before,
        "load_average_after": load_after,
    }
    print(json.dumps(figures), flush=True)
    return figures


@dataclass(frozen=True)
class Mark:
    """The state of a drain at one moment: time, messages processed, commits, CPU by tier."""

    at: float
    done: int
    commits: int
    cpu: dict[str, float]


def cpu(nats: Any, workers: list[int], pg_root: int) -> dict[str, float]:
    """CPU-seconds so far: each NATS node, the workers, PostgreSQL (postmaster and backends)."""
    nodes = {f"nats_{node.name}": tier_cpu([node.pid]) for node in nats.nodes}
    return {
        "nats": sum(nodes.values()),
        **nodes,
        "workers": tier_cpu(workers),
        "postgresql": tier_cpu([pg_root]),
    }


def window(since: Mark, until: Mark, messages: int, readings: int) -> dict[str, Any]:
    """Rate and costs between two marks (readings in proportion to the messages processed)."""
    seconds = max(until.at - since.at, 1e-6)
    drained = readings * (until.done - since.done) / messages
    return {
        "readings_per_s": round(drained / seconds, 1),
        "messages_per_s": round((until.done - since.done) / seconds, 1),
        "seconds": round(seconds, 2),
        "cpu_s_per_1000_readings": {
            tier: round((until.cpu[tier] - since.cpu[tier]) / max(drained, 1) * 1000, 3)
            for tier in until.cpu
        },
        "cpu_share_of_a_core": {
            tier: round((until.cpu[tier] - since.cpu[tier]) / seconds, 2) for tier in until.cpu
        },
        "pg_commits_per_s": round((until.commits - since.commits) / seconds, 1),
    }


# ---------------------------------------------------------------- how it grows


class Bound(TypedDict):
    """A number of workers' throughput and the tier that bounds it."""

    workers: int
    readings_per_s: int
    bound_by: str


def arithmetic(base: dict[str, Any], prefill: dict[str, Any], partitions: int) -> dict[str, Any]:
    """Throughput = min(W × c_worker, c_stream, c_pg), each c in readings/s per core, from the
    one-worker run's CPU (the least contended). c_stream: the busiest NATS node's writes (the
    pre-fill) and reads on one core; the stream's leader takes every publish. A tier whose CPU
    stayed under the clock's resolution (a tiny run) bounds nothing measured: its c is None."""
    cost = base["cpu_s_per_1000_readings"]
    nodes = [k for k in prefill["nats_cpu_s_per_1000_readings"] if k.startswith("nats_")]
    busiest = max(prefill["nats_cpu_s_per_1000_readings"][k] + cost[k] for k in nodes)
    c_worker, c_stream, c_pg = (
        per_core(cost["workers"]),
        per_core(busiest),
        per_core(cost["postgresql"]),
    )
    rows: list[Bound] = []
    for w in (1, 2, 4, 8, 16, 32, 64):
        if w > partitions:
            break
        limits = {
            k: c
            for k, c in (
                ("workers", None if c_worker is None else w * c_worker),
                ("stream", c_stream),
                ("postgresql", c_pg),
            )
            if c is not None
        }
        if limits:
            bound = min(limits, key=lambda k: limits[k])
            rows.append({"workers": w, "readings_per_s": round(limits[bound]), "bound_by": bound})
    return {
        "formula": "throughput = min(W x c_worker, c_stream, c_pg), one core each",
        "c_worker_readings_per_s_per_core": rounded(c_worker),
        "c_stream_readings_per_s_per_core": rounded(c_stream),
        "c_pg_readings_per_s_per_core": rounded(c_pg),
        "by_workers": rows,
        "catch_up_10M_readings_min": {
            str(r["workers"]): round(10e6 / r["readings_per_s"] / 60, 1) for r in rows
        },
        "note": (
            "a core per worker, one per NATS node, one for PostgreSQL; more PostgreSQL cores "
            "multiply c_pg, K streams with leaders on different nodes multiply c_stream; "
            f"partitions cap W ({partitions} here, 64 recommended)"
        ),
    }


def per_core(cpu_s_per_1000: float) -> float | None:
    """Readings per second on one core, None when no CPU time was measured."""
    return 1000 / cpu_s_per_1000 if cpu_s_per_1000 > 0 else None


def rounded(value: float | None) -> int | None:
    return None if value is None else round(value)


# ---------------------------------------------------------------- main


def main() -> None:
    # `kill` (SIGTERM) unwinds like Ctrl-C: the servers started are stopped, not orphaned.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=650, help="simulated cases (~465 readings)")
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--workers", default="1,2,4", help="worker counts, one drain each")
    parser.add_argument("--partitions", type=int, default=16)
    parser.add_argument("--per-message", type=int, default=1, help="readings per stream message")
    parser.add_argument("--timeout", type=float, default=1200, help="seconds per drain at most")
    parser.add_argument("--database-url", help="an empty migrated PostgreSQL database to seed")
    parser.add_argument("--repeat", type=int, default=1, help="rounds of W = 1, 2, 4; best kept")
    parser.add_argument("--quick", action="store_true", help="40 cases")
    parser.add_argument("--keep-logs", action="store_true", help="keep the workers' logs")
    parser.add_argument("--out", type=Path, default=RESULTS, help="where the results go")
    args = parser.parse_args()
    if args.quick:
        args.cases = 40
    counts = [int(w) for w in args.workers.split(",")]
    calibration = calibrate()
    os.environ["VIGIE_PARTITIONS"] = str(args.partitions)  # the seeded placements' partitions
    from vigie.cluster.local import LocalCluster
    from vigie.cluster.topology import Topology, ensure
    from vigie.settings import Settings, settings
    from vigie.store.schema import upgrade

    settings.cache_clear()
    runs = []
    with contextlib.ExitStack() as stack:
        url = args.database_url or stack.enter_context(postgres())
        upgrade(url)
        pg_root = postmaster(url)
        print(f"population: {args.cases} cases ...", flush=True)
        placements, observations = population(args.cases, args.seed)
        started = time.perf_counter()
        open_cases(url, placements)
        seed_s = time.perf_counter() - started
        print(f"{len(placements)} cases opened in {seed_s:.0f} s", flush=True)
        nats = stack.enter_context(LocalCluster())
        folder = Path(tempfile.mkdtemp(prefix="vigie-bench-workers-"))
        print(f"workers' logs in {folder}", flush=True)
        config = Settings(nats_urls=nats.urls_setting, partitions=args.partitions, lease_s=LEASE_S)

        async def init() -> None:
            from vigie.cluster.connection import connect

            connection = await connect(config, "bench-init")
            await ensure(connection.jetstream(), Topology.from_settings(config))
            await connection.close()

        asyncio.run(init())
        route = routes(placements, args.partitions)
        nats_cpu0, own_cpu0 = cpu(nats, [], 0), sum(_times(os.getpid()))
        print(f"publishing {len(observations)} readings ...", flush=True)
        filled = asyncio.run(
            prefill(nats.urls_setting, args.partitions, observations, route, args.per_message)
        )
        nats_cpu1 = cpu(nats, [], 0)
        filled["nats_cpu_s_per_1000_readings"] = {
            tier: round((nats_cpu1[tier] - nats_cpu0[tier]) / filled["readings"] * 1000, 3)
            for tier in nats_cpu1
            if tier.startswith("nats")
        }
        filled["publisher_cpu_s_per_1000_readings"] = round(
            (sum(_times(os.getpid())) - own_cpu0) / filled["readings"] * 1000, 3
        )
        filled["readings_per_s"] = round(filled["readings"] / filled["seconds"], 1)
        print(json.dumps(filled), flush=True)
        for round_ in range(args.repeat):  # interleaved: the host's load drifts
            for workers in counts:
                name = f"{Path(url.split('?')[0]).name}_w{workers}"
                with copy_of(url, name) as run_url:
                    figures = drain(
                        args,
                        nats,
                        run_url,
                        pg_root,
                        workers,
                        filled["messages"],
                        filled["readings"],
                        folder,
                    )
                    runs.append({"round": round_ + 1, **figures})
    if not args.keep_logs:
        shutil.rmtree(folder, ignore_errors=True)  # kept when a drain failed
    # Per W, the best round: the one the other work on the host disturbed least.
    best: dict[int, dict[str, Any]] = {}
    for run in runs:
        kept = best.get(run["workers"])
        if kept is None or run["readings_per_s"] > kept["readings_per_s"]:
            best[run["workers"]] = run
    rate = {w: run["readings_per_s"] for w, run in best.items()}
    steady = {w: run["steady"]["readings_per_s"] for w, run in best.items() if run["steady"]}
    verdict: dict[str, Any] = {}
    for prefix, rates in (("", rate), ("steady_", steady)):
        if 1 in rates and 2 in rates:
            verdict[f"{prefix}speedup_2"] = round(rates[2] / rates[1], 2)
        if 2 in rates and 4 in rates:
            verdict[f"{prefix}rate4_over_rate2"] = round(rates[4] / rates[2], 2)
    if "speedup_2" in verdict:
        verdict["speedup_2_pass"] = verdict["speedup_2"] >= SPEEDUP_2_MIN
    if "rate4_over_rate2" in verdict:
        verdict["rate4_pass"] = verdict["rate4_over_rate2"] >= NO_COLLAPSE_MIN
    result = {
        "benchmark": "cluster: drain of a pre-filled VIGIE_OBS by W detection workers",
        "commit": commit(),
        "cases": len(placements),
        "partitions": args.partitions,
        "readings_per_message": args.per_message,
        "stream": "R3, file storage, sync_interval always, 3 nodes on loopback",
        "postgresql": "given URL" if args.database_url else "own server, fsync on",
        "prefill": filled,
        "runs": runs,
        "pass_criteria": {"speedup_2_min": SPEEDUP_2_MIN, "rate4_over_rate2_min": NO_COLLAPSE_MIN},
        **verdict,
        "best_readings_per_s": rate,
        "growth": arithmetic(best[min(best)], filled, args.partitions) if best else None,
        "live_run": "not measured here (paced gateways with p50/p99: see tests/chaos)",
        "seed_s": round(seed_s, 1),
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
    for key, value in verdict.items():
        print(f"{key} = {value}")
    growth = result["growth"]
    if growth:
        print(growth["formula"])
        for row in growth["by_workers"]:
            w, rate_w, bound = row["workers"], row["readings_per_s"], row["bound_by"]
            print(f"  W={w:>2}: {rate_w:>8} readings/s ({bound})")


if __name__ == "__main__":
    main()
