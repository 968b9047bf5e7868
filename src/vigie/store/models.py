"""The tables of the monitoring centre (SQLAlchemy 2 declarative)."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from vigie import clock
from vigie.store.fix_payload import record_of
from vigie.store.storage import FREEZE_ON_INSERT, REWRITTEN_EACH_MINUTE
from vigie.store.types import BigId, Json, UTCDateTime

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        dict[str, Any]: Json,
        list[Any]: Json,
    }


def new_token_key() -> str:
    return secrets.token_hex(16)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    password_hash: Mapped[str] = mapped_column(String(200))
    role: Mapped[str] = mapped_column(String(20))
    full_name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str | None] = mapped_column(String(200))
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    # In every token, and drawn anew when the account is disabled or its password changes, so
    # that all the tokens issued before stop working at once; random, so that an account made
    # again under the same name (even with the same id) does not accept the old one's tokens.
    token_key: Mapped[str] = mapped_column(String(32), default=new_token_key, server_default="")
    # When the user's console last showed it was open (its alarm stream, `web.live`): a holder
    # whose console fell silent has gone (`vigie.alarms.holder_gone`). None: never opened one.
    console_seen_at: Mapped[datetime | None]


class RevokedToken(Base):
    """A token given up before its expiry (logout); kept until it would have expired anyway."""

    __tablename__ = "revoked_tokens"
    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class Person(Base):
    __tablename__ = "persons"
    id: Mapped[int] = mapped_column(primary_key=True)
    last_name: Mapped[str] = mapped_column(String(120))
    first_name: Mapped[str] = mapped_column(String(120))
    birth_date: Mapped[date | None] = mapped_column(Date)
    address: Mapped[str | None] = mapped_column(String(400))
    home_lat: Mapped[float | None] = mapped_column(Float)
    home_lon: Mapped[float | None] = mapped_column(Float)
    phone: Mapped[str | None] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


class Contact(Base):
    """A judge, prosecutor or SPIP officer to notify; linked to a user to scope what they see."""

    __tablename__ = "contacts"
    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(200))
    service: Mapped[str | None] = mapped_column(String(200))
    # The number an operator dials (the SPIP service's duty line, the court's office).
    phone: Mapped[str | None] = mapped_column(String(40))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), index=True)


class Placement(Base):
    __tablename__ = "placements"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_ref: Mapped[str] = mapped_column(String(40), unique=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("persons.id"), index=True)
    protected_person_id: Mapped[int | None] = mapped_column(ForeignKey("persons.id"))
    measure: Mapped[str] = mapped_column(String(20))
    court_order_ref: Mapped[str] = mapped_column(String(80))
    court_order_date: Mapped[date] = mapped_column(Date)
    start_date: Mapped[date] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    judge_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    prosecutor_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    spip_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    # The police or gendarmerie station the operator calls for this case (its name and number).
    police_station: Mapped[str | None] = mapped_column(String(200))
    police_phone: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(20), default="active")
    law_input: Mapped[dict[str, Any]]
    law_decision: Mapped[dict[str, Any]]
    schedule: Mapped[list[Any]]
    alert_distance_km: Mapped[float | None] = mapped_column(Float)
    protected_places: Mapped[list[Any]]
    grace_s: Mapped[int] = mapped_column(Integer, default=0)
    signal_timeout_s: Mapped[int] = mapped_column(Integer, default=600)
    revision: Mapped[int] = mapped_column(Integer, default=1)
    # The end of the measure (status `ended`, `vigie.cases.ending`): when it took effect, why,
    # the decision it rests on, the supervisor's note and who recorded it.
    ended_at: Mapped[datetime | None] = mapped_column()
    end_reason: Mapped[str | None] = mapped_column(String(20))
    end_ref: Mapped[str | None] = mapped_column(String(80))
    end_note: Mapped[str | None] = mapped_column(Text)
    ended_by: Mapped[str | None] = mapped_column(String(80))
    # The detection partition of the case (cluster mode: `partition_of(case_ref)`; 0 embedded):
    # a partition's worker reads only its own placements.
    partition: Mapped[int] = mapped_column(Integer, default=0, server_default="0", index=True)
    # Set by a trigger from `placement_watermark` on every insert and change of revision or
    # status: detection reads only the placements changed above the mark it has seen.
    changed: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0", index=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)

    person: Mapped[Person] = relationship(foreign_keys=[person_id])
    protected_person: Mapped[Person | None] = relationship(foreign_keys=[protected_person_id])
    judge: Mapped[Contact] = relationship(foreign_keys=[judge_id])
    prosecutor: Mapped[Contact] = relationship(foreign_keys=[prosecutor_id])
    spip: Mapped[Contact] = relationship(foreign_keys=[spip_id])
    zones: Mapped[list[Zone]] = relationship(back_populates="placement", order_by="Zone.id")
    deadlines: Mapped[list[Deadline]] = relationship(order_by="Deadline.due")
    assignments: Mapped[list[DeviceAssignment]] = relationship(back_populates="placement")


# The active placements and what the supervision page reads of them, from the index alone on
# PostgreSQL: most placements of a centre have ended (migration 0035).
Index(
    "ix_placements_status_end_date",
    Placement.status,
    Placement.end_date,
    postgresql_include=["id", "case_ref", "measure"],
)


class LawAssessment(Base):
    """Every decision of `vigie.law` taken for a placement, with its trace, kept for the record."""

    __tablename__ = "law_assessments"
    id: Mapped[int] = mapped_column(primary_key=True)
    placement_id: Mapped[int] = mapped_column(ForeignKey("placements.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=clock.now)
    reason: Mapped[str] = mapped_column(String(20))
    input: Mapped[dict[str, Any]]
    decision: Mapped[dict[str, Any]]


class Deadline(Base):
    __tablename__ = "deadlines"
    id: Mapped[int] = mapped_column(primary_key=True)
    placement_id: Mapped[int] = mapped_column(ForeignKey("placements.id"), index=True)
    name: Mapped[str] = mapped_column(String(40))
    due: Mapped[date] = mapped_column(Date)


class Zone(Base):
    __tablename__ = "zones"
    __table_args__ = (UniqueConstraint("placement_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    placement_id: Mapped[int] = mapped_column(ForeignKey("placements.id"))
    key: Mapped[str] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(20))
    label: Mapped[str | None] = mapped_column(String(200))
    geometry: Mapped[dict[str, Any]]
    schedule: Mapped[list[Any] | None] = mapped_column(Json)

    placement: Mapped[Placement] = relationship(back_populates="zones")


class Device(Base):
    __tablename__ = "devices"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    kind: Mapped[str] = mapped_column(String(20))
    model: Mapped[str | None] = mapped_column(String(80))
    # The device's gateway secret (OsmAnd key, MQTT password), hashed as Mosquitto's
    # password file does (PBKDF2-SHA512, "$7$"): one hash serves both. None: no secret set yet.
    secret_hash: Mapped[str | None] = mapped_column(String(200))
    # The same secret as NATS's MQTT listener checks it (bcrypt "$2a$"), made when it is issued:
    # the secret itself is never kept. None: issued before, or no secret (no NATS login).
    nats_hash: Mapped[str | None] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    # Since when detection holds its latest fix too coarse to decide a rule (a fresh fix is
    # asked for); None while its position is certain enough (vigie.detect.certainty). Indexed:
    # every detection step reads which devices are marked.
    uncertain_since: Mapped[datetime | None] = mapped_column(index=True)
    # Taken out of service (`vigie.cases.withdrawal`): broken, lost, stolen, returned, in
    # repair. The gateway refuses it, no case may take it, its secret is gone. None: in service.
    withdrawn_at: Mapped[datetime | None]
    withdrawn_reason: Mapped[str | None] = mapped_column(String(20))
    withdrawn_note: Mapped[str | None] = mapped_column(Text)
    withdrawn_by: Mapped[str | None] = mapped_column(String(80))


class DeviceCommand(Base):
    """A command to a device: queued, sent when it is connected, answered (or failed, expired).

    Stored so that nothing queued is lost on a restart; every one is audited with who asked."""

    __tablename__ = "device_commands"
    __table_args__ = (Index("ix_device_commands_state_device", "state", "device_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    kind: Mapped[str] = mapped_column(String(30))
    args: Mapped[dict[str, Any]]
    state: Mapped[str] = mapped_column(String(12), default="queued")
    requested_by: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str | None] = mapped_column(Text)
    alarm_id: Mapped[int | None] = mapped_column(ForeignKey("alarms.id"), index=True)
    protocol: Mapped[str | None] = mapped_column(String(20))
    sent_text: Mapped[str | None] = mapped_column(Text)
    reply: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    expires_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class DeviceAssignment(Base):
    __tablename__ = "device_assignments"
    # One active assignment per device, enforced by the database (several API processes).
    __table_args__ = (
        Index(
            "uq_device_assignments_active",
            "device_id",
            unique=True,
            postgresql_where=text("until IS NULL"),
            sqlite_where=text("until IS NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    device_id: Mapped[str] = mapped_column(ForeignKey("devices.id"), index=True)
    placement_id: Mapped[int] = mapped_column(ForeignKey("placements.id"), index=True)
    role: Mapped[str] = mapped_column(String(20))
    since: Mapped[datetime] = mapped_column(default=clock.now)
    until: Mapped[datetime | None]

    placement: Mapped[Placement] = relationship(back_populates="assignments")


class Observation(Base):
    """Append-only: what a device said, whole, idempotent by (device, sequence or timestamp)."""

    __tablename__ = "observations"
    __table_args__ = (
        # What decides a duplicate and a conflict: (device, dedup_key), unique, indexed key
        # first (migrations 0020 and 0021): new readings append at one end, not one per
        # device's leaf page.
        Index("uq_observations_key", "dedup_key", "device", unique=True),
        # Frozen by the vacuum after their inserts, not rewritten weeks later (migration 0026).
        {"postgresql_with": FREEZE_ON_INSERT},
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    device: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int | None] = mapped_column(BigInteger)
    dedup_key: Mapped[str] = mapped_column(String(64))
    t: Mapped[datetime]
    received_at: Mapped[datetime]
    type: Mapped[str] = mapped_column(String(20))
    lat: Mapped[float | None] = mapped_column(Float)
    lon: Mapped[float | None] = mapped_column(Float)
    accuracy_m: Mapped[float | None] = mapped_column(Float)
    # The record; a fix's without the fields its columns give back (`vigie.store.fix_payload`).
    payload: Mapped[dict[str, Any]]
    # Who handed it in: "teltonika", "osmand", "mqtt" (an authenticated device through the
    # gateway) or "api:<integration account>"; None only for rows older than this column.
    source: Mapped[str | None] = mapped_column(String(80))
    # Set when the row reuses a stored row's sequence number with other content: kept as
    # evidence, flagged, and not fed to detection. The id is that of the row first stored.
    conflict_of: Mapped[int | None] = mapped_column(BigInteger)
    # The centre (its archive's key fingerprint) whose case archive brought the row here
    # (`vigie import`): another centre's past, never run by detection here. None: received here.
    imported_from: Mapped[str | None] = mapped_column(String(80))

    @property
    def record(self) -> dict[str, Any]:
        """What the device said, whole (a fix's payload holds only what its columns do not)."""
        return record_of(
            device=self.device,
            seq=self.seq,
            t=self.t,
            type=self.type,
            lat=self.lat,
            lon=self.lon,
            accuracy_m=self.accuracy_m,
            payload=self.payload,
        )


class QuarantinedObservation(Base):
    """A stored observation detection will not run, and why: kept (nothing a device sent is
    lost), shown to the admin, counted by the health endpoint; the observation stays as stored."""

    __tablename__ = "quarantined_observations"
    observation_id: Mapped[int] = mapped_column(
        BigId, ForeignKey("observations.id", ondelete="CASCADE"), primary_key=True
    )
    field: Mapped[str] = mapped_column(String(80))
    reason: Mapped[str] = mapped_column(Text)
    clock_fault: Mapped[bool] = mapped_column(Boolean, default=False)
    quarantined_at: Mapped[datetime] = mapped_column(default=clock.now)


class UnwatchedPlacement(Base):
    """An active placement whose current revision detection refused, so that nothing of its
    measure is detected: from `since` (that revision's time), alarmed past a grace and again
    at intervals while it stays so (`raised_at`: its last raise; `vigie.alarms.unmonitored`).
    Deleted when a later change is watched or leaves nothing to watch."""

    __tablename__ = "unwatched_placements"
    placement_id: Mapped[int] = mapped_column(
        ForeignKey("placements.id", ondelete="CASCADE"), primary_key=True
    )
    case_ref: Mapped[str] = mapped_column(String(40), unique=True)
    partition: Mapped[int] = mapped_column(Integer, default=0, server_default="0", index=True)
    device: Mapped[str] = mapped_column(String(64))  # its wearer's bracelet: the alarm's device
    since: Mapped[datetime]
    detail: Mapped[dict[str, Any]]  # what the engine refused (`field`, `error`)
    raised_at: Mapped[datetime | None]


class EngineState(Base):
    """The detection engine's checkpoint and what it covers: the last observation consumed, the
    last journaled step and the placement watermark, saved together every few seconds.

    One row per detection partition (embedded: partition 0, id 1). `term` goes up at each claim
    of the partition (`vigie.store.engine_state`), so a stale owner's step cannot commit;
    `processed` counts the readings its steps consumed."""

    __tablename__ = "engine_state"
    id: Mapped[int] = mapped_column(primary_key=True)
    partition: Mapped[int] = mapped_column(
        Integer, default=0, server_default="0", unique=True, index=True
    )
    term: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    processed: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    cursor: Mapped[int] = mapped_column(BigInteger, default=0)
    snapshot: Mapped[bytes | None] = mapped_column(LargeBinary)
    placements: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime] = mapped_column(default=clock.now)
    step: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    mark: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Cluster mode: the stream sequence up to which the partition is known to hold nothing
    # unconsumed (its cursor, or past it the stream's last sequence when it was found quiet),
    # and how many times the stream no longer held what came after (`vigie.cluster.retention`).
    stream_seen: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    stream_gaps: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class EngineStep(Base):
    """One detection step, committed with its alarm events: the observations it consumed
    (ids in (cursor_from, cursor_to]), the clock it ran at and the placement changes it applied.
    A restart re-runs the steps after the checkpoint exactly; `digest` checks it did."""

    __tablename__ = "engine_steps"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    partition: Mapped[int] = mapped_column(Integer, default=0, server_default="0", index=True)
    cursor_from: Mapped[int] = mapped_column(BigInteger)
    cursor_to: Mapped[int] = mapped_column(BigInteger)
    clock: Mapped[datetime]
    placements: Mapped[list[Any]]
    events: Mapped[int] = mapped_column(Integer)
    digest: Mapped[str] = mapped_column(String(32))
    # The observation ids it ran, when its cursor is not an observation id (cluster mode: a
    # stream sequence); None when (cursor_from, cursor_to] says them.
    rows: Mapped[list[Any] | None] = mapped_column(Json)


