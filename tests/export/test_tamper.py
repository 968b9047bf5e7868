"""One byte changed in any member, a member added or removed: verify and import refuse the
archive, naming the member; nothing is imported."""

from __future__ import annotations

import re
import zipfile
from pathlib import Path

import pytest
from sqlalchemy import func, select

from tests.export.conftest import Keys
from tests.export.story import Story
from tests.export.test_round_trip import export
from vigie.export import keys
from vigie.export.importer import import_archive
from vigie.export.verify import ArchiveInvalid, verify
from vigie.store import Database
from vigie.store.models import Observation, Placement


def rewrite(source: Path, target: Path, change: dict[str, bytes | None]) -> None:
    """A copy of the archive with some members' contents replaced (None: left out)."""
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w") as new:
        for info in old.infolist():
            data = change.get(info.filename, old.read(info.filename))
            if data is not None:
                new.writestr(info, data)
        for name, data in change.items():
            if name not in old.namelist() and data is not None:
                new.writestr(name, data)


def flip_one_byte(data: bytes) -> bytes:
    if not data:
        return b"\n"
    middle = len(data) // 2
    return data[:middle] + bytes([data[middle] ^ 0x01]) + data[middle + 1 :]


def test_one_byte_changed_in_any_member_is_refused_naming_it(
    db: Database, other: Database, story: Story, export_keys: Keys, tmp_path: Path
) -> None:
    archive = tmp_path / "C2.zip"
    export(db, "C2", export_keys, archive, sealed=True)
    verify(archive)  # sound as written
    names = zipfile.ZipFile(archive).namelist()
    assert {"case.json", "observations.jsonl", "protected.jsonl.sealed", "manifest.sig"} <= set(
        names
    )
    victim = keys.load_recipient_private(export_keys.recipient_private)
    for name in names:
        tampered = tmp_path / f"tampered-{name.replace('/', '_')}.zip"
        rewrite(archive, tampered, {name: flip_one_byte(zipfile.ZipFile(archive).read(name))})
        with pytest.raises(ArchiveInvalid) as refused:
            verify(tampered)
        assert name in refused.value.member, (name, str(refused.value))
        with pytest.raises(ArchiveInvalid) as refused_import:
            import_archive(other, tampered, "admin9", victim_key=victim)
        assert name in refused_import.value.member
    with other.reading() as session:
        assert session.scalar(select(func.count()).select_from(Placement)) == 0
        assert session.scalar(select(func.count()).select_from(Observation)) == 0


def test_a_member_added_or_removed_is_refused(
    db: Database, story: Story, export_keys: Keys, tmp_path: Path
) -> None:
    archive = tmp_path / "C1.zip"
    export(db, "C1", export_keys, archive, sealed=False)
    added = tmp_path / "added.zip"
    rewrite(archive, added, {"extra.jsonl": b"{}\n"})
    with pytest.raises(ArchiveInvalid, match=re.escape("extra.jsonl: is not listed")):
        verify(added)
    removed = tmp_path / "removed.zip"
    rewrite(archive, removed, {"track.gpx": None})
    with pytest.raises(
        ArchiveInvalid, match=re.escape("track.gpx: listed in the manifest but missing")
    ):
        verify(removed)


def test_a_raw_byte_flipped_in_the_zip_names_the_member(
    db: Database, story: Story, export_keys: Keys, tmp_path: Path
) -> None:
    archive = tmp_path / "C1.zip"
    export(db, "C1", export_keys, archive, sealed=False)
    info = zipfile.ZipFile(archive).getinfo("observations.jsonl")
    data = bytearray(archive.read_bytes())
    # Inside the member's compressed bytes (after its local header).
    data[info.header_offset + 30 + len(info.filename) + 40] ^= 0xFF
    broken = tmp_path / "broken.zip"
    broken.write_bytes(bytes(data))
    with pytest.raises(ArchiveInvalid) as refused:
        verify(broken)
    assert refused.value.member == "observations.jsonl"


def test_only_the_trusted_centre_key_is_accepted_when_given(
    db: Database, story: Story, export_keys: Keys, tmp_path: Path
) -> None:
    archive = tmp_path / "C1.zip"
    export(db, "C1", export_keys, archive, sealed=False)
    verify(archive, keys.load_verify_key(export_keys.signing.with_name("centre.key.pub")))
    keys.generate(tmp_path / "impostor.key", "signing")
    with pytest.raises(ArchiveInvalid, match="not the trusted"):
        verify(archive, keys.load_verify_key(tmp_path / "impostor.key.pub"))


def test_a_manifest_nested_too_deeply_is_refused_naming_it(
    db: Database, story: Story, export_keys: Keys, tmp_path: Path
) -> None:
    """Read before any signature is checked: the parser's RecursionError was a traceback."""
    archive = tmp_path / "C1.zip"
    export(db, "C1", export_keys, archive, sealed=False)
    deep = tmp_path / "deep.zip"
    rewrite(archive, deep, {"manifest.json": ("[" * 100_000 + "]" * 100_000).encode()})
    with pytest.raises(ArchiveInvalid, match=re.escape("manifest.json: unreadable (nested")):
        verify(deep)
