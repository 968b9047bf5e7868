"""The clock and its timers: where a timer fires.

The clock is the watermark of event time (``Engine``'s docstring gives the rules). Timers
live in a heap keyed by (kind, case, zone): an absence grace running out or a window
ending (``_absence_timer``), a zone's schedule opening or closing (``_zone_timer``), a held
breach's confirmation bound (``_held_timer``, rules.py). Loss of
signal is not in the heap: deadlines are a column of the device table, scanned as an array
(``_fire_signal``) only when the earliest one (``_signal_next``) is passed. ``_advance``
fires what is due strictly before a record, ``_finish`` what is due at the end of a batch.
"""

from __future__ import annotations

import heapq
from typing import Any

import numpy as np

from vigie.detect import persistence
from vigie.detect.devices import NEVER
from vigie.detect.engine.rules import RuleSteps
from vigie.detect.engine.state import _FAR, _deg, _m
from vigie.detect.events import AlarmEvent, iso_of
from vigie.detect.schedule import NEVER_ENDS
from vigie.detect.zones import evaluate_one


class Clock(RuleSteps):
    """The watermark, the timer heap, loss of signal, and the timers' own transitions."""

    def _next_timer(self) -> int | None:
        while self._heap:
            due, _, key = self._heap[0]
            if self._scheduled.get(key) == due:
                return due
            heapq.heappop(self._heap)
        return None

    def _fire_timers(self, until: int, inclusive: bool, out: list[AlarmEvent]) -> None:
        """Fire the heap's timers due before ``until`` (or at it, if inclusive), in order."""
        while True:
            due = self._next_timer()
            if due is None or due > until or (due == until and not inclusive):
                return
            _, _, key = heapq.heappop(self._heap)
            del self._scheduled[key]
            if key[0] == "absence":
                self._absence_timer(key[1], due, out)
            elif key[0] in ("held_zone", "held_prox"):
                self._held_timer(key, due, out)
            else:
                self._zone_timer(self._zone_index.get((key[1], key[2])), due, out)

    def _min_deadline(self) -> int:
        n = len(self._devices)
        dv = self._devices
        watch = dv.assigned[:n] & (dv.last_seen[:n] != NEVER) & ~dv.lost[:n]
        if not watch.any():
            return _FAR
        return int((dv.last_seen[:n][watch] + dv.timeout[:n][watch]).min())

    def _fire_signal(self, until: int, inclusive: bool, out: list[AlarmEvent]) -> None:
        """Raise ``signal_lost`` for every device whose silence ran out by ``until``."""
        if self._signal_next > until or (self._signal_next == until and not inclusive):
            return
        n = len(self._devices)
        dv = self._devices
        deadline = dv.last_seen[:n] + dv.timeout[:n]
        watch = dv.assigned[:n] & (dv.last_seen[:n] != NEVER) & ~dv.lost[:n]
        due = watch & ((deadline <= until) if inclusive else (deadline < until))
        for d in np.flatnonzero(due).tolist():
            self._raise_signal(d, int(deadline[d]), self._position_of(d), out)
        rest = watch & ~due
        self._signal_next = int(deadline[rest].min()) if rest.any() else _FAR

    def _raise_signal(
        self, d: int, at: int, fix: tuple[int, float, float, float] | None, out: list[AlarmEvent]
    ) -> None:
        dv = self._devices
        dv.lost[d] = True
        dv.lost_t[d] = at
        detail: dict[str, Any] = {
            "last_seen": iso_of(int(dv.last_seen[d])),
            "timeout_s": _m(dv.timeout[d] / 1000),
        }
        if fix is not None and not dv.hidden[d]:
            detail["last_position"] = {
                "t": iso_of(fix[0]),
                "lat": _deg(fix[1]),
                "lon": _deg(fix[2]),
                "accuracy_m": _m(fix[3]),
            }
        self._emit(out, at, d, "signal_lost", "raised", detail)

    def _sign_of_life(self, d: int, t: int, out: list[AlarmEvent], periodic: bool = True) -> None:
        """Any observation clears a loss of signal; a periodic one also starts the watch.

        The centre *hears* a device at the observation's time, or at the clock if the
        observation arrives late: a buffered upload ends the silence when it arrives (not
        when its first stored fix was taken), and the silence timer restarts from then.
        """
        dv = self._devices
        if dv.last_seen[d] == NEVER and not periodic:
            return
        heard = max(t, self._clock if self._clock is not None else t)
        if dv.lost[d]:
            dv.lost[d] = False
            self._emit(
                out,
                max(heard, int(dv.lost_t[d])),
                d,
                "signal_lost",
                "cleared",
                {"silent_s": _m((heard - int(dv.last_seen[d])) / 1000)},
            )
        if heard > dv.last_seen[d]:
            dv.last_seen[d] = heard
        self._signal_next = min(self._signal_next, int(dv.last_seen[d] + dv.timeout[d]))

    def _start_clock(self, t: int) -> None:
        self._clock = t
        for i in range(len(self._zones)):
            if not self._zone_known[i]:
                self._init_zone(i, t)

    def _init_zone(self, i: int, t: int) -> None:
        schedule = self._zones[i].schedule
        self._zone_active[i] = schedule is None or schedule.active_at(t)
        self._zone_known[i] = True
        if schedule is not None:
            self._schedule_zone(i, t)

    def _schedule_zone(self, i: int, after: int) -> None:
        zone = self._zones[i]
        assert zone.schedule is not None
        self._schedule(("zone", zone.case, zone.zone_id), zone.schedule.next_boundary(after))

    def _advance(self, t: int, out: list[AlarmEvent]) -> None:
        if self._clock is None:
            self._start_clock(t)
            return
        if t > self._clock:
            self._fire_timers(t, False, out)
            self._fire_signal(t, False, out)
            self._clock = t

    def _finish(self, until: int, out: list[AlarmEvent]) -> None:
        if self._clock is None:
            self._start_clock(until)
        assert self._clock is not None
        until = max(until, self._clock)
        self._fire_timers(until, True, out)
        self._fire_signal(until, True, out)
        self._clock = until

    def _absence_timer(self, case_id: str, at: int, out: list[AlarmEvent]) -> None:
        case = self._cases.get(case_id)
        if case is None or case.absence is None:
            return
        a = case.absence
        assert case.home_unit is not None
        home = self._devices.ids[case.home_unit]
        if a.raised and at >= a.raised_until:
            a.raised = False
            a.settled_until = a.raised_until
            self._emit(
                out,
                at,
                case.wearer,
                "absence",
                "cleared",
                {"reason": "window_end", "home_unit": home, "present": False},
            )
        elif not a.raised and a.next_due() == at:
            window = a.schedule.window_at(at)
            assert window is not None
            a.raised, a.raised_t, a.raised_until = True, at, window[1]
            self._emit(
                out,
                at,
                case.wearer,
                "absence",
                "raised",
                {
                    "home_unit": home,
                    "absent_since": iso_of(a.absent_since),
                    "window_start": iso_of(window[0]),
                    "window_end": None if window[1] >= NEVER_ENDS else iso_of(window[1]),
                    "grace_s": _m(a.grace_ms / 1000),
                },
            )
        self._schedule(("absence", case_id, ""), a.next_due())

    def _zone_timer(self, i: int | None, at: int, out: list[AlarmEvent]) -> None:
        if i is None:
            return
        zone = self._zones[i]
        assert zone.schedule is not None
        d = self._devices.index[zone.device]
        active = zone.schedule.active_at(at)
        if self._zone_active[i] and not active:
            self._zone_active[i] = False
            self._drop_held(persistence.zone_key(zone.case, zone.zone_id))
            if self._zone_raised[i]:
                self._zone_raised[i] = False
                self._emit(
                    out,
                    at,
                    d,
                    zone.kind,
                    "cleared",
                    {
                        "zone": zone.zone_id,
                        "zone_type": self._zone_type(zone),
                        "reason": "zone_inactive",
                    },
                )
        elif not self._zone_active[i] and active:
            self._zone_active[i] = True
            fix = self._position_of(d)
            if fix is not None:
                code, depth = evaluate_one(zone, fix[1], fix[2], fix[3])
                self._zone_step(i, code, at, depth, fix, out)
        self._schedule_zone(i, at)
