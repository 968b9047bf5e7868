"""An import commits step by step (the case, its observations a batch at a time, the rest):
the centre goes on storing readings meanwhile, and an interrupted import is finished by
running it again."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from tests.export.test_cli import vigie
from tests.export.test_round_trip import snapshot
from tests.store.test_observations import T0, position, rows
from vigie.api.security import create_user
from vigie.export import importer
from vigie.export.importer import ImportInterrupted, import_archive
from vigie.store import Database
from vigie.store import observations as log
from vigie.store.models import AuditEntry, Observation, Placement


def observations_of(db: Database, device_prefix: str = "") -> int:
    with db.reading() as s:
        query = select(func.count()).select_from(Observation)
        if device_prefix:
            query = query.where(Observation.device.startswith(device_prefix))
        return int(s.scalar(query) or 0)


def status(db: Database, case_ref: str) -> str:
    with db.reading() as s:
        return s.scalars(select(Placement.status).where(Placement.case_ref == case_ref)).one()


def actions(db: Database) -> list[str]:
    with db.reading() as s:
        return list(
            s.scalars(
                select(AuditEntry.action)
                .where(AuditEntry.action.startswith("import_case"))
                .order_by(AuditEntry.id)
            )
        )


def test_an_import_commits_step_by_step_and_readings_are_stored_between(
    db: Database,
    other: Database,
    c1_archive: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One transaction held SQLite's writer (and PostgreSQL's order lock) for the whole import:
    88 s for a year of fixes in which the centre stored no reading. After each of the import's
    commits, a reading is stored here from another session; the import is the same."""
    archive = c1_archive
    monkeypatch.setattr(importer, "BATCH", 7)
    stored_between: list[int] = []
    storing = False

    def store_one(session: Session) -> None:
        nonlocal storing
        if storing or session.get_bind().url != other.engine.url:
            return
        storing = True
        try:
            with other.session() as s:
                at = T0 + timedelta(seconds=len(stored_between))
                stored_between.extend(log.append(s, rows([position("LIVE1", at)])).ids)
        finally:
            storing = False

    event.listen(Session, "after_commit", store_one)
    try:
        result = import_archive(other, archive, "admin9")
    finally:
        event.remove(Session, "after_commit", store_one)
    batches = -(-result.added["observations"] // 7)
    assert batches > 2
    # The case, each batch of observations, then the rest: a reading stored after each.
    assert len(stored_between) == batches + 2
    assert observations_of(other, "LIVE") == len(stored_between)
    assert snapshot(other, "C1") == snapshot(db, "C1")
    assert actions(other) == ["import_case_started", "import_case"]
    assert status(other, "C1") == "imported"


def test_an_interrupted_import_is_finished_by_running_it_again(
    db: Database,
    other: Database,
    c1_archive: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    archive = c1_archive
    monkeypatch.setattr(importer, "BATCH", 5)
    real = importer._Run._observation_batch
    calls = 0

    def failing_third(run: Any, result: Any, batch: list[dict[str, Any]]) -> None:
        nonlocal calls
        calls += 1
        if calls == 3:
            raise OperationalError("INSERT", {}, Exception("disk I/O error"))
        real(run, result, batch)

    monkeypatch.setattr(importer._Run, "_observation_batch", failing_third)
    with pytest.raises(ImportInterrupted) as interrupted:
        import_archive(other, archive, "admin9")
    assert interrupted.value.result.added["observations"] == 10  # the two batches stored
    assert observations_of(other) == 10
    assert actions(other) == ["import_case_started"]  # begun, not finished: on the record
    assert status(other, "C1") == "importing"  # and on the case: its history may be partial

    monkeypatch.setattr(importer._Run, "_observation_batch", real)
    again = import_archive(other, archive, "admin9")
    assert again.skipped["observations"] == 10
    assert observations_of(other) == 10 + again.added["observations"]
    assert snapshot(other, "C1") == snapshot(db, "C1")
    assert actions(other) == ["import_case_started", "import_case_started", "import_case"]
    assert status(other, "C1") == "imported"


def test_the_command_says_an_import_was_interrupted_and_how_to_finish_it(
    db: Database,
    other: Database,
    other_url: str,
    c1_archive: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    archive = c1_archive
    with other.session() as session:
        create_user(session, "chief", "correct horse battery", "admin", "Chief")

    def failing(run: Any, result: Any, batch: list[dict[str, Any]]) -> None:
        raise OperationalError("INSERT", {}, Exception("disk I/O error"))

    real = importer._Run._observation_batch
    monkeypatch.setattr(importer._Run, "_observation_batch", failing)
    code, out = vigie(monkeypatch, other_url, "import", str(archive), "--as", "chief")
    assert code == 1, out
    assert "INTERRUPTED" in out and "disk I/O error" in out
    assert "case C1 is partly imported" in out and "run the same command again" in out
    monkeypatch.setattr(importer._Run, "_observation_batch", real)
    code, out = vigie(monkeypatch, other_url, "import", str(archive), "--as", "chief")
    assert code == 0 and "case C1 imported" in out, out
    assert snapshot(other, "C1") == snapshot(db, "C1")
