"""POST /api/observations in group commits: batches posted together share a transaction, and
each still gets its own receipt and audit entry, its duplicates counted against the others'."""

from __future__ import annotations

import logging
import threading
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from tests.conftest import Centre
from vigie import clock
from vigie.settings import Settings
from vigie.store import observations as log
from vigie.store.models import AuditEntry

DAY = (clock.now() - timedelta(days=1)).date().isoformat()


@pytest.fixture
def centre_settings(database_url: str) -> Any:
    # A long window: the three batches below are posted well within it, so they share a group.
    return Settings(database_url=database_url, run_pipeline=False, ingest_window_s=1.0)


def obs(seq: int) -> dict[str, Any]:
    return {"device": "B1", "seq": seq, "t": f"{DAY}T20:00:{seq:02d}Z", "type": "presence"} | {
        "present": True
    }


def test_batches_posted_together_get_their_own_receipts(
    centre: Centre, caplog: pytest.LogCaptureFixture
) -> None:
    headers = centre.headers("integration")
    batches = {"a": [1, 2, 3], "b": [2, 3, 4], "c": [1, 4]}
    receipts: dict[str, dict[str, Any]] = {}
    ready = threading.Barrier(len(batches))

    def post(name: str) -> None:
        ready.wait(10)
        response = centre.client.post(
            "/api/observations",
            json={"observations": [obs(seq) for seq in batches[name]]},
            headers=headers,
        )
        assert response.status_code == 200, response.text
        receipts[name] = response.json()

    with caplog.at_level(logging.ERROR, logger="vigie.store.group_commit"):
        threads = [threading.Thread(target=post, args=(name,)) for name in batches]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(30)
    assert set(receipts) == set(batches)
    # The group's transaction held: no batch had to be written alone.
    assert not [r for r in caplog.records if "one by one" in r.getMessage()]
    assert sum(r["accepted"] for r in receipts.values()) == 4
    assert sum(r["duplicates"] for r in receipts.values()) == 8 - 4
    for name, receipt in receipts.items():
        assert receipt["accepted"] + receipt["duplicates"] == len(batches[name])
    ids = [i for r in receipts.values() for i in r["ids"]]
    with centre.db.reading() as session:
        stored = [row.id for row in log.after(session, 0, 10)]
        entries = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "post_observations")
        ).all()
    assert sorted(ids) == sorted(stored) and len(stored) == 4
    assert sorted((e.detail["accepted"], e.detail["duplicates"]) for e in entries) == sorted(
        (r["accepted"], r["duplicates"]) for r in receipts.values()
    )
