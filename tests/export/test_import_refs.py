"""A case's reference at import: an archive of a case opened without one carries the reference
its centre generated (`V000005`); imported as it was, it took the reference this centre gives
its own fifth case, whose opening then failed (a 500), and on SQLite, which gives the same id
again, so did every case opened after it without a reference."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.cases import factories as make
from tests.export.conftest import Keys
from tests.export.story import Story
from tests.export.test_cli import vigie
from tests.export.test_round_trip import export
from vigie.api.security import create_user
from vigie.cases import placements
from vigie.export.importer import ImportRefused, import_archive
from vigie.store import Database
from vigie.store.models import Placement


def _open(db: Database, case_ref: str | None = None) -> str:
    """A case opened at `db` (its reference generated when none is given)."""
    with db.session() as session:
        wearer = make.person(session)
        form = make.placement_form(wearer, make.contacts(session), case_ref=case_ref)
        return placements.create(session, form, "supervisor1").case_ref


def _placements(db: Database) -> int:
    with db.reading() as session:
        return session.scalar(select(func.count()).select_from(Placement)) or 0


def test_a_generated_reference_is_not_imported_as_it_is(
    db: Database, other: Database, story: Story, export_keys: Keys, tmp_path: Path
) -> None:
    generated = _open(db)
    assert generated.startswith("V")
    archive = tmp_path / "V.zip"
    export(db, generated, export_keys, archive, sealed=False)
    with pytest.raises(ImportRefused, match=r"V<number>.*--case-ref"):
        import_archive(other, archive, "admin9")
    assert _placements(other) == 0
    imported = import_archive(other, archive, "admin9", case_ref_as="ARCH-1")
    assert imported.case_ref == "ARCH-1"
    # This centre's own cases keep opening, however many there are.
    assert [_open(other) for _ in range(3)] == [f"V{n:06d}" for n in (2, 3, 4)]


@pytest.mark.parametrize("given", ["../C1", "x" * 41, "C 1", "V12"])
def test_a_reference_given_at_import_follows_the_rule_of_the_forms(
    given: str, db: Database, other: Database, c1_archive: Path
) -> None:
    with pytest.raises(ImportRefused, match=r"--case-ref|V<number>"):
        import_archive(other, c1_archive, "admin9", case_ref_as=given)
    assert _placements(other) == 0


def test_the_command_says_so(
    other: Database, other_url: str, c1_archive: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with other.session() as session:
        create_user(session, "chief", "correct horse battery", "admin", "Chief")
    code, out = vigie(
        monkeypatch, other_url, "import", str(c1_archive), "--case-ref", "../C1", "--as", "chief"
    )
    assert code == 1, out
    assert "REFUSED: --case-ref '../C1'" in out
    assert _placements(other) == 0


def test_a_generated_reference_already_taken_is_not_given_again(db: Database) -> None:
    """A case imported before such references were refused may hold the next one: the case
    opened then gets another (it failed, on SQLite for ever)."""
    first = _open(db)
    with db.session() as session:
        taken = session.scalars(select(Placement).where(Placement.case_ref == first)).one()
        following = f"V{taken.id + 1:06d}"
        taken.case_ref = following  # as the import of another centre's case left it
    assert _open(db) == f"{following}.2"
    assert _open(db) == f"V{taken.id + 2:06d}"
