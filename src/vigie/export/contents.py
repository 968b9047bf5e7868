"""An archive's members against the format's JSON Schemas (`schemas/`, draft 2020-12), read
before anything of it is trusted: without `--key`, `vigie import` takes an archive signed by any
key, whose members then reached the importer as they were (a placement of an unknown measure was
imported; a case without its placement ended the import on a KeyError's traceback)."""

from __future__ import annotations

import json
import zipfile
from collections.abc import Iterator
from functools import cache
from importlib.resources import files
from typing import Any

import jsonschema_rs

from vigie.export import layout
from vigie.export.coherence import Coherence
from vigie.export.invalid import ArchiveInvalid

# The members read whole (the manifest is checked as it is read, `verify`), and those read a
# line (a record) at a time, with their schema.
DOCUMENTS = {layout.CASE: "case", layout.ZONES: "zones"}
LINES = {
    layout.OBSERVATIONS: "observation",
    layout.ALARMS: "alarm",
    layout.EVENTS: "event",
    layout.AUDIT: "audit-entry",
}
PROTECTED_RECORD = "protected-record"


@cache
def _validators() -> dict[str, jsonschema_rs.Validator]:
    """Each schema's validator, formats (dates, times) checked, compiled once: a year of fixes
    (1.1 million lines) verifies in 10 s, parsing included, where the reference implementation,
    `jsonschema`, takes 31 µs a line to validate alone (35 s more)."""
    folder = files("vigie.export") / "schemas"
    schemas = {
        entry.name.removesuffix(".schema.json"): json.loads(entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".schema.json")
    }
    registry = jsonschema_rs.Registry([(s["$id"], s) for s in schemas.values()])
    return {
        name: jsonschema_rs.validator_for(schema, registry=registry, validate_formats=True)
        for name, schema in schemas.items()
    }


def check(schema: str, data: Any, member: str, line: int | None = None) -> None:
    """ArchiveInvalid naming the member, the line and where in it `data` breaks its schema.
    The protected person's records are named by path only: the schema's words quote values."""
    validator = _validators()[schema]
    if validator.is_valid(data):
        return
    error = next(iter(validator.iter_errors(data)))
    where = "/".join(str(part) for part in error.instance_path) or "the record"
    said = "" if schema == PROTECTED_RECORD else f": {error.message[:200]}"
    head = f"line {line}: " if line is not None else ""
    raise ArchiveInvalid(member, f"{head}{where} does not hold to the format{said}")


def parse(text: bytes | str, member: str, line: int | None = None) -> Any:
    """Strict JSON, or ArchiveInvalid naming the member (and line)."""
    head = f"line {line}: " if line is not None else ""
    try:
        return json.loads(text, parse_constant=_not_json)
    except ValueError as exc:
        raise ArchiveInvalid(member, f"{head}not JSON ({exc})") from exc
    except RecursionError:
        raise ArchiveInvalid(member, f"{head}JSON nested too deeply") from None


def _not_json(constant: str) -> Any:
    """Python's parser reads NaN and the infinities, which JSON does not have (RFC 8259)."""
    raise ValueError(f"{constant} is not a JSON value")


def check_members(archive: zipfile.ZipFile) -> None:
    """Every document and every line of the archive's own members against its schema, then
    what they say of each other (`coherence`)."""
    names = set(archive.namelist())
    said = Coherence(archive)
    for member, schema in DOCUMENTS.items():
        if member in names:
            document = parse(archive.read(member), member)
            check(schema, document, member)
            if member == layout.CASE:
                said.case(document)
            else:
                said.zones(document)
    for member, schema in LINES.items():
        if member in names:
            for number, record in _lines(archive, member):
                check(schema, record, member, number)
                said.line(member, record)
    said.finish()


def _lines(archive: zipfile.ZipFile, member: str) -> Iterator[tuple[int, Any]]:
    with archive.open(member) as handle:
        for number, raw in enumerate(handle, start=1):
            yield number, parse(raw, member, number)
