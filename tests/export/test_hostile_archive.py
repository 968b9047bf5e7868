"""An archive signed by a key of its own (what `vigie import` takes without `--key`) whose
members do not hold to the format, or contradict each other, is refused naming the member, and
nothing of it imported: such an archive's case without its placement, or a string where the
placement was, ended the import on a KeyError's or a TypeError's traceback, a placement of an
unknown measure was imported as it was, and a reading's id twice made every attempt at the
import fail."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
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
from vigie.export.sealing import Sealer, unseal
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


def _zone_again(data: bytes) -> bytes:
    """The zones with the first one again under another id (the same key)."""
    zones = json.loads(data)
    again = json.loads(json.dumps(zones["features"][0]))
    again["properties"]["id"] += 1000
    zones["features"].append(again)
    return layout.dumps(zones).encode()


REPORT = {
    "id": 1,
    "created_at": "2026-11-30T10:00:00Z",
    "html": "reports/alarm-0.html",
    "pdf": "reports/alarm-0.pdf",
    "deliveries": [],
}


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
    # Members that contradict each other (a traceback, or an import that never finished).
    "an observation's id twice": (
        {layout.OBSERVATIONS: lambda d: d + d.split(b"\n", 1)[0] + b"\n"},
        layout.OBSERVATIONS,
        "twice (an id is a record's identity)",
    ),
    "an event's id twice": (
        {layout.ALARMS: _first_line(lambda a: a.__setitem__("events", a["events"] * 2))},
        f"{layout.ALARMS} / {layout.EVENTS}: events",
        "twice",
    ),
    "an assignment of a device not the case's": (
        {layout.CASE: _case(lambda c: c["assignments"][0].__setitem__("device_id", "NOPE"))},
        layout.CASE,
        "assignments: device 'NOPE' is not one of the case's devices",
    ),
    "a zone key twice": (
        {layout.ZONES: _zone_again},
        layout.ZONES,
        "zone keys: 'Z1' twice",
    ),
    "a report not in the archive": (
        {layout.ALARMS: _first_line(lambda a: a.__setitem__("report", REPORT))},
        layout.ALARMS,
        "report reports/alarm-0.html is not in the archive",
    ),
    "the summary not in the archive": (
        {layout.CASE: _case(lambda c: c.__setitem__("summary_report", REPORT))},
        layout.CASE,
        "report reports/alarm-0.html is not in the archive",
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


def test_a_sealed_reading_repeating_an_id_is_that_reading(
    db: Database, other: Database, story: Story, export_keys: Keys, tmp_path: Path
) -> None:
    """The sealed member is read at import only, with her key: a reading there of an id met
    before (a plain one's, or its own again) is that record, skipped; it made every attempt at
    the import fail on the provenance's unique key, the case left `importing`."""
    archive = tmp_path / "C2.zip"
    export(db, "C2", export_keys, archive, sealed=True)
    private = keys.load_recipient_private(export_keys.recipient_private)
    with zipfile.ZipFile(archive) as source:
        plain = [json.loads(line) for line in source.read(layout.OBSERVATIONS).splitlines()]
        with source.open(layout.PROTECTED) as handle:
            lines = b"".join(unseal(handle, private)).splitlines()  # type: ignore[arg-type]
    records = [json.loads(line) for line in lines]
    hers = [r for r in records if r["record"] == "observation"]
    assert plain and hers
    repeated = json.loads(json.dumps(hers[0]))
    repeated["observation"]["id"] = plain[0]["id"]
    sealed = io.BytesIO()
    sealer = Sealer(sealed, keys.load_recipient(export_keys.recipient_public))
    for record in [*records, repeated, hers[0]]:
        sealer.write((layout.dumps(record) + "\n").encode())
    sealer.close()
    hostile = tmp_path / "hostile.zip"
    resigned(archive, hostile, {layout.PROTECTED: lambda _: sealed.getvalue()})
    imported = import_archive(other, hostile, "admin9", victim_key=private)
    assert imported.added["observations"] == len(plain) + len(hers)
    assert imported.skipped["observations"] == 2
    with other.reading() as session:
        assert session.get_one(Placement, imported.placement_id).status == "imported"


def test_a_report_that_is_not_text_is_refused(
    db: Database, other: Database, story: Story, export_keys: Keys, tmp_path: Path
) -> None:
    archive = tmp_path / "C1.zip"
    export(db, "C1", export_keys, archive, sealed=False)
    with zipfile.ZipFile(archive) as source:
        html = next(n for n in source.namelist() if re.fullmatch(r"reports/alarm-\d+\.html", n))
    hostile = tmp_path / "hostile.zip"
    resigned(archive, hostile, {html: lambda _: b"\xff\xfe<html>"})
    with pytest.raises(ArchiveInvalid) as refused:
        import_archive(other, hostile, "admin9")
    assert (refused.value.member, refused.value.reason) == (html, "not UTF-8 text")
    with other.reading() as session:
        assert session.scalar(select(func.count()).select_from(Placement)) == 0
