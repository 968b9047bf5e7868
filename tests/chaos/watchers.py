"""What the chaos run watches from outside while faults happen: who holds each partition's lease,
what `/api/health` answers, when each marker's alarm becomes visible through `GET /api/alarms`,
and 5 consoles' live streams (SSE), each moving to the other API process when its own dies."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import httpx

from vigie.cluster.topology import LEASES, STREAM, lease_key


def token(base: str, username: str, password: str) -> str:
    answer = httpx.post(
        f"{base}/api/auth/token", json={"username": username, "password": password}, timeout=30
    )
    answer.raise_for_status()
    return str(answer.json()["access_token"])


@dataclass
class LeaseSample:
    at: float  # monotonic
    owners: dict[int, str] | None  # partition -> worker; None: the KV did not answer


class LeaseMonitor:
    """Reads every partition's lease every `every_s` (its own NATS connection, in a thread)."""

    def __init__(self, urls: list[str], partitions: int, every_s: float = 0.2) -> None:
        self.urls = urls
        self.partitions = partitions
        self.every_s = every_s
        self.samples: list[LeaseSample] = []
        self.leader: str | None = None  # VIGIE_OBS's leader at the last look
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def owners(self) -> dict[int, str]:
        """The last owners read."""
        for sample in reversed(self.samples):
            if sample.owners is not None:
                return sample.owners
        return {}

    async def _run(self) -> None:
        import nats

        connection = await nats.connect(
            servers=self.urls, max_reconnect_attempts=-1, reconnect_time_wait=0.2
        )
        js = connection.jetstream(timeout=1.0)
        try:
            while not self._stop.is_set():
                began = time.monotonic()
                owners: dict[int, str] | None = {}
                try:
                    kv = await js.key_value(LEASES)
                    for partition in range(self.partitions):
                        with contextlib.suppress(Exception):  # no key: nobody holds it
                            entry = await kv.get(lease_key(partition))
                            if entry.value:
                                owners[partition] = json.loads(entry.value)["worker"]
                    info = await js.stream_info(STREAM)
                    self.leader = info.cluster.leader if info.cluster else None
                except Exception:
                    owners = None
                self.samples.append(LeaseSample(began, owners))
                await asyncio.sleep(max(0.0, self.every_s - (time.monotonic() - began)))
        finally:
            with contextlib.suppress(Exception):
                await connection.close()

    def unowned_spells(self) -> dict[int, float]:
        """Per partition, its longest spell without an owner seen while the KV answered."""
        longest: dict[int, float] = {}
        since: dict[int, float] = {}
        for sample in self.samples:
            if sample.owners is None:
                continue
            for partition in range(self.partitions):
                if partition in sample.owners:
                    began = since.pop(partition, None)
                    if began is not None:
                        longest[partition] = max(longest.get(partition, 0.0), sample.at - began)
                else:
                    since.setdefault(partition, sample.at)
        end = self.samples[-1].at if self.samples else 0.0
        for partition, began in since.items():
            longest[partition] = max(longest.get(partition, 0.0), end - began)
        return longest

    def kv_silences(self) -> list[tuple[float, float]]:
        """Spells during which the lease bucket did not answer: (from, to), monotonic."""
        spells: list[tuple[float, float]] = []
        began: float | None = None
        for sample in self.samples:
            if sample.owners is None and began is None:
                began = sample.at
            elif sample.owners is not None and began is not None:
                spells.append((began, sample.at))
                began = None
        if began is not None and self.samples:
            spells.append((began, self.samples[-1].at))
        return spells

    def all_owned_from(self, after: float) -> float | None:
        """The first time after `after` when every partition had an owner."""
        for sample in self.samples:
            if sample.at >= after and sample.owners and len(sample.owners) == self.partitions:
                return sample.at
        return None


@dataclass
class HealthAnswer:
    at: float
    base: str
    status: int | None  # None: no answer (the process is down)
    unwatched: list[int] = field(default_factory=list)


class HealthPoller:
    def __init__(self, bases: list[str], every_s: float = 0.5) -> None:
        self.bases = bases
        self.every_s = every_s
        self.answers: list[HealthAnswer] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        with httpx.Client(timeout=2) as http:
            while not self._stop.is_set():
                for base in self.bases:
                    at = time.monotonic()
                    try:
                        answer = http.get(f"{base}/api/health")
                        cluster = answer.json().get("cluster") or {}
                        self.answers.append(
                            HealthAnswer(
                                at, base, answer.status_code, cluster.get("unwatched") or []
                            )
                        )
                    except (httpx.HTTPError, ValueError):
                        self.answers.append(HealthAnswer(at, base, None))
                self._stop.wait(self.every_s)


class AlarmWatcher:
    """Follows `GET /api/alarms?kind=zone_entry&after=ID` every `every_s`, as an integration
    follows the queue: when each case's zone alarm was first listed (monotonic)."""

    def __init__(self, bases: list[str], bearer: str, every_s: float = 0.05) -> None:
        self.bases = bases
        self.headers = {"Authorization": f"Bearer {bearer}"}
        self.every_s = every_s
        self.seen: dict[str, float] = {}
        self.seen_wall: dict[str, float] = {}
        self.request_s: list[float] = []
        self.listed: list[dict[str, Any]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        last = 0
        which = 0
        clients = [httpx.Client(base_url=b, headers=self.headers, timeout=2) for b in self.bases]
        try:
            while not self._stop.is_set():
                began = time.monotonic()
                try:
                    listed = clients[which].get(
                        "/api/alarms", params={"kind": "zone_entry", "after": last, "limit": 1000}
                    )
                    listed.raise_for_status()
                except httpx.HTTPError:
                    which = (which + 1) % len(clients)  # that API process is down: the other
                    continue
                now = time.monotonic()
                self.request_s.append(now - began)
                wall = time.time()
                for alarm in listed.json():
                    self.seen.setdefault(alarm["case"], now)
                    self.seen_wall.setdefault(alarm["case"], wall)
                    self.listed.append(alarm)
                    last = max(last, alarm["id"])
                self._stop.wait(self.every_s)
        finally:
            for client in clients:
                client.close()


@dataclass
class StreamEvent:
    at: float
    base: str
    line: str


class ConsoleStream:
    """A console's live stream (SSE): connected to `bases[0]` first, to the next when it ends."""

    def __init__(self, bases: list[str], bearer: str) -> None:
        self.bases = bases
        self.headers = {"Authorization": f"Bearer {bearer}"}
        self.events: list[StreamEvent] = []
        self.connected: list[tuple[float, str]] = []  # when, to which process
        self.dropped: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def on(self) -> str | None:
        """The process this console is connected to now."""
        if not self.connected or (self.dropped and self.dropped[-1][0] >= self.connected[-1][0]):
            return None
        return self.connected[-1][1]

    def _run(self) -> None:
        which = 0
        while not self._stop.is_set():
            base = self.bases[which]
            try:
                timeout = httpx.Timeout(5, read=30)
                with (
                    httpx.Client(base_url=base, headers=self.headers, timeout=timeout) as http,
                    http.stream("GET", "/api/console/stream") as events,
                ):
                    events.raise_for_status()
                    self.connected.append((time.monotonic(), base))
                    for line in events.iter_lines():
                        if line.startswith("event:"):
                            self.events.append(StreamEvent(time.monotonic(), base, line))
                        if self._stop.is_set():
                            return
            except httpx.HTTPError:
                pass
            self.dropped.append((time.monotonic(), base))
            which = (which + 1) % len(self.bases)
            self._stop.wait(0.2)
