"""Placements in and out: a case's devices, obligations and settings, checked and compiled.

Adding a placement compiles its zones, hours and BAR rules; replacing one (same case id)
keeps the state of the rules it keeps, and clears, with the next batch, the alarms of those
it drops. The columnar tables the batches run on are rebuilt lazily (tables.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from vigie.detect import proximity
from vigie.detect.devices import NEVER
from vigie.detect.engine.case import Case
from vigie.detect.engine.clock import Clock
from vigie.detect.events import AlarmEvent, utc_of
from vigie.detect.presence import Absence
from vigie.detect.proximity import Proximity
from vigie.detect.scenario import (
    PlacementSpec,
    ScenarioError,
    parse_placement,
)
from vigie.detect.schedule import WeeklySchedule
from vigie.detect.zones import Shape, Zone, compile_zone


class Placements(Clock):
    """Cases and their devices: add, replace, remove; which case a device serves."""

    def add_placement(self, placement: dict[str, Any]) -> None:
        """Add (or replace, same case id) a placement record; ScenarioError names the field."""
        compiled = compile_placement(placement)
        spec, seen = compiled.spec, compiled.roles
        for device, role in seen.items():
            owner = (
                self._devices.case[self._devices.index[device]]
                if (device in self._devices.index)
                else None
            )
            if owner is not None and owner != spec.case:
                raise ScenarioError(f"device {device!r} already serves case {owner!r}", field=role)
        zones, absence, rules = compiled.zones, compiled.absence, compiled.rules
        old = self._cases.pop(spec.case, None)
        if old is not None:
            self._release_devices(old, keep=set(seen))
        idx = {role: self._devices.add(device) for device, role in seen.items()}
        case = Case(
            spec.case,
            dict(placement),
            spec,
            idx["wearer"],
            idx.get("home_unit"),
            idx.get("protected"),
            absence,
            zones,
            rules,
        )
        for d in case.devices():
            self._devices.case[d] = spec.case
            self._devices.assigned[d] = True
            self._devices.timeout[d] = round(spec.signal_timeout_s * 1000)
            self._devices.hidden[d] = d == case.protected
            self._watch_from_fitting(d, spec.fitted.get(self._devices.ids[d]))
            if self._devices.last_seen[d] != NEVER:
                self._signal_next = min(
                    self._signal_next, int(self._devices.last_seen[d] + self._devices.timeout[d])
                )
        self._cases[spec.case] = case
        self._raise_overdue_silence(case)
        carried = False
        if (
            old is not None
            and old.absence is not None
            and absence is not None
            and (old.home_unit == case.home_unit)
        ):
            self._carry_absence(old.absence, absence)
            carried = True
        if old is not None and old.absence is not None and old.absence.raised and not carried:
            self._pending_clear(old.case_id, "absence", old.wearer)
        self._schedule(("absence", spec.case, ""), absence.next_due() if absence else None)
        self._dirty = True

    def _watch_from_fitting(self, d: int, at: int | None) -> None:
        """A device heard before it became this case's (a bracelet from the shelf, or from a
        measure that ended) is silent for this case from its fitting: it is heard then, so
        its loss of signal is not raised at once, dated from a time it was nobody's or another
        case's. Never heard at all, it stays unwatched until it speaks, as without a fitting
        (a home-detention bracelet speaks only through its home unit). A case added again with
        the same device keeps its silence (fitted before its last word)."""
        if at is None:
            return
        if self._devices.last_seen[d] != NEVER and self._devices.last_seen[d] < at:
            self._devices.last_seen[d] = at

    def _raise_overdue_silence(self, case: Case) -> None:
        """Raise, with the next batch, the loss of signal of a device of the case already
        silent past its timeout when the case comes to be watched (added again after a removal,
        its timeout shortened): dated at its deadline, as its timer would have raised it. Left
        to the timer, a deadline already behind the clock fired only at the end of an engine
        call, so the device's own next fix hid it when it came in the same call and not when
        it came in another: the vectorised and the record paths gave other events."""
        clock = self._clock
        if clock is None:
            return
        dv = self._devices
        for d in case.devices():
            if dv.last_seen[d] == NEVER or dv.lost[d]:
                continue
            deadline = int(dv.last_seen[d] + dv.timeout[d])
            if deadline < clock:
                self._raise_signal(d, deadline, self._position_of(d), self._pending)

    def remove_placement(self, case_id: str) -> None:
        """Drop a case's obligations; its raised alarms are cleared with the next batch."""
        old = self._cases.pop(case_id, None)
        if old is None:
            raise KeyError(f"no placement for case {case_id!r}")
        self._release_devices(old, keep=set())
        if old.absence is not None and old.absence.raised:
            self._pending_clear(case_id, "absence", old.wearer)
        self._scheduled.pop(("absence", case_id, ""), None)
        self._dirty = True

    @staticmethod
    def _carry_absence(old: Absence, new: Absence) -> None:
        new.present, new.presence_t, new.absent_since = (
            old.present,
            old.presence_t,
            old.absent_since,
        )
        new.settled_until = old.settled_until
        new.raised, new.raised_t, new.raised_until = old.raised, old.raised_t, old.raised_until

    def _release_devices(self, old: Case, keep: set[str]) -> None:
        """Unassign the devices a case no longer uses, clearing their raised alarms."""
        t = self._clock if self._clock is not None else 0
        for d in old.devices():
            device = self._devices.ids[d]
            if device in keep:
                continue
            detail = {"reason": "obligation_removed"}
            rep = self._devices.reports[d]
            for kind, on in (
                ("signal_lost", bool(self._devices.lost[d])),
                ("tamper", bool(rep.tamper_open)),
                ("low_battery", rep.battery_low),
                ("power", rep.on_battery),
            ):
                if on:
                    self._pending.append(
                        AlarmEvent(utc_of(t), old.case_id, kind, "cleared", device, dict(detail))
                    )
            self._devices.case[d] = None
            self._devices.assigned[d] = False
            self._devices.lost[d] = False
            self._devices.reports[d] = type(rep)(
                battery_t=rep.battery_t, tamper_t=rep.tamper_t, power_t=rep.power_t
            )

    def _pending_clear(self, case_id: str, kind: str, d: int) -> None:
        t = self._clock if self._clock is not None else 0
        self._pending.append(
            AlarmEvent(
                utc_of(t),
                case_id,
                kind,
                "cleared",
                self._devices.ids[d],
                {"reason": "obligation_removed"},
            )
        )

    @property
    def clock_ms(self) -> int | None:
        """The watermark: the latest event time processed (None before the first record)."""
        return self._clock

    def case_of(self, device_id: str) -> str | None:
        """The case a device serves, or None for a device no placement uses."""
        d = self._devices.index.get(device_id)
        return None if d is None else self._devices.case[d]

    def device_index(self, device_id: str) -> int:
        """Stable small int of a device for ``process_positions`` (added if unknown)."""
        return self._devices.add(device_id)

    def placement(self, case_id: str) -> dict[str, Any] | None:
        """The record a case is watched by (as given to ``add_placement``), or None."""
        case = self._cases.get(case_id)
        return None if case is None else case.raw

    def shapes(self) -> list[Shape]:
        """The compiled zone geometries in use, one per distinct GeoJSON."""
        return list({id(z.shape): z.shape for c in self._cases.values() for z in c.zones}.values())


