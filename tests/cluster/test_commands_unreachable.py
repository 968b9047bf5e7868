"""`vigie cluster status` and `init` when no NATS server answers: a line saying so and exit 1,
where they retried for ever, printing a failed connect four times a second."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from vigie.ports import free_port


@pytest.mark.parametrize("command", ["status", "init"])
def test_a_one_shot_command_says_no_server_answered(command: str) -> None:
    closed = [f"nats://127.0.0.1:{free_port()}", f"nats://127.0.0.1:{free_port()}"]
    env = os.environ | {
        "VIGIE_MODE": "cluster",
        "VIGIE_DATABASE_URL": "postgresql+psycopg://vigie@127.0.0.1:1/vigie",
        "VIGIE_NATS_URLS": ",".join(closed),
    }
    result = subprocess.run(
        [sys.executable, "-c", "from vigie.cli import main; main()", "cluster", command],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,  # it never ended before
    )
    assert result.returncode == 1, result.stderr
    assert f"no NATS server answered ({', '.join(closed)})" in result.stderr
    assert result.stderr.count("Connect call failed") <= 4  # twice each, not for ever
