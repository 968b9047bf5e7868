"""Shared fixtures: a throwaway PostgreSQL + PostGIS cluster, migrated databases, an SMTP server."""

from __future__ import annotations

import asyncio
import itertools
import os
import select
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from email import message_from_bytes, policy
from email.message import Message
from pathlib import Path
from typing import Any

# Imported first, at a shallow stack: imported lazily mid-collection, pytest's assertion
# rewriting of hypothesis hits CPython 3.11.7's "AST constructor recursion depth mismatch".
import hypothesis  # noqa: F401
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import create_engine, text

from vigie.ports import free_port
from vigie.store import Database, open_database
from vigie.store.pg_local import PgPair, as_owner, create_database, start_pair
from vigie.store.schema import upgrade

# Cheap password hashing for the tests' many accounts (production keeps argon2's defaults).
os.environ.setdefault("VIGIE_ARGON2_TIME_COST", "1")
os.environ.setdefault("VIGIE_ARGON2_MEMORY_KIB", "1024")
# One pytest process starts hundreds of apps: freezing the heap at each start would keep every
# earlier test's garbage for good (tests/api/test_app_start.py covers the setting itself).
os.environ.setdefault("VIGIE_GC_FREEZE", "false")
# The tests' apps sign tokens with the development secret (tests/api/test_accounts.py checks that
# production refuses it).
os.environ.setdefault("VIGIE_DEV", "true")
# Breaches raise on their first certain fix in tests, as a bare replay scenario does; the tests
# of confirmation set their own bounds (vigie.detect.persistence).
os.environ.setdefault("VIGIE_BREACH_CONFIRM_S", "{}")
os.environ.setdefault("VIGIE_ALERT_CONFIRM_S", "0")

if "FAKETIME" in os.environ:  # make test-any-day: the process runs under libfaketime
    # With the monotonic clock left real (FAKETIME_DONT_FAKE_MONOTONIC=1), libfaketime makes
    # the clock_nanosleep behind time.sleep fail with EINVAL; select's timeout waits the same.
    def _sleep(seconds: float) -> None:
        select.select([], [], [], seconds)

    time.sleep = _sleep

PG_BIN = Path("/usr/lib/postgresql/15/bin")


def real_clock_env() -> dict[str, str]:
    """The environment for a system server (PostgreSQL, Mosquitto): libfaketime left out.

    Such servers keep no clock the centre reads, and under libfaketime their start and stop
    by PID hang; the centre and its own child processes keep the moved clock.
    """
    return {k: v for k, v in os.environ.items() if k not in ("LD_PRELOAD", "FAKETIME")}


BACKENDS = ["sqlite", "postgresql"]


def answering(base: str, process: subprocess.Popen[Any], timeout_s: float = 60) -> None:
    """Wait until the centre `process` serves HTTP at `base`; fail if it ends first or is not
    up within `timeout_s` (a `vigie centre serve` started as a child process)."""
    import httpx

    deadline = time.monotonic() + timeout_s
    while True:
        try:
            httpx.get(f"{base}/api/health", timeout=1)
            return
        except httpx.TransportError:
            if process.poll() is not None:
                raise RuntimeError(f"the centre ended (exit {process.returncode})") from None
            if time.monotonic() > deadline:
                raise RuntimeError(f"the centre did not start within {timeout_s} s") from None
            time.sleep(0.1)


@contextmanager
def served(config: Any) -> Iterator[str]:
    """The centre of `config` served by uvicorn on a free port of 127.0.0.1 (its detection
    process too when `run_pipeline`); yields its base URL once it listens, stops it after."""
    import threading

    import uvicorn

    from vigie.api import create_app

    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            host="127.0.0.1",
            port=port,
            log_level="warning",
            timeout_graceful_shutdown=1,
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"the centre did not start on {base}")
        time.sleep(0.05)
    try:
        yield base
    finally:
        server.should_exit = True
        thread.join(timeout=30)


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[str]:
    """A PostgreSQL 15 cluster in a temp folder on 127.0.0.1:<free port>; yields its base URL."""
    if not (PG_BIN / "initdb").exists():
        raise RuntimeError(f"{PG_BIN}/initdb not found: run scripts/system-deps.sh as root first")
    root = Path(tempfile.mkdtemp(prefix="vigie-pg-"))
    root.chmod(0o755)
    data = root / "data"
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    subprocess.run(
        as_owner(
            *(str(PG_BIN / "initdb"), "-D", str(data), "-A", "trust", "-U", "vigie"),
            "-E",
            "UTF8",
            "--no-sync",
            "--locale=C.UTF-8",
        ),
        check=True,
        capture_output=True,
        env=real_clock_env(),
    )
    port = free_port()
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(
        as_owner(
            *(str(PG_BIN / "pg_ctl"), "-D", str(data), "-l", str(root / "log")),
            *("-w", "-o", options, "start"),
        ),
        check=True,
        capture_output=True,
        env=real_clock_env(),
    )
    pid = int((data / "postmaster.pid").read_text().split()[0])
    base = f"postgresql+psycopg://vigie@127.0.0.1:{port}"
    try:
        engine = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
        with engine.connect() as conn:
            conn.execute(text("CREATE DATABASE vigie_template"))
        engine.dispose()
        upgrade(f"{base}/vigie_template")
        yield base
    finally:
        os.kill(pid, signal.SIGINT)  # fast shutdown, by PID
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            time.sleep(0.05)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture
def pg_pair() -> Iterator[PgPair]:
    """A PostgreSQL primary and its synchronous streaming standby (vigie.store.pg_local) with a
    migrated database `vigie`: `pg_pair.url("vigie")` names both hosts. One per test, for the
    tests that kill the primary and promote the standby."""
    pair = start_pair()
    try:
        create_database(pair, "vigie")
        yield pair
    finally:
        pair.close()


