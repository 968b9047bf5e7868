"""Importing a case archive into this centre: checked first (signature, hashes, counts), then
every record added under an id of this centre, the original id (and whatever has no column
here) kept in `import_provenance`. Nothing existing is overwritten, and a record already
imported from the same centre is skipped, so a second import of an archive changes nothing.

An imported case arrives with status `imported`: detection does not watch it, so the past's
observations raise no second alarm here (its status at the source is in its provenance).

The import commits in steps: the case (status `importing`), then its observations a batch at
a time, then its alarms, its status `imported` and the audit entry that closes it. One
transaction held SQLite's writer (and, on PostgreSQL, the order lock every ordered ingest
takes) for the whole import, 88 s for a year of fixes: the centre could store no reading and
raise no alarm meanwhile. A step that fails leaves the steps before it stored, the case
`importing` and the `import_case_started` entry without its `import_case`: the same import
run again skips what came in and finishes.
"""

from __future__ import annotations

import json
import re
import zipfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any, cast

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from sqlalchemy import Date, Table, select
from sqlalchemy.orm import Session

from vigie.alarms.episodes import lock_alarm_ids
from vigie.cases.forms import CASE_REF, CASE_REF_MAX, generated_form
from vigie.cluster.partitions import partition_of
from vigie.export import contents, layout
from vigie.export.sealing import SealError, unseal
from vigie.export.verify import ArchiveInvalid, verify
from vigie.settings import settings
from vigie.store import Database, audit
from vigie.store import observations as log
from vigie.store.models import (
    Alarm,
    AlarmAction,
    AlarmEventRow,
    Base,
    Contact,
    Deadline,
    Device,
    DeviceAssignment,
    ImportedRecord,
    LawAssessment,
    Observation,
    Person,
    Placement,
    Report,
    Zone,
)
from vigie.store.types import UTCDateTime

# Observations a transaction: about 30 ms of SQLite's writer each (bench/export.py), so a
# reading or a detection step waits at most about that long behind an import.
BATCH = 500
IMPORTED_STATUS = "imported"
IMPORTING_STATUS = "importing"  # until the import's last step: its history may be partial


class ImportRefused(ValueError):
    """The archive is sound but cannot come in as it is (the message says why and what to do)."""


class ImportInterrupted(RuntimeError):
    """A step of the import failed after the ones before it were stored (`result` counts
    them): running the same import again skips what came in and finishes it."""

    def __init__(self, result: Imported, cause: Exception) -> None:
        super().__init__(f"{type(cause).__name__}: {cause}")
        self.result = result


@dataclass
class Imported:
    case_ref: str
    placement_id: int
    source: str
    protected_data: str  # "imported", "omitted" (not in the archive) or "not opened" (no key)
    added: dict[str, int] = field(default_factory=dict)
    skipped: dict[str, int] = field(default_factory=dict)

    def count(self, kind: str, added: bool) -> None:
        counts = self.added if added else self.skipped
        counts[kind] = counts.get(kind, 0) + 1


def import_archive(
    db: Database,
    path: Path,
    actor: str,
    *,
    trusted: Ed25519PublicKey | None = None,
    victim_key: X25519PrivateKey | None = None,
    case_ref_as: str | None = None,
) -> Imported:
    """Verify then import the case archive at `path`, step by step (the module says why):
    audited when it starts, with the case, and when it ends, with its last step."""
    verified = verify(path, trusted)
    manifest = verified.manifest
    origin = {
        "archive": path.name,
        "source_centre": verified.fingerprint,
        "source_case_ref": manifest["case_ref"],
        "source_audit_chain_head": manifest["audit_chain_head"],
        "exported_at": manifest["exported_at"],
    }
    with zipfile.ZipFile(path) as archive:
        protected = _Protected.read(archive, manifest, victim_key)
        exported_at = datetime.fromisoformat(manifest["exported_at"])
        run = _Run(db, archive, verified.fingerprint, protected, exported_at)
        with run.step() as session:
            result = run.case(case_ref_as)
            target = f"placement:{result.placement_id}"
            audit.record(session, actor, "import_case_started", target, origin)
        try:
            run.observations(result)
            with run.step() as session:
                run.alarms(result)
                run.unattached_events(result)
                run.audit_entries(result)
                run.finished(result)
                audit.record(
                    session,
                    actor,
                    "import_case",
                    target,
                    origin
                    | {
                        "protected_data": result.protected_data,
                        "added": result.added,
                        "skipped": result.skipped,
                    },
                )
        except Exception as exc:  # whatever it was, the steps before it are stored
            raise ImportInterrupted(result, exc) from exc
    return result


