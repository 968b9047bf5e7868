"""Persistence: a zone or distance breach is raised once confirmed, by a second fix or in time.

A single fix, however certain its accuracy says it is, can be wrong: indoor fixes drift
hundreds of metres while reporting 50 m, urban canyons bounce fixes 50-300 m with an accuracy
that does not grow, cold starts give one wild fix (issue 20 measured each). So the first
certain breach of a rule is *held*: the rule raises when

- a **second fix** of the bearer (later in time, not a duplicate) is a certain breach too,
  stamped at that fix (``confirmed_by: "second_fix"``); or
- the breach has been held for ``confirm_s`` without a fix clearly out (``confirmed_by:
  "time"``), stamped at the end of that bound: a device that goes silent after one fix
  inside still gives its alarm, at most ``confirm_s`` late.

A fix clearly out (a ``CLEAR`` code) drops the held breach; an undecided one keeps it. The
delay this adds is reported in the raised event (``confirm_delay_s``, from the first fix) and
measured by ``bench/quality.py``.

Bounds, per placement (``confirm_s``, ``alert_confirm_s`` in the placement record; the
centre's settings give them per measure, ``breach_confirm_s`` and ``alert_confirm_s``):

- zones and pre-alert: ``ZONE_CONFIRM_S`` = 300 s. A bearer on the move reports every
  30 s, so a second fix usually confirms within 30-60 s; 300 s is the resting report period,
  the longest a still device waits for its next fix.
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

ZONE_CONFIRM_S = 300.0
ALERT_CONFIRM_S = 60.0

Key = tuple[str, str, str]  # the rule's timer key: ("held_zone" | "held_prox", case, rule)


@dataclass(slots=True)
class Held:
    """A certain breach waiting for confirmation: its first fix and what its event will say."""

    since: int  # event time of the first certain fix, ms
    deadline: int  # since + confirm bound: raised then if still held
    detail: dict[str, Any]  # the raised event's detail as of the first fix

    def to_list(self) -> list[Any]:
        """Snapshot form."""
        return [self.since, self.deadline, self.detail]

    @classmethod
    def from_list(cls, row: list[Any]) -> Held:
        """Read back a snapshot row."""
        return cls(int(row[0]), int(row[1]), dict(row[2]))


def zone_key(case: str, zone_id: str) -> Key:
    """Timer and state key of a zone rule."""
    return ("held_zone", case, zone_id)


def prox_key(case: str, target: str, kind: str) -> Key:
    """Timer and state key of a BAR rule."""
    return ("held_prox", case, f"{kind}\x1f{target}")
