"""`vigie export keygen|case|centre|verify` and `vigie import`, as an admin would run them."""

from __future__ import annotations

import zipfile
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select
from typer.testing import CliRunner

from tests.export.story import Story
from tests.export.test_tamper import flip_one_byte, rewrite
from vigie.cli import app
from vigie.export import keys
from vigie.settings import settings
from vigie.store import Database
from vigie.store.models import AuditEntry, Placement

runner = CliRunner()


def vigie(monkeypatch: pytest.MonkeyPatch, url: str, *args: str) -> tuple[int, str]:
    monkeypatch.setenv("VIGIE_DATABASE_URL", url)
    settings.cache_clear()
    try:
        result = runner.invoke(app, list(args))
    finally:
        settings.cache_clear()
    return result.exit_code, result.output + (result.stderr if result.stderr_bytes else "")


def test_export_verify_import_from_the_command_line(
    db: Database,
    database_url: str,
    other: Database,
    other_url: str,
    story: Story,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    key = tmp_path / "centre.key"
    code, out = vigie(monkeypatch, database_url, "export", "keygen", "--out", str(key))
    assert code == 0, out
    assert key.stat().st_mode & 0o777 == 0o600
    code, out = vigie(monkeypatch, database_url, "export", "keygen", "--out", str(key))
    assert code == 1 and "already exists" in out
    monkeypatch.setenv(keys.KEY_VARIABLE, str(key))

    archive = tmp_path / "C1.zip"
    code, out = vigie(monkeypatch, database_url, "export", "case", "C1", "--out", str(archive))
    assert code == 2 and "--as ADMIN is required" in out
    code, out = vigie(
        monkeypatch, database_url, "export", "case", "C1", "--out", str(archive), "--as", "judge1"
    )
    assert code == 2 and "not an active admin" in out
    code, out = vigie(
        monkeypatch, database_url, "export", "case", "C1", "--out", str(archive), "--as", "admin1"
    )
    assert code == 0, out
    assert "observations.jsonl" in out and "omitted" in out

    code, out = vigie(monkeypatch, database_url, "export", "verify", str(archive))
    assert code == 0 and "sound" in out, out
    code, out = vigie(
        monkeypatch, database_url, "export", "verify", str(archive), "--key", f"{key}.pub"
    )
    assert code == 0 and "not checked" not in out, out
    tampered = tmp_path / "tampered.zip"
    rewrite(
        archive,
        tampered,
        {"alarms.jsonl": flip_one_byte(zipfile.ZipFile(archive).read("alarms.jsonl"))},
    )
    code, out = vigie(monkeypatch, database_url, "export", "verify", str(tampered))
    assert code == 1 and "alarms.jsonl" in out, out
    code, out = vigie(monkeypatch, other_url, "import", str(tampered), "--as", "admin1")
    assert code == 2  # no such admin in the other centre yet
    from vigie.api.security import create_user

    with other.session() as session:
        create_user(session, "chief", "correct horse battery", "admin", "Chief")
    code, out = vigie(monkeypatch, other_url, "import", str(tampered), "--as", "chief")
    assert code == 1 and "REFUSED" in out and "alarms.jsonl" in out

    code, out = vigie(monkeypatch, other_url, "import", str(archive), "--as", "chief")
    assert code == 0 and "case C1 imported" in out, out
    code, out = vigie(monkeypatch, other_url, "import", str(archive), "--as", "chief")
    assert code == 0 and "nothing new" in out, out
    with other.reading() as session:
        assert session.scalar(select(func.count()).select_from(Placement)) == 1
        actions = list(
            session.scalars(select(AuditEntry.action).where(AuditEntry.actor == "chief"))
        )
        assert actions == ["import_case_started", "import_case"] * 2

    folder = tmp_path / "all"
    before, after = (str((story.start + timedelta(days=d)).date()) for d in (-1, 1))
    code, out = vigie(
        monkeypatch,
        database_url,
        "export",
        "centre",
        "--since",
        before,
        "--out",
        str(folder),
        "--as",
        "admin1",
    )
    assert code == 0 and "2 case(s)" in out, out
    assert sorted(p.name for p in folder.iterdir()) == ["C1.zip", "C2.zip"]
    code, out = vigie(
        monkeypatch,
        database_url,
        "export",
        "centre",
        "--since",
        "soon",
        "--out",
        str(folder),
        "--as",
        "admin1",
    )
    assert code == 2 and "--since" in out
    code, out = vigie(
        monkeypatch,
        database_url,
        "export",
        "centre",
        "--since",
        after,
        "--out",
        str(folder),
        "--as",
        "admin1",
    )
    assert code == 0 and "2 case(s)" in out, out  # both are active: their history goes on
    with db.session() as session:
        for placement in session.scalars(select(Placement)):
            placement.status = "ended"
    code, out = vigie(
        monkeypatch,
        database_url,
        "export",
        "centre",
        "--since",
        after,
        "--out",
        str(folder),
        "--as",
        "admin1",
    )
    assert code == 0 and "0 case(s)" in out, out
