"""Every file of a real export holds to its JSON Schema (`vigie/export/schemas/`, described in
docs/export/), and the GPX and GeoJSON open as what they claim to be."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any, get_args
from xml.etree import ElementTree

from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from tests.export.conftest import Keys
from tests.export.story import Story
from tests.export.test_round_trip import export
from vigie.cases import forms
from vigie.export import keys
from vigie.export.sealing import unseal
from vigie.store import Database

SCHEMAS = Path(__file__).parents[2] / "src" / "vigie" / "export" / "schemas"
GPX = "{http://www.topografix.com/GPX/1/1}"


def validators() -> dict[str, Draft202012Validator]:
    schemas = {
        p.name.removesuffix(".schema.json"): json.loads(p.read_text())
        for p in SCHEMAS.glob("*.schema.json")
    }
    registry: Registry[Any] = Registry().with_resources(
        (s["$id"], Resource.from_contents(s)) for s in schemas.values()
    )
    for schema in schemas.values():
        Draft202012Validator.check_schema(schema)
    return {
        name: Draft202012Validator(
            schema, registry=registry, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        for name, schema in schemas.items()
    }


def test_every_member_holds_to_its_schema(
    db: Database, story: Story, export_keys: Keys, tmp_path: Path
) -> None:
    check = validators()
    assert set(check) == {
        "manifest",
        "case",
        "zones",
        "observation",
        "alarm",
        "event",
        "audit-entry",
        "protected-record",
    }
    path = tmp_path / "C2.zip"
    export(db, "C2", export_keys, path, sealed=True)
    export(db, "C1", export_keys, tmp_path / "C1.zip", sealed=False)
    for archive_path in (path, tmp_path / "C1.zip"):
        archive = zipfile.ZipFile(archive_path)
        check["manifest"].validate(json.loads(archive.read("manifest.json")))
        check["case"].validate(json.loads(archive.read("case.json")))
        check["zones"].validate(json.loads(archive.read("zones.geojson")))
        for member, schema in (
            ("observations.jsonl", "observation"),
            ("alarms.jsonl", "alarm"),
            ("events.jsonl", "event"),
            ("audit.jsonl", "audit-entry"),
        ):
            rows = archive.read(member).splitlines()
            for line in rows:
                check[schema].validate(json.loads(line))
    archive = zipfile.ZipFile(path)
    private = keys.load_recipient_private(export_keys.recipient_private)
    with archive.open("protected.jsonl.sealed") as sealed:
        plain = b"".join(unseal(sealed, private))  # type: ignore[arg-type]
    kinds = set()
    for line in plain.splitlines():
        record = json.loads(line)
        check["protected-record"].validate(record)
        kinds.add(record["record"])
    assert kinds == {"person", "protected_places", "observation", "alarm_detail"}
    c1 = zipfile.ZipFile(tmp_path / "C1.zip").read("events.jsonl").splitlines()
    assert [json.loads(line)["kind"] for line in c1] == ["signal_lost"]


def test_the_track_is_gpx_and_the_zones_are_geojson(
    db: Database, story: Story, export_keys: Keys, tmp_path: Path
) -> None:
    path = tmp_path / "C1.zip"
    export(db, "C1", export_keys, path, sealed=False)
    archive = zipfile.ZipFile(path)
    root = ElementTree.fromstring(archive.read("track.gpx"))
    assert root.tag == f"{GPX}gpx" and root.get("version") == "1.1"
    points = root.findall(f"{GPX}trk/{GPX}trkseg/{GPX}trkpt")
    fixes = [
        json.loads(line)
        for line in archive.read("observations.jsonl").splitlines()
        if b'"type":"position"' in line
    ]
    assert len(points) == len(fixes) == 180
    assert (float(points[0].get("lat")), float(points[0].get("lon"))) == (
        fixes[0]["lat"],
        fixes[0]["lon"],
    )
    assert points[0].find(f"{GPX}time").text == fixes[0]["t"]
    zones = json.loads(archive.read("zones.geojson"))
    shapes = {f["properties"]["key"]: f["geometry"]["type"] for f in zones["features"]}
    assert shapes == {"Z1": "Polygon", "Z2": "Point"}
    circle = next(f for f in zones["features"] if f["properties"]["key"] == "Z2")
    assert circle["geometry"]["coordinates"] == [2.30, 48.80]
    assert circle["properties"]["radius_m"] == 300


def test_an_exported_fix_carries_its_record_whole(
    db: Database, story: Story, export_keys: Keys, tmp_path: Path
) -> None:
    """The store keeps a fix's payload without what its columns hold; the archive, read by
    courts and other centres, has the record as the device sent it."""
    path = tmp_path / "C1.zip"
    export(db, "C1", export_keys, path, sealed=False)
    lines = zipfile.ZipFile(path).read("observations.jsonl").splitlines()
    fixes = [json.loads(line) for line in lines if b'"type":"position"' in line]
    assert fixes
    for exported in fixes:
        record = exported["payload"]
        assert set(record) == {"kind", "device", "t", "type", "seq", "lat", "lon", "accuracy_m"}
        said = (record["device"], record["seq"], record["lat"], record["lon"])
        assert said == (exported["device"], exported["seq"], exported["lat"], exported["lon"])


def _at(schema: dict[str, Any], path: str) -> Any:
    """The sub-schema at a dotted path of property names (`*`: an array's items)."""
    for name in path.split("."):
        schema = schema["items"] if name == "*" else schema["properties"][name]
    return schema


def test_each_list_of_values_is_the_one_the_centre_takes() -> None:
    """An archive's enums are the values the centre's forms and devices take: a value the
    centre stores but the schema lacks makes its archives unverifiable (`sos` was missing)."""
    from tests.export.test_every_reading import reading_types

    def literal(model: type[Any], field: str) -> set[Any]:
        return set(get_args(model.model_fields[field].annotation))

    schemas = {
        p.name.removesuffix(".schema.json"): json.loads(p.read_text())
        for p in SCHEMAS.glob("*.json")
    }
    expected = {
        ("observation", "type"): reading_types(),
        ("observation", "role"): literal(forms.AssignmentIn, "role"),
        ("case", "assignments.*.role"): literal(forms.AssignmentIn, "role"),
        ("case", "placement.measure"): set(get_args(forms.Measure)),
        ("case", "placement.end_reason"): set(get_args(forms.EndReason)) | {None},
        ("case", "devices.*.kind"): literal(forms.DeviceIn, "kind"),
        ("case", "devices.*.withdrawn_reason"): set(get_args(forms.WithdrawalReason)) | {None},
        ("zones", "features.*.properties.zone_type"): literal(forms.ZoneIn, "type"),
    } | {
        ("case", f"contacts.{role}.role"): literal(forms.ContactIn, "role")
        for role in ("judge", "prosecutor", "spip")
    }
    for (schema, path), values in expected.items():
        assert set(_at(schemas[schema], path)["enum"]) == values, (schema, path)