class EngineHistory(Base):
    """The BAR devices' recent fixes of a partition's engine, which its checkpoint leaves out
    (`Engine.checkpoint(history=False)`): a base, the whole history when it was written, then
    the fixes each later checkpoint added, in order (`vigie.alarms.journal`). A restore replays
    them; a new base deletes the rows before it."""

    __tablename__ = "engine_history"
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    partition: Mapped[int] = mapped_column(Integer, default=0, server_default="0", index=True)
    base: Mapped[bool]
    fixes: Mapped[int] = mapped_column(Integer)
    blob: Mapped[bytes] = mapped_column(LargeBinary)


class EnginePlacement(Base):
    """A placement as the checkpointed engine watches it (record None: known, not watched),
    written only when it changed since the previous checkpoint."""

    __tablename__ = "engine_placements"
    case_ref: Mapped[str] = mapped_column(String(40), primary_key=True)
    partition: Mapped[int] = mapped_column(Integer, default=0, server_default="0", index=True)
    revision: Mapped[int] = mapped_column(Integer)
    record: Mapped[dict[str, Any] | None]


class EngineShape(Base):
    """What compiling a zone's geometry derived (`vigie.detect.zones.shape_blob`), by the
    digest of its GeoJSON: a restart takes it back instead of recomputing it."""

    __tablename__ = "engine_shapes"
    digest: Mapped[bytes] = mapped_column(LargeBinary, primary_key=True)
    blob: Mapped[bytes] = mapped_column(LargeBinary)


