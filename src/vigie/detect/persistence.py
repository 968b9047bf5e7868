"""Persistence: a zone or distance breach is raised once confirmed, by a second fix or in time.

A single fix, however certain its accuracy says it is, can be wrong: indoor fixes drift
hundreds of metres while reporting 50 m, urban canyons bounce fixes 50-300 m with an accuracy
that does not grow, cold starts give one wild fix (issue 20 measured each). So the first
certain breach of a rule is *held*: the rule raises when

- a **second fix** of the bearer (later in time, not a duplicate) is a certain breach too,
  stamped at that fix (``confirmed_by: "second_fix"``); or
- the breach has been held for ``confirm_s`` without a fix clearly out (``confirmed_by:
  "time"``), stamped at the end of that bound: a device that goes silent after one fix
  inside still gives its alarm, at most ``confirm_s`` late. For a fix that arrives late
  (an upload after an outage) the bound runs from when the centre learned of it, so that
  the next fixes of the same upload, not the clock, decide; the raise keeps the event time.

A later fix on the allowed side (its position out, however uncertain) takes the held breach
back, unless the three fixes make a straight way through the zone (``is_transit``: a drive
through a zone's corner, in and out between two reports, is raised, ``confirmed_by:
"track"``, and cleared at once); one still inside but not certain keeps it. The
delay this adds is reported in the raised event (``confirm_delay_s``, from the first fix) and
measured by ``bench/quality.py``.

Bounds, per placement (``confirm_s``, ``alert_confirm_s`` in the placement record; the
centre's settings give them per measure, ``breach_confirm_s`` and ``alert_confirm_s``):

- zones and pre-alert: ``ZONE_CONFIRM_S`` = 600 s. A bearer on the move reports every
  30 s, so a second fix confirms within 30-60 s (the median added delay measured by
  ``bench/quality.py``); a still device reports every 300 s, and the bound is twice that so
  that its next fix, not the clock, decides (with a 300 s bound the timer won every race
  against the next resting fix: indoor drift beside a zone then raised by time).
- BAR alert: ``ALERT_CONFIRM_S`` = 60 s. The alert is the one alarm where minutes matter (the
  protected person must be warned and the police sent while the wearer approaches); 60 s is
  two moving-report periods, and the centre raises a BAR device's report rate while a
  pre-alert is open (``alarm_report_every_s``: 10 s), so the second fix comes within seconds.

Without either setting in a placement record (a bare ``vigie replay`` scenario), breaches
raise on the first certain fix, as the contract's table reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from vigie.detect.geodesy import to_local

ZONE_CONFIRM_S = 600.0
ALERT_CONFIRM_S = 60.0
TRANSIT_GAP_S = 120.0  # fixes this close around a zone fix make a way through it
TRANSIT_SPEED_M_S = 2.0  # faster than a walk: the bearer is on the move

Fix = tuple[int, float, float, float]  # (t ms, lat, lon, accuracy m)

Key = tuple[str, str, str]  # the rule's timer key: ("held_zone" | "held_prox", case, rule)


@dataclass(slots=True)
class Held:
    """A certain breach waiting for confirmation: its first fix and what its event will say."""

    since: int  # event time of the first certain fix, ms
    bound: int  # the confirmation bound, ms: raised as of since + bound if still held
    deadline: int  # when the timer fires: the bound after the centre learned of the fix
    detail: dict[str, Any]  # the raised event's detail as of the first fix
    fix: Fix  # the first certain fix
    prev: Fix | None  # the bearer's fix before it, for a transit (``is_transit``)

    def to_list(self) -> list[Any]:
        """Snapshot form."""
        prev = None if self.prev is None else list(self.prev)
        return [self.since, self.bound, self.deadline, self.detail, list(self.fix), prev]

    @classmethod
    def from_list(cls, row: list[Any]) -> Held:
        """Read back a snapshot row."""
        prev = None if row[5] is None else _fix(row[5])
        return cls(int(row[0]), int(row[1]), int(row[2]), dict(row[3]), _fix(row[4]), prev)


def _fix(row: list[Any]) -> Fix:
    return int(row[0]), float(row[1]), float(row[2]), float(row[3])


def is_transit(held: Held, after: Fix) -> bool:
    """True when a held zone breach was a transit: on the bearer's straight way through.

    A bearer driving through a corner of a zone may leave it before a second fix: the fix
    inside lies on the way from the fix before it to the fix after it, all three a moving
    report period apart (``TRANSIT_GAP_S``), at a moving pace (``TRANSIT_SPEED_M_S``), within
    the three accuracies of the straight line. A canyon jump leaves that line by its 50-300 m;
    indoor drift has no way through (the bearer is still); both stay held, and refuted.
    """
    before, fix = held.prev, held.fix
    if before is None:
        return False
    span_s = (after[0] - before[0]) / 1000
    if not (0 < span_s <= 2 * TRANSIT_GAP_S) or fix[0] - before[0] > TRANSIT_GAP_S * 1000:
        return False
    x, y = to_local(
        np.array([fix[1], after[1]]), np.array([fix[2], after[2]]), before[1], before[2]
    )
    way = float(np.hypot(x[1], y[1]))
    if way / span_s < TRANSIT_SPEED_M_S:
        return False
    along = max(0.0, min(1.0, float(x[0] * x[1] + y[0] * y[1]) / (way * way)))
    off = float(np.hypot(x[0] - along * x[1], y[0] - along * y[1]))
    return off <= before[3] + fix[3] + after[3]


def zone_key(case: str, zone_id: str) -> Key:
    """Timer and state key of a zone rule."""
    return ("held_zone", case, zone_id)


def prox_key(case: str, target: str, kind: str) -> Key:
    """Timer and state key of a BAR rule."""
    return ("held_prox", case, f"{kind}\x1f{target}")
