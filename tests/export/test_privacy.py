"""The protected person's data leaves only sealed to a recipient: left out, the plain members
show what a judge may read (no address, places, phone fixes, exact BAR distances, or wearer
fixes near a BAR alarm)."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.export.conftest import Keys
from tests.export.story import Story
from tests.export.test_round_trip import export
from vigie.alarms.obligations import BAR_KINDS
from vigie.alarms.privacy import BLACKOUT_MARGIN, DISTANCE_STEP_M
from vigie.cases import device_secrets
from vigie.export import keys
from vigie.export.importer import import_archive
from vigie.export.verify import ArchiveInvalid
from vigie.store import Database
from vigie.store.models import Alarm, Device, Person, Placement


def lines(archive: zipfile.ZipFile, name: str) -> list[dict]:
    return [json.loads(line) for line in archive.read(name).splitlines()]


def test_left_out_by_default_and_the_manifest_says_so(
    db: Database, other: Database, story: Story, export_keys: Keys, tmp_path: Path
) -> None:
    path = tmp_path / "C2.zip"
    manifest = export(db, "C2", export_keys, path, sealed=False)
    assert manifest["protected_data"] == {"status": "omitted", "reason": "no recipient key given"}
    archive = zipfile.ZipFile(path)
    assert "protected.jsonl.sealed" not in archive.namelist()
    case = json.loads(archive.read("case.json"))
    assert case["protected_person"]["last_name"] == "Durand"
    assert "home_lat" not in case["protected_person"]
    assert case["protected_person"]["location_withheld"] is True
    assert "protected_places" not in case["placement"]
    observations = lines(archive, "observations.jsonl")
    assert {o["device"] for o in observations} == {"B2"}  # never her phone
    with db.reading() as session:
        spans = [
            (a.raised_at - BLACKOUT_MARGIN, a.cleared_at + BLACKOUT_MARGIN)
            for a in session.scalars(
                select(Alarm).where(Alarm.case_ref == "C2", Alarm.kind.in_(BAR_KINDS))
            )
        ]
    assert spans
    times = [o["t"] for o in observations]
    assert times  # the wearer's fixes far from any BAR alarm are there
    for t in times:
        assert not any(a.isoformat() <= t.replace("Z", "+00:00") <= b.isoformat() for a, b in spans)
    alarms = lines(archive, "alarms.jsonl")
    assert {a["kind"] for a in alarms} >= {"alert", "pre_alert"}
    for alarm in alarms:
        for detail in [alarm["detail"], *(e["detail"] for e in alarm["events"])]:
            assert not any(k.startswith("protected") for k in detail), detail
            assert "wearer_position" not in detail
            if "distance_m" in detail:
                assert detail["distance_m"] % DISTANCE_STEP_M == 0
    for name in archive.namelist():
        assert b"protected_position" not in archive.read(name), name

    result = import_archive(other, path, "admin9")
    assert result.protected_data == "omitted"
    with other.reading() as session:
        placement = session.scalars(select(Placement)).one()
        assert placement.protected_places == []
        victim = session.get_one(Person, placement.protected_person_id)
        assert (victim.home_lat, victim.home_lon, victim.address) == (None, None, None)


def test_sealed_data_opens_only_with_the_recipients_key(
    db: Database, other: Database, story: Story, export_keys: Keys, tmp_path: Path
) -> None:
    path = tmp_path / "C2.zip"
    manifest = export(db, "C2", export_keys, path, sealed=True)
    recipient = keys.load_recipient(export_keys.recipient_public)
    assert manifest["protected_data"]["recipient"] == keys.fingerprint(recipient)
    sealed = zipfile.ZipFile(path).read("protected.jsonl.sealed")
    assert b"Durand" not in sealed and b"protected_position" not in sealed
    keys.generate(tmp_path / "stranger.key", "recipient")
    stranger = keys.load_recipient_private(tmp_path / "stranger.key")
    with pytest.raises(
        ArchiveInvalid, match=re.escape("protected.jsonl.sealed: chunk 0 does not open")
    ):
        import_archive(other, path, "admin9", victim_key=stranger)
    # Without any key the case still comes in, without her data, and says so.
    assert import_archive(other, path, "admin9").protected_data == "not opened"


def test_no_device_login_hash_leaves_in_an_archive(
    db: Database, other: Database, story: Story, export_keys: Keys, tmp_path: Path
) -> None:
    """A device's secret hashes (gateway and NATS) are in no member; imported, the device has no
    login until a new secret is issued."""
    with db.session() as session:
        secret = device_secrets.issue(session, "B2", "admin1")
        device = session.get_one(Device, "B2")
        hashes = [device.secret_hash, device.nats_hash]
    assert all(hashes)
    path = tmp_path / "C2.zip"
    export(db, "C2", export_keys, path, sealed=False)
    archive = zipfile.ZipFile(path)
    case = json.loads(archive.read("case.json"))
    assert "B2" in {d["id"] for d in case["devices"]}
    for name in archive.namelist():
        data = archive.read(name)
        for text in [*hashes, secret]:
            assert text.encode() not in data, name
    import_archive(other, path, "admin9")
    with other.reading() as session:
        imported = session.get_one(Device, "B2")
        assert (imported.secret_hash, imported.nats_hash) == (None, None)
