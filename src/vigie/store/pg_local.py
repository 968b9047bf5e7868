"""A PostgreSQL primary and its synchronous streaming standby on loopback, for tests and
development: free 127.0.0.1 ports, one temp folder, processes stopped by PID.

The standby is cloned with `pg_basebackup`, streams from a replication slot, and is named in the
primary's `synchronous_standby_names`, so a commit returns only once the standby has it: after
a kill -9 of the primary and a promotion, nothing acknowledged is missing. The setting is given
to the primary alone (on its command line, not in the copied configuration), so the promoted
standby commits alone, as Patroni's `synchronous_mode` (not strict) does until a new standby
joins.

`python -m vigie.store.pg_local` starts a pair with the centre's database migrated and prints
its multi-host URL, until Ctrl-C.
Production runs Patroni instead (docs/production-postgresql.md).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import create_engine, text

from vigie.ports import free_port
from vigie.store.schema import upgrade

PG_BIN = Path("/usr/lib/postgresql/15/bin")
STANDBY_NAME = "vigie_standby"
USER = "vigie"


def server_env() -> dict[str, str]:
    """The environment for the servers: libfaketime left out (their start and stop by PID hang
    under it, and the centre reads no clock of theirs)."""
    return {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "FAKETIME")}


def as_owner(*argv: str) -> list[str]:
    """A PostgreSQL program's command line, run as Debian's `postgres` user when this process
    is root: initdb and postgres refuse to run as root. The tests' and benches' servers too."""
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else list(argv)


def _run(*argv: str) -> None:
    result = subprocess.run(as_owner(*argv), capture_output=True, text=True, env=server_env())
    if result.returncode != 0:
        raise RuntimeError(f"{Path(argv[0]).name} failed: {result.stderr.strip()}")


def _children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (a postmaster's backends and helpers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                status = (entry / "status").read_text()
                ppid = next(line for line in status.splitlines() if line.startswith("PPid:"))
                if int(ppid.split()[1]) == pid:
                    found.append(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with contextlib.suppress(OSError):  # a zombie is dead: it only waits for its parent
        return " Z" not in Path(f"/proc/{pid}/stat").read_text().split(")", 1)[1][:3]
    return False


@dataclass
class PgNode:
    """One PostgreSQL server of the pair: its data folder, port, log and postmaster PID."""

    name: str
    data: Path
    port: int
    socket_dir: Path
    options: list[str] = field(default_factory=list)
    pid: int | None = None

    @property
    def log(self) -> Path:
        return self.data.parent / f"{self.name}.log"

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        settings = [
            f"-p {self.port}",
            f"-k {self.socket_dir}",
            "-c listen_addresses=127.0.0.1",
            *self.options,
        ]
        _run(
            str(PG_BIN / "pg_ctl"),
            *("-D", str(self.data), "-l", str(self.log), "-w", "-t", "60"),
            *("-o", " ".join(settings), "start"),
        )
        self.pid = int((self.data / "postmaster.pid").read_text().split()[0])

    def running(self) -> bool:
        return self.pid is not None and _alive(self.pid)

    def kill(self) -> None:
        """kill -9 of the postmaster and of every process it started, as a crash of its machine
        would: no shutdown checkpoint, connections cut."""
        if self.pid is None:
            return
        pids = [self.pid, *_children(self.pid)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self._wait_gone(pids, 10)
        self.pid = None

    def stop(self) -> None:
        """Fast shutdown (SIGINT to the postmaster), by PID."""
        if self.pid is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGINT)
        if not self._wait_gone([self.pid], 30):
            self.kill()
        self.pid = None

    def promote(self) -> None:
        """Make this standby a primary (`pg_ctl promote`, waiting until it accepts writes)."""
        _run(str(PG_BIN / "pg_ctl"), "-D", str(self.data), "-w", "-t", "60", "promote")

    @staticmethod
    def _wait_gone(pids: list[int], timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if not any(_alive(pid) for pid in pids):
                return True
            time.sleep(0.02)
        return False


@dataclass
class PgPair:
    """A primary and its synchronous standby in `root`; `url()` names both hosts."""

    root: Path
    primary: PgNode
    standby: PgNode

    def url(self, database: str = "postgres", *, driver: str = "postgresql+psycopg") -> str:
        """The multi-host URL: libpq tries the hosts in turn and keeps the one accepting writes
        (`target_session_attrs=read-write`), whichever of the two is primary."""
        hosts = "&".join(f"host={node.address}" for node in (self.primary, self.standby))
        return (
            f"{driver}://{USER}@/{database}?{hosts}"
            "&target_session_attrs=read-write&connect_timeout=2"
        )

    def node_url(self, node: PgNode, database: str = "postgres") -> str:
        """A URL of one server alone (to look at the standby, or at what a node holds)."""
        return f"postgresql+psycopg://{USER}@{node.address}/{database}"

    def close(self) -> None:
        """Stop both servers by PID and delete the folder."""
        for node in (self.standby, self.primary):
            node.stop()
        shutil.rmtree(self.root, ignore_errors=True)


def _query(node: PgNode, sql: str) -> str:
    """One statement's first value, through psql on the node's socket."""
    result = subprocess.run(
        [
            str(PG_BIN / "psql"),
            *("-h", str(node.socket_dir), "-p", str(node.port), "-U", USER, "-d", "postgres"),
            *("-XAtq", "-v", "ON_ERROR_STOP=1", "-c", sql),
        ],
        capture_output=True,
        text=True,
        env=server_env(),
    )
    if result.returncode != 0:
        raise RuntimeError(f"psql on {node.name}: {result.stderr.strip()}")
    return result.stdout.strip()


def wait_synchronous(pair: PgPair, timeout_s: float = 30) -> None:
    """Until the primary reports its standby streaming as synchronous."""
    deadline = time.monotonic() + timeout_s
    sql = f"SELECT sync_state FROM pg_stat_replication WHERE application_name = '{STANDBY_NAME}'"
    while (state := _query(pair.primary, sql)) != "sync":
        if time.monotonic() > deadline:
            raise RuntimeError(f"the standby is not synchronous (state {state!r}): {pair.root}")
        time.sleep(0.05)


def start_pair(root: Path | None = None, *, fsync: bool = False) -> PgPair:
    """Start a primary and a synchronous standby streaming from it; `fsync=False` (tests) keeps
    commits in the OS cache, which survives the kill of a process, not of the machine."""
    if not (PG_BIN / "initdb").exists():
        raise RuntimeError(f"{PG_BIN}/initdb not found: run scripts/system-deps.sh as root first")
    root = root or Path(tempfile.mkdtemp(prefix="vigie-pg-pair-"))
    root.chmod(0o755)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    common = [] if fsync else ["-c fsync=off"]
    primary = PgNode(
        "primary",
        root / "primary",
        free_port(),
        root,
        [
            *common,
            f"-c synchronous_standby_names={STANDBY_NAME}",
            "-c synchronous_commit=on",
            "-c wal_keep_size=64MB",
        ],
    )
    standby = PgNode("standby", root / "standby", free_port(), root, common)
    pair = PgPair(root, primary, standby)
    try:
        _run(
            str(PG_BIN / "initdb"),
            *("-D", str(primary.data), "-A", "trust", "-U", USER, "-E", "UTF8"),
            "--no-sync",
            "--locale=C.UTF-8",
        )
        primary.start()
        _query(primary, f"SELECT pg_create_physical_replication_slot('{STANDBY_NAME}')")
        _run(
            str(PG_BIN / "pg_basebackup"),
            *("-h", "127.0.0.1", "-p", str(primary.port), "-U", USER),
            *("-D", str(standby.data), "-X", "stream", "-S", STANDBY_NAME, "--no-sync"),
        )
        # Streaming from the slot under the name the primary waits for.
        conninfo = f"host=127.0.0.1 port={primary.port} user={USER} application_name={STANDBY_NAME}"
        with (standby.data / "postgresql.auto.conf").open("a") as conf:
            conf.write(f"primary_conninfo = '{conninfo}'\nprimary_slot_name = '{STANDBY_NAME}'\n")
        (standby.data / "standby.signal").touch()
        if os.geteuid() == 0:
            shutil.chown(standby.data / "standby.signal", "postgres", "postgres")
        standby.start()
        wait_synchronous(pair)
    except BaseException:
        pair.close()
        raise
    return pair


def create_database(pair: PgPair, name: str = "vigie") -> str:
    """Create and migrate the centre's database on the pair; returns its multi-host URL."""
    admin = create_engine(pair.url(), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    finally:
        admin.dispose()
    upgrade(pair.url(name))
    return pair.url(name)


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    """Start a pair, print where it is, stop it on Ctrl-C (or SIGTERM)."""
    pair = start_pair()
    url = create_database(pair)
    print(f"primary  {pair.primary.address} (pid {pair.primary.pid}), log {pair.primary.log}")
    print(f"standby  {pair.standby.address} (pid {pair.standby.pid}), log {pair.standby.log}")
    print(f"VIGIE_DATABASE_URL='{url}'")
    print(f"promote the standby: {PG_BIN}/pg_ctl -D {pair.standby.data} promote (as postgres)")
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        signal.pause()
    except KeyboardInterrupt:
        pass
    finally:
        pair.close()


if __name__ == "__main__":
    main()
