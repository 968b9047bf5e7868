"""The stored command queue: queue (audited with who asked), send, answer, fail, expire.

Every function works in the caller's transaction. States move one way: queued -> sent ->
answered, or -> failed (the device's protocol cannot carry it, or the device refused), or ->
expired (not delivered, or not answered, before `expires_at`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from vigie.gateway.commands import checked_args
from vigie.store import audit
from vigie.store.listed import listed_in
from vigie.store.models import Device, DeviceCommand

DEFAULT_TTL_S = 3600.0


@dataclass(frozen=True)
class Wanted:
    """A command to queue, as `queue` takes it."""

    device_id: str
    kind: str
    args: dict[str, Any]
    reason: str | None = None
    alarm_id: int | None = None
    ttl_s: float = DEFAULT_TTL_S


def queue(
    session: Session,
    device_id: str,
    kind: str,
    args: dict[str, Any],
    requested_by: str,
    now: datetime,
    *,
    reason: str | None = None,
    alarm_id: int | None = None,
    ttl_s: float = DEFAULT_TTL_S,
) -> DeviceCommand:
    """Queue a command for the device (`LookupError` if unknown or withdrawn, `BadCommand` if
    invalid)."""
    wanted = Wanted(device_id, kind, args, reason, alarm_id, ttl_s)
    queued, unknown = queue_many(session, [wanted], requested_by, now)
    if unknown:
        raise LookupError(f"device {device_id!r} is not registered, or withdrawn from service")
    return queued[0]


def queue_many(
    session: Session, wanted: list[Wanted], requested_by: str, now: datetime
) -> tuple[list[DeviceCommand], list[str]]:
    """Queue each command whose device is registered (and in service), each audited; returns
    them and the other devices (skipped). A handful of round trips whatever their number: a
    detection step that opens an alarm queues several, in the transaction that carries it.
    `BadCommand` if one for a registered device is invalid (nothing queued)."""
    if not wanted:
        return [], []
    ids = {w.device_id for w in wanted}
    registered = set(
        session.scalars(
            select(Device.id).where(
                listed_in(session, Device.id, ids), Device.withdrawn_at.is_(None)
            )
        )
    )
    commands = [
        DeviceCommand(
            device_id=w.device_id,
            kind=w.kind,
            args=checked_args(w.kind, w.args),
            state="queued",
            requested_by=requested_by,
            reason=w.reason,
            alarm_id=w.alarm_id,
            created_at=now,
            expires_at=now + timedelta(seconds=w.ttl_s),
        )
        for w in wanted
        if w.device_id in registered
    ]
    session.add_all(commands)
    session.flush()
    audit.record_many(
        session,
        [
            (
                requested_by,
                "device_command_queued",
                f"device:{c.device_id}",
                {"command": c.id, "kind": c.kind, "args": c.args, "reason": c.reason},
            )
            for c in commands
        ],
    )
    return commands, sorted(ids - registered)


def due(session: Session, now: datetime, limit: int = 1000) -> list[DeviceCommand]:
    """Queued commands not yet expired, oldest first."""
    return list(
        session.scalars(
            select(DeviceCommand)
            .where(DeviceCommand.state == "queued", DeviceCommand.expires_at > now)
            .order_by(DeviceCommand.id)
            .limit(limit)
        )
    )


def mark_sent(session: Session, command_id: int, protocol: str, text: str, now: datetime) -> None:
    session.execute(
        update(DeviceCommand)
        .where(DeviceCommand.id == command_id, DeviceCommand.state == "queued")
        .values(state="sent", protocol=protocol, sent_text=text, sent_at=now)
    )


def mark_failed(session: Session, command_id: int, protocol: str, why: str, now: datetime) -> None:
    session.execute(
        update(DeviceCommand)
        .where(DeviceCommand.id == command_id, DeviceCommand.state.in_(("queued", "sent")))
        .values(state="failed", protocol=protocol, reply=why, finished_at=now)
    )


def answer(
    session: Session, device_id: str, reply: str, now: datetime, command_id: int | None = None
) -> DeviceCommand | None:
    """Store a device's reply on its command: the one it names, else its oldest sent one.

    None when no sent command matches (a late reply to an expired command, say)."""
    query = select(DeviceCommand).where(
        DeviceCommand.device_id == device_id, DeviceCommand.state == "sent"
    )
    if command_id is not None:
        query = query.where(DeviceCommand.id == command_id)
    command = session.scalars(query.order_by(DeviceCommand.id).limit(1)).first()
    if command is None:
        return None
    command.state = "answered"
    command.reply = reply[:2000]
    command.finished_at = now
    return command


def expire(session: Session, now: datetime) -> int:
    """Mark expired what was not delivered or answered in time; returns how many."""
    result = session.execute(
        update(DeviceCommand)
        .where(DeviceCommand.state.in_(("queued", "sent")), DeviceCommand.expires_at <= now)
        .values(state="expired", finished_at=now)
    )
    return int(getattr(result, "rowcount", 0) or 0)


def history(session: Session, device_id: str, limit: int = 200) -> list[DeviceCommand]:
    """The device's commands, newest first."""
    return list(
        session.scalars(
            select(DeviceCommand)
            .where(DeviceCommand.device_id == device_id)
            .order_by(DeviceCommand.id.desc())
            .limit(limit)
        )
    )


def summary(command: DeviceCommand) -> dict[str, Any]:
    return {
        "id": command.id,
        "device": command.device_id,
        "kind": command.kind,
        "args": command.args,
        "state": command.state,
        "requested_by": command.requested_by,
        "reason": command.reason,
        "alarm_id": command.alarm_id,
        "protocol": command.protocol,
        "sent_text": command.sent_text,
        "reply": command.reply,
        "created_at": command.created_at,
        "expires_at": command.expires_at,
        "sent_at": command.sent_at,
        "finished_at": command.finished_at,
    }
