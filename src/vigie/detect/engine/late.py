"""Late and superseded data: the reorder buffer, and old reports that must not overwrite new.

With ``allowed_lateness_s`` records wait in a heap (``_hold``) until the newest event time
seen, less the lateness, passes them (``_ready``). A fix older than the device's latest is
*superseded*: it changes no state, but a breach it shows is reported as a past episode,
raised at its own time and cleared at the newer fix's (``_superseded_position``), each with
``detected_at``, when the centre learned of it. One episode, one alarm, in any arrival order:

- a late fix inside an episode already reported (live, or late: ``_episodes``), or inside
  a late episode of the same upload (the same newer fix bounds it), reports nothing;
- with a confirmation bound (``persistence``), a past breach needs a second late certain
  fix of the same upload, as a live one needs a second fix (``_past_held``); a late certain
  fix older than a held breach's first fix confirms that one (``_confirms_held``).

The other kinds of report apply the same rule in their own step (records.py).
"""

from __future__ import annotations

import heapq

from vigie.detect import certainty, persistence
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
                zone = self._zones[i]
                code, depth = evaluate_one(zone, fix[1], fix[2], fix[3])
                key = persistence.zone_key(zone.case, zone.zone_id)
                if self._confirms_held(key, code, newer):
                    self._zone_step(i, code, t, depth, fix, out, confirmed=True)
                    continue
                since = self._past_breach(key, zone.case, zone.kind, t, newer, code)
                if since is not None:
                    self._zone_step(i, code, since, depth, fix, past, confirmed=True)
                    self._zone_raised[i] = False
                    self._episodes[key] = (since, newer)
        if d in self._prox_of_wearer or d in self._prox_of_target:
            self._remember(d, fix)
        pairs: list[tuple[int, Fix | None, Fix | None]]
        pairs = [(j, fix, self._target_of(j, t)) for j in self._prox_of_wearer.get(d, ())]
        pairs += [
            (j, self._other_at(int(self._prox_wearer[j]), t), fix)
            for j in self._prox_of_target.get(d, ())
        ]
        for j, wearer, target in pairs:
            if wearer is None or target is None or self._prox_raised[j]:
                continue
            code, dist, _ = self._prox_code(j, wearer, target)
            rule = self._prox[j]
            key = persistence.prox_key(rule.case, rule.target, rule.kind)
            if self._confirms_held(key, code, newer):
                self._prox_step(j, code, dist, t, wearer, target, out, confirmed=True)
                continue
            since = self._past_breach(key, rule.case, rule.kind, t, newer, code)
            if since is not None:
                self._prox_step(j, code, dist, since, wearer, target, past, confirmed=True)
                self._prox_raised[j] = False
                self._episodes[key] = (since, newer)
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
                    event.detected_at,
                )
            )

    def _confirms_held(self, key: persistence.Key, code: int, newer: int) -> bool:
        """True when a late certain breach confirms the breach its newer fix holds.

        Uploaded newest first, a breach's newest fix arrives first and is held; the older ones
        that follow are the second fix that confirms it: one episode, raised at the late fix's
        own time and still raised (not a past episode, raised and cleared).
        """
        held = self._held.get(key)
        if code != certainty.RAISE or held is None or held.since != newer:
            return False
        self._drop_held(key)
        return True

    def _past_breach(
        self, key: persistence.Key, case_id: str, kind: str, t: int, newer: int, code: int
    ) -> int | None:
        """Start of a past episode to report now, once; None when there is none (yet)."""
        if code != certainty.RAISE:
            return None
        episode = self._episodes.get(key)
        if episode is not None and (episode[0] <= t <= episode[1] or episode[1] == newer):
            return None  # already reported: live, or from this same upload
        if self._confirm_ms(case_id, kind) == 0:
            return t
        first = self._past_held.get(key)
        if first is None or first[1] != newer or first[0] == t:
            self._past_held[key] = (t, newer)
            return None
        del self._past_held[key]
        return min(first[0], t)

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
