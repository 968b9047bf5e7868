"""What an archive's members say of each other, checked with the schemas (`contents`) before
anything is imported: a record's id is its identity at import (a second line of the same id
made every attempt at the import fail on the provenance's unique key, the case left
`importing`), an assignment's device must be one of the case's devices (else a foreign key's
traceback), and a report must be in the archive (else a KeyError's)."""

from __future__ import annotations

import zipfile
from array import array
from collections import Counter
from collections.abc import Iterable
from typing import Any

import numpy as np

from vigie.export import layout
from vigie.export.invalid import ArchiveInvalid

# The lists of the case whose ids are records' identities at import.
CASE_LISTS = ("law_assessments", "deadlines", "devices", "assignments")
# The alarms' events and the events of no alarm share their ids; so do all alarms' actions.
EVENTS = f"{layout.ALARMS} / {layout.EVENTS}: events"
ACTIONS = f"{layout.ALARMS}: actions"


class Coherence:
    """Gathers ids and references while the members are read, then checks them (`finish`)."""

    def __init__(self, archive: zipfile.ZipFile) -> None:
        self._archive = archive
        self._names = set(archive.namelist())
        self._ids: dict[str, array[int]] = {}  # where (a member, EVENTS, ACTIONS) -> its ids
        self._reports: list[tuple[str, Any]] = []  # (member naming it, its report record)

    def case(self, case: dict[str, Any]) -> None:
        for name in CASE_LISTS:
            _once(layout.CASE, name, (row["id"] for row in case[name]))
        devices = {device["id"] for device in case["devices"]}
        for assignment in case["assignments"]:
            if assignment["device_id"] not in devices:
                raise ArchiveInvalid(
                    layout.CASE,
                    f"assignments: device {assignment['device_id']!r} is not one of the case's "
                    "devices",
                )
        if case.get("summary_report") is not None:
            self._reports.append((layout.CASE, case["summary_report"]))

    def zones(self, zones: dict[str, Any]) -> None:
        features = [feature["properties"] for feature in zones["features"]]
        _once(layout.ZONES, "features", (zone["id"] for zone in features))
        _once(layout.ZONES, "zone keys", (zone["key"] for zone in features))

    def line(self, member: str, record: dict[str, Any]) -> None:
        self._ids.setdefault(member, array("q")).append(record["id"])
        if member == layout.ALARMS:
            self._ids.setdefault(EVENTS, array("q")).extend(e["id"] for e in record["events"])
            self._ids.setdefault(ACTIONS, array("q")).extend(a["id"] for a in record["actions"])
            if record["report"] is not None:
                self._reports.append((layout.ALARMS, record["report"]))
        elif member == layout.EVENTS:
            self._ids.setdefault(EVENTS, array("q")).append(record["id"])

    def finish(self) -> None:
        for where, ids in self._ids.items():
            twice = _twice(ids)
            if twice is not None:
                raise ArchiveInvalid(where, f"id {twice} twice (an id is a record's identity)")
        for member, report in self._reports:
            for part in ("html", "pdf"):
                if report[part] not in self._names:
                    raise ArchiveInvalid(member, f"report {report[part]} is not in the archive")
            try:
                self._archive.read(report["html"]).decode()
            except UnicodeDecodeError as exc:
                raise ArchiveInvalid(report["html"], "not UTF-8 text") from exc


def _once(member: str, name: str, values: Iterable[Any]) -> None:
    counted = Counter(values)
    twice = next((value for value, count in counted.items() if count > 1), None)
    if twice is not None:
        raise ArchiveInvalid(member, f"{name}: {twice!r} twice")


def _twice(ids: array[int]) -> int | None:
    """An id found more than once, if any (a year of fixes: 1.1 million ids, sorted once)."""
    ordered = np.sort(np.frombuffer(ids, dtype=np.int64))
    same = np.flatnonzero(ordered[1:] == ordered[:-1])
    return int(ordered[same[0]]) if len(same) else None
