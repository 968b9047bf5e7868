"""Publish, then acknowledge: dedupe by message id, and no device acknowledged without the
stream's quorum (design scale-ha.md §5.2)."""

from __future__ import annotations

import asyncio
import signal
import socket
import struct
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.cluster.conftest import PARTITIONS, Loop, cluster_settings, init, subjects
from tests.gateway.conftest import (
    IMEI,
    PHONE,
    TEST_LIMITS,
    ZONE,
    key,
    obs,
    receive,
    seed,
    tracker,
)
from vigie import clock
from vigie.cases import devices, withdrawal
from vigie.cases.forms import DeviceIn, DeviceWithdrawalIn
from vigie.cluster.local import LocalCluster
from vigie.cluster.partitions import partition_of, subject_for
from vigie.gateway import teltonika
from vigie.gateway.readings import parse_time
from vigie.gateway.service import Bound, Gateway, Listen
from vigie.sim.protocols import teltonika_packets
from vigie.store import Database
from vigie.store import observations as log
from vigie.store.models import AuditEntry, Observation

pytestmark = pytest.mark.processes


def _rows(device: str, n: int, start: int = 0) -> list[dict[str, Any]]:
    now = clock.now()
    rows = []
    for i in range(start, start + n):
        record = obs(device, 30 - i * 0.01, "position", lat=48.8, lon=2.3, accuracy_m=5.0)
        record["seq"] = i
        rows.append(log.row_for(record, parse_time(record["t"]), now, source="test"))
    return rows


def test_same_id_twice_is_one_message_flagged_duplicate(cluster: LocalCluster, loop: Loop) -> None:
    from vigie.cluster.connection import connect
    from vigie.cluster.publisher import MSG_ID, ObservationPublisher, message_id

    loop.run(init(cluster.urls))

    async def scenario() -> tuple[Any, ...]:
        connection = await connect(cluster_settings(cluster), "test")
        js = connection.jetstream()
        publisher = ObservationPublisher(js, "test-gateway", deadline_s=10)
        rows = _rows(IMEI, 3)
        first = await publisher.publish(IMEI, 5, rows)
        # The device missed the ack and resends, received later: same readings, same id.
        resent = [dict(r, received_at=clock.now()) for r in rows]
        second = await publisher.publish(IMEI, 5, resent)
        ident = message_id(IMEI, [r["dedup_key"] for r in rows])
        raw = await js.publish(subject_for(5, IMEI), b"{}", headers={MSG_ID: ident})
        await connection.close()
        return first, second, raw

    first, second, raw = loop.run(scenario())
    assert (first.new, first.duplicates, first.messages) == (3, 0, 1)
    assert (second.new, second.duplicates, second.messages) == (0, 3, 1)
    assert raw.duplicate is True
    assert loop.run(subjects(cluster.urls)) == {subject_for(5, IMEI): 1}


@dataclass
class ClusterGateway:
    bound: Bound
    ingest: Any


@pytest.fixture
def cluster_gateway(cluster: LocalCluster, loop: Loop, pg: Database) -> Iterator[ClusterGateway]:
    """The gateway in cluster mode on the seeded centre: routed and authenticated by the
    directory, acknowledging after the stream (deadline 2 s for the test)."""
    from vigie.cluster.ingest import ClusterIngest

    seed(pg)
    loop.run(init(cluster.urls))
    settings = cluster_settings(cluster, partitions=PARTITIONS, publish_deadline_s=2.0)
    ingest = loop.run(ClusterIngest.open(settings, "gateway"))
    assert loop.run(ingest.directory.reconcile(pg)) == (4, 0)
    deadline = time.monotonic() + 10
    while len(ingest.directory) < 4:  # the watch brings the writes back to the mirror
        assert time.monotonic() < deadline
        time.sleep(0.02)
    gateway = Gateway(pg, TEST_LIMITS, sink=ingest.sink(), registry=ingest.registry(pg))
    bound = loop.run(gateway.start(Listen("127.0.0.1", 0, 0, None)))
    yield ClusterGateway(bound, ingest)
    loop.run(gateway.stop())
    loop.run(ingest.close())


