"""Raise and clear: the state change of one zone or one BAR rule, and what its event says.

Both paths end here: the record path (records.py) and the vectorised fix path (fixes.py,
fixes_once.py) decide *which* rules change state; ``_zone_step`` and ``_prox_step`` flip the
state and write the event's detail, so both paths write the same events.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from vigie.detect import certainty, proximity
from vigie.detect.devices import NEVER
from vigie.detect.engine.arrays import Floats, Ints
from vigie.detect.engine.state import EngineState, _deg, _m
from vigie.detect.events import AlarmEvent, iso_of
from vigie.detect.geodesy import distance_m
from vigie.detect.zones import Zone, forbidden_depth


class RuleSteps(EngineState):
    """The zone and BAR state machines' transitions, one rule at a time."""

    @staticmethod
    def _zone_type(zone: Zone) -> str:
        return "exclusion" if zone.exclusion else "inclusion"

    def _zone_steps(
        self,
        steps: Ints,
        zf: Ints,
        zr: Ints,
        zc: NDArray[np.int8],
        t: Ints,
        la: Floats,
        lo: Floats,
        ac: Floats,
        out: list[AlarmEvent],
    ) -> None:
        """Apply a batch's zone transitions (``arrays.transitions``) in order, their exact depths
        taken for all at once: the columns are read out once, no shapely call per event."""
        if not len(steps):
            return
        f, rules = zf[steps], zr[steps]
        depths = self._zone_table.depths(rules, la[f], lo[f]).tolist()
        columns = zip(
            rules.tolist(),
            zc[steps].tolist(),
            t[f].tolist(),
            la[f].tolist(),
            lo[f].tolist(),
            ac[f].tolist(),
            depths,
            strict=True,
        )
        for i, code, ft, flat, flon, facc, depth in columns:
            self._zone_step(i, code, ft, depth, (ft, flat, flon, facc), out)

    def _zone_step(
        self,
        i: int,
        code: int,
        at: int,
        depth: float,
        fix: tuple[int, float, float, float],
        out: list[AlarmEvent],
    ) -> None:
        zone = self._zones[i]
        d = self._devices.index[zone.device]
        detail: dict[str, Any] = {
            "zone": zone.zone_id,
            "zone_type": self._zone_type(zone),
            "depth_m": _m(forbidden_depth(zone, depth)),
            "accuracy_m": _m(fix[3]),
        }
        if code == certainty.RAISE and not self._zone_raised[i]:
            self._zone_raised[i] = True
            self._zone_raised_t[i] = at
            detail.update({"lat": _deg(fix[1]), "lon": _deg(fix[2]), "fix_t": iso_of(fix[0])})
            self._emit(out, at, d, zone.kind, "raised", detail)
        elif code == certainty.CLEAR and self._zone_raised[i]:
            self._zone_raised[i] = False
            detail["reason"] = "fix"
            self._emit(out, max(at, int(self._zone_raised_t[i])), d, zone.kind, "cleared", detail)

    def _prox_step(
        self,
        j: int,
        code: int,
        dist: float,
        at: int,
        wearer: tuple[int, float, float, float],
        target: tuple[int, float, float, float],
        out: list[AlarmEvent],
    ) -> None:
        """Apply a BAR code; ``dist`` is the distance that decided it (shown in the detail)."""
        rule = self._prox[j]
        d = self._devices.index[rule.wearer]
        u = wearer[3] + target[3]
        detail: dict[str, Any] = {
            "distance_m": _m(dist),
            "uncertainty_m": _m(u),
            "threshold_m": _m(rule.threshold_m),
            "target": rule.target,
            "target_kind": "device" if rule.target_is_device else "place",
        }
        if code == certainty.RAISE and not self._prox_raised[j]:
            self._prox_raised[j] = True
            self._prox_raised_t[j] = at
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
            self._emit(out, at, d, rule.kind, "raised", detail)
        elif code == certainty.CLEAR and self._prox_raised[j]:
            self._prox_raised[j] = False
            self._emit(out, max(at, int(self._prox_raised_t[j])), d, rule.kind, "cleared", detail)

    def _prox_code(
        self,
        j: int,
        wearer: tuple[int, float, float, float],
        target: tuple[int, float, float, float],
    ) -> tuple[int, float]:
        dist = distance_m(
            np.array([wearer[1]]),
            np.array([wearer[2]]),
            np.array([target[1]]),
            np.array([target[2]]),
        )
        u = np.array([wearer[3] + target[3]])
        code = proximity.codes(
            dist, u, self._prox_threshold[j : j + 1], self._prox_alert[j : j + 1]
        )
        return int(code[0]), float(dist[0])

    def _target_of(self, j: int) -> tuple[int, float, float, float] | None:
        rule = self._prox[j]
        if not rule.target_is_device:
            return NEVER, rule.place_lat, rule.place_lon, 0.0
        return self._position_of(int(self._prox_target[j]))
