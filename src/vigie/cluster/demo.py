"""`make demo-cluster`: the production topology on one machine, for a person to break by hand.

Three NATS nodes, a PostgreSQL primary with its synchronous standby, two gateways, two detection
workers and two API processes, all on free 127.0.0.1 ports, each a process of its own with its
PID printed; the simulated population posts through either API process (the other one when the
first does not answer). Kill any one of them (`kill -9 PID`) and watch the console keep raising
alarms. Everything is stopped by PID, and its folder deleted, at Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx

from vigie import clock
from vigie.cluster.local import LocalCluster
from vigie.cluster.processes import Process, start_tiers, stop_all, wait_http
from vigie.ports import free_port
from vigie.settings import settings

PARTITIONS = 16


class ApiFeeder:
    """Posts the population's readings as their time comes, to the first API process that
    answers: a killed API process costs the feeder one retry, not a reading."""

    def __init__(self, bases: list[str], username: str, password: str, pending: list[Any]):
        self._clients = [httpx.Client(base_url=base, timeout=15) for base in bases]
        self._login = {"username": username, "password": password}
        self._pending = pending
        self._next = 0
        self.sent = 0

    def _post(self, records: list[dict[str, Any]]) -> None:
        last: Exception | None = None
        for client in self._clients:
            try:
                if "Authorization" not in client.headers:
                    token = client.post("/api/auth/token", json=self._login).json()
                    client.headers["Authorization"] = f"Bearer {token['access_token']}"
                answer = client.post("/api/observations", json={"observations": records})
                answer.raise_for_status()
                return
            except Exception as exc:  # that process is down or failing over: the next one
                client.headers.pop("Authorization", None)
                last = exc
        raise RuntimeError(f"no API process took the readings: {last}")

    def send(self, now: Any) -> None:
        from vigie.commands.centre import record_time

        due = []
        while self._next < len(self._pending) and record_time(self._pending[self._next]) <= now:
            due.append(self._pending[self._next])
            self._next += 1
        for start in range(0, len(due), 500):
            self._post(due[start : start + 500])
        self.sent += len(due)


def run(cases: int, seed_value: int, duration: float, api_port: int) -> None:
    """Start everything, feed the population, print the state every few seconds; stop it all
    at the end of `duration` (0: until Ctrl-C or SIGTERM)."""
    from vigie.commands.centre import seed
    from vigie.store import open_database
    from vigie.store.pg_local import PgPair, create_database, start_pair

    folder = Path(tempfile.mkdtemp(prefix="vigie-cluster-demo-"))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    folder.chmod(0o755)  # PostgreSQL runs as its own user, below this folder
    (folder / "postgresql").mkdir()
    nats = LocalCluster(folder=folder / "nats")
    pair: PgPair | None = None
    processes: list[Process] = []
    try:
        nats.start()
        pair = start_pair(folder / "postgresql")
        url = create_database(pair)
        env = os.environ | {
            "VIGIE_MODE": "cluster",
            "VIGIE_DATABASE_URL": url,
            "VIGIE_NATS_URLS": nats.urls_setting,
            "VIGIE_PARTITIONS": str(PARTITIONS),
            "VIGIE_JWT_SECRET": secrets.token_urlsafe(48),
            "VIGIE_ESCALATION_AFTER_S": "60",
        }
        os.environ["VIGIE_PARTITIONS"] = str(PARTITIONS)  # the seeded placements' partitions
        settings.cache_clear()
        asyncio.run(_init(nats.urls_setting))
        database = open_database(url)
        logins, feeder_password, pending = seed(database, cases, seed_value)
        database.dispose()
        apis = [api_port, free_port()]
        processes += start_tiers(env, folder, apis, workers=2, gateways=2)
        bases = [f"http://127.0.0.1:{port}" for port in apis]
        for base in bases:
            wait_http(f"{base}/api/health")
        feeder = ApiFeeder(bases, "passerelle", feeder_password, pending)
        print(f"Vigie cluster demo in {folder} ({PARTITIONS} partitions, R3 stream)")
        for role, (login, password) in logins.items():
            if role.startswith(("operator", "supervisor")):
                print(f"{role} login: {login}   password: {password}")
        for node in nats.nodes:
            print(f"  nats {node.name:<10} pid {node.pid:<8} {node.url}")
        for pg in (pair.primary, pair.standby):
            print(f"  postgresql {pg.name:<7} pid {pg.pid:<8} {pg.address}")
        for process in processes:
            print(f"  {process.name:<15} pid {process.popen.pid:<8} {process.where}")
        print("Kill any one (kill -9 PID) and watch the console; `vigie cluster status` with")
        print(f"  VIGIE_NATS_URLS={nats.urls_setting} VIGIE_PARTITIONS={PARTITIONS}")
        deadline = time.monotonic() + duration if duration else float("inf")
        shown = 0.0
        while time.monotonic() < deadline and not stop.is_set():
            try:
                feeder.send(clock.now())
            except RuntimeError as exc:
                print(f"feeder: {exc}")
            if time.monotonic() - shown >= 10:
                shown = time.monotonic()
                _show(bases, processes, feeder.sent)
            stop.wait(1)
    except KeyboardInterrupt:
        pass
    finally:
        stop_all(processes)
        if pair is not None:
            pair.close()
        nats.stop()
        shutil.rmtree(folder, ignore_errors=True)


async def _init(urls: str) -> None:
    from vigie.cluster.connection import connect
    from vigie.cluster.topology import Topology, ensure
    from vigie.settings import Settings

    config = Settings(nats_urls=urls, partitions=PARTITIONS)
    connection = await connect(config, "vigie-cluster-demo")
    try:
        await ensure(connection.jetstream(), Topology.from_settings(config))
    finally:
        await connection.close()


def _show(bases: list[str], processes: list[Process], sent: int) -> None:
    """One line per API process (its health), then each process's state."""
    for base in bases:
        try:
            body = httpx.get(f"{base}/api/health", timeout=2).json()
            cluster = body.get("cluster") or {}
            print(
                f"{base}: {body.get('status')}, partitions owned "
                f"{cluster.get('owned')}/{cluster.get('partitions')}, "
                f"workers {', '.join(cluster.get('workers') or []) or '-'}, "
                f"unwatched {cluster.get('unwatched')}"
            )
        except Exception as exc:
            print(f"{base}: not answering ({type(exc).__name__})")
    states = ", ".join(f"{p.name} {p.state}" for p in processes)
    print(f"readings posted {sent}; {states}")
