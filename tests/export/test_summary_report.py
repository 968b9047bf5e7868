"""The summary sent when a measure ended leaves with the case, to its schema, with its delivery
records, and comes back as the imported case's report, not sent again."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from sqlalchemy import select

from tests.export.conftest import Keys
from tests.export.story import Story
from tests.export.test_round_trip import export
from tests.export.test_schemas import validators
from vigie import clock
from vigie.alarms import summaries_owed
from vigie.cases import ending
from vigie.cases.forms import MeasureEndIn
from vigie.export.importer import import_archive
from vigie.settings import Settings
from vigie.store import Database
from vigie.store.models import OutboxMessage, Placement, Report


def test_the_summary_sent_at_the_end_is_exported_and_imported_as_sent(
    db: Database,
    other: Database,
    story: Story,
    export_keys: Keys,
    tmp_path: Path,
    centre_settings: Settings,
) -> None:
    before = tmp_path / "before.zip"
    export(db, "C1", export_keys, before, sealed=False)
    assert json.loads(zipfile.ZipFile(before).read("case.json"))["summary_report"] is None

    form = MeasureEndIn(reason="revoked", decision_ref="JAP-2026-0200", note="retrait")
    with db.session() as session:
        case = session.scalars(select(Placement).where(Placement.case_ref == "C1")).one()
        ending.end(session, case, form, "supervisor1", clock.now())
    assert summaries_owed.queue_owed(db, centre_settings, clock.now()) == 1
    with db.session() as session:
        sent = session.scalars(select(Report).where(Report.placement_id.is_not(None))).one()
        html, pdf = sent.html, sent.pdf
    archive = tmp_path / "C1.zip"
    export(db, "C1", export_keys, archive, sealed=False)
    zipped = zipfile.ZipFile(archive)
    whole = json.loads(zipped.read("case.json"))
    validators()["case"].validate(whole)
    summary = whole["summary_report"]
    assert (summary["html"], summary["pdf"]) == ("reports/summary.html", "reports/summary.pdf")
    assert {d["recipient_role"] for d in summary["deliveries"]} == {"judge", "prosecutor", "spip"}
    assert zipped.read("reports/summary.pdf") == pdf
    assert zipped.read("reports/summary.html").decode() == html

    import_archive(other, archive, "admin9")
    import_archive(other, archive, "admin9")  # again: nothing twice
    with other.session() as session:
        imported = session.scalars(select(Placement).where(Placement.case_ref == "C1")).one()
        (kept,) = session.scalars(select(Report).where(Report.placement_id == imported.id))
        assert (kept.html, kept.pdf) == (html, pdf)
        assert (
            session.scalars(select(OutboxMessage).where(OutboxMessage.report_id == kept.id)).all()
            == []
        )
