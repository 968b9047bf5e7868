"""An async endpoint runs what blocks (a PDF, a write that waits for a lock) in a thread: on the
event loop it stood the whole process still, its ingest and alarm streams with it. Each test
holds one such call and checks that another request is answered meanwhile."""

from __future__ import annotations

import json
import threading
from typing import Any

import pytest

from tests.api.world import build
from tests.conftest import Centre, in_thread
from vigie.store import audit
from vigie.web import live, pages

WAIT_S = 20


def answered_meanwhile(centre: Centre) -> None:
    """The process answers a request while the held call waits."""
    probe, answer = in_thread(lambda: centre.client.get("/api/health"))
    probe.join(WAIT_S)
    assert not probe.is_alive(), "the process stood still while an endpoint waited"
    assert answer[0].status_code in (200, 503)  # answered: health's own verdict aside


@pytest.mark.timeout(90)
def test_the_law_sheet_pdf_is_made_off_the_event_loop(
    centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    build(centre)
    started, release = threading.Event(), threading.Event()
    real = pages.law_sheet_pdf

    def held(*args: Any) -> bytes:
        started.set()
        assert release.wait(WAIT_S)
        return real(*args)

    monkeypatch.setattr(pages, "law_sheet_pdf", held)
    fiche = {
        "as_of": "2026-11-30",
        "sentences": [{"id": "A", "start": "2026-01-05", "quantum": "P1Y", "category": "delit"}],
    }
    form = {"measure": "fiche", "case": json.dumps(fiche)}
    sheet, made = in_thread(
        lambda: centre.client.post(
            "/console/law/sheet.pdf", data=form, headers=centre.headers("judge")
        )
    )
    try:
        assert started.wait(WAIT_S)
        answered_meanwhile(centre)
    finally:
        release.set()
    sheet.join(WAIT_S)
    assert made[0].status_code == 200 and made[0].content.startswith(b"%PDF")


@pytest.mark.timeout(90)
def test_a_stream_whose_subscription_waits_for_the_audit_chain_stalls_nothing_else(
    centre: Centre, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(live, "RECHECK_S", 0.2)
    headers = centre.headers("operator")
    holding, release = threading.Event(), threading.Event()

    def hold_the_chain() -> None:
        # An audited write left open: the chain's head (PostgreSQL), the writer (SQLite).
        with centre.db.session() as session:
            audit.record(session, "test", "hold", "audit_head")
            holding.set()
            assert release.wait(WAIT_S)

    holder, _ = in_thread(hold_the_chain)
    assert holding.wait(WAIT_S)

    def subscribe() -> list[str]:
        with centre.client.stream("GET", "/api/console/stream", headers=headers) as stream:
            lines = stream.iter_lines()
            first = next(lines)
            assert centre.client.post("/api/auth/logout", headers=headers).status_code == 204
            return [first, *lines]  # the revoked token ends the stream

    stream, heard = in_thread(subscribe)
    try:
        answered_meanwhile(centre)
    finally:
        release.set()
    holder.join(WAIT_S)
    stream.join(WAIT_S)
    assert not stream.is_alive() and heard[0][0] == "event: changed"
    with centre.db.session() as session:
        assert audit.verify(session)[1] is None
