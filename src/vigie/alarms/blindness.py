"""The centre's own alarm: a detection partition that no worker watches (cluster mode).

Every other alarm is a case's. This one is the centre's: while a partition has had no owner
for longer than the lease and a takeover, none of its cases is detected (design scale-ha.md
§2.8), and the operators must hear it in their queue, not only the servers' probe in
`/api/health`. It is an alarm episode like the others, of kind `unwatched`, case
`CENTRE_REF` and device `partition-N`: its events go through `episodes.fold` (keyed, the open
episode unique per partition), it rings the bell, it escalates, an operator acknowledges and
closes it, and a `cleared` event records when an owner took the partition again.

Every API process of the cluster watches the leases and calls `sync`; under a PostgreSQL
advisory lock the first to see a change makes it and the others find it made, so one blind
episode is one alarm and one `raised` event however many processes watch. The alarm's
`partition` is `CENTRE_PARTITION`: no worker owns it, the watching processes escalate it.
Its detail is counts only (the cases and devices left unwatched), never a person.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from vigie.alarms import episodes, workflow
from vigie.alarms.obligations import CENTRE_REF, UNWATCHED
from vigie.store.models import Alarm, DeviceAssignment, Placement

BLINDNESS_LOCK = 7420003  # pg_advisory_xact_lock key: one watcher at a time makes the changes
CENTRE_PARTITION = -1  # the partition of the centre's own alarms: escalated by the watchers


def device_of(partition: int) -> str:
    return f"partition-{partition}"


@dataclass(frozen=True)
class Synced:
    raised: list[int]  # partitions whose alarm was raised (opened or raised again)
    cleared: list[int]  # partitions watched again
    escalated: int

    @property
    def changed(self) -> bool:
        return bool(self.raised or self.cleared or self.escalated)


def unwatched_counts(session: Session, partition: int) -> dict[str, int]:
    """The active cases of a partition and their devices: what the centre does not watch."""
    cases = session.scalar(
        select(func.count())
        .select_from(Placement)
        .where(Placement.partition == partition, Placement.status == "active")
    )
    devices = session.scalar(
        select(func.count())
        .select_from(DeviceAssignment)
        .join(Placement, Placement.id == DeviceAssignment.placement_id)
        .where(
            Placement.partition == partition,
            Placement.status == "active",
            DeviceAssignment.until.is_(None),
        )
    )
    return {"cases": cases or 0, "devices": devices or 0}


def sync(
    session: Session,
    blind: Mapping[int, datetime],
    watched: Iterable[int],
    now: datetime,
    escalation_after_s: float,
    factors: Mapping[int, float] | None = None,
) -> Synced:
    """Bring the alarms in line with what a watcher sees: `blind` partitions (each with since
    when its owner was missing) have an alarm raised; `watched` ones (an owner seen now) have
    theirs cleared. A partition in neither (not yet past the limit, or not read) is left as it
    is. Then escalate the centre's alarms left unacknowledged."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(select(func.pg_advisory_xact_lock(BLINDNESS_LOCK)))
    live = {
        alarm.device: alarm
        for alarm in session.scalars(
            select(Alarm).where(
                Alarm.case_ref == CENTRE_REF, Alarm.kind == UNWATCHED, Alarm.status != "closed"
            )
        )
    }
    events: list[dict[str, Any]] = []
    raised: list[int] = []
    cleared: list[int] = []
    for partition, since in sorted(blind.items()):
        alarm = live.get(device_of(partition))
        if alarm is not None and alarm.cleared_at is None:
            continue  # raised already (by this process or another)
        if alarm is not None and alarm.cleared_at is not None and alarm.cleared_at > since:
            # Another watcher saw an owner after this one's blindness began: this view is
            # late (its watch had not delivered the new lease yet), not a new episode.
            continue
        detail = {"partition": partition} | unwatched_counts(session, partition)
        events.append(_event(partition, "raised", since, detail))
        raised.append(partition)
    for partition in sorted(set(watched) - set(blind)):
        alarm = live.get(device_of(partition))
        if alarm is None or alarm.cleared_at is not None:
            continue
        events.append(_event(partition, "cleared", now, {"partition": partition}))
        cleared.append(partition)
    episodes.fold(session, events, now, CENTRE_PARTITION)
    escalated = workflow.escalate_overdue(
        session, now, escalation_after_s, factors, partition=CENTRE_PARTITION
    )
    return Synced(raised, cleared, len(escalated))


def _event(partition: int, state: str, t: datetime, detail: dict[str, Any]) -> dict[str, Any]:
    return {
        "t": t,
        "case": CENTRE_REF,
        "kind": UNWATCHED,
        "state": state,
        "device": device_of(partition),
        "detail": detail,
    }
