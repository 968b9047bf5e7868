"""120 concurrent wrong logins against the real server in production mode (argon2 at its
production cost) do not slow the other endpoints: throttled attempts are refused before any
hashing, and the checks that do run use a thread of their own, not the endpoints' pool."""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from argon2 import PasswordHasher
from sqlalchemy import func, select

from tests.conftest import answering, fresh_database
from vigie.api.security import create_user
from vigie.ports import free_port
from vigie.store import Database
from vigie.store.models import AuditEntry, User

PASSWORD = "Bright-Kettle-Orbit-42"


# The server runs as a child process (make test-any-day moves its clock by the offset).
pytestmark = pytest.mark.processes


@pytest.fixture
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """SQLite only: the storm is about the API process, which is the same on either database."""
    with fresh_database(request, "sqlite", tmp_path) as url:
        yield url


@pytest.fixture
def production_server(tmp_path: object, db: Database, database_url: str) -> Iterator[str]:
    """`vigie centre serve` with a real secret, no dev switch and argon2's production cost."""
    production = PasswordHasher(time_cost=3, memory_cost=65536)
    with db.session() as session:
        for name in ("target", "watcher"):
            user = create_user(session, name, PASSWORD, "operator", name.title())
            user.password_hash = production.hash(PASSWORD)
    port = free_port()
    env = os.environ | {
        "VIGIE_DATABASE_URL": database_url,
        "VIGIE_DEV": "false",
        "VIGIE_JWT_SECRET": secrets.token_urlsafe(48),
        "VIGIE_ARGON2_TIME_COST": "3",
        "VIGIE_ARGON2_MEMORY_KIB": "65536",
        "VIGIE_PIPELINE_PROCESS": "false",
    }
    argv = [sys.executable, "-c", "from vigie.cli import main; main()", "centre", "serve"]
    server = subprocess.Popen([*argv, "--port", str(port)], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        answering(base, server)  # in production mode: no dev switch
        yield base
    finally:
        server.terminate()
        server.wait(timeout=30)


def _probe(base: str, headers: dict[str, str], count: int) -> list[float]:
    """Latencies (s) of an ordinary authenticated read, one after the other, from a client of
    its own (a thread apart from the storm's event loop, so the storm's client is not timed)."""
    latencies = []
    with httpx.Client(base_url=base, headers=headers, timeout=60) as client:
        for _ in range(count):
            started = time.perf_counter()
            response = client.get("/api/alarms")
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text
            time.sleep(0.05)
    return latencies


async def _guesses(base: str) -> list[httpx.Response]:
    limits = httpx.Limits(max_connections=200, max_keepalive_connections=200)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as client:
        names = ["target"] * 60 + [f"nobody{i}" for i in range(60)]
        return await asyncio.gather(
            *(
                client.post("/api/auth/token", json={"username": name, "password": f"guess {i}!"})
                for i, name in enumerate(names)
            )
        )


def _storm(base: str) -> tuple[list[float], list[float], Counter[int], set[str]]:
    login = {"username": "watcher", "password": PASSWORD}
    token = httpx.post(f"{base}/api/auth/token", json=login).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    calm = _probe(base, headers, 20)
    with ThreadPoolExecutor(1) as pool:
        probing = pool.submit(_probe, base, headers, 40)
        answers = asyncio.run(_guesses(base))
        stormy = probing.result()
    statuses = Counter(a.status_code for a in answers)
    retry = {a.headers.get("Retry-After", "") for a in answers if a.status_code == 429}
    return calm, stormy, statuses, retry


@pytest.mark.timeout(300)
def test_a_storm_of_wrong_logins_does_not_slow_the_centre(
    production_server: str, db: Database
) -> None:
    calm, stormy, statuses, retry = _storm(production_server)
    print(
        f"\ncalm median {statistics.median(calm) * 1000:.0f} ms, max {max(calm) * 1000:.0f} ms; "
        f"during the storm median {statistics.median(stormy) * 1000:.0f} ms, "
        f"max {max(stormy) * 1000:.0f} ms; answers {dict(statuses)}; "
        f"first probes {[round(x * 1000) for x in stormy[:6]]} ms"
    )
    # The latencies are printed, not asserted (a shared machine's timings are no test): before
    # the guard, every endpoint went from 47 ms to 11.7 s; the README gives the figures since.
    # At most the address's 30 failures were checked; the rest refused before hashing.
    assert set(statuses) <= {401, 429} and statuses[401] <= 30 and statuses[429] >= 90
    assert "" not in retry
    with db.session() as session:
        failed = session.scalar(select(func.count()).where(AuditEntry.action == "login_failed"))
        target = session.scalars(select(User).where(User.username == "target")).one()
    assert failed == statuses[401]
    assert target.active  # throttling locks nobody out for good