class PlacementWatermark(Base):
    """One row: the last value handed to `placements.changed` (by trigger)."""

    __tablename__ = "placement_watermark"
    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class LoginsChanged(Base):
    """One row: a count of the changes to the devices' MQTT logins (insert, delete, a new id or
    secret; by trigger), which the gateway's broker reads once a second instead of the logins."""

    __tablename__ = "logins_changed"
    id: Mapped[int] = mapped_column(primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, default=0)


class Alarm(Base):
    """An alarm episode: one per (case, kind, device) from `raised` until an operator closes it."""

    __tablename__ = "alarms"
    __table_args__ = (
        Index("ix_alarms_status_priority", "status", "priority"),
        # No two open episodes of one (case, kind, device), whichever process folds.
        Index(
            "uq_alarms_open_episode",
            "case_ref",
            "kind",
            "device",
            unique=True,
            postgresql_where=text("status <> 'closed'"),
            sqlite_where=text("status <> 'closed'"),
        ),
        # The few closed while their condition went on, looked for every second (`ongoing`).
        Index(
            "ix_alarms_ongoing_when_closed",
            "closed_at",
            postgresql_where=text("ongoing_when_closed"),
            sqlite_where=text("ongoing_when_closed"),
        ),
        # The few taken alarms come back, looked for by escalation every second (`returned`).
        Index(
            "ix_alarms_raised_again_at",
            "raised_again_at",
            postgresql_where=text("raised_again_at IS NOT NULL"),
            sqlite_where=text("raised_again_at IS NOT NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    case_ref: Mapped[str] = mapped_column(String(40), index=True)
    # The detection partition that opened it (0 embedded): escalation is partition-scoped.
    partition: Mapped[int] = mapped_column(Integer, default=0, server_default="0", index=True)
    placement_id: Mapped[int | None] = mapped_column(ForeignKey("placements.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    device: Mapped[str] = mapped_column(String(64))
    priority: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="open")
    raised_at: Mapped[datetime]
    opened_at: Mapped[datetime]
    last_event_at: Mapped[datetime]
    cleared_at: Mapped[datetime | None]
    # The first take: who and when (the report's "prend l'alarme en compte", the time to
    # acknowledge); `held_by` is who holds it now (a take again or a hand-over moves it).
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    held_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    in_progress_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    closed_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    qualification: Mapped[str | None] = mapped_column(String(30))
    closing_note: Mapped[str | None] = mapped_column(Text)
    escalated_at: Mapped[datetime | None]
    # Closed while its condition went on (not cleared): raised again if it still does
    # (`vigie.alarms.ongoing`); false once raised again or once detection clears it.
    ongoing_when_closed: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    # Taken, its condition came back (`vigie.alarms.returned`): to take again, from then; and
    # when the supervisor was alerted that nobody had. Both None once taken again.
    raised_again_at: Mapped[datetime | None]
    raised_again_escalated_at: Mapped[datetime | None]
    # Why it is to take again: None, its situation came back; else its holder has gone
    # (`vigie.alarms.holder_gone.WHY`: logged out, disabled, his console silent).
    raised_again_why: Mapped[str | None] = mapped_column(String(20))
    event_count: Mapped[int] = mapped_column(Integer, default=1)
    detail: Mapped[dict[str, Any]]
    # The centre whose detection raised it (its export key's fingerprint), for an alarm brought
    # by `vigie import`: that centre's record, never worked here (`LIVE_HERE`). NULL when raised
    # here.
    imported_from: Mapped[str | None] = mapped_column(String(80))

    actions: Mapped[list[AlarmAction]] = relationship(order_by="AlarmAction.id")
    events: Mapped[list[AlarmEventRow]] = relationship(order_by="AlarmEventRow.id")
    commands: Mapped[list[DeviceCommand]] = relationship(order_by="DeviceCommand.id")


class AlarmEventRow(Base):
    __tablename__ = "alarm_events"
    __table_args__ = (
        Index("uq_alarm_events_case_ref_event_key", "case_ref", "event_key", unique=True),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    t: Mapped[datetime]
    case_ref: Mapped[str] = mapped_column(String(40))  # sought by the unique key's first column
    kind: Mapped[str] = mapped_column(String(20))
    state: Mapped[str] = mapped_column(String(10))
    device: Mapped[str] = mapped_column(String(64))
    detail: Mapped[dict[str, Any]]
    alarm_id: Mapped[int | None] = mapped_column(ForeignKey("alarms.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    # blake2b of the event's canonical JSON (`vigie.alarms.episodes.event_key`): the same event
    # stored twice is refused. None for events stored before it, and imported ones.
    event_key: Mapped[str | None] = mapped_column(String(32))


class AlarmAction(Base):
    __tablename__ = "alarm_actions"
    id: Mapped[int] = mapped_column(primary_key=True)
    alarm_id: Mapped[int] = mapped_column(ForeignKey("alarms.id"), index=True)
    at: Mapped[datetime] = mapped_column(default=clock.now)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    action: Mapped[str] = mapped_column(String(30))
    note: Mapped[str | None] = mapped_column(Text)
    # The operator an action concerns beside its author: a hand-over's new holder
    # (`vigie.alarms.handing`), a release's holder gone (`vigie.alarms.holder_gone`).
    to_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))


class Report(Base):
    """A document sent to the case's judge, prosecutor and SPIP: an alarm's incident report
    (`alarm_id`), or the summary of a measure that ended (`placement_id`, migration 0033)."""

    __tablename__ = "reports"
    __table_args__ = (
        CheckConstraint("(alarm_id IS NULL) <> (placement_id IS NULL)", name="of_one_thing"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    alarm_id: Mapped[int | None] = mapped_column(ForeignKey("alarms.id"), unique=True)
    placement_id: Mapped[int | None] = mapped_column(ForeignKey("placements.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    html: Mapped[str] = mapped_column(Text)
    pdf: Mapped[bytes] = mapped_column(LargeBinary)


class SummaryOwed(Base):
    """A measure that ended here whose summary is still to be made and queued to the case's
    recipients (`vigie.alarms.summaries_owed`): written with the end, removed with the queuing,
    so a crash between the two loses nothing."""

    __tablename__ = "summaries_owed"
    placement_id: Mapped[int] = mapped_column(ForeignKey("placements.id"), primary_key=True)
    since: Mapped[datetime]
    # A summary that could not be made (its PDF, say) is tried again later, less and less often.
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    last_error: Mapped[str | None] = mapped_column(Text)


class OutboxMessage(Base):
    __tablename__ = "outbox"
    id: Mapped[int] = mapped_column(primary_key=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    recipient: Mapped[str] = mapped_column(String(200))
    recipient_role: Mapped[str] = mapped_column(String(20))
    subject: Mapped[str] = mapped_column(String(300))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=clock.now)
    sent_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now)


# The audit action of a device the gateway refused (`vigie.gateway.registry`), as SQL: the
# partial index's predicate, which a query must repeat literally for the planner to use it.
DEVICE_REFUSED = text("action = 'device_refused'")
# The audit actions that open or close a retention purge of locations (`vigie.store.purges`),
# as SQL, for the same reason: the predicate of their partial index, repeated by its query.
PURGE_MARKS = text(
    "action IN ('purge_locations_started', 'purge_locations', 'purge_locations_failed')"
)


class AuditEntry(Base):
    """Hash-chained: `hash` covers `prev_hash` and the entry, so any edit breaks the chain."""

    __tablename__ = "audit_log"
    # The gateway's refusals by time, for the supervision page (migration 0032), and the marks of
    # the retention purges by id, for the last one (migration 0034): each holds its own entries
    # only, so the rest of the log pays nothing for them.
    __table_args__ = (
        Index(
            "ix_audit_log_device_refused",
            "at",
            postgresql_where=DEVICE_REFUSED,
            sqlite_where=DEVICE_REFUSED,
        ),
        Index(
            "ix_audit_log_purge_marks",
            "id",
            postgresql_where=PURGE_MARKS,
            sqlite_where=PURGE_MARKS,
        ),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    at: Mapped[datetime]
    actor: Mapped[str] = mapped_column(String(80))
    action: Mapped[str] = mapped_column(String(60))
    target: Mapped[str] = mapped_column(String(120))
    detail: Mapped[dict[str, Any]]
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    """The chain's last hash in one row: updating it first serialises appends on both databases."""

    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(primary_key=True)
    last_hash: Mapped[str] = mapped_column(String(64))


class ImportedRecord(Base):
    """Where an imported record came from: its centre (the export key's fingerprint), its table
    and id there, the id it got here; `detail` keeps what has no column here (the other
    centre's usernames, delivery records, audit entries). One row per record makes a second
    import of the same archive a no-op."""

    __tablename__ = "import_provenance"
    __table_args__ = (UniqueConstraint("source", "kind", "source_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(40))
    source_id: Mapped[str] = mapped_column(String(80))
    local_id: Mapped[str | None] = mapped_column(String(80))
    imported_at: Mapped[datetime] = mapped_column(default=clock.now)
    detail: Mapped[dict[str, Any]]


class ObservationSpan(Base):
    """The ids of a device's readings of one type and one minute of their time, as one
    compaction found them (`vigie.store.spans`): how a per-device read finds a device's
    readings without an index written at every reading. Keyed time first, so that each
    compaction appends; WITHOUT ROWID on SQLite (the key is the row's place)."""

    __tablename__ = "observation_spans"
    __table_args__ = ({"sqlite_with_rowid": False, "postgresql_with": FREEZE_ON_INSERT},)
    minute: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    device: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(20), primary_key=True)
    first_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    # Its ids, as a JSON list of offsets from first_id (`vigie.store.spans.unpack`).
    ids: Mapped[str] = mapped_column(Text)


class DeviceLatest(Base):
    """A device's newest reading of one type (by time, then stored order; conflicts left out)
    among those compacted: what the wearers and supervision pages read for every device."""

    __tablename__ = "device_latest"
    __table_args__ = ({"sqlite_with_rowid": False, "postgresql_with": REWRITTEN_EACH_MINUTE},)
    device: Mapped[str] = mapped_column(String(64), primary_key=True)
    type: Mapped[str] = mapped_column(String(20), primary_key=True)
    t: Mapped[datetime]
    id: Mapped[int] = mapped_column(BigInteger)


class SpanWatermark(Base):
    """One row: every observation with an id up to `upto` is in the spans."""

    __tablename__ = "span_watermark"
    id: Mapped[int] = mapped_column(primary_key=True)
    upto: Mapped[int] = mapped_column(BigInteger, default=0)


class AlertSuspension(Base):
    """A known absence (hospital, hearing) of a case's wearer: alarms raised within it are kept
    and shown as "absence connue", not sounded nor escalated (never BAR, SOS or tamper ones)."""

    __tablename__ = "alert_suspensions"
    id: Mapped[int] = mapped_column(primary_key=True)
    placement_id: Mapped[int] = mapped_column(ForeignKey("placements.id"), index=True)
    case_ref: Mapped[str] = mapped_column(String(40), index=True)
    reason: Mapped[str] = mapped_column(String(20))
    note: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(default=clock.now)
    # Set when a supervisor ends it before its end time; it otherwise ends by itself at ends_at.
    ended_at: Mapped[datetime | None]
    ended_by: Mapped[str | None] = mapped_column(String(80))


class HandoverNote(Base):
    """What an outgoing operator tells the next shift; each reader's acknowledgement is kept."""

    __tablename__ = "handover_notes"
    id: Mapped[int] = mapped_column(primary_key=True)
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=clock.now, index=True)


class HandoverRead(Base):
    __tablename__ = "handover_reads"
    note_id: Mapped[int] = mapped_column(ForeignKey("handover_notes.id"), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), primary_key=True)
    read_at: Mapped[datetime] = mapped_column(default=clock.now)
