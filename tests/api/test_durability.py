"""An acknowledged observation survives `kill -9` of the API process right after the ack."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta

import httpx
from sqlalchemy import select, text

from vigie import clock
from vigie.api.security import create_user
from vigie.ports import free_port
from vigie.store import Database, open_database
from vigie.store.models import Observation

# Yesterday in the centre's clock: within the horizon observations are taken in, on any day.
DAY = (clock.now() - timedelta(days=1)).date().isoformat()


def start_server(database_url: str, port: int) -> subprocess.Popen[bytes]:
    env = os.environ | {"VIGIE_DATABASE_URL": database_url}
    argv = [sys.executable, "-m", "uvicorn", "--factory", "vigie.api.app:app_from_env"]
    argv += ["--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"]
    process = subprocess.Popen(argv, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1).raise_for_status()
            return process
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the API server did not start within 30 s")


def test_acknowledged_observations_survive_kill_9(db: Database, database_url: str) -> None:
    with db.session() as session:
        create_user(session, "gateway", "gateway password", "integration", "Gateway")
    db.dispose()
    port = free_port()
    server = start_server(database_url, port)
    base = f"http://127.0.0.1:{port}"
    acknowledged: set[tuple[str, int]] = set()
    stop = threading.Event()
    try:
        token = httpx.post(
            f"{base}/api/auth/token", json={"username": "gateway", "password": "gateway password"}
        ).json()["access_token"]

        def post_forever(device: str) -> None:
            with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as client:
                seq = 0
                while not stop.is_set():
                    batch = [
                        {
                            "device": device,
                            "seq": seq + i,
                            "t": f"{DAY}T20:{(seq + i) // 60 % 60:02d}:{(seq + i) % 60:02d}Z",
                            "type": "battery",
                            "level": 0.5,
                        }
                        for i in range(20)
                    ]
                    try:
                        response = client.post(
                            f"{base}/api/observations", json={"observations": batch}
                        )
                    except httpx.TransportError:
                        return  # the server died mid-request: that batch was never acknowledged
                    assert response.status_code == 200, response.text
                    acknowledged.update((device, o["seq"]) for o in batch)
                    seq += 20

        posters = [threading.Thread(target=post_forever, args=(f"B{n}",)) for n in range(2)]
        for poster in posters:
            poster.start()
        while len(acknowledged) < 400:
            time.sleep(0.01)
        helpers = children(server.pid)  # the detection process, at least
        server.send_signal(signal.SIGKILL)  # while requests are still in flight
        server.wait(timeout=10)
    finally:
        stop.set()
        if server.poll() is None:
            server.kill()
    for poster in posters:
        poster.join(timeout=10)
    reopened = open_database(database_url)
    try:
        with reopened.session() as session:
            rows = session.execute(select(Observation.device, Observation.seq)).all()
            stored = {(device, seq) for device, seq in rows}
            if reopened.is_sqlite:
                assert session.execute(text("PRAGMA integrity_check")).scalar_one() == "ok"
    finally:
        reopened.dispose()
    assert server.returncode == -signal.SIGKILL
    assert len(acknowledged) >= 400
    assert acknowledged <= stored
    # No detector left running without its API process (it would go on writing alone).
    assert helpers
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in helpers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in helpers if alive(pid)]


def children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (Linux /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    # the name, field 2, is in parentheses and may hold spaces: split after it
                    ppid = int(stat.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            if ppid == pid:
                found.append(int(entry))
    return found


def alive(pid: int) -> bool:
    """Running, not a zombie waiting for its reaper."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
