"""POST /api/exports: the admin's whole case, a judge's evidence export of their own case; no
one else; streamed as a zip that verifies."""

from __future__ import annotations

import json
import zipfile
from io import BytesIO
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.conftest import Centre
from tests.export.conftest import Keys
from tests.export.story import Story
from vigie.api.security import create_user
from vigie.export import keys
from vigie.export.verify import verify
from vigie.store.models import AuditEntry


def login(centre: Centre, username: str) -> dict[str, str]:
    response = centre.client.post(
        "/api/auth/token", json={"username": username, "password": "correct horse battery"}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@pytest.fixture
def exporting(
    centre: Centre, story: Story, export_keys: Keys, monkeypatch: pytest.MonkeyPatch
) -> Centre:
    monkeypatch.setenv(keys.KEY_VARIABLE, str(export_keys.signing))
    return centre


def test_admin_exports_a_whole_case_sealing_her_data(
    exporting: Centre, export_keys: Keys, tmp_path: Path
) -> None:
    pem = export_keys.recipient_public.read_text()
    response = exporting.client.post(
        "/api/exports",
        json={"case_ref": "C2", "victim_recipient_key": pem},
        headers=login(exporting, "admin1"),
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert 'filename="case-C2.zip"' in response.headers["content-disposition"]
    path = tmp_path / "api.zip"
    path.write_bytes(response.content)
    manifest = verify(path).manifest
    assert (manifest["kind"], manifest["exported_by"]) == ("case", "admin1")
    assert manifest["protected_data"]["status"] == "sealed"
    with exporting.db.reading() as session:
        entry = session.scalars(select(AuditEntry).where(AuditEntry.action == "export_case")).one()
        assert entry.actor == "admin1"


def test_a_judge_gets_the_evidence_export_of_their_own_case_only(
    exporting: Centre, export_keys: Keys, tmp_path: Path
) -> None:
    judge = login(exporting, "judge1")
    response = exporting.client.post("/api/exports", json={"case_ref": "C2"}, headers=judge)
    assert response.status_code == 200, response.text
    archive = zipfile.ZipFile(BytesIO(response.content))
    manifest = json.loads(archive.read("manifest.json"))
    assert manifest["kind"] == "evidence"
    assert manifest["protected_data"] == {"status": "omitted", "reason": "evidence export"}
    assert "protected.jsonl.sealed" not in archive.namelist()
    assert "home_lat" not in json.loads(archive.read("case.json"))["protected_person"]

    pem = export_keys.recipient_public.read_text()
    sealed = exporting.client.post(
        "/api/exports", json={"case_ref": "C2", "victim_recipient_key": pem}, headers=judge
    )
    assert sealed.status_code == 403
    assert sealed.json()["field"] == "victim_recipient_key"

    with exporting.db.session() as session:
        create_user(session, "judge2", "correct horse battery", "judge", "Other Judge")
    other = exporting.client.post(
        "/api/exports", json={"case_ref": "C2"}, headers=login(exporting, "judge2")
    )
    assert other.status_code == 404  # not theirs: refused as if it did not exist
    with exporting.db.reading() as session:
        denied = session.scalars(
            select(AuditEntry).where(AuditEntry.action == "export_denied")
        ).one()
        assert denied.actor == "judge2"


@pytest.mark.parametrize("role", ["operator", "prosecutor", "spip"])
def test_no_other_role_exports(exporting: Centre, role: str) -> None:
    response = exporting.client.post(
        "/api/exports", json={"case_ref": "C1"}, headers=login(exporting, f"{role}1")
    )
    assert response.status_code == 403
    assert role in response.json()["message"]


def test_bad_input_names_the_field(exporting: Centre) -> None:
    admin = login(exporting, "admin1")
    bad_key = exporting.client.post(
        "/api/exports", json={"case_ref": "C1", "victim_recipient_key": "nope"}, headers=admin
    )
    assert bad_key.status_code == 422
    assert bad_key.json()["field"] == "victim_recipient_key"
    missing = exporting.client.post("/api/exports", json={"case_ref": "C9"}, headers=admin)
    assert missing.status_code == 404
    assert missing.json()["field"] == "case_ref"


def test_without_an_export_key_the_centre_says_so(
    centre: Centre, story: Story, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(keys.KEY_VARIABLE, str(tmp_path / "none.key"))
    response = centre.client.post(
        "/api/exports", json={"case_ref": "C1"}, headers=login(centre, "admin1")
    )
    assert response.status_code == 503
    assert "export key" in response.json()["message"]
