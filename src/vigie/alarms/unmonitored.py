"""The `unmonitored` alarm: an active placement that detection cannot watch as it is saved.

A placement reaches the engine once its wearer's bracelet is assigned. The engine refuses one it
cannot apply: a home detention (DDSE, ARSE) whose home unit is not assigned yet, a BAR measure
with neither the protected person's device nor a protected place, a device already serving
another case. Until the case is completed, nothing of it is detected, not even the bracelet's
strap. That was an error in the server's log and an audit entry: no operator heard it.

Each such placement is now kept (`unwatched_placements`, from the time of the revision refused)
and, once it stays so for `VIGIE_UNMONITORED_AFTER_S` (a case set up device by device is
complete within it, and raises nothing), an alarm is raised in the operators' queue, on the case
and its bracelet, saying what detection refused. It clears itself when a later change of the
case is watched, or leaves nothing to watch (the measure ended, the bracelet taken off). While the
case stays so it is raised again `VIGIE_UNMONITORED_REMIND_S` after its last raise (`again`): an
operator who closed it, the case still incomplete, gets it back in the queue; still open, the
reminder folds into it.

Made by the detection step, in its transaction, from the placements it gave the engine; not the
engine's own (`vigie replay` never makes it). The table, not memory, says what is pending, so a
restarted detector raises the alarm on time, and once each time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, delete, insert, select, update
from sqlalchemy.orm import Session

from vigie.detect import ScenarioError
from vigie.store.listed import listed_in
from vigie.store.models import UnwatchedPlacement

UNMONITORED = "unmonitored"
WATCHED, ENDED, NO_BRACELET = "watched", "placement_ended", "no_bracelet"


@dataclass(frozen=True)
class Fault:
    """A placement revision the engine refused: its case, its wearer's bracelet, the engine's
    error, the revision's time, and whether the engine still watches the case by its revision
    before (a change refused, such as its home unit withdrawn, leaves the one before running)."""

    placement_id: int
    case_ref: str
    partition: int
    device: str
    since: datetime
    error: ScenarioError
    as_before: bool = False


def settled_how(revision: int | None, record: dict[str, Any] | None) -> str:
    """Why a placement change the engine took leaves nothing unwatched."""
    if revision is None:
        return ENDED
    return NO_BRACELET if record is None else WATCHED


def _said(fault: Fault) -> dict[str, Any]:
    """The field and the engine's words (none about her places, where words could place her),
    and whether the revision before is still watched."""
    error = fault.error
    field = error.field or ""
    said: dict[str, Any] = (
        {"field": "protected_places"}
        if field.startswith("protected_places")
        else {"field": error.field, "error": error.reason}
    )
    if fault.as_before:
        said["watched_as_before"] = True
    return said


def _event(
    case: str, state: str, device: str, t: datetime, detail: dict[str, Any]
) -> dict[str, Any]:
    return {
        "t": t,
        "case": case,
        "kind": UNMONITORED,
        "state": state,
        "device": device,
        "detail": detail,
    }


@dataclass
class _Row:
    """A row of `unwatched_placements`, as this partition's step last wrote it."""

    device: str
    since: datetime
    detail: dict[str, Any]
    raised_at: datetime | None  # its alarm's last raise


class Unwatched:
    """A detection partition's placements its engine refused, as the table has them."""

    def __init__(self, after_s: float, remind_s: float) -> None:
        self._after = timedelta(seconds=after_s)
        self._remind = timedelta(seconds=remind_s)
        self._rows: dict[str, _Row] = {}

    def load(self, session: Session, partition: int | None) -> None:
        """Read them again (a restore, or after a step failed): `partition` None for every case
        (embedded)."""
        table = UnwatchedPlacement
        query = select(table.case_ref, table.device, table.since, table.detail, table.raised_at)
        if partition is not None:
            query = query.where(table.partition == partition)
        self._rows = {case: _Row(*rest) for case, *rest in session.execute(query)}

    def cases(self) -> set[str]:
        """The cases held unwatched."""
        return set(self._rows)

    def due(self, now: datetime) -> bool:
        """Whether an alarm is due this step: one past its grace not raised yet, or one whose
        reminder is due."""
        return any(self._due(row, now) for row in self._rows.values())

    def _due(self, row: _Row, now: datetime) -> bool:
        if row.raised_at is None:
            return now - row.since >= self._after
        return now - row.raised_at >= self._remind

    def step(
        self,
        session: Session,
        faults: list[Fault],
        settled: Mapping[str, str],
        now: datetime,
    ) -> list[dict[str, Any]]:
        """Record this step's refusals and settlements; the alarm events they and the time call
        for: `raised` for a placement unwatched past the grace (and again at each reminder),
        `cleared` (with why) for a settled one whose alarm was raised.

        A few statements whatever their number: a cold start, or a change of the rules, may
        refuse every case at once, and one statement each held the step for minutes.
        """
        events: list[dict[str, Any]] = []
        refused = {fault.case_ref for fault in faults}
        ended: list[str] = []
        for case in sorted(set(settled) - refused):
            row = self._rows.pop(case, None)
            if row is None:
                continue
            ended.append(case)
            if row.raised_at is not None:
                events.append(_event(case, "cleared", row.device, now, {"reason": settled[case]}))
        table = cast(Table, UnwatchedPlacement.__table__)
        if ended:
            session.execute(delete(table).where(listed_in(session, table.c.case_ref, ended)))
        added: list[dict[str, Any]] = []
        changed: list[dict[str, Any]] = []
        for fault in faults:
            row = self._rows.get(fault.case_ref)
            detail = _said(fault)
            if row is None:  # unwatched from this revision on
                added.append(
                    {
                        "placement_id": fault.placement_id,
                        "case_ref": fault.case_ref,
                        "partition": fault.partition,
                        "device": fault.device,
                        "since": fault.since,
                        "detail": detail,
                        "raised_at": None,
                    }
                )
                self._rows[fault.case_ref] = _Row(fault.device, fault.since, detail, None)
            else:  # still unwatched, since its first refused revision: what is refused now,
                # and its bracelet now unless its alarm was raised on the one before
                device = row.device if row.raised_at is not None else fault.device
                changed.append({"case": fault.case_ref, "said": detail, "worn": device})
                row.detail, row.device = detail, device
        if added:
            session.execute(insert(table), added)
        if changed:  # after the inserts: a case refused twice in a step is added, then changed
            session.execute(
                update(table)
                .where(table.c.case_ref == bindparam("case"))
                .values(detail=bindparam("said"), device=bindparam("worn")),
                changed,
            )
        raised: list[str] = []
        for case, row in sorted(self._rows.items()):
            if not self._due(row, now):
                continue
            detail = row.detail | {"since": row.since.isoformat()}
            if row.raised_at is not None:
                detail["again"] = True
            raised.append(case)
            row.raised_at = now
            events.append(_event(case, "raised", row.device, now, detail))
        if raised:
            session.execute(
                update(table)
                .where(listed_in(session, table.c.case_ref, raised))
                .values(raised_at=now)
            )
        return events
