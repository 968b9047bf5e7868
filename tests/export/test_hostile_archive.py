"""An archive signed by a key of its own (what `vigie import` takes without `--key`) whose
members do not hold to the format is refused naming the member, and nothing of it imported:
such an archive's case without its placement, or a string where the placement was, ended the
import on a KeyError's or a TypeError's traceback, and a placement of an unknown measure was
imported as it was."""

from __future__ import annotations

import base64
import hashlib
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import func, select

from tests.export.conftest import Keys
from tests.export.story import Story
from tests.export.test_round_trip import export
from vigie.export import keys, layout
from vigie.export.importer import import_archive
from vigie.export.verify import ArchiveInvalid, verify
from vigie.store import Database
from vigie.store.models import Observation, Placement

Change = dict[str, Callable[[bytes], bytes]]


def resigned(source: Path, target: Path, change: Change) -> None:
    """The archive with members changed, its manifest made to match and signed by a new key:
    sound by every hash and signature, as a hostile maker would make it."""
    with zipfile.ZipFile(source) as old:
        members = {name: old.read(name) for name in old.namelist()}
    for name, edit in change.items():
        members[name] = edit(members[name])
    manifest = json.loads(members[layout.MANIFEST])
    for entry in manifest["members"]:
        data = members[entry["name"]]
        entry["bytes"], entry["sha256"] = len(data), hashlib.sha256(data).hexdigest()
        if "records" in entry:
            entry["records"] = data.count(b"\n")
    key = Ed25519PrivateKey.generate()
    public = key.public_key()
    manifest["centre"] = {
        "public_key": base64.b64encode(keys.raw_public(public)).decode(),
        "fingerprint": keys.fingerprint(public),
    }
    body = (layout.dumps(manifest) + "\n").encode()
    members[layout.MANIFEST] = body
    members[layout.SIGNATURE] = base64.b64encode(key.sign(body)) + b"\n"
    with zipfile.ZipFile(target, "w") as new:
        for name, data in members.items():
            new.writestr(name, data)


def _case(edit: Callable[[dict[str, Any]], Any]) -> Callable[[bytes], bytes]:
    def apply(data: bytes) -> bytes:
        case = json.loads(data)
        changed = edit(case)
        return layout.dumps(case if changed is None else changed).encode()

    return apply


def _first_line(edit: Callable[[dict[str, Any]], None]) -> Callable[[bytes], bytes]:
    """The member with its first line changed (written as Python's `json.dumps` writes it)."""

    def apply(data: bytes) -> bytes:
        first, rest = data.split(b"\n", 1)
        record = json.loads(first)
        edit(record)
        return json.dumps(record).encode() + b"\n" + rest

    return apply


VARIANTS: dict[str, tuple[Change, str, str]] = {
    "no placement": (
        {layout.CASE: _case(lambda c: c.pop("placement") and None)},
        layout.CASE,
        '"placement" is a required property',
    ),
    "a string for the placement": (
        {layout.CASE: _case(lambda c: c.__setitem__("placement", "x"))},
        layout.CASE,
        "placement does not hold",
    ),
    "an unknown measure": (
        {layout.CASE: _case(lambda c: c["placement"].__setitem__("measure", "xyz"))},
        layout.CASE,
        "placement/measure",
    ),
    "a start that is no date": (
        {layout.CASE: _case(lambda c: c["placement"].__setitem__("start_date", "soon"))},
        layout.CASE,
        "placement/start_date",
    ),
    "a time that is no time": (
        {layout.CASE: _case(lambda c: c["placement"].__setitem__("created_at", "nowZ"))},
        layout.CASE,
        "placement/created_at",
    ),
    "a zone without its id": (
        {layout.ZONES: lambda d: b'{"type": "FeatureCollection", "features": [{"type": 1}]}'},
        layout.ZONES,
        "features/0",
    ),
    "an observation line of nothing": (
        {layout.OBSERVATIONS: lambda d: d + b'{"a": 1}\n'},
        layout.OBSERVATIONS,
        "line ",
    ),
    # Of the right type, past what the store keeps (a traceback from the import before them).
    "a case reference past its column": (
        {layout.CASE: _case(lambda c: c["placement"].__setitem__("case_ref", "x" * 100_000))},
        layout.CASE,
        "placement/case_ref",
    ),
    "a case reference no form gives": (
        {layout.CASE: _case(lambda c: c["placement"].__setitem__("case_ref", "../../a?b#c"))},
        layout.CASE,
        "placement/case_ref",
    ),
    "a grace past its column": (
        {layout.CASE: _case(lambda c: c["placement"].__setitem__("grace_s", 10**30))},
        layout.CASE,
        "placement/grace_s",
    ),
    "a revision past its column": (
        {layout.CASE: _case(lambda c: c["placement"].__setitem__("revision", 10**19))},
        layout.CASE,
        "placement/revision",
    ),
    "a name past its column": (
        {layout.CASE: _case(lambda c: c["wearer"].__setitem__("last_name", "x" * 10_000))},
        layout.CASE,
        "wearer/last_name",
    ),
    "a reading at latitude NaN": (
        {layout.OBSERVATIONS: _first_line(lambda o: o.__setitem__("lat", float("nan")))},
        layout.OBSERVATIONS,
        "line 1: not JSON (NaN is not a JSON value",
    ),
    "an observation line not JSON": (
        {layout.OBSERVATIONS: lambda d: b"[[[\n" + d},
        layout.OBSERVATIONS,
        "line 1: not JSON",
    ),
}


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_a_member_off_the_format_is_refused_and_nothing_imported(
    variant: str,
    db: Database,
    other: Database,
    story: Story,
    export_keys: Keys,
    tmp_path: Path,
) -> None:
    change, member, said = VARIANTS[variant]
    archive = tmp_path / "C1.zip"
    export(db, "C1", export_keys, archive, sealed=False)
    hostile = tmp_path / "hostile.zip"
    resigned(archive, hostile, change)
    for attempt in (lambda: verify(hostile), lambda: import_archive(other, hostile, "admin9")):
        with pytest.raises(ArchiveInvalid) as refused:
            attempt()
        assert refused.value.member == member, str(refused.value)
        assert said in refused.value.reason, str(refused.value)
    with other.reading() as session:
        assert session.scalar(select(func.count()).select_from(Placement)) == 0
        assert session.scalar(select(func.count()).select_from(Observation)) == 0


def test_an_archive_remade_with_its_members_as_they_were_is_imported(
    db: Database, other: Database, story: Story, export_keys: Keys, tmp_path: Path
) -> None:
    """The maker above changes nothing else: its archive, unchanged, is sound and imported."""
    archive = tmp_path / "C1.zip"
    export(db, "C1", export_keys, archive, sealed=False)
    remade = tmp_path / "remade.zip"
    resigned(archive, remade, {})
    verify(remade)
    imported = import_archive(other, remade, "admin9")
    assert imported.case_ref == "C1"
