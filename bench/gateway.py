"""Benchmark of the device gateway: readings decoded and durably stored per second, per protocol.

Starts the real gateway (`vigie gateway serve`, its own process, SQLite in WAL mode with
synchronous=FULL unless --database-url says otherwise, Mosquitto for MQTT) on a temp folder,
registers the devices, then:

- Teltonika: 1,000 concurrent simulated trackers on loopback, each sending packets of
  --records records and waiting for each acknowledgement; the latency is the time from a
  packet's last byte sent to its acknowledgement received (the gateway acks only once stored).
  Saturated (every tracker sends its next packet as soon as the last is acknowledged: the
  throughput), then paced (a packet every 10 s from each of 1,000 trackers: the latency in
  service);
- OsmAnd: Traccar Client reports over HTTP keep-alive connections, 200 once stored (the
  latency is from the request written to the answer's head read);
- MQTT: QoS 1 messages through Mosquitto, timed until every reading is in the store;
- Teltonika UDP: the same trackers sending datagrams, each waiting for its acknowledgement;
- GT06: the same number of Concox trackers (login, location packets, a heartbeat whose
  acknowledgement closes the run: the gateway handles a link's packets in order);
- commands: 1,000 connected Teltonika trackers, a command queued for each in one transaction,
  timed until every one has been delivered (Codec 12), answered, and the reply stored;
- decoding alone: Teltonika packets decoded and mapped to readings in this process.

Prints the figures and writes bench/results/gateway.json. Not a test.

    .venv/bin/python bench/gateway.py [--trackers 1000] [--packets 10] [--records 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from vigie import clock
from vigie.gateway import command_queue, gt06, mqtt, teltonika, teltonika_udp
from vigie.ports import free_port
from vigie.sim.protocols import avl_record, osmand_params
from vigie.store import Database, open_database
from vigie.store.models import DeviceCommand, Observation

RESULTS = Path(__file__).with_name("results") / "gateway.json"
START = (datetime.now(UTC) - timedelta(days=1)).replace(microsecond=0)


def imei(n: int) -> str:
    return f"35{n:013d}"


def secret(device: str) -> str:
    """The bench's secret of a phone or home unit (a real one is random: device-secret)."""
    return f"bench-secret-of-{device}"


GATEWAY_PASSWORD = "the bench gateway's password"


def seed(url: str, trackers: int, phones: int, units: int) -> None:
    from vigie.cases import device_secrets, devices
    from vigie.cases.forms import DeviceIn
    from vigie.store.models import Device
    from vigie.store.schema import upgrade

    upgrade(url)
    database = open_database(url)
    with database.session() as session:
        for n in range(trackers):
            devices.create_device(session, DeviceIn(id=imei(n), kind="bracelet"), "bench")
        for n in range(phones):
            devices.create_device(session, DeviceIn(id=f"P{n}", kind="protected_device"), "bench")
        for n in range(units):
            devices.create_device(session, DeviceIn(id=f"H{n}", kind="home_unit"), "bench")
        for device in session.scalars(select(Device).where(Device.kind != "bracelet")):
            device.secret_hash = device_secrets.hash_secret(secret(device.id))
    database.dispose()


def start_gateway(url: str, folder: Path) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    ports = {
        "teltonika": free_port(),
        "osmand": free_port(),
        "mqtt": free_port(),
        "udp": free_port(),
        "gt06": free_port(),
    }
    argv = [sys.executable, "-c", "from vigie.cli import main; main()", "gateway", "serve"]
    argv += ["--teltonika-port", str(ports["teltonika"]), "--osmand-port", str(ports["osmand"])]
    argv += ["--mqtt-port", str(ports["mqtt"]), "--start-broker", "--broker-folder"]
    argv += [str(folder / "mosquitto"), "--rate", "1e6", "--burst", "1e6"]
    argv += ["--teltonika-udp-port", str(ports["udp"]), "--gt06-port", str(ports["gt06"])]
    log = (folder / "gateway.log").open("wb")
    env = os.environ | {"VIGIE_DATABASE_URL": url, "VIGIE_MQTT_PASSWORD": GATEWAY_PASSWORD}
    process = subprocess.Popen(argv, env=env, stderr=log)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", ports["osmand"]), timeout=1).close()
            return process, ports
        except OSError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError(f"the gateway did not start; see {folder / 'gateway.log'}")


def count(database: Database) -> int:
    with database.session() as session:
        return int(session.scalar(select(func.count()).select_from(Observation)) or 0)


def packets_of(n: int, packets: int, records: int, start: datetime = START) -> list[bytes]:
    """A tracker's packets: fixes one second apart, each with HDOP and battery."""
    return [teltonika.encode_packet(avl) for avl in avl_of(n, packets, records, start)]


