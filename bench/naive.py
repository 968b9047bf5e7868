"""A deliberately naive detector: what field systems do wrong, as a yardstick for the engine.

It reads a replay scenario in file (arrival) order and keeps no history:
- the raw fix is taken as the truth (accuracy ignored), one threshold, no hysteresis;
- it raises and clears on every transition (a fix either side of a line flips the alarm);
- it does not reorder: a buffered old fix arriving late is applied as if it were current;
- absence and presence flip on every home-unit report, without grace.
It writes alarm events of the engine's shape (JSON Lines), so `vigie sim score` scores both.

    python bench/naive.py SCENARIO.jsonl [ALARMS.jsonl]
"""

import json
import sys
from collections.abc import Iterable, Iterator
from typing import Any

import numpy as np
import shapely
from shapely.geometry import shape

from vigie.sim.geography import distance_m
from vigie.sim.records import iso, parse_iso
from vigie.sim.schedule import window_intervals

WEEK_S = 7 * 86_400


class _Windows:
    """Whether a schedule applies at a time, from its UTC windows computed a week at a time."""

    def __init__(self, schedule: list[dict[str, Any]] | None, tz: str) -> None:
        self.schedule, self.tz = schedule, tz
        self._cache: dict[int, list[tuple[int, int]]] = {}

    def applies(self, t: int) -> bool:
        if self.schedule is None:
            return True
        week = t // WEEK_S
        if week not in self._cache:
            self._cache[week] = window_intervals(
                self.schedule, self.tz, week * WEEK_S, (week + 1) * WEEK_S
            )
        return any(s <= t < e for s, e in self._cache[week])


class NaiveDetector:
    """Transitions on raw values, in arrival order."""

    def __init__(self) -> None:
        self.raised: set[tuple[str, str, str]] = set()
        self.events: list[dict[str, Any]] = []
        self.cases_of: dict[str, list[dict[str, Any]]] = {}
        self.last_seen: dict[str, int] = {}
        self.last_fix: dict[str, tuple[float, float]] = {}
        self.present: dict[str, bool] = {}

    def add_placement(self, p: dict[str, Any]) -> None:
        p = dict(p)
        p["_windows"] = _Windows(p.get("schedule"), p.get("tz", "Europe/Paris"))
        for zone in p.get("zones", []):
            g = zone["geometry"]
            if g["type"] == "circle":
                zone["_circle"] = (g["lon"], g["lat"], g["radius_m"])
            else:
                zone["_shape"] = shape(g)
            zone["_windows"] = _Windows(zone.get("schedule"), p.get("tz", "Europe/Paris"))
        for role in ("wearer", "home_unit", "protected"):
            if p.get(role):
                self.cases_of.setdefault(p[role], []).append(p)

    def _set(self, t: int, case: str, kind: str, device: str, on: bool) -> None:
        key = (case, kind, device)
        if on == (key in self.raised):
            return
        if on:
            self.raised.add(key)
        else:
            self.raised.discard(key)
        self.events.append(
            {
                "t": iso(t),
                "case": case,
                "kind": kind,
                "state": "raised" if on else "cleared",
                "device": device,
                "detail": {},
            }
        )

    def observe(self, r: dict[str, Any]) -> None:
        t, device = parse_iso(r["t"]), r["device"]
        self.last_seen[device] = t
        for p in self.cases_of.get(device, []):
            self._set(t, p["case"], "signal_lost", device, False)
            kind = r["type"]
            if kind == "presence":
                self.present[device] = r["present"]
                absent = not r["present"] and p["_windows"].applies(t)
                self._set(t, p["case"], "absence", device, absent)
            elif kind == "tamper":
                self._set(t, p["case"], "tamper", device, r["what"] not in _CLOSINGS)
            elif kind == "power":
                self._set(t, p["case"], "power", device, not r["mains"])
            elif kind == "battery":
                low = r["level"] <= p.get("low_battery", 0.20)
                self._set(t, p["case"], "low_battery", device, low)
            elif kind == "position":
                self._position(t, p, device, r["lon"], r["lat"])

    def _position(self, t: int, p: dict[str, Any], device: str, lon: float, lat: float) -> None:
        self.last_fix[device] = (lon, lat)
        for zone in p.get("zones", []):
            if "_circle" in zone:
                c_lon, c_lat, radius = zone["_circle"]
                inside = bool(distance_m(lon, lat, c_lon, c_lat) <= radius)
            else:
                inside = bool(shapely.contains_xy(zone["_shape"], lon, lat))
            exclusion = zone["type"] == "exclusion"
            breach = (inside if exclusion else not inside) and zone["_windows"].applies(t)
            kind = "zone_entry" if exclusion else "zone_exit"
            self._set(t, p["case"], kind, p["wearer"], breach)
        if p["measure"] == "bar":
            wearer = self.last_fix.get(p["wearer"])
            if wearer is None:
                return
            targets = [(pl["lon"], pl["lat"]) for pl in p.get("protected_places", [])]
            if p["protected"] in self.last_fix:
                targets.append(self.last_fix[p["protected"]])
            if not targets:
                return
            lons = np.array([x for x, _ in targets])
            lats = np.array([y for _, y in targets])
            nearest = float(distance_m(wearer[0], wearer[1], lons, lats).min())
            limit = p["alert_distance_km"] * 1_000
            self._set(t, p["case"], "alert", p["wearer"], nearest <= limit)
            self._set(t, p["case"], "pre_alert", p["wearer"], nearest <= 2 * limit)

    def tick(self, t: int) -> None:
        for device, seen in self.last_seen.items():
            for p in self.cases_of[device]:
                if t - seen >= p.get("signal_timeout_s", 600):
                    self._set(t, p["case"], "signal_lost", device, True)
                if device == p.get("home_unit") and not self.present.get(device, True):
                    self._set(t, p["case"], "absence", device, p["_windows"].applies(t))


_CLOSINGS = frozenset({"restored", "strap_closed", "case_closed"})


def naive_alarms(lines: Iterable[str]) -> Iterator[dict[str, Any]]:
    """Alarm events of the naive detector over a scenario, in the order it emits them."""
    detector = NaiveDetector()
    for line in lines:
        if not line.strip():
            continue
        r = json.loads(line)
        if r["kind"] == "placement":
            detector.add_placement(r)
        elif r["kind"] == "obs":
            detector.observe(r)
        else:
            detector.tick(parse_iso(r["t"]))
        yield from detector.events
        detector.events.clear()


def main(argv: list[str]) -> int:
    """Command-line entry: scenario in, alarms out (stdout by default)."""
    if len(argv) not in (1, 2):
        print(__doc__, file=sys.stderr)
        return 2
    with open(argv[0], encoding="utf-8") as scenario:
        out = open(argv[1], "w", encoding="utf-8") if len(argv) == 2 else sys.stdout  # noqa: SIM115
        try:
            for event in naive_alarms(scenario):
                out.write(json.dumps(event, sort_keys=True, separators=(",", ":")) + "\n")
        finally:
            if out is not sys.stdout:
                out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
