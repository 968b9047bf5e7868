"""`kill -9` of the gateway mid-stream: no acknowledged record lost, the resend stored once."""

from __future__ import annotations

import os
import signal
import socket
import struct
import subprocess
import sys
import time
from datetime import UTC, timedelta
from pathlib import Path

from sqlalchemy import func, select

from tests.gateway.conftest import IMEI, seed
from vigie import clock
from vigie.gateway import teltonika
from vigie.ports import free_port
from vigie.sim.protocols import TeltonikaTracker, avl_record
from vigie.store import Database
from vigie.store.models import Observation

START = (clock.now() - timedelta(hours=3)).replace(microsecond=0)


def start_gateway(database_url: str, port: int, log: Path) -> subprocess.Popen[bytes]:
    argv = [sys.executable, "-c", "from vigie.cli import main; main()", "gateway", "serve"]
    argv += ["--teltonika-port", str(port), "--osmand-port", "0", "--rate", "1e6"]
    argv += ["--burst", "1e6"]
    with log.open("ab") as errors:
        process = subprocess.Popen(
            argv, env=os.environ | {"VIGIE_DATABASE_URL": database_url}, stderr=errors
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise RuntimeError(f"the gateway did not listen within 60 s: {log.read_text()[-3000:]}")


def packet(number: int) -> bytes:
    """Packet `number`: ten battery reports, one a second."""
    records = []
    for i in range(10):
        t = START + timedelta(seconds=number * 10 + i)
        record = {"t": t.isoformat().replace("+00:00", "Z"), "type": "battery", "level": 0.5}
        records.append(avl_record(record))
    return teltonika.encode_packet(records)


def test_kill_9_loses_no_acknowledged_record(
    db: Database, database_url: str, tmp_path: Path
) -> None:
    seed(db)
    port = free_port()
    gateway = start_gateway(database_url, port, tmp_path / "gateway.log")
    tracker = TeltonikaTracker("127.0.0.1", port, IMEI, timeout_s=10)
    acknowledged: list[int] = []
    unacknowledged: int | None = None
    try:
        number = 0
        while True:
            if number == 40:
                gateway.send_signal(signal.SIGKILL)  # with packets in flight
            try:
                tracker.send(packet(number))
                assert tracker.ack() == 10
            except OSError:
                unacknowledged = number
                break
            acknowledged.append(number)
            number += 1
        gateway.wait(timeout=10)
        assert gateway.returncode == -signal.SIGKILL
        # Restarted, the tracker sends again what was not acknowledged, and, its ack having
        # been lost too as far as it can tell, the last acknowledged packet as well.
        gateway = start_gateway(database_url, port, tmp_path / "gateway.log")
        tracker.close()
        for number in (acknowledged[-1], unacknowledged):
            tracker.send(packet(number))
            assert tracker.ack() == 10
    finally:
        tracker.close()
        gateway.kill()
        gateway.wait(timeout=10)
    assert len(acknowledged) >= 40
    with db.session() as session:
        count = session.scalar(select(func.count()).select_from(Observation))
        times = set(session.scalars(select(Observation.t)))
    expected = {
        START + timedelta(seconds=n * 10 + i)
        for n in [*acknowledged, unacknowledged]
        for i in range(10)
    }
    assert count == len(expected) == (len(acknowledged) + 1) * 10  # each once
    assert {t.replace(tzinfo=UTC) if t.tzinfo is None else t for t in times} == expected


def test_ack_carries_the_record_count() -> None:
    assert teltonika.encode_ack(3) == struct.pack(">I", 3)