def avl_of(n: int, packets: int, records: int, start: datetime) -> list[list[teltonika.AvlRecord]]:
    out = []
    for p in range(packets):
        avl = []
        for r in range(records):
            t = start + timedelta(seconds=(p * records + r))
            fix = {
                "t": t.isoformat().replace("+00:00", "Z"),
                "type": "position",
                "lat": 48.0 + n / 10_000,
                "lon": 2.0 + r / 10_000,
                "accuracy_m": 8.0,
            }
            avl.append(avl_record(fix))
        out.append(avl)
    return out


async def tracker(port: int, n: int, packets: list[bytes], latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(teltonika.encode_imei(imei(n)))
    await writer.drain()
    if await reader.readexactly(1) != b"\x01":
        raise RuntimeError(f"tracker {imei(n)} refused")
    for packet in packets:
        writer.write(packet)
        await writer.drain()
        sent = time.perf_counter()
        ack = await reader.readexactly(4)
        latencies.append(time.perf_counter() - sent)
        if int.from_bytes(ack, "big") != packet[9]:
            raise RuntimeError(f"tracker {imei(n)}: ack {ack.hex()}")
    writer.close()


async def teltonika_run(port: int, trackers: int, packets: int, records: int) -> dict[str, Any]:
    frames = [packets_of(n, packets, records) for n in range(trackers)]
    latencies: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(*(tracker(port, n, frames[n], latencies) for n in range(trackers)))
    seconds = time.perf_counter() - started
    total = trackers * packets * records
    return {
        "trackers": trackers,
        "packets": trackers * packets,
        "records_per_packet": records,
        "records_stored": total,
        "seconds": round(seconds, 2),
        "records_per_s": round(total / seconds),
        "packets_per_s": round(trackers * packets / seconds),
        "ack_latency_ms": percentiles(latencies),
    }


async def teltonika_paced(
    port: int, trackers: int, interval_s: float, rounds: int, records: int
) -> dict[str, Any]:
    """Trackers at a steady pace (a packet every `interval_s`, starts spread over it): the
    latency a tracker sees in service, as opposed to the saturated run's queueing."""
    latencies: list[float] = []

    async def paced(n: int) -> None:
        frames = packets_of(trackers + n, rounds, records)
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(teltonika.encode_imei(imei(trackers + n)))
        await writer.drain()
        await reader.readexactly(1)
        await asyncio.sleep(interval_s * n / trackers)
        for frame in frames:
            started = time.perf_counter()
            writer.write(frame)
            await writer.drain()
            await reader.readexactly(4)
            latencies.append(time.perf_counter() - started)
            await asyncio.sleep(max(0.0, interval_s - (time.perf_counter() - started)))
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(paced(n) for n in range(trackers)))
    seconds = time.perf_counter() - started
    return {
        "trackers": trackers,
        "packet_every_s": interval_s,
        "records_per_packet": records,
        "offered_records_per_s": round(trackers * records / interval_s),
        "records_stored": trackers * rounds * records,
        "seconds": round(seconds, 2),
        "ack_latency_ms": percentiles(latencies),
    }


async def osmand_run(port: int, phones: int, reports: int) -> dict[str, Any]:
    """Phones on keep-alive HTTP/1.1 connections, one report at a time each. Requests are
    written by hand: httpx's async client costs more CPU than the server under test."""
    latencies: list[float] = []

    async def phone(n: int) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        for r in range(reports):
            t = START + timedelta(seconds=r)
            record = {
                "device": f"P{n}",
                "t": t.isoformat().replace("+00:00", "Z"),
                "type": "position",
                "lat": 48.5,
                "lon": 2.5 + n / 1000,
                "accuracy_m": 12.0,
            }
            query = urlencode(osmand_params(record, secret(f"P{n}")))
            sent = time.perf_counter()
            writer.write(f"GET /?{query} HTTP/1.1\r\nHost: gateway\r\n\r\n".encode())
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            latencies.append(time.perf_counter() - sent)
            if not head.startswith(b"HTTP/1.1 200 "):
                raise RuntimeError(f"phone P{n}: {head[:80]!r}")
        writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(phone(n) for n in range(phones)))
    seconds = time.perf_counter() - started
    return {
        "phones": phones,
        "reports": phones * reports,
        "seconds": round(seconds, 2),
        "reports_per_s": round(phones * reports / seconds),
        "request_latency_ms": percentiles(latencies),
    }


