"""The format's schemas bound every value to what this centre keeps: an archive signed by a key
of its own (what `vigie import` takes without `--key`), its values of the right type but past
the store's columns (a case reference of 100,000 characters, a grace of 10^30 seconds), passed
the schemas and ended `vigie import` on a DataError's (PostgreSQL) or an OverflowError's
(SQLite) traceback; SQLite stored a case reference of any length, which no form here gives."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import BigInteger, Integer, String

from tests.export.test_schemas import SCHEMAS
from vigie.cases import forms
from vigie.export import contents, layout
from vigie.export.invalid import ArchiveInvalid
from vigie.store.models import (
    Alarm,
    AlarmAction,
    AlarmEventRow,
    Base,
    Contact,
    Deadline,
    Device,
    DeviceAssignment,
    LawAssessment,
    Observation,
    Person,
    Placement,
    Zone,
)

INT64 = 2**63 - 1
INT32 = 2**31 - 1

# The objects of the archive whose values become a row's columns: (schema, path, model).
MAPPED: list[tuple[str, str, type[Base]]] = [
    ("case", "placement", Placement),
    ("case", "wearer", Person),
    ("case", "protected_person", Person),
    ("case", "contacts.judge", Contact),
    ("case", "contacts.prosecutor", Contact),
    ("case", "contacts.spip", Contact),
    ("case", "law_assessments.*", LawAssessment),
    ("case", "deadlines.*", Deadline),
    ("case", "devices.*", Device),
    ("case", "assignments.*", DeviceAssignment),
    ("zones", "features.*.properties", Zone),
    ("observation", "", Observation),
    ("alarm", "", Alarm),
    ("alarm", "actions.*", AlarmAction),
    ("event", "", AlarmEventRow),
    ("protected-record", "person", Person),
]


def schemas() -> dict[str, dict[str, Any]]:
    return {
        p.name.removesuffix(".schema.json"): json.loads(p.read_text())
        for p in SCHEMAS.glob("*.schema.json")
    }


def _object(schema: dict[str, Any]) -> dict[str, Any]:
    """The object branch of a schema that may be null (`oneOf`) or one of several records."""
    if "properties" in schema:
        return schema
    branches = [b for b in schema.get("oneOf", []) if "properties" in b]
    assert len(branches) == 1, schema
    return branches[0]


def at(schema: dict[str, Any], path: str) -> dict[str, Any]:
    """The object at a dotted path of property names (`*`: an array's items)."""
    for name in filter(None, path.split(".")):
        if name == "*":
            schema = schema["items"]
        else:
            candidates = [schema] if "properties" in schema else schema.get("oneOf", [])
            schema = next(c["properties"][name] for c in candidates if name in c["properties"])
    return _object(schema)


def values(schema: Any, where: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """Every sub-schema of a value of the given kind, with where it is."""
    if isinstance(schema, dict):
        yield where, schema
        for key, sub in schema.items():
            yield from values(sub, f"{where}/{key}")
    elif isinstance(schema, list):
        for k, sub in enumerate(schema):
            yield from values(sub, f"{where}/{k}")


def _types(schema: dict[str, Any]) -> set[str]:
    kind = schema.get("type", [])
    return {kind} if isinstance(kind, str) else set(kind)


def test_every_number_has_both_ends() -> None:
    """No integer past the store's 64 bits, no number past a finite bound (`1e999` is read as
    infinity by Python's parser)."""
    for name, schema in schemas().items():
        for where, sub in values(schema):
            kinds = _types(sub)
            if not kinds & {"integer", "number"} or where.endswith("/properties"):
                continue
            low = sub.get("minimum", sub.get("exclusiveMinimum"))
            assert low is not None and sub.get("maximum") is not None, (name, where)
            if "integer" in kinds:
                assert low >= -INT64 - 1 and sub["maximum"] <= INT64, (name, where)


def test_every_value_fits_its_column() -> None:
    found = schemas()
    for name, path, model in MAPPED:
        props = at(found[name], path)["properties"]
        columns = model.__table__.columns
        for key, sub in props.items():
            if key not in columns or (key == "id" and "integer" in _types(sub)):
                continue  # an id of the other centre is kept as provenance, not as this id
            column = columns[key].type
            if isinstance(column, String) and column.length is not None:
                if "enum" in sub:
                    assert all(v is None or len(v) <= column.length for v in sub["enum"])
                else:
                    assert sub.get("maxLength", column.length + 1) <= column.length, (
                        name,
                        path,
                        key,
                    )
            elif isinstance(column, Integer) and not isinstance(column, BigInteger):
                assert sub["minimum"] >= -INT32 - 1 and sub["maximum"] <= INT32, (name, path, key)


def test_a_case_reference_is_one_the_forms_take() -> None:
    for name, schema in schemas().items():
        for where, sub in values(schema):
            if where.endswith("/properties/case_ref"):
                assert sub["pattern"] == forms.CASE_REF, (name, where)
                assert sub["maxLength"] == forms.CASE_REF_MAX, (name, where)


@pytest.mark.parametrize("text", [b'{"lat": NaN}', b'{"lat": -Infinity}', b'{"lat": Infinity}'])
def test_json_is_json(text: bytes) -> None:
    """Python's parser reads NaN and the infinities, which are not JSON (RFC 8259)."""
    with pytest.raises(ArchiveInvalid, match="line 3: not JSON"):
        contents.parse(text, layout.OBSERVATIONS, 3)


FIX = {
    "id": 7,
    "device": "B1",
    "seq": 3,
    "dedup_key": "s:3",
    "t": "2026-11-30T10:00:00Z",
    "received_at": "2026-11-30T10:00:02Z",
    "type": "position",
    "lat": 48.85,
    "lon": 2.35,
    "accuracy_m": 10.0,
    "payload": {"kind": "obs", "device": "B1", "t": "2026-11-30T10:00:00Z", "type": "position"},
    "role": "wearer",
}


@pytest.mark.parametrize(
    ("field", "value"),
    [("accuracy_m", "1e999"), ("lat", "90.5"), ("lon", "-181"), ("seq", str(2**63)), ("id", "0")],
)
def test_a_reading_past_its_bounds_is_refused(field: str, value: str) -> None:
    contents.check("observation", FIX, layout.OBSERVATIONS, 1)  # the reading as it is: taken
    text = json.dumps(FIX | {field: "HERE"}).replace('"HERE"', value)
    with pytest.raises(ArchiveInvalid, match=f"line 1: {field} does not hold"):
        contents.check(
            "observation", contents.parse(text, layout.OBSERVATIONS, 1), layout.OBSERVATIONS, 1
        )
