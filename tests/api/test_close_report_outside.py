"""Closing an alarm makes its report's PDF before the close's transaction, so the centre never
waits on it: while the PDF is made, an audited request (a console's alarm list) is answered;
the report stored is the one the close makes, made again if the alarm changed meanwhile."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.api.world import build
from tests.conftest import Centre, in_thread
from vigie.alarms import report
from vigie.store import audit
from vigie.store.models import Report

WAIT_S = 20


class HeldPdf:
    """`report.render_pdf`, the real one, held at its start until released: a slow rendering
    whose moment the test chooses. Counts its calls."""

    def __init__(self, real: Callable[[str], bytes]) -> None:
        self.real = real
        self.started = threading.Event()
        self.release = threading.Event()
        self.calls = 0

    def __call__(self, html: str) -> bytes:
        self.calls += 1
        self.started.set()
        assert self.release.wait(WAIT_S), "the test never released the PDF"
        return self.real(html)


@pytest.fixture
def held(monkeypatch: pytest.MonkeyPatch) -> Iterator[HeldPdf]:
    pdf = HeldPdf(report.render_pdf)
    monkeypatch.setattr(report, "render_pdf", pdf)
    yield pdf
    pdf.release.set()


def closing_held(centre: Centre, held: HeldPdf) -> tuple[int, threading.Thread, list[Any]]:
    """An alarm being closed, its report's PDF held at its start: the alarm, the close's thread
    and where its answer lands."""
    world = build(centre)
    alarm_id = world.new_alarm("in_progress")
    body = {"qualification": "breach", "note": "not home"}
    operator = centre.headers("operator")
    close, closed = in_thread(
        lambda: centre.client.post(f"/api/alarms/{alarm_id}/close", json=body, headers=operator)
    )
    assert held.started.wait(WAIT_S)
    return alarm_id, close, closed


def stored_report(centre: Centre, alarm_id: int) -> Report:
    with centre.db.session() as session:
        found = session.query(Report).filter_by(alarm_id=alarm_id).one()
        session.expunge(found)
        return found


def test_an_audited_request_is_answered_while_a_close_makes_its_pdf(
    centre: Centre, held: HeldPdf
) -> None:
    alarm_id, close, closed = closing_held(centre, held)
    # Before the PDF was made outside the close's transaction, this list (its read audited)
    # waited on the close: the audit chain's head (PostgreSQL), the writer (SQLite).
    listing, listed = in_thread(
        lambda: centre.client.get("/api/alarms", headers=centre.headers("supervisor"))
    )
    listing.join(WAIT_S)
    assert not listing.is_alive(), "the alarm list waited for the close's PDF"
    assert listed[0].status_code == 200
    assert alarm_id in [a["id"] for a in listed[0].json()]
    held.release.set()
    close.join(WAIT_S)
    assert closed[0].status_code == 200, closed[0].text
    assert closed[0].json()["status"] == "closed"
    made = stored_report(centre, alarm_id)
    assert made.pdf.startswith(b"%PDF") and "not home" in made.html
    assert held.calls == 1  # the PDF made before the close is the one stored
    with centre.db.session() as session:
        assert audit.verify(session)[1] is None


def test_an_alarm_that_changes_while_its_pdf_is_made_gets_its_report_made_again(
    centre: Centre, held: HeldPdf
) -> None:
    alarm_id, close, closed = closing_held(centre, held)
    # Another operator notes something on the alarm while its report's PDF is being made.
    noted = centre.client.post(
        f"/api/alarms/{alarm_id}/actions",
        json={"action": "note", "note": "wearer called back meanwhile"},
        headers=centre.headers("operator", "operator2"),
    )
    assert noted.status_code == 201, noted.text
    held.release.set()
    close.join(WAIT_S)
    assert closed[0].status_code == 200, closed[0].text
    made = stored_report(centre, alarm_id)
    assert "wearer called back meanwhile" in made.html
    assert made.pdf.startswith(b"%PDF")
    assert held.calls == 2  # the prepared PDF, then the one of the report as it was closed


def test_a_refused_close_makes_no_pdf(centre: Centre, held: HeldPdf) -> None:
    world = build(centre)
    alarm_id = world.new_alarm("open")  # nobody has acknowledged it
    held.release.set()
    refused = centre.client.post(
        f"/api/alarms/{alarm_id}/close",
        json={"qualification": "breach", "note": None},
        headers=centre.headers("operator"),
    )
    assert refused.status_code == 409, refused.text
    assert held.calls == 0
