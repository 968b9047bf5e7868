"""`vigie centre serve` writes Vigie's own log lines with their time, level and module, as
uvicorn's are written: a refused scrape, a failed checkpoint are not bare words on stderr."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.conftest import answering
from vigie.ports import free_port

pytestmark = pytest.mark.processes  # the centre runs as a child process

TOKEN = "a-scraper-token-of-at-least-32-characters"


def test_the_served_centre_logs_vigie_lines_with_time_level_and_module(tmp_path: Path) -> None:
    port = free_port()
    env = os.environ | {
        "VIGIE_DATABASE_URL": f"sqlite:///{tmp_path / 'vigie.sqlite'}",
        "VIGIE_METRICS_TOKEN": TOKEN,
        "VIGIE_AUDIT_ANCHOR_FILE": str(tmp_path / "anchors.jsonl"),
        "VIGIE_PIPELINE_PROCESS": "false",
    }
    argv = [sys.executable, "-c", "from vigie.cli import main; main()", "centre", "serve"]
    server = subprocess.Popen(
        [*argv, "--dev", "--port", str(port)], env=env, stderr=subprocess.PIPE, text=True
    )
    base = f"http://127.0.0.1:{port}"
    try:
        answering(base, server)
        assert httpx.get(f"{base}/metrics").status_code == 401
    finally:
        server.terminate()
        _, stderr = server.communicate(timeout=30)
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    refused = rf"^{stamp} WARNING vigie\.api\.routers\.metrics metrics: refused a scrape from "
    assert re.search(refused, stderr, re.MULTILINE), stderr
    # The start-up warnings are Vigie's lines too, and uvicorn's own are as they were.
    assert re.search(rf"^{stamp} WARNING vigie\.\S+ VIGIE_AUDIT_KEY is not set", stderr, re.M)
    assert "Uvicorn running on" in stderr