def _local_ref(source_ref: str, given: str | None) -> str:
    """The case's reference here: `--case-ref` if given, else the source's; never one of the
    form this centre gives the cases opened without one (a case imported as `V000005` made
    the opening of this centre's fifth case fail)."""
    if given is not None and (len(given) > CASE_REF_MAX or not re.fullmatch(CASE_REF, given)):
        raise ImportRefused(
            f"--case-ref {given[:60]!r}: at most {CASE_REF_MAX} letters, digits, '_', '.' or '-'"
        )
    ref = given or source_ref
    if generated_form(ref):
        raise ImportRefused(
            f"case {ref!r} has the form of the references this centre gives the cases opened "
            "without one (V<number>): import it under another reference (--case-ref)"
        )
    return ref


def _convert(model: type[Base], data: dict[str, Any]) -> dict[str, Any]:
    """Archive values back to column values (dates and times from ISO text), id left out."""
    out: dict[str, Any] = {}
    for column in model.__table__.columns:
        if column.key == "id" or column.key not in data:
            continue
        value = data[column.key]
        if value is not None and isinstance(column.type, UTCDateTime):
            value = datetime.fromisoformat(value)
        elif value is not None and isinstance(column.type, Date):
            value = date.fromisoformat(value)
        out[column.key] = value
    return out


@dataclass
class _Protected:
    """What the sealed member gives back (nothing when absent or not opened)."""

    status: str
    person: dict[str, Any] | None = None
    places: list[Any] = field(default_factory=list)
    details: dict[str, dict[str, Any]] = field(default_factory=dict)
    event_details: dict[str, dict[str, Any]] = field(default_factory=dict)
    archive: zipfile.ZipFile | None = None
    key: X25519PrivateKey | None = None

    @classmethod
    def read(
        cls, archive: zipfile.ZipFile, manifest: dict[str, Any], key: X25519PrivateKey | None
    ) -> _Protected:
        if manifest["protected_data"]["status"] != "sealed":
            return cls("omitted")
        if key is None:
            return cls("not opened")
        found = cls("imported", archive=archive, key=key)
        for record in found.records():
            if record["record"] == "person":
                found.person = record["person"]
            elif record["record"] == "protected_places":
                found.places = record["places"]
            elif record["record"] == "alarm_detail":
                found.details[str(record["alarm"])] = record
            elif record["record"] == "event_detail":
                found.event_details[str(record["event"])] = record["detail"]
        return found

    def records(self) -> Iterator[dict[str, Any]]:
        assert self.archive is not None and self.key is not None
        pending = b""
        number = 0
        try:
            with self.archive.open(layout.PROTECTED) as handle:
                for chunk in unseal(handle, self.key):  # type: ignore[arg-type]
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        number += 1
                        record = contents.parse(line, layout.PROTECTED, number)
                        contents.check(contents.PROTECTED_RECORD, record, layout.PROTECTED, number)
                        yield record
        except SealError as exc:
            raise ArchiveInvalid(layout.PROTECTED, str(exc)) from exc

    def observations(self) -> Iterator[dict[str, Any]]:
        if self.status != "imported":
            return
        for record in self.records():
            if record["record"] == "observation":
                yield record["observation"]