def test_teltonika_acknowledged_only_with_a_quorum(
    cluster: LocalCluster, loop: Loop, cluster_gateway: ClusterGateway, pg: Database
) -> None:
    port = cluster_gateway.bound.teltonika_port
    assert port is not None
    records = [
        obs(IMEI, 5, "position", lat=48.88, lon=2.38, accuracy_m=10.0),
        obs(IMEI, 3, "position", lat=ZONE[0], lon=ZONE[1], accuracy_m=10.0),
    ]
    (packet,) = teltonika_packets(records)
    c1 = subject_for(partition_of("C1", PARTITIONS), IMEI)
    with tracker(port) as sock:
        sock.sendall(packet)
        assert receive(sock, 4) == struct.pack(">I", 2)
    assert loop.run(subjects(cluster.urls)) == {c1: 1}
    # Nothing reaches PostgreSQL from the gateway: the stream is the log until a worker commits.
    with pg.session() as session:
        assert session.query(Observation).count() == 0

    # Two nodes of three down: no quorum, so no acknowledgement; the connection is closed at
    # the deadline and the tracker keeps its records.
    cluster.stop_node(0, signal.SIGKILL)
    cluster.stop_node(1, signal.SIGKILL)
    later = [obs(IMEI, 1, "position", lat=48.87, lon=2.37, accuracy_m=9.0)]
    (packet2,) = teltonika_packets(later)
    with tracker(port) as sock:
        started = time.monotonic()
        sock.sendall(packet2)
        sock.settimeout(15)
        try:
            answer = sock.recv(4)
        except ConnectionResetError:
            answer = b""
        waited = time.monotonic() - started
    assert answer == b"", "acknowledged without the stream's quorum"
    assert 1.8 <= waited <= 10, waited

    # A node back: quorum again. The tracker resends; acknowledged, and in the stream once.
    cluster.restart_node(0)
    deadline = time.monotonic() + 30
    while True:
        try:
            with tracker(port) as sock:
                sock.sendall(packet2)
                if receive(sock, 4) == struct.pack(">I", 1):
                    break
        except OSError:
            pass
        assert time.monotonic() < deadline, "not acknowledged after a node came back"
        time.sleep(0.5)
    with tracker(port) as sock:  # a resend after the ack: deduplicated by its id
        sock.sendall(packet2)
        assert receive(sock, 4) == struct.pack(">I", 1)
    assert loop.run(subjects(cluster.urls)) == {c1: 2}


def test_osmand_not_acknowledged_without_quorum(
    cluster: LocalCluster, cluster_gateway: ClusterGateway, loop: Loop
) -> None:
    port = cluster_gateway.bound.osmand_port
    client = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", params={"key": key(PHONE)}, timeout=20
    )
    stamp = str(int(clock.now().timestamp() - 60))
    params = {"id": PHONE, "timestamp": stamp, "lat": ZONE[0], "lon": ZONE[1]}
    assert client.get("/", params=params).status_code == 200
    cluster.stop_node(1, signal.SIGKILL)
    cluster.stop_node(2, signal.SIGKILL)
    # Not acknowledged: a 503 at the deadline, or the connection dropped before it (the test
    # gateway's idle limit is shorter); either way the app keeps the report and resends.
    try:
        status = client.get("/", params=params | {"timestamp": str(int(stamp) + 5)}).status_code
    except httpx.RemoteProtocolError:
        status = None
    assert status in (503, None)
    cluster.restart_node(2)
    # As the phone does: it sends again, on a new connection, until acknowledged (the stream
    # may still be electing its leader; each unacknowledged try is a 503 or a dropped
    # connection).
    client.close()
    again = httpx.Client(
        base_url=f"http://127.0.0.1:{port}", params={"key": key(PHONE)}, timeout=20
    )
    resend = params | {"timestamp": str(int(stamp) + 5)}
    deadline = time.monotonic() + 60
    while True:
        try:
            answer = again.get("/", params=resend)
            if answer.status_code == 200:
                break
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "the resend was never acknowledged"
        time.sleep(0.5)
    c2 = subject_for(partition_of("C2", PARTITIONS), PHONE)
    assert loop.run(subjects(cluster.urls)) == {c2: 2}


