"""The embedded centre never loads NATS: the cluster modules are imported only in cluster mode."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vigie.settings import Settings

START_UP = """
import sys
from fastapi.testclient import TestClient
import vigie.cli  # every command registered, `vigie cluster` included
from vigie.api import create_app
from vigie.gateway.service import Gateway, GatewayThread, Listen
from vigie.settings import Settings
from vigie.store import open_database
from vigie.store.schema import upgrade

url = sys.argv[1]
upgrade(url)
config = Settings(database_url=url, pipeline_process=False)
assert config.mode == "embedded"
with TestClient(create_app(config)) as client:
    assert client.get("/api/health").status_code in (200, 503)
    gateway = GatewayThread(Gateway(open_database(url)), Listen("127.0.0.1", 0, 0, None))
    gateway.start()
    gateway.stop()
print(sorted(m for m in sys.modules if m == "nats" or m.startswith(("nats.", "vigie.cluster"))))
"""


@pytest.mark.processes
def test_embedded_start_up_imports_no_nats(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_MODE")}
    done = subprocess.run(
        [sys.executable, "-c", START_UP, f"sqlite:///{tmp_path / 'vigie.sqlite'}"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    # Only the pure partitioning (a placement's partition is set at its creation): no NATS.
    assert done.stdout.strip().splitlines()[-1] == "['vigie.cluster', 'vigie.cluster.partitions']"


def test_cluster_mode_refuses_sqlite_and_missing_urls() -> None:
    with pytest.raises(ValueError, match="needs PostgreSQL"):
        Settings(mode="cluster", nats_urls="nats://127.0.0.1:4222")
    with pytest.raises(ValueError, match="needs VIGIE_NATS_URLS"):
        Settings(mode="cluster", database_url="postgresql+psycopg://h/db")
    with pytest.raises(ValueError, match="VIGIE_RENEW_S"):
        Settings(lease_s=1.0, renew_s=1.0)
    config = Settings(
        mode="cluster",
        database_url="postgresql+psycopg://h/db",
        nats_urls=" nats://a:1,nats://b:2 ",
    )
    assert config.nats_servers == ["nats://a:1", "nats://b:2"]
    assert Settings().mode == "embedded"
