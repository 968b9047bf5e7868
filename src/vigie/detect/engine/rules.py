"""Raise and clear: the state change of one zone or one BAR rule, and what its event says.

Both paths end here: the record path (records.py) and the vectorised fix path (fixes.py,
fixes_once.py) give each rule its codes in time order; ``_zone_step`` and ``_prox_step`` hold
a first certain breach until it is confirmed (``persistence``), flip the state and write the
event's detail, so both paths write the same events. ``_held_timer`` raises a held breach
whose bound ran out. Each rule's last episode is remembered (``_episodes``) so that late data
never reports it again (late.py).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from vigie.detect import certainty, persistence, proximity
from vigie.detect.devices import NEVER
from vigie.detect.engine import alignment
from vigie.detect.engine.state import _FAR, EngineState, Fix, _deg, _m
from vigie.detect.events import AlarmEvent, iso_of
from vigie.detect.geodesy import distance_m
from vigie.detect.zones import Zone, forbidden_depth


class RuleSteps(EngineState):
    """The zone and BAR state machines' transitions, one rule at a time."""

    @staticmethod
    def _zone_type(zone: Zone) -> str:
        return "exclusion" if zone.exclusion else "inclusion"

    def _zone_step(
        self,
        i: int,
        code: int,
        at: int,
        depth: float,
        fix: tuple[int, float, float, float],
        out: list[AlarmEvent],
        confirmed: bool = False,
        prev: Fix | None = None,
    ) -> None:
        """Apply a zone code; ``confirmed`` raises at once (a late episode, already confirmed).

        ``prev`` is the bearer's fix before ``fix`` (a transit is judged from it).
        """
        zone = self._zones[i]
        d = self._devices.index[zone.device]
        detail: dict[str, Any] = {
            "zone": zone.zone_id,
            "zone_type": self._zone_type(zone),
            "depth_m": _m(forbidden_depth(zone, depth)),
            "accuracy_m": _m(fix[3]),
        }
        key = persistence.zone_key(zone.case, zone.zone_id)
        if code == certainty.RAISE and not self._zone_raised[i]:
            detail.update({"lat": _deg(fix[1]), "lon": _deg(fix[2]), "fix_t": iso_of(fix[0])})
            if confirmed or self._confirmed(key, zone.case, zone.kind, d, at, detail, fix, prev):
                self._zone_raised[i] = True
                self._zone_raised_t[i] = at
                self._episodes[key] = (at, _FAR)
                self._emit(out, at, d, zone.kind, "raised", detail, late=True)
        elif code == certainty.CLEAR or forbidden_depth(zone, depth) < 0:
            held = self._held.get(key)
            self._drop_held(key)  # a fix on the allowed side takes a held breach back...
            if held is not None and persistence.is_transit(held, fix):
                # ...unless it was on the way through: raised then, and cleared now.
                raised = {**held.detail, "confirmed_by": "track", "first_fix_t": iso_of(held.since)}
                self._emit(out, held.since, d, zone.kind, "raised", raised, late=True)
                self._emit(out, at, d, zone.kind, "cleared", {**detail, "reason": "fix"}, late=True)
                self._episodes[key] = (held.since, at)
            if code == certainty.CLEAR and self._zone_raised[i]:
                self._zone_raised[i] = False
                detail["reason"] = "fix"
                at = max(at, int(self._zone_raised_t[i]))
                self._episodes[key] = (int(self._zone_raised_t[i]), at)
                self._emit(out, at, d, zone.kind, "cleared", detail, late=True)

    def _prox_step(
        self,
        j: int,
        code: int,
        dist: float,
        at: int,
        wearer: tuple[int, float, float, float],
        target: tuple[int, float, float, float],
        out: list[AlarmEvent],
        confirmed: bool = False,
    ) -> None:
        """Apply a BAR code; ``dist`` is the distance that decided it (shown in the detail)."""
        rule = self._prox[j]
        d = self._devices.index[rule.wearer]
        u = alignment.pair_uncertainty_one(wearer, target) if rule.target_is_device else wearer[3]
        detail: dict[str, Any] = {
            "distance_m": _m(dist),
            "uncertainty_m": _m(u),
            "threshold_m": _m(rule.threshold_m),
            "target": rule.target,
            "target_kind": "device" if rule.target_is_device else "place",
        }
        key = persistence.prox_key(rule.case, rule.target, rule.kind)
        if code == certainty.RAISE and not self._prox_raised[j]:
            detail["wearer_position"] = {
                "lat": _deg(wearer[1]),
                "lon": _deg(wearer[2]),
                "accuracy_m": _m(wearer[3]),
                "t": iso_of(wearer[0]),
            }
            protected: dict[str, Any] = {"lat": _deg(target[1]), "lon": _deg(target[2])}
            if rule.target_is_device:
                protected.update({"accuracy_m": _m(target[3]), "t": iso_of(target[0])})
            detail["protected_position"] = protected
            if confirmed or self._confirmed(key, rule.case, rule.kind, d, at, detail, wearer):
                self._prox_raised[j] = True
                self._prox_raised_t[j] = at
                self._episodes[key] = (at, _FAR)
                self._emit(out, at, d, rule.kind, "raised", detail, late=True)
        elif code == certainty.CLEAR or dist > rule.threshold_m:
            self._drop_held(key)  # a fix on the allowed side takes a held breach back
            if code == certainty.CLEAR and self._prox_raised[j]:
                self._prox_raised[j] = False
                at = max(at, int(self._prox_raised_t[j]))
                self._episodes[key] = (int(self._prox_raised_t[j]), at)
                self._emit(out, at, d, rule.kind, "cleared", detail, late=True)

    def _confirm_ms(self, case_id: str, kind: str) -> int:
        """The placement's confirmation bound for a kind of breach (0: raise at once)."""
        spec = self._cases[case_id].spec
        bound = spec.alert_confirm_s if kind == "alert" else spec.confirm_s
        return 0 if bound is None else round(bound * 1000)

    def _confirmed(
        self,
        key: persistence.Key,
        case_id: str,
        kind: str,
        d: int,
        at: int,
        detail: dict[str, Any],
        fix: Fix,
        prev: Fix | None = None,
    ) -> bool:
        """True when a certain breach raises now; else it is held (see ``persistence``)."""
        bound = self._confirm_ms(case_id, kind)
        if bound == 0:
            return True
        held = self._held.get(key)
        if held is None:
            learned = max(at, self._clock if self._clock is not None else at)
            self._held[key] = persistence.Held(at, bound, learned + bound, dict(detail), fix, prev)
            self._schedule(key, learned + bound)
            self._ask_fix(d, at, "confirm")
            return False
        if at <= held.since:
            return False  # a duplicate (or older) fix confirms nothing
        self._drop_held(key)
        detail.update(
            {
                "confirmed_by": "second_fix",
                "first_fix_t": iso_of(held.since),
                "confirm_delay_s": _m((at - held.since) / 1000),
            }
        )
        return True

    def _drop_held(self, key: persistence.Key) -> None:
        if self._held.pop(key, None) is not None:
            self._schedule(key, None)

    def _held_timer(self, key: persistence.Key, at: int, out: list[AlarmEvent]) -> None:
        """A held breach whose bound ran out with no fix clearly out: raised now."""
        held = self._held.pop(key, None)
        if held is None:
            return
        due, at = at, min(at, held.since + held.bound)  # event time; detected_at: due, if later
        detail = {
            **held.detail,
            "confirmed_by": "time",
            "first_fix_t": iso_of(held.since),
            "confirm_delay_s": _m((at - held.since) / 1000),
        }
        if key[0] == "held_zone":
            i = self._zone_index.get((key[1], key[2]))
            if i is None or self._zone_raised[i] or not self._zone_active[i]:
                return
            zone = self._zones[i]
            self._zone_raised[i] = True
            self._zone_raised_t[i] = at
            self._episodes[key] = (at, _FAR)
            d = self._devices.index[zone.device]
            self._emit(out, at, d, zone.kind, "raised", detail, late=True, learned=due)
            return
        kind, target = key[2].split("\x1f", 1)
        j = self._prox_index.get((key[1], target, kind))
        if j is None or self._prox_raised[j]:
            return
        self._prox_raised[j] = True
        self._prox_raised_t[j] = at
        self._episodes[key] = (at, _FAR)
        d = self._devices.index[self._prox[j].wearer]
        self._emit(out, at, d, kind, "raised", detail, late=True, learned=due)

    def _prox_code(
        self,
        j: int,
        wearer: tuple[int, float, float, float],
        target: tuple[int, float, float, float],
    ) -> tuple[int, float, float]:
        """Code, distance and its uncertainty of one wearer-to-target pair."""
        dist = distance_m(
            np.array([wearer[1]]),
            np.array([wearer[2]]),
            np.array([target[1]]),
            np.array([target[2]]),
        )
        u = np.array(
            [
                alignment.pair_uncertainty_one(wearer, target)
                if self._prox[j].target_is_device
                else wearer[3]
            ]
        )
        code = proximity.codes(dist, u, self._prox_threshold[j : j + 1])
        return int(code[0]), float(dist[0]), float(u[0])

    def _target_of(self, j: int, t: int) -> tuple[int, float, float, float] | None:
        """The rule's target at ``t``: its place, or the protected device's position then."""
        rule = self._prox[j]
        if not rule.target_is_device:
            return NEVER, rule.place_lat, rule.place_lon, 0.0
        return self._other_at(int(self._prox_target[j]), t)

    def _other_at(self, d: int, t: int) -> tuple[int, float, float, float] | None:
        """A BAR device's position at ``t`` (``alignment.at_time``), or its latest fix."""
        history = self._history.get(d)
        if history:
            return alignment.at_time(history, t)
        return self._position_of(d)