@dataclass(frozen=True, slots=True)
class Compiled:
    """A placement record checked and compiled, before the engine's devices are looked at."""

    spec: PlacementSpec
    roles: dict[str, str]  # device -> its role in the case
    zones: list[Zone]
    absence: Absence | None
    rules: list[Proximity]


def compile_placement(placement: dict[str, Any]) -> Compiled:
    """Everything `add_placement` checks that needs no other case: the record, its shape (what
    the measure requires), its devices' roles, zones, hours and BAR rules; ScenarioError names
    the field. The API asks it when a placement is saved (`vigie.cases.detection`), so that
    what detection would refuse is refused there, to the supervisor, not found later."""
    spec = parse_placement(placement)
    _check_shape(spec)
    roles = {"wearer": spec.wearer, "home_unit": spec.home_unit, "protected": spec.protected}
    seen: dict[str, str] = {}
    for role, device in roles.items():
        if device is None:
            continue
        if device in seen:
            raise ScenarioError(f"device {device!r} is already the {seen[device]}", field=role)
        seen[device] = role
    zones = [
        compile_zone(z, spec.case, spec.wearer, spec.tz, f"zones.{i}")
        for i, z in enumerate(spec.zones)
    ]
    absence = None
    if spec.schedule:
        schedule = WeeklySchedule.parse(spec.schedule, spec.tz, "schedule")
        absence = Absence(schedule, round(spec.grace_s * 1000))
    rules: list[Proximity] = []
    if spec.alert_distance_km is not None:
        places = [(p.id, p.lat, p.lon) for p in spec.protected_places]
        rules = proximity.rules_for(
            spec.case, spec.wearer, spec.alert_distance_km * 1000, spec.protected, places
        )
    return Compiled(spec, seen, zones, absence, rules)


def _check_shape(spec: PlacementSpec) -> None:
    if spec.measure in ("ddse", "arse"):
        if spec.home_unit is None:
            raise ScenarioError(f"{spec.measure.upper()}: a home unit is needed", field="home_unit")
        if not spec.schedule:
            raise ScenarioError(f"{spec.measure.upper()}: the hours are needed", field="schedule")
    if spec.schedule and spec.home_unit is None:
        raise ScenarioError("assigned hours need a home unit to check them", field="home_unit")
    if spec.measure == "bar":
        if spec.alert_distance_km is None:
            raise ScenarioError("BAR: the alert distance is needed", field="alert_distance_km")
        if spec.protected is None and not spec.protected_places:
            raise ScenarioError("BAR: a protected device or place is needed", field="protected")
    elif spec.alert_distance_km is None and (spec.protected or spec.protected_places):
        raise ScenarioError("a protected person needs an alert distance", field="alert_distance_km")
    ids = [z.id for z in spec.zones]
    if len(set(ids)) != len(ids):
        raise ScenarioError("zone ids must be unique within a placement", field="zones")
    places = [p.id for p in spec.protected_places]
    if len(set(places)) != len(places) or (spec.protected in places):
        raise ScenarioError("protected place ids must be unique", field="protected_places")