class _Run:
    def __init__(
        self,
        db: Database,
        archive: zipfile.ZipFile,
        source: str,
        protected: _Protected,
        exported_at: datetime,
    ) -> None:
        self.db = db
        self._session: Session | None = None
        self.archive = archive
        self.source = source
        self.protected = protected
        self.case_file = json.loads(archive.read(layout.CASE))
        self.exported_at = exported_at

    @contextmanager
    def step(self) -> Iterator[Session]:
        """One transaction of the import, committed at its end."""
        with self.db.session() as session:
            self._session = session
            try:
                yield session
            finally:
                self._session = None

    @property
    def session(self) -> Session:
        assert self._session is not None, "outside a step"
        return self._session

    # ------------------------------------------------------------ provenance

    def local(self, kind: str, source_id: Any) -> str | None:
        return self.session.scalars(
            select(ImportedRecord.local_id).where(
                ImportedRecord.source == self.source,
                ImportedRecord.kind == kind,
                ImportedRecord.source_id == str(source_id),
            )
        ).first()

    def known(self, kind: str, source_id: Any) -> bool:
        return (
            self.session.scalars(
                select(ImportedRecord.id).where(
                    ImportedRecord.source == self.source,
                    ImportedRecord.kind == kind,
                    ImportedRecord.source_id == str(source_id),
                )
            ).first()
            is not None
        )

    def remember(self, kind: str, source_id: Any, local_id: Any, **detail: Any) -> None:
        self.session.add(
            ImportedRecord(
                source=self.source,
                kind=kind,
                source_id=str(source_id),
                local_id=None if local_id is None else str(local_id),
                detail=json.loads(layout.dumps(detail)),
            )
        )

    def add(self, result: Imported, kind: str, row: Base, source_id: Any, **detail: Any) -> Any:
        """Insert `row` unless that source record came in before; returns the local id."""
        existing = self.local(kind, source_id)
        if existing is not None:
            result.count(kind, added=False)
            return int(existing)
        self.session.add(row)
        self.session.flush()
        self.remember(kind, source_id, row.id, **detail)  # type: ignore[attr-defined]
        result.count(kind, added=True)
        return row.id  # type: ignore[attr-defined]

    # ------------------------------------------------------------ the case

    def _person(self, result: Imported, data: dict[str, Any] | None) -> int | None:
        if data is None:
            return None
        fields = {k: v for k, v in data.items() if k != "location_withheld"}
        return int(self.add(result, "persons", Person(**_convert(Person, fields)), data["id"]))

    def _contact(self, result: Imported, data: dict[str, Any]) -> int:
        mapped = self.local("contacts", data["id"])
        if mapped is not None:
            result.count("contacts", added=False)
            return int(mapped)
        # The same judge is the same person in both centres: matched by role and address.
        same = self.session.scalars(
            select(Contact).where(Contact.role == data["role"], Contact.email == data["email"])
        ).first()
        if same is not None:
            self.remember("contacts", data["id"], same.id, matched_existing=True)
            result.count("contacts", added=False)
            return same.id
        fields = _convert(Contact, data) | {"user_id": None}
        return int(self.add(result, "contacts", Contact(**fields), data["id"]))

    def case(self, case_ref_as: str | None) -> Imported:
        case = self.case_file
        source = case["placement"]
        result = Imported(source["case_ref"], 0, self.source, self.protected.status)
        wearer = self._person(result, case["wearer"])
        victim = self._person(result, self.protected.person or case["protected_person"])
        contacts = {role: self._contact(result, c) for role, c in case["contacts"].items()}
        mapped = self.local("placements", source["id"])
        if mapped is None:
            ref = _local_ref(source["case_ref"], case_ref_as)
            if self.session.scalars(select(Placement.id).where(Placement.case_ref == ref)).first():
                raise ImportRefused(
                    f"case {ref!r} already exists in this centre and was not imported from this "
                    "archive's centre: import it under another reference (--case-ref)"
                )
            fields = _convert(Placement, source) | {
                "case_ref": ref,
                "partition": partition_of(ref, settings().partitions),
                "person_id": wearer,
                "protected_person_id": victim,
                "judge_id": contacts["judge"],
                "prosecutor_id": contacts["prosecutor"],
                "spip_id": contacts["spip"],
                "status": IMPORTING_STATUS,
                "protected_places": self.protected.places,
            }
            placement_id = self.add(
                result,
                "placements",
                Placement(**fields),
                source["id"],
                status=source["status"],
                case_ref=source["case_ref"],
            )
        else:
            placement_id = int(mapped)
            result.count("placements", added=False)
        result.placement_id = placement_id
        result.case_ref = self.session.get_one(Placement, placement_id).case_ref
        for kind, model, rows in (
            ("law_assessments", LawAssessment, case["law_assessments"]),
            ("deadlines", Deadline, case["deadlines"]),
        ):
            for data in rows:
                row = model(**(_convert(model, data) | {"placement_id": placement_id}))
                self.add(result, kind, row, data["id"])
        for data in case["devices"]:
            if self.session.get(Device, data["id"]) is None:
                self.session.add(Device(**_convert(Device, data), id=data["id"]))
                self.session.flush()
                self.remember("devices", data["id"], data["id"])
                result.count("devices", added=True)
            else:
                result.count("devices", added=False)
        for data in case["assignments"]:
            fields = _convert(DeviceAssignment, data) | {"placement_id": placement_id}
            detail: dict[str, Any] = {}
            if fields.get("until") is None and self._worn_here(fields["device_id"]):
                # The device is a live case's here now (one open assignment a device): the
                # past case's is kept closed when the archive was made, the last it knows of.
                fields["until"] = max(self.exported_at, fields["since"])
                detail = {"open_at_source": True}
            assignment = DeviceAssignment(**fields)
            self.add(result, "device_assignments", assignment, data["id"], **detail)
        zones = json.loads(self.archive.read(layout.ZONES))
        for feature in zones["features"]:
            props = feature["properties"]
            zone = Zone(
                placement_id=placement_id,
                key=props["key"],
                type=props["zone_type"],
                label=props["label"],
                geometry=props["vigie_geometry"],
                schedule=props["schedule"],
            )
            self.add(result, "zones", zone, props["id"])
        # The summary sent when the measure ended (archives made before 0033 have no key).
        self._report(result, case.get("summary_report"), placement_id=placement_id)
        self.placement_id = placement_id
        return result

    def _report(self, result: Imported, data: dict[str, Any] | None, **of: int) -> None:
        """A report as it was sent (`of`: its alarm or its placement here). Its delivery records
        stay records: an outbox row here would send it again."""
        if data is None:
            return
        if self.known("reports", data["id"]):  # its PDF is not read again
            result.count("reports", added=False)
            return
        written = Report(
            **of,
            created_at=datetime.fromisoformat(data["created_at"]),
            html=self.archive.read(data["html"]).decode(),
            pdf=self.archive.read(data["pdf"]),
        )
        self.add(result, "reports", written, data["id"], deliveries=data["deliveries"])

    def finished(self, result: Imported) -> None:
        """The case's status says its import is whole (the last step's commit). Its revision
        stays the source's: neither status is watched by detection."""
        placement = self.session.get_one(Placement, result.placement_id)
        if placement.status == IMPORTING_STATUS:
            placement.status = IMPORTED_STATUS

    def _worn_here(self, device: str) -> bool:
        """Whether a case of this centre holds the device (an open assignment) now."""
        found = self.session.scalars(
            select(DeviceAssignment.id).where(
                DeviceAssignment.device_id == device, DeviceAssignment.until.is_(None)
            )
        ).first()
        return found is not None

    # ------------------------------------------------------------ observations

    def _lines(self, member: str) -> Iterator[dict[str, Any]]:
        with self.archive.open(member) as handle:
            for line in handle:
                yield json.loads(line)

    def observations(self, result: Imported) -> None:
        """The observations, a transaction a batch (read from the archive between them)."""
        batch: list[dict[str, Any]] = []
        for obs in _chain(self._lines(layout.OBSERVATIONS), self.protected.observations()):
            batch.append(obs)
            if len(batch) >= BATCH:
                with self.step():
                    self._observation_batch(result, batch)
                batch = []
        if batch:
            with self.step():
                self._observation_batch(result, batch)

    def _observation_batch(self, result: Imported, batch: list[dict[str, Any]]) -> None:
        ids = [str(o["id"]) for o in batch]
        done = set(
            self.session.scalars(
                select(ImportedRecord.source_id).where(
                    ImportedRecord.source == self.source,
                    ImportedRecord.kind == "observations",
                    ImportedRecord.source_id.in_(ids),
                )
            )
        )
        new = []
        for obs in batch:  # an id met before is that record (a sealed line repeating a plain one)
            if str(obs["id"]) not in done:
                done.add(str(obs["id"]))
                new.append(obs)
        skipped = len(batch) - len(new)
        result.skipped["observations"] = result.skipped.get("observations", 0) + skipped
        if not new:
            return
        # Marked as another centre's: history here, never run by this centre's detection.
        rows = [_convert(Observation, o) | {"imported_from": self.source} for o in new]
        accepted = log.append(self.session, rows)
        # Already here (the device also reported to this centre): kept, mapped, not doubled.
        result.added["observations"] = result.added.get("observations", 0) + len(accepted.ids)
        result.skipped["observations"] += accepted.duplicates
        local: dict[tuple[str, str], int] = {}
        by_device: dict[str, list[str]] = {}
        for row in rows:
            by_device.setdefault(row["device"], []).append(row["dedup_key"])
        for device, dedup_keys in by_device.items():
            # By (device, key): the log's unique index answers it.
            local |= {
                (device, key): obs_id
                for obs_id, key in self.session.execute(
                    select(Observation.id, Observation.dedup_key).where(
                        Observation.device == device, Observation.dedup_key.in_(dedup_keys)
                    )
                )
            }
        self.session.execute(
            cast(Table, ImportedRecord.__table__).insert(),
            [
                {
                    "source": self.source,
                    "kind": "observations",
                    "source_id": str(o["id"]),
                    "local_id": str(local[(o["device"], o["dedup_key"])]),
                    "imported_at": datetime.fromisoformat(o["received_at"]),
                    "detail": {"received_at": o["received_at"]},
                }
                for o in new
            ],
        )

    # ------------------------------------------------------------ alarms and audit

    def alarms(self, result: Imported) -> None:
        case_ref = result.case_ref
        lock_alarm_ids(self.session)  # their ids commit in order with detection's
        for data in self._lines(layout.ALARMS):
            full = self.protected.details.get(str(data["id"]), {})
            detail = full.get("detail", data["detail"])
            fields = _convert(Alarm, data) | {
                "placement_id": self.placement_id,
                "case_ref": case_ref,
                "acknowledged_by": None,
                "held_by": None,
                "closed_by": None,
                "detail": detail,
                "imported_from": self.source,  # that centre's record, not worked here
            }
            alarm_id = self.add(
                result,
                "alarms",
                Alarm(**fields),
                data["id"],
                acknowledged_by=data["acknowledged_by_user"],
                held_by=data.get("held_by_user"),  # absent from archives before 2026-12-06
                closed_by=data["closed_by_user"],
            )
            event_details = full.get("events", {})
            for event in data["events"]:
                row = AlarmEventRow(
                    **(
                        _convert(AlarmEventRow, event)
                        | {
                            "alarm_id": alarm_id,
                            "case_ref": case_ref,
                            "detail": event_details.get(str(event["id"]), event["detail"]),
                        }
                    )
                )
                self.add(result, "alarm_events", row, event["id"])
            for action in data["actions"]:
                taken = AlarmAction(
                    **(
                        _convert(AlarmAction, action)
                        | {"alarm_id": alarm_id, "user_id": None, "to_user_id": None}
                    )
                )
                to = action.get("to_user")  # a hand-over's; absent from archives before 2026-12-06
                self.add(result, "alarm_actions", taken, action["id"], user=action["user"], to=to)
            self._report(result, data["report"], alarm_id=alarm_id)

    def unattached_events(self, result: Imported) -> None:
        for event in self._lines(layout.EVENTS):
            detail = self.protected.event_details.get(str(event["id"]), event["detail"])
            fields = _convert(AlarmEventRow, event) | {
                "alarm_id": None,
                "case_ref": result.case_ref,
                "detail": detail,
            }
            self.add(result, "alarm_events", AlarmEventRow(**fields), event["id"])

    def audit_entries(self, result: Imported) -> None:
        """The source's audit entries are kept whole as provenance: they cannot join this
        centre's hash chain, and with their hashes they stay checkable on their own."""
        for entry in self._lines(layout.AUDIT):
            if self.known("audit_log", entry["id"]):
                result.count("audit_log", added=False)
                continue
            self.remember("audit_log", entry["id"], None, entry=entry)
            result.count("audit_log", added=True)


def _chain(*sources: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for source in sources:
        yield from source