def test_publish_rate_and_ack_latency(cluster: LocalCluster, loop: Loop) -> None:
    """32 gateway connections publishing device messages, each awaiting its PubAck (R3,
    sync_interval always): every message stored once; the rate and latency are printed."""
    from vigie.cluster.connection import connect
    from vigie.cluster.publisher import ObservationPublisher

    loop.run(init(cluster.urls))
    per_device, devices = 60, 32

    async def scenario() -> tuple[float, list[float]]:
        connection = await connect(cluster_settings(cluster), "bench")
        publisher = ObservationPublisher(connection.jetstream(), "bench", deadline_s=12)
        latencies: list[float] = []

        async def device(d: int) -> None:
            name = f"dev{d}"
            for i in range(per_device):
                rows = _rows(name, 2, start=2 * i)
                started = time.perf_counter()
                await publisher.publish(name, d % PARTITIONS, rows)
                latencies.append(time.perf_counter() - started)

        started = time.perf_counter()
        await asyncio.gather(*(device(d) for d in range(devices)))
        elapsed = time.perf_counter() - started
        await connection.close()
        return elapsed, latencies

    elapsed, latencies = loop.run(scenario())
    latencies.sort()
    total = per_device * devices
    p50, p99 = latencies[total // 2], latencies[int(total * 0.99)]
    print(
        f"\npublish: {total / elapsed:.0f} acks/s, p50 {p50 * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms ({total} messages, 32 connections, R3, sync always)"
    )
    counts = loop.run(subjects(cluster.urls))
    assert sum(counts.values()) == total
    assert p99 < 2.0


def test_leader_killed_mid_stream_every_publish_lands_once(
    cluster: LocalCluster, loop: Loop
) -> None:
    """kill -9 of the stream's leader while 8 connections publish: the publishes in flight are
    retried with their ids through the election, every one is acknowledged, each stored once."""
    from vigie.cluster.connection import connect
    from vigie.cluster.publisher import ObservationPublisher
    from vigie.cluster.topology import STREAM

    loop.run(init(cluster.urls))
    names = [node.name for node in cluster.nodes]

    async def scenario() -> tuple[int, int, float]:
        connection = await connect(cluster_settings(cluster), "chaos")
        js = connection.jetstream()
        publisher = ObservationPublisher(js, "chaos", deadline_s=15)
        leader = (await js.stream_info(STREAM)).cluster.leader  # type: ignore[union-attr]
        acked = 0
        longest = 0.0

        async def device(d: int) -> None:
            nonlocal acked, longest
            for i in range(40):
                started = time.perf_counter()
                await publisher.publish(f"dev{d}", d, _rows(f"dev{d}", 1, start=i))
                longest = max(longest, time.perf_counter() - started)
                acked += 1
                await asyncio.sleep(0.02)

        async def kill() -> None:
            await asyncio.sleep(0.3)
            await asyncio.to_thread(cluster.stop_node, names.index(leader), signal.SIGKILL)

        await asyncio.gather(kill(), *(device(d) for d in range(8)))
        await connection.close()
        return acked, publisher.retries, longest

    acked, retries, longest = loop.run(scenario(), timeout=120)
    print(f"\nleader killed: {acked} acked, {retries} retries, longest publish {longest:.2f} s")
    assert acked == 8 * 40
    assert sum(loop.run(subjects(cluster.urls)).values()) == 8 * 40


def test_a_withdrawn_tracker_is_refused_by_the_directory(
    cluster_gateway: ClusterGateway, loop: Loop, pg: Database
) -> None:
    """The directory carries a withdrawal to every gateway: the tracker's handshake is refused
    there without PostgreSQL, and the refusal is audited."""
    spare = "356307042441020"
    with pg.session() as session:
        devices.create_device(session, DeviceIn(id=spare, kind="bracelet"), "t")
        lost = DeviceWithdrawalIn(reason="lost")
        withdrawal.withdraw(session, spare, lost, "supervisor1", clock.now())
    directory = cluster_gateway.ingest.directory
    assert loop.run(directory.reconcile(pg)) == (1, 0)
    deadline = time.monotonic() + 10
    while directory.get(spare) is None:
        assert time.monotonic() < deadline
        time.sleep(0.02)
    assert directory.get(spare).withdrawn is True
    port = cluster_gateway.bound.teltonika_port
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(teltonika.encode_imei(spare))
        assert sock.recv(1) == b"\x00"
    with pg.session() as session:
        (entry,) = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "device_refused", AuditEntry.target == f"device:{spare}"
            )
        )
        assert entry.detail["reason"] == "withdrawn from service"
