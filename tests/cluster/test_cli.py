"""`vigie cluster init` and `status` against a real 3-node cluster."""

from __future__ import annotations

import json
import re

import pytest
from typer.testing import CliRunner

from tests.test_cli import vigie
from vigie.cli import app
from vigie.cluster.local import LocalCluster

pytestmark = pytest.mark.processes


def test_init_twice_status_and_drift(
    cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIE_NATS_URLS", cluster.urls_setting)
    monkeypatch.setenv("VIGIE_PARTITIONS", "8")
    monkeypatch.setenv("VIGIE_STREAM_MAX_GB", "1")
    runner = CliRunner()
    first = runner.invoke(app, ["cluster", "init"])
    assert first.exit_code == 0, first.output
    assert "stream VIGIE_OBS created (R3)" in first.output
    again = runner.invoke(app, ["cluster", "init"])
    assert again.exit_code == 0 and "nothing to do" in again.output
    status = runner.invoke(app, ["cluster", "status", "--json"])
    assert status.exit_code == 0, status.output
    state = json.loads(status.stdout)
    assert len(state["nodes"]) == 3 and sum(n["role"] == "leader" for n in state["nodes"]) == 1
    # No worker yet: every partition is listed without an owner.
    assert [row["owner"] for row in state["partitions"]] == [None] * 8
    assert state["unowned"] == list(range(8))
    monkeypatch.setenv("VIGIE_PARTITIONS", "16")
    drift = runner.invoke(app, ["cluster", "init"])
    assert drift.exit_code == 2 and "initialised with 8 partitions" in drift.output


@pytest.mark.parametrize("name", ["worker.a", "worker a", "w" * 65, "wörker", "a>b"])
def test_a_worker_name_that_cannot_be_a_key_is_refused_clearly(
    name: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIGIE_MODE", "cluster")
    refused = CliRunner().invoke(app, ["cluster", "worker", "--name", name])
    assert refused.exit_code == 2
    said = _words(refused.output)
    assert "--name" in said and "up to 64 letters, digits, '-' or '_'" in said
    assert "Traceback" not in said


def test_a_good_worker_name_passes_to_the_next_check() -> None:
    """The settings' own checks come next, said by `vigie` as for every command (cli.main)."""
    cluster = {"VIGIE_MODE": "cluster", "VIGIE_DATABASE_URL": "sqlite:///unused.db"}
    answer = vigie(cluster, "cluster", "worker", "--name", "worker-A_2")
    assert answer.returncode == 2 and "needs PostgreSQL" in answer.stderr
    # The same rule for VIGIE_WORKER_NAME, said as clearly.
    bad = vigie(
        cluster
        | {
            "VIGIE_DATABASE_URL": "postgresql+psycopg://unused/unused",
            "VIGIE_NATS_URLS": "nats://127.0.0.1:1",
            "VIGIE_WORKER_NAME": "worker.a",
        },
        "cluster",
        "worker",
    )
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert bad.stderr.startswith("vigie: VIGIE_WORKER_NAME: ")


def _words(output: str) -> str:
    """The CLI's message without the box it is drawn in and its line breaks."""
    return " ".join(re.sub("[│╭╮╰╯─]", " ", output).split())
