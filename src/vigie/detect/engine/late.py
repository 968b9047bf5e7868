"""Late and superseded data: the reorder buffer, and old reports that must not overwrite new.

With ``allowed_lateness_s`` records wait in a heap (``_hold``) until the newest event time
seen, less the lateness, passes them (``_ready``). A fix older than the device's latest is
*superseded*: it changes no state, but a breach it shows is reported as a past episode,
raised at its own time and cleared at the newer fix's (``_superseded_position``). The
other kinds of report apply the same rule in their own step (records.py).
"""

from __future__ import annotations

import heapq

from vigie.detect import certainty
from vigie.detect.engine.state import Fix
from vigie.detect.engine.tables import RuleTables
from vigie.detect.events import AlarmEvent, utc_of
from vigie.detect.scenario import Record
from vigie.detect.zones import evaluate_one

_RULE_KEYS = ("zone", "zone_type", "target", "target_kind")


class LateData(RuleTables):
    """The reorder buffer and the superseded fix."""

    def _superseded_position(
        self, d: int, fix: tuple[int, float, float, float], newer: int, out: list[AlarmEvent]
    ) -> None:
        """A fix older than the device's latest: report a past breach, change no state."""
        t = fix[0]
        past: list[AlarmEvent] = []
        for i in self._zones_of.get(d, ()):
            if self._zone_active[i] and not self._zone_raised[i]:
                code, depth = evaluate_one(self._zones[i], fix[1], fix[2], fix[3])
                if code == certainty.RAISE:
                    self._zone_step(i, code, t, depth, fix, past)
                    self._zone_raised[i] = False
        pairs: list[tuple[int, Fix | None, Fix | None]]
        pairs = [(j, fix, self._target_of(j)) for j in self._prox_of_wearer.get(d, ())]
        pairs += [
            (j, self._position_of(int(self._prox_wearer[j])), fix)
            for j in self._prox_of_target.get(d, ())
        ]
        for j, wearer, target in pairs:
            if wearer is None or target is None or self._prox_raised[j]:
                continue
            code, dist = self._prox_code(j, wearer, target)
            if code == certainty.RAISE:
                self._prox_step(j, code, dist, t, wearer, target, past)
                self._prox_raised[j] = False
        for event in past:
            out.append(event)
            keep = {k: v for k, v in event.detail.items() if k in _RULE_KEYS}
            out.append(
                AlarmEvent(
                    utc_of(max(newer, t)),
                    event.case,
                    event.kind,
                    "cleared",
                    event.device,
                    {**keep, "reason": "superseded"},
                )
            )

    def _hold(self, records: list[Record]) -> None:
        """Put records in the reorder buffer, in event-time order, ties in arrival order."""
        for record in records:
            self._arrivals += 1
            heapq.heappush(self._buffer, (record.t_ms, self._arrivals, record))
            if self._max_seen is None or record.t_ms > self._max_seen:
                self._max_seen = record.t_ms

    def _ready(self, watermark: int) -> list[Record]:
        """Take from the buffer every record at or before the watermark, in order."""
        ready: list[Record] = []
        while self._buffer and self._buffer[0][0] <= watermark:
            ready.append(heapq.heappop(self._buffer)[2])
        return ready
