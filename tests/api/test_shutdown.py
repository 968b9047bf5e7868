"""`vigie centre serve` stops promptly at SIGTERM while a console tab holds its event stream."""

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.conftest import answering
from vigie.api.security import create_user
from vigie.ports import free_port
from vigie.store import open_database

pytestmark = pytest.mark.processes
PASSWORD = "correct horse battery"
STREAM_END_S = 2.0  # the stream ends as shutdown starts (uvicorn alone waited for it for ever)
EXIT_S = 15.0  # then the centre stops its detection process and exits (2-6 s on a busy machine)


def test_sigterm_ends_open_event_streams_and_the_centre_exits(
    tmp_path: Path, sqlite_template: Path
) -> None:
    path = tmp_path / "vigie.sqlite"
    path.write_bytes(sqlite_template.read_bytes())
    url = f"sqlite:///{path}"
    db = open_database(url)
    with db.session() as session:
        create_user(session, "operator1", PASSWORD, "operator", "Opérateur")
    db.dispose()
    port = free_port()
    argv = [sys.executable, "-c", "from vigie.cli import main; main()"]
    argv += ["centre", "serve", "--dev", "--port", str(port)]
    process = subprocess.Popen(argv, env=os.environ | {"VIGIE_DATABASE_URL": url})
    base = f"http://127.0.0.1:{port}"
    try:
        answering(base, process, timeout_s=30)
        login = {"username": "operator1", "password": PASSWORD}
        token = httpx.post(f"{base}/api/auth/token", json=login).json()["access_token"]
        opened, ended = threading.Event(), threading.Event()
        ended_at: list[float] = []

        def watch() -> None:
            headers = {"Authorization": f"Bearer {token}"}
            url = f"{base}/api/console/stream"
            with httpx.stream("GET", url, headers=headers, timeout=60) as stream:
                for line in stream.iter_lines():
                    if line == "event: changed":
                        opened.set()
            ended_at.append(time.monotonic())
            ended.set()

        tab = threading.Thread(target=watch, daemon=True)
        tab.start()
        assert opened.wait(10), "the stream said nothing"
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
        took = time.monotonic() - started
        assert ended.wait(2), "the stream was not ended by the shutdown"
        stream_s = ended_at[0] - started
        assert stream_s < STREAM_END_S, f"the stream ended {stream_s:.1f} s after SIGTERM"
        assert took < EXIT_S, f"SIGTERM took {took:.1f} s with a stream open"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_a_service_stop_lets_detection_end_without_a_restart(
    tmp_path: Path, sqlite_template: Path
) -> None:
    """systemd stops a unit by signalling every process of it, the detector too. Killed by that
    SIGTERM, the detector was restarted by the API process on its way out ("the detection
    process ended (exit code -15): restarting it", an ERROR at every stop) with its step cut
    short. The API process now stops it, once its step is done."""
    path = tmp_path / "vigie.sqlite"
    path.write_bytes(sqlite_template.read_bytes())
    port = free_port()
    argv = [sys.executable, "-c", "from vigie.cli import main; main()"]
    argv += ["centre", "serve", "--dev", "--port", str(port)]
    env = os.environ | {"VIGIE_DATABASE_URL": f"sqlite:///{path}"}
    log = tmp_path / "centre.log"
    with log.open("ab") as errors:
        process = subprocess.Popen(argv, env=env, stderr=errors, start_new_session=True)
    base = f"http://127.0.0.1:{port}"
    try:
        answering(base, process, timeout_s=30)
        deadline = time.monotonic() + 30
        while httpx.get(f"{base}/api/health").status_code != 200:  # the detector is stepping
            assert time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.1)
        os.killpg(process.pid, signal.SIGTERM)  # the whole group, as a service's stop
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    said = log.read_text()
    assert "Application shutdown complete" in said
    assert "detection process ended" not in said and "ERROR" not in said, said[-2000:]
