"""`vigie centre demo` as a person runs it: simulated cases opened, served, fed, shown, stopped."""

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from vigie.ports import free_port
from vigie.store import open_database
from vigie.store.models import AuditEntry, Contact, Device, Person, Placement

# The `vigie` command runs as a child process (libfaketime breaks its sleeps).
pytestmark = pytest.mark.processes


def test_demo_runs_seeds_feeds_and_stops(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    port = free_port()
    command = ["centre", "demo", "--port", str(port), "--duration", "4", "--cases", "10"]
    result = subprocess.run(
        [sys.executable, "-c", "from vigie.cli import main; main()", *command],
        # No development switch: the demo makes a secret of its own at every run.
        env=os.environ | {"VIGIE_DATABASE_URL": url, "COLUMNS": "120", "VIGIE_DEV": "false"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "operator login: operateur   password: " in result.stdout
    assert f"http://127.0.0.1:{port}/docs" in result.stdout
    assert "Alarmes en cours" in result.stdout
    # Its reports go to its own mail server, beside its database (`tests/sim/test_demo_mail.py`).
    assert f"SPIP: {tmp_path / 'demo-mail'}/new/ (a Maildir)" in result.stdout
    assert (tmp_path / "demo-mail" / "new").is_dir()
    database = open_database(url)
    try:
        with database.session() as session:
            opened = session.scalar(select(func.count()).select_from(Placement))
            unmonitored = session.scalars(
                select(AuditEntry.target).where(AuditEntry.action == "placement_not_monitored")
            ).all()
            # The alarm page has someone to call in every demo case.
            to_call = [
                *session.scalars(select(Placement.police_phone)),
                *session.scalars(select(Person.phone)),
                *session.scalars(select(Contact.phone)),
            ]
    finally:
        database.dispose()
    # vigie.sim may fail to make a case: the demo says so and goes on without it.
    failed = re.search(r"could not make (\d+) case", result.stderr)
    assert opened == 10 - (int(failed.group(1)) if failed else 0) > 0
    assert unmonitored == []
    assert to_call and all(to_call)


def test_demo_runs_its_bracelets_over_gt06(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    command = ["centre", "demo", "--port", str(free_port()), "--duration", "3", "--cases", "4"]
    command += ["--trackers", "gt06"]
    result = subprocess.run(
        [sys.executable, "-c", "from vigie.cli import main; main()", *command],
        env=os.environ | {"VIGIE_DATABASE_URL": url, "COLUMNS": "120", "VIGIE_DEV": "false"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "devices via the gateway: trackers (gt06) tcp://127.0.0.1:" in result.stdout
    database = open_database(url)
    try:
        with database.session() as session:
            bracelets = session.scalars(select(Device.id).where(Device.kind == "bracelet")).all()
    finally:
        database.dispose()
    # GT06 trackers log in with an IMEI only: the demo's bracelets are registered under one.
    assert bracelets and all(b.isdigit() and len(b) == 15 for b in bracelets)


DEMO = ("centre", "demo")


def test_demo_refuses_an_unknown_tracker_protocol(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-c", "from vigie.cli import main; main()", *DEMO, "--trackers", "tk103"],
        env=os.environ | {"VIGIE_DATABASE_URL": f"sqlite:///{tmp_path / 'd.sqlite'}"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert "teltonika, codec16, teltonika-udp, gt06" in result.stderr


def _children(pid: int) -> dict[int, str]:
    """The processes whose parent is `pid`, by pid, with their command name."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue  # ended meanwhile
        name = text[text.index("(") + 1 : text.rindex(")")]
        parent = int(text[text.rindex(")") + 2 :].split()[1])
        if parent == pid:
            found[int(stat.parent.name)] = name
    return found


def test_sigterm_stops_the_demo_and_its_mosquitto(tmp_path: Path) -> None:
    import signal
    import time

    url = f"sqlite:///{tmp_path / 'demo.sqlite'}"
    command = ["centre", "demo", "--port", str(free_port()), "--cases", "3"]
    shown = tmp_path / "stdout.txt"  # a file, not a pipe: an unread pipe would block the demo
    with shown.open("w") as stdout:
        demo = subprocess.Popen(
            [sys.executable, "-c", "from vigie.cli import main; main()", *command],
            env=os.environ | {"VIGIE_DATABASE_URL": url, "COLUMNS": "120", "VIGIE_DEV": "false"},
            stdout=stdout,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 120
        while "devices via the gateway" not in shown.read_text() and time.monotonic() < deadline:
            assert demo.poll() is None, shown.read_text()
            time.sleep(0.2)
        brokers = {p: n for p, n in _children(demo.pid).items() if n == "mosquitto"}
        assert brokers, "the demo started no Mosquitto"
        demo.send_signal(signal.SIGTERM)
        demo.wait(timeout=150)  # the detection process may finish its step first (30 s at most)
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait()
    assert demo.returncode == 0, shown.read_text()[-3000:]
    for pid in brokers:  # no broker left behind (a zombie reaped by init counts as gone)
        stat = Path(f"/proc/{pid}/stat")
        assert not stat.exists() or stat.read_text().split(") ")[1][0] == "Z", pid