_database_names = itertools.count(1)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "vigie.sqlite"
    upgrade(f"sqlite:///{path}")
    return path


@contextmanager
def fresh_database(
    request: pytest.FixtureRequest, backend: str, folder: Path, migrated: bool = True
) -> Iterator[str]:
    """A freshly migrated, empty database on `backend` (with no schema at all unless
    `migrated`, for upgrade tests), dropped afterwards."""
    if backend == "sqlite":
        path = folder / "vigie.sqlite"
        if migrated:
            shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    base = request.getfixturevalue("postgres_server")
    name = f"test_{os.getpid()}_{next(_database_names)}"
    admin = create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    template = " TEMPLATE vigie_template" if migrated else ""
    with admin.connect() as conn:
        conn.execute(text(f"CREATE DATABASE {name}{template}"))
    try:
        yield f"{base}/{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        admin.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A freshly migrated, empty database on each backend."""
    with fresh_database(request, request.param, tmp_path) as url:
        yield url


@pytest.fixture
def pg_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A migrated, empty PostgreSQL database, for what only PostgreSQL has (cluster mode, its
    table settings)."""
    with fresh_database(request, "postgresql", tmp_path) as url:
        yield url


@pytest.fixture(scope="module", params=BACKENDS)
def module_database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """The same, shared by a module's tests (for tables of cases over one seeded world)."""
    with fresh_database(request, request.param, tmp_path_factory.mktemp("module-db")) as url:
        yield url


@pytest.fixture
def db(database_url: str) -> Iterator[Database]:
    database = open_database(database_url)
    yield database
    database.dispose()


class Mailbox:
    """What the test SMTP server received, parsed."""

    def __init__(self) -> None:
        self.messages: list[Message] = []
        self.envelopes: list[tuple[str, list[str]]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
        self.messages.append(message_from_bytes(envelope.content, policy=policy.default))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server() -> Iterator[tuple[str, int, Mailbox]]:
    """A real SMTP server (aiosmtpd) on 127.0.0.1; yields host, port and its mailbox."""
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        yield controller.hostname, controller.port, mailbox
    finally:
        controller.stop()


class Centre:
    """The API in-process (lifespan run), with one account per role made on demand."""

    def __init__(self, client: Any, database: Database) -> None:
        self.client = client
        self.db = database
        self._headers: dict[str, dict[str, str]] = {}

    def headers(self, role: str, username: str | None = None) -> dict[str, str]:
        from vigie.api.security import create_user

        username = username or f"{role}1"
        if username not in self._headers:
            with self.db.session() as session:
                create_user(session, username, "correct horse battery", role, username.title())
            response = self.client.post(
                "/api/auth/token", json={"username": username, "password": "correct horse battery"}
            )
            assert response.status_code == 200, response.text
            token = response.json()["access_token"]
            self._headers[username] = {"Authorization": f"Bearer {token}"}
        return self._headers[username]


@pytest.fixture
def centre_settings(database_url: str) -> Any:
    from vigie.settings import Settings

    return Settings(database_url=database_url, run_pipeline=False, tick_s=0.05)


@pytest.fixture
def centre(centre_settings: Any, db: Database) -> Iterator[Centre]:
    from fastapi.testclient import TestClient

    from vigie.api import create_app

    with TestClient(create_app(centre_settings)) as client:
        yield Centre(client, db)


def running_loop() -> asyncio.AbstractEventLoop | None:
    """The event loop marked running in this thread, if any."""
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


WEB_TESTS = Path(__file__).parent / "web"


@pytest.fixture(autouse=True)
def _no_event_loop_left_running(request: pytest.FixtureRequest) -> None:
    """Outside tests/web, a test starts with no event loop running in the main thread.

    Playwright's sync API marks its loop running in the main thread from its start to its stop.
    Its driver, once kept for the whole session, left that loop to every later test: each
    asyncio.run() of tests/alarms run after tests/web failed ("cannot be called from a running
    event loop"). tests/web/conftest.py's `browser` now stops it with its module."""
    if WEB_TESTS in request.path.parents:
        return
    loop = running_loop()
    assert loop is None, f"an event loop left running in the main thread by an earlier test: {loop}"


# Fixtures that start a browser or a served centre whose detection runs in child processes.
_PROCESS_FIXTURES = {"site", "page", "browser"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Marks `processes` the tests that start a browser or a served centre (make test-any-day
    moves their clock with VIGIE_CLOCK_OFFSET_S; libfaketime does not carry into them)."""
    for item in items:
        if _PROCESS_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.processes)


def in_thread(call: Callable[[], Any]) -> tuple[threading.Thread, list[Any]]:
    """`call` started in a thread of its own (a request to hold mid-way, say); its result
    lands in the list."""
    out: list[Any] = []
    thread = threading.Thread(target=lambda: out.append(call()), daemon=True)
    thread.start()
    return thread, out
