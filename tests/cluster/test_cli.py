"""`vigie cluster init` and `status` against a real 3-node cluster."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

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