def mqtt_run(port: int, database: Database, units: int, messages: int) -> dict[str, Any]:
    before = count(database)
    clients = []
    for n in range(units):  # each unit logs in as itself: it may publish on its own topic only
        client = paho.Client(CallbackAPIVersion.VERSION2, client_id=f"bench-H{n}")
        client.username_pw_set(f"H{n}", secret(f"H{n}"))
        client.max_inflight_messages_set(1000)
        client.connect("127.0.0.1", port)
        client.loop_start()
        clients.append(client)
    started = time.perf_counter()
    infos = []
    for m in range(messages):
        t = START + timedelta(seconds=m // units)
        reading = {"t": t.isoformat().replace("+00:00", "Z"), "type": "power", "mains": True}
        unit = m % units
        topic = mqtt.topic_for(f"H{unit}")
        infos.append(clients[unit].publish(topic, json.dumps(reading), qos=1))
    for info in infos:
        info.wait_for_publish(timeout=120)
    while count(database) < before + messages:
        if time.perf_counter() - started > 300:
            raise RuntimeError("MQTT readings not all stored within 300 s")
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    for client in clients:
        client.loop_stop()
        client.disconnect()
    return {
        "home_units": units,
        "messages": messages,
        "seconds": round(seconds, 2),
        "messages_per_s": round(messages / seconds),
    }


class _UdpTracker(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.acks: asyncio.Queue[bytes] = asyncio.Queue()

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.acks.put_nowait(data)


async def udp_tracker(port: int, n: int, datagrams: list[bytes], latencies: list[float]) -> None:
    loop = asyncio.get_running_loop()
    transport, link = await loop.create_datagram_endpoint(
        _UdpTracker, remote_addr=("127.0.0.1", port)
    )
    try:
        for datagram in datagrams:
            while True:  # a lost datagram (full socket buffer) is resent, as devices do
                transport.sendto(datagram)
                sent = time.perf_counter()
                try:
                    async with asyncio.timeout(5):
                        ack = await link.acks.get()
                except TimeoutError:
                    continue
                latencies.append(time.perf_counter() - sent)
                if ack[2:4] == datagram[2:4]:
                    break
    finally:
        transport.close()


async def udp_run(port: int, trackers: int, packets: int, records: int) -> dict[str, Any]:
    start = START - timedelta(hours=2)
    frames = [
        [
            teltonika_udp.encode_datagram(imei(n), avl, teltonika.CODEC_8E, p, p & 0xFF)
            for p, avl in enumerate(avl_of(n, packets, records, start))
        ]
        for n in range(trackers)
    ]
    latencies: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(*(udp_tracker(port, n, frames[n], latencies) for n in range(trackers)))
    seconds = time.perf_counter() - started
    total = trackers * packets * records
    return {
        "trackers": trackers,
        "datagrams": trackers * packets,
        "records_per_datagram": records,
        "seconds": round(seconds, 2),
        "records_per_s": round(total / seconds),
        "ack_latency_ms": percentiles(latencies),
    }


async def gt06_tracker(port: int, n: int, frames: list[bytes], latencies: list[float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    writer.write(gt06.encode_login(imei(n), 1))
    await writer.drain()
    await reader.readexactly(10)
    sent = time.perf_counter()
    writer.write(b"".join(frames))
    writer.write(gt06.encode_heartbeat(gt06.Status(False, 0, 6, 4, 0), 0xFFFF))
    await writer.drain()
    await reader.readexactly(10)  # the heartbeat's ack: every location before it is stored
    latencies.append(time.perf_counter() - sent)
    writer.close()


async def gt06_run(port: int, trackers: int, fixes: int) -> dict[str, Any]:
    start = START - timedelta(hours=4)
    frames = [
        [
            gt06.encode_location(
                gt06.Fix(start + timedelta(seconds=i), 48 + n / 10_000, 2.0, 9, 0, 0, True), i + 2
            )
            for i in range(fixes)
        ]
        for n in range(trackers)
    ]
    latencies: list[float] = []
    started = time.perf_counter()
    await asyncio.gather(*(gt06_tracker(port, n, frames[n], latencies) for n in range(trackers)))
    seconds = time.perf_counter() - started
    return {
        "trackers": trackers,
        "locations": trackers * fixes,
        "seconds": round(seconds, 2),
        "locations_per_s": round(trackers * fixes / seconds),
        "all_stored_latency_ms": percentiles(latencies),
    }


async def commands_run(port: int, database: Database, trackers: int) -> dict[str, Any]:
    """`trackers` Teltonika links, one command each: queued -> delivered -> answered, stored."""
    links = []
    for n in range(trackers):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(teltonika.encode_imei(imei(n)))
        await writer.drain()
        if await reader.readexactly(1) != b"\x01":
            raise RuntimeError(f"tracker {imei(n)} refused")
        links.append((reader, writer))
    await asyncio.sleep(1)  # every link attached

    def queue_all() -> None:
        with database.session() as session:
            for n in range(trackers):
                command_queue.queue(
                    session, imei(n), "query_status", {}, "bench", clock.now(), reason="bench"
                )

    async def device(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> float:
        header = await reader.readexactly(8)
        rest = await reader.readexactly(int.from_bytes(header[4:], "big") + 4)
        received = time.perf_counter()
        teltonika.decode_message(teltonika.checked_data(header + rest))
        writer.write(teltonika.encode_message("Data Link: 1 GPRS: 1", teltonika.REPLY))
        await writer.drain()
        return received

    started = time.perf_counter()
    await asyncio.to_thread(queue_all)
    queued = time.perf_counter()
    received = await asyncio.gather(*(device(r, w) for r, w in links))
    delivered = time.perf_counter()

    def answered() -> int:
        with database.session() as session:
            query = select(func.count()).where(DeviceCommand.state == "answered")
            return int(session.scalar(query.select_from(DeviceCommand)) or 0)

    while await asyncio.to_thread(answered) < trackers:
        await asyncio.sleep(0.05)
    done = time.perf_counter()
    for _, writer in links:
        writer.close()
    return {
        "connected_trackers": trackers,
        "commands": trackers,
        "queue_seconds": round(queued - started, 2),
        "delivered_seconds": round(delivered - queued, 2),
        "delivered_per_s": round(trackers / (delivered - queued)),
        "answered_stored_seconds": round(done - queued, 2),
        "first_to_last_delivery_ms": round((max(received) - min(received)) * 1000, 1),
    }


def decode_run(packets: int, records: int) -> dict[str, Any]:
    frames = packets_of(0, packets, records)
    started = time.perf_counter()
    readings = 0
    for frame in frames:
        for record in teltonika.decode_packet(frame).records:
            readings += len(teltonika.readings_of("B", record))
    seconds = time.perf_counter() - started
    return {"packets": packets, "records_per_s": round(packets * records / seconds)}


def percentiles(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50": round(statistics.median(ordered) * 1000, 1),
        "p99": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 1),
        "max": round(ordered[-1] * 1000, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trackers", type=int, default=1000)
    parser.add_argument("--packets", type=int, default=10, help="per tracker")
    parser.add_argument("--records", type=int, default=10, help="per packet")
    parser.add_argument("--phones", type=int, default=50)
    parser.add_argument("--reports", type=int, default=40, help="per phone")
    parser.add_argument("--mqtt-messages", type=int, default=5000)
    parser.add_argument("--database-url", help="default: a SQLite file in a temp folder")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="vigie-bench-gateway-") as tmp:
        folder = Path(tmp)
        url = args.database_url or f"sqlite:///{folder / 'vigie.sqlite'}"
        units = 100
        seed(url, 2 * args.trackers, args.phones, units)
        gateway, ports = start_gateway(url, folder)
        database = open_database(url)
        try:
            results = {
                "teltonika": asyncio.run(
                    teltonika_run(ports["teltonika"], args.trackers, args.packets, args.records)
                ),
                "teltonika_paced": asyncio.run(
                    teltonika_paced(ports["teltonika"], args.trackers, 10.0, 3, args.records)
                ),
                "osmand": asyncio.run(osmand_run(ports["osmand"], args.phones, args.reports)),
                "mqtt": mqtt_run(ports["mqtt"], database, units, args.mqtt_messages),
                "teltonika_udp": asyncio.run(
                    udp_run(ports["udp"], args.trackers, args.packets, args.records)
                ),
                "gt06": asyncio.run(gt06_run(ports["gt06"], args.trackers, args.packets)),
                "commands": asyncio.run(
                    commands_run(ports["teltonika"], database, min(1000, 2 * args.trackers))
                ),
                "teltonika_decode_only": decode_run(2000, args.records),
            }
            stored = count(database)
        finally:
            database.dispose()
            gateway.terminate()
            gateway.wait(timeout=30)
    expected = (
        args.trackers * args.packets * args.records
        + args.trackers * 3 * args.records
        + args.phones * args.reports
        + args.mqtt_messages
        + args.trackers * args.packets * args.records  # UDP
        + args.trackers * (args.packets + 1)  # GT06 locations and one heartbeat's battery
    )
    if stored != expected:
        raise SystemExit(f"stored {stored} readings, expected {expected}")
    report = {
        "bench": "gateway",
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
        "database": "sqlite (WAL, synchronous=FULL)" if not args.database_url else "given",
        **results,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
