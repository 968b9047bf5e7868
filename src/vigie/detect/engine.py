"""The detection engine: placements, observations and the passing of time in; alarm events out.

Time. Everything runs on event time (the device's fix time), in epoch milliseconds. The
engine's *clock* is a watermark: the latest event time it has processed (observations and
ticks alike). A batch given to ``process`` is ordered by ``t`` first, ties kept in the order
given (file order in replay). Timers (loss of signal, a window opening or closing, an absence
grace running out) fire when the clock passes them, stamped with their own instant, not the
instant of the record that moved the clock: before a record at ``t`` every timer due strictly
before ``t`` fires; timers due exactly at ``t`` fire after the records at ``t`` (a bracelet
reported present at 20:00 is not absent when the 20:00 window opens). At the end of a batch
every timer due at or before the clock has fired.

Late observations. With ``allowed_lateness_s`` (default 0) the engine holds records in a
reorder buffer and only processes those at or before ``newest seen - lateness``; a device that
stored fixes offline and uploads them within that delay gives exactly the alarms of an
in-order replay (``flush()`` releases the rest). An observation older than the clock (beyond
the lateness) is still applied, never dropped, in event-time order within its batch, against
the current state, stamped with its own ``t``; a ``cleared`` is never stamped before the
``raised`` of its episode, and timers that already fired are not re-run (the loss of signal
of a device that went silent was real for the centre, and stays reported). A report older
than the device's latest report of the same type (fix, tamper, battery, power, presence) is
*superseded*: it counts as a sign of life but does not overwrite the newer state; if a
superseded fix or tamper opening shows a breach that is not currently raised, the engine
reports that past episode as ``raised`` at its own time and ``cleared`` at the newer report's
time (``reason: superseded``), so a breach seen late is never silently lost.

Signal. A device of a placement is watched for loss of signal from its first *periodic*
report (position, battery or presence: the kinds devices send on a timer; the replay format
gives placements no start time). A device that only ever reports events (tamper, power), like
the RF bracelet of a home-detention kit that speaks through its home unit, is not expected to
report on its own and is not watched until it sends a periodic report. ``signal_lost`` is
raised at ``last heard + signal_timeout_s`` and cleared by any observation of that device;
a device is *heard* at its observation's time, or at the clock when the observation arrives
late (a buffered upload ends the silence when it arrives and restarts the timer from then).

Placements. ``add_placement`` with an existing case id replaces its obligations: rules kept
(same zone id, same BAR target and level) keep their state; an alarm raised by a rule that
disappears is cleared (``reason: obligation_removed``) at the clock, with the next batch's
events. A device serves one case at a time.
"""

from __future__ import annotations

import heapq
import json
import math
import zlib
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vigie.detect import battery, certainty, power, proximity, tamper
from vigie.detect.devices import COLUMNS, NEVER, DeviceTable
from vigie.detect.events import AlarmEvent, iso_of, ordered, utc_of
from vigie.detect.geodesy import DEG, A, distance_m, metres_per_degree
from vigie.detect.presence import Absence
from vigie.detect.proximity import Proximity
from vigie.detect.scenario import (
    Battery,
    PlacementSpec,
    Position,
    Power,
    Presence,
    Record,
    ScenarioError,
    Tamper,
    Tick,
    parse_event,
    parse_placement,
)
from vigie.detect.schedule import NEVER_ENDS, WeeklySchedule
from vigie.detect.zones import Zone, ZoneTable, compile_zone, evaluate_one, forbidden_depth

Ints = NDArray[np.int64]
Floats = NDArray[np.float64]
SNAPSHOT_FORMAT = "vigie.detect.snapshot"
SNAPSHOT_VERSION = 1
_FAR = 2**62
_RULE_KEYS = ("zone", "zone_type", "target", "target_kind")


def _m(value: float) -> float:
    return round(float(value), 1)


def _deg(value: float) -> float:
    return round(float(value), 6)


@dataclass(slots=True)
class Case:
    """One placement, compiled: its devices (indices), rules and settings."""

    case_id: str
    raw: dict[str, Any]
    spec: PlacementSpec
    wearer: int
    home_unit: int | None
    protected: int | None
    absence: Absence | None
    zones: list[Zone]
    proximity: list[Proximity]
    # The record as snapshot JSON, made once: placements rarely change, snapshots come at every
    # pipeline step, and their zone coordinates were most of each snapshot's encoding time.
    raw_json: str | None = None

    def devices(self) -> list[int]:
        """Indices of every device of the placement."""
        return [d for d in (self.wearer, self.home_unit, self.protected) if d is not None]

    def snapshot_json(self) -> str:
        if self.raw_json is None:
            self.raw_json = _canonical(self.raw)
        return self.raw_json


def _canonical(value: Any) -> str:
    """The snapshot's JSON form: sorted keys, no spaces, no NaN (restore is exact)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def _csr(rule_device: Ints, n_devices: int) -> tuple[Ints, Ints]:
    order = np.argsort(rule_device, kind="stable").astype(np.int64)
    counts = np.bincount(rule_device, minlength=n_devices).astype(np.int64)
    ptr = np.zeros(n_devices + 1, dtype=np.int64)
    np.cumsum(counts, out=ptr[1:])
    return ptr, order


def _expand(ptr: Ints, idx: Ints, dev: Ints) -> tuple[Ints, Ints]:
    """(fix position, rule) pairs for every fix and every rule of its device."""
    starts = ptr[dev]
    counts = ptr[dev + 1] - starts
    total = int(counts.sum())
    if total == 0:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty
    fix = np.repeat(np.arange(len(dev), dtype=np.int64), counts)
    offsets = np.arange(total, dtype=np.int64) - np.repeat(np.cumsum(counts) - counts, counts)
    return fix, idx[np.repeat(starts, counts) + offsets]


_K_NORTH_MIN = float(metres_per_degree(0.0)[0])  # a degree of latitude is shortest at the equator
_REACH_SLACK_M = 1.0


def _prox_may_raise(
    w_lat: Floats,
    w_lon: Floats,
    p_lat: Floats,
    p_lon: Floats,
    u: Floats,
    reach: Floats,
    top: float,
) -> NDArray[np.bool_]:
    """False where a wearer is surely beyond a pre-alert's reach (``reach + u``) of a target.

    A lower bound of ``distance_m``: its north scale is at least the equator's, its east scale
    at least ``a cos(top)``, ``top`` being at least every latitude involved (the prime vertical
    radius is never below the semi-major axis). Squares, no roots: a few operations a pair.
    """
    k_east = A * DEG * math.cos(math.radians(min(top, 90.0)))
    dlon = np.abs(w_lon - p_lon)
    np.minimum(dlon, 360.0 - dlon, out=dlon)
    dlon *= k_east
    dlon *= dlon
    dlat = w_lat - p_lat
    dlat *= _K_NORTH_MIN
    dlat *= dlat
    dlon += dlat
    limit = reach + u
    limit *= limit
    return np.asarray(dlon <= limit)


def _transitions(raised: NDArray[np.bool_], rule: Ints, pos: Ints, code: NDArray[np.int8]) -> Ints:
    """Pairs (as indices into the inputs) where a rule's state changes, in (rule, pos) order.

    A rule can only change state if one of its codes disagrees with its current state, so
    the sort runs only over the few rules that have such a code.
    """
    disagree = (code != 0) & ((code > 0) != raised[rule])
    if not disagree.any():
        return np.zeros(0, dtype=np.int64)
    touched = np.zeros(len(raised), dtype=bool)
    touched[rule[disagree]] = True
    keep = np.flatnonzero(touched[rule])
    o = keep[np.lexsort((pos[keep], rule[keep]))]
    r, c = rule[o], code[o]
    n = len(r)
    at = np.arange(n, dtype=np.int64)
    starts = np.ones(n, dtype=bool)
    starts[1:] = r[1:] != r[:-1]
    group_first = np.maximum.accumulate(np.where(starts, at, 0))
    last = np.maximum.accumulate(np.where(c != 0, at, -1))
    initial = raised[r]
    state = np.where(last >= group_first, c[np.maximum(last, 0)] > 0, initial)
    before = np.empty(n, dtype=bool)
    before[1:] = state[:-1]
    before[starts] = initial[starts]
    return np.asarray(o[np.flatnonzero(state != before)], dtype=np.int64)


class Engine:
    """The stateful, deterministic detection engine (see the module docstring for time)."""

    def __init__(self, *, allowed_lateness_s: float = 0.0) -> None:
        if not allowed_lateness_s >= 0:
            raise ValueError("allowed_lateness_s must be >= 0")
        self._lateness_ms = round(allowed_lateness_s * 1000)
        self._devices = DeviceTable()
        self._cases: dict[str, Case] = {}
        self._clock: int | None = None
        self._heap: list[tuple[int, int, tuple[str, str, str]]] = []
        self._scheduled: dict[tuple[str, str, str], int] = {}
        self._heap_seq = 0
        self._signal_next = _FAR
        self._pending: list[AlarmEvent] = []
        self._buffer: list[tuple[int, int, Record]] = []
        self._max_seen: int | None = None
        self._arrivals = 0
        self.unassigned_observations = 0
        self._dirty = True
        self._zones: list[Zone] = []
        self._zone_index: dict[tuple[str, str], int] = {}
        self._zone_raised = np.zeros(0, dtype=bool)
        self._zone_raised_t = np.zeros(0, dtype=np.int64)
        self._zone_active = np.zeros(0, dtype=bool)
        self._zone_known = np.zeros(0, dtype=bool)
        self._prox: list[Proximity] = []
        self._prox_index: dict[tuple[str, str, str], int] = {}
        self._prox_raised = np.zeros(0, dtype=bool)
        self._prox_raised_t = np.zeros(0, dtype=np.int64)

    # ------------------------------------------------------------------ placements

    def add_placement(self, placement: dict[str, Any]) -> None:
        """Add (or replace, same case id) a placement record; ScenarioError names the field."""
        spec = parse_placement(placement)
        self._check_shape(spec)
        roles = {"wearer": spec.wearer, "home_unit": spec.home_unit, "protected": spec.protected}
        seen: dict[str, str] = {}
        for role, device in roles.items():
            if device is None:
                continue
            if device in seen:
                raise ScenarioError(f"device {device!r} is already the {seen[device]}", field=role)
            seen[device] = role
            owner = (
                self._devices.case[self._devices.index[device]]
                if (device in self._devices.index)
                else None
            )
            if owner is not None and owner != spec.case:
                raise ScenarioError(f"device {device!r} already serves case {owner!r}", field=role)
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
            if self._devices.last_seen[d] != NEVER:
                self._signal_next = min(
                    self._signal_next, int(self._devices.last_seen[d] + self._devices.timeout[d])
                )
        self._cases[spec.case] = case
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
    def _check_shape(spec: PlacementSpec) -> None:
        if spec.measure in ("ddse", "arse"):
            if spec.home_unit is None:
                raise ScenarioError(
                    f"a {spec.measure} placement needs a home unit", field="home_unit"
                )
            if not spec.schedule:
                raise ScenarioError(f"a {spec.measure} placement needs its hours", field="schedule")
        if spec.schedule and spec.home_unit is None:
            raise ScenarioError("assigned hours need a home unit to check them", field="home_unit")
        if spec.measure == "bar":
            if spec.alert_distance_km is None:
                raise ScenarioError(
                    "a bar placement needs its alert distance", field="alert_distance_km"
                )
            if spec.protected is None and not spec.protected_places:
                raise ScenarioError(
                    "a bar placement needs a protected device or place", field="protected"
                )
        elif spec.alert_distance_km is None and (spec.protected or spec.protected_places):
            raise ScenarioError(
                "a protected person needs an alert distance", field="alert_distance_km"
            )
        ids = [z.id for z in spec.zones]
        if len(set(ids)) != len(ids):
            raise ScenarioError("zone ids must be unique within a placement", field="zones")
        places = [p.id for p in spec.protected_places]
        if len(set(places)) != len(places) or (spec.protected in places):
            raise ScenarioError("protected place ids must be unique", field="protected_places")

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

    # ------------------------------------------------------------------ rule tables

    def _refresh(self) -> None:
        """Rebuild the columnar rule tables after placements changed, keeping rule state."""
        if not self._dirty:
            return
        self._dirty = False
        t = self._clock
        old_zone = {
            (z.case, z.zone_id): (
                z,
                bool(self._zone_raised[i]),
                int(self._zone_raised_t[i]),
                bool(self._zone_active[i]),
                bool(self._zone_known[i]),
            )
            for i, z in enumerate(self._zones)
        }
        old_prox = {
            (p.case, p.target, p.kind): (p, bool(self._prox_raised[i]), int(self._prox_raised_t[i]))
            for i, p in enumerate(self._prox)
        }
        zones = [z for c in self._cases.values() for z in c.zones]
        prox = [p for c in self._cases.values() for p in c.proximity]
        self._zones, self._prox = zones, prox
        self._zone_index = {(z.case, z.zone_id): i for i, z in enumerate(zones)}
        self._prox_index = {(p.case, p.target, p.kind): i for i, p in enumerate(prox)}
        self._zone_raised = np.zeros(len(zones), dtype=bool)
        self._zone_raised_t = np.zeros(len(zones), dtype=np.int64)
        self._zone_active = np.ones(len(zones), dtype=bool)
        self._zone_known = np.zeros(len(zones), dtype=bool)
        for key, i in self._zone_index.items():
            zstate = old_zone.pop(key, None)
            if zstate is not None:
                _, self._zone_raised[i], self._zone_raised_t[i], active, known = zstate
                self._zone_active[i], self._zone_known[i] = active, known
                if known and self._zones[i].schedule is not None and t is not None:
                    self._schedule_zone(i, t)
            elif t is not None:
                self._init_zone(i, t)
        self._prox_raised = np.zeros(len(prox), dtype=bool)
        self._prox_raised_t = np.zeros(len(prox), dtype=np.int64)
        for pkey, i in self._prox_index.items():
            pstate = old_prox.pop(pkey, None)
            if pstate is not None:
                _, self._prox_raised[i], self._prox_raised_t[i] = pstate
        when = utc_of(t if t is not None else 0)
        for zone, raised, *_ in old_zone.values():
            self._scheduled.pop(("zone", zone.case, zone.zone_id), None)
            if raised:
                self._pending.append(
                    AlarmEvent(
                        when,
                        zone.case,
                        zone.kind,
                        "cleared",
                        zone.device,
                        {"reason": "obligation_removed", "zone": zone.zone_id},
                    )
                )
        for rule, raised, _ in old_prox.values():
            if raised:
                self._pending.append(
                    AlarmEvent(
                        when,
                        rule.case,
                        rule.kind,
                        "cleared",
                        rule.wearer,
                        {"reason": "obligation_removed", "target": rule.target},
                    )
                )
        n = len(self._devices)
        dev = self._devices.index
        self._zone_table = ZoneTable(zones)
        self._zone_device = np.array([dev[z.device] for z in zones], dtype=np.int64)
        self._zone_ptr, self._zone_order = _csr(self._zone_device, n)
        self._prox_wearer = np.array([dev[p.wearer] for p in prox], dtype=np.int64)
        self._prox_target = np.array(
            [dev[p.target] if p.target_is_device else -1 for p in prox], dtype=np.int64
        )
        self._prox_place = np.array(
            [(p.place_lat, p.place_lon) for p in prox], dtype=np.float64
        ).reshape(len(prox), 2)
        self._prox_threshold = np.array([p.threshold_m for p in prox], dtype=np.float64)
        self._prox_alert = np.array([p.kind == "alert" for p in prox], dtype=bool)
        # The fast path works per (wearer, target): both levels share one distance.
        levels: dict[tuple[str, str], list[int]] = {}
        for j, rule in enumerate(prox):
            levels.setdefault((rule.case, rule.target), [-1, -1])[rule.kind == "alert"] = j
        rows = np.array(list(levels.values()), dtype=np.int64).reshape(len(levels), 2)
        self._row_pre, self._row_alert = rows[:, 0], rows[:, 1]
        self._row_wearer = self._prox_wearer[self._row_alert]
        self._row_target = self._prox_target[self._row_alert]
        self._row_place = self._prox_place[self._row_alert]
        self._row_is_place = self._row_target < 0
        self._row_reach = self._prox_threshold[self._row_pre] + _REACH_SLACK_M
        self._row_devices = np.unique(
            np.concatenate([self._row_wearer, self._row_target[~self._row_is_place]])
        )
        self._all_row_devices_fixed = False
        places = self._row_place[self._row_is_place, 0]
        self._row_place_top = float(np.abs(places).max()) if len(places) else 0.0
        self._row_w_ptr, self._row_w_order = _csr(self._row_wearer, n)
        moving = np.flatnonzero(self._row_target >= 0)
        self._row_t_ptr, order = _csr(self._row_target[moving], n)
        self._row_t_order = moving[order].astype(np.int64)
        self._zones_of: dict[int, list[int]] = {}
        for i, d in enumerate(self._zone_device.tolist()):
            self._zones_of.setdefault(d, []).append(i)
        self._prox_of_wearer: dict[int, list[int]] = {}
        self._prox_of_target: dict[int, list[int]] = {}
        for i, (w, tg) in enumerate(
            zip(self._prox_wearer.tolist(), self._prox_target.tolist(), strict=True)
        ):
            self._prox_of_wearer.setdefault(w, []).append(i)
            if tg >= 0:
                self._prox_of_target.setdefault(tg, []).append(i)

    # ------------------------------------------------------------------ timers

    def _schedule(self, key: tuple[str, str, str], due: int | None) -> None:
        if due is None:
            self._scheduled.pop(key, None)
            return
        if self._scheduled.get(key) == due:
            return
        self._scheduled[key] = due
        self._heap_seq += 1
        heapq.heappush(self._heap, (due, self._heap_seq, key))

    def _next_timer(self) -> int | None:
        while self._heap:
            due, _, key = self._heap[0]
            if self._scheduled.get(key) == due:
                return due
            heapq.heappop(self._heap)
        return None

    def _fire_timers(self, until: int, inclusive: bool, out: list[AlarmEvent]) -> None:
        while True:
            due = self._next_timer()
            if due is None or due > until or (due == until and not inclusive):
                return
            _, _, key = heapq.heappop(self._heap)
            del self._scheduled[key]
            if key[0] == "absence":
                self._absence_timer(key[1], due, out)
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

    def _position_of(self, d: int) -> tuple[int, float, float, float] | None:
        dv = self._devices
        if dv.fix_t[d] == NEVER:
            return None
        return int(dv.fix_t[d]), float(dv.lat[d]), float(dv.lon[d]), float(dv.acc[d])

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

    # ------------------------------------------------------------------ emitting

    def _emit(
        self,
        out: list[AlarmEvent],
        t: int,
        d: int,
        kind: str,
        state: str,
        detail: dict[str, Any],
        case: str | None = None,
    ) -> None:
        owner = case if case is not None else self._devices.case[d]
        assert owner is not None
        out.append(AlarmEvent(utc_of(t), owner, kind, state, self._devices.ids[d], detail))

    # ------------------------------------------------------------------ absence and zone timers

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

    # ------------------------------------------------------------------ proximity (BAR)

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

    # ------------------------------------------------------------------ applying records

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

    def _apply(self, record: Record, out: list[AlarmEvent]) -> None:
        if isinstance(record, Tick):
            return
        d = self._devices.index.get(record.device)
        if d is None or self._devices.case[d] is None:
            self.unassigned_observations += 1
            return
        self._sign_of_life(d, record.t_ms, out, isinstance(record, Position | Presence | Battery))
        if isinstance(record, Position):
            self._apply_position(d, record.t_ms, record.lat, record.lon, record.accuracy_m, out)
        elif isinstance(record, Presence):
            self._apply_presence(d, record, out)
        elif isinstance(record, Tamper):
            self._apply_tamper(d, record, out)
        elif isinstance(record, Battery):
            self._apply_battery(d, record, out)
        else:
            self._apply_power(d, record, out)

    def _apply_position(
        self, d: int, t: int, lat: float, lon: float, acc: float, out: list[AlarmEvent]
    ) -> None:
        dv = self._devices
        fix = (t, lat, lon, acc)
        if t < dv.fix_t[d]:
            self._superseded_position(d, fix, int(dv.fix_t[d]), out)
            return
        dv.fix_t[d], dv.lat[d], dv.lon[d], dv.acc[d] = t, lat, lon, acc
        for i in self._zones_of.get(d, ()):
            if self._zone_active[i]:
                code, depth = evaluate_one(self._zones[i], lat, lon, acc)
                self._zone_step(i, code, t, depth, fix, out)
        for j in self._prox_of_wearer.get(d, ()):
            target = self._target_of(j)
            if target is not None:
                code, dist = self._prox_code(j, fix, target)
                self._prox_step(j, code, dist, t, fix, target, out)
        for j in self._prox_of_target.get(d, ()):
            wearer = self._position_of(int(self._prox_wearer[j]))
            if wearer is not None:
                code, dist = self._prox_code(j, wearer, fix)
                self._prox_step(j, code, dist, t, wearer, fix, out)

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
        Fix = tuple[int, float, float, float]
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

    def _apply_presence(self, d: int, record: Presence, out: list[AlarmEvent]) -> None:
        case_id = self._devices.case[d]
        assert case_id is not None
        case = self._cases[case_id]
        a = case.absence
        if a is None or case.home_unit != d:
            return
        if a.presence_t is not None and record.t_ms < a.presence_t:
            return  # superseded by a newer presence report: a sign of life only
        a.presence_t = record.t_ms
        if record.present:
            if a.raised:
                a.raised = False
                a.settled_until = record.t_ms
                self._emit(
                    out,
                    max(record.t_ms, a.raised_t),
                    case.wearer,
                    "absence",
                    "cleared",
                    {"reason": "present", "home_unit": record.device, "present": True},
                )
            a.present = True
        elif a.present is not False:
            a.present = False
            a.absent_since = record.t_ms
            a.settled_until = record.t_ms
        self._schedule(("absence", case_id, ""), a.next_due())

    def _apply_tamper(self, d: int, record: Tamper, out: list[AlarmEvent]) -> None:
        rep = self._devices.reports[d]
        t = record.t_ms
        if t < rep.tamper_t:
            if record.what in tamper.OPENINGS and not rep.tamper_open:
                self._emit(out, t, d, "tamper", "raised", {"what": record.what})
                self._emit(out, rep.tamper_t, d, "tamper", "cleared", {"reason": "superseded"})
            return
        rep.tamper_t = t
        before = rep.tamper_open
        rep.tamper_open = tamper.open_after(before, record.what)
        if rep.tamper_open and not before:
            rep.tamper_raised_t = t
            self._emit(out, t, d, "tamper", "raised", {"what": record.what})
        elif before and not rep.tamper_open:
            self._emit(
                out, max(t, rep.tamper_raised_t), d, "tamper", "cleared", {"what": record.what}
            )

    def _apply_battery(self, d: int, record: Battery, out: list[AlarmEvent]) -> None:
        rep = self._devices.reports[d]
        if record.t_ms < rep.battery_t:
            return
        rep.battery_t = record.t_ms
        case_id = self._devices.case[d]
        assert case_id is not None
        threshold = self._cases[case_id].spec.low_battery
        low = battery.low_after(rep.battery_low, record.level, threshold)
        if low != rep.battery_low:
            rep.battery_low = low
            self._emit(
                out,
                record.t_ms,
                d,
                "low_battery",
                "raised" if low else "cleared",
                {"level": round(record.level, 3), "threshold": round(threshold, 3)},
            )

    def _apply_power(self, d: int, record: Power, out: list[AlarmEvent]) -> None:
        rep = self._devices.reports[d]
        if record.t_ms < rep.power_t:
            return
        rep.power_t = record.t_ms
        on_battery = power.on_battery_after(record.mains)
        if on_battery != rep.on_battery:
            rep.on_battery = on_battery
            self._emit(
                out,
                record.t_ms,
                d,
                "power",
                "raised" if on_battery else "cleared",
                {"mains": record.mains},
            )

    # ------------------------------------------------------------------ the record path

    def process(self, records: Iterable[dict[str, Any]]) -> list[AlarmEvent]:
        """Apply replay-format ``obs`` and ``tick`` records; the alarm events they cause."""
        parsed: list[Record] = []
        for number, record in enumerate(records, start=1):
            try:
                parsed.append(parse_event(record))
            except ScenarioError as exc:
                raise ScenarioError(
                    f"record {number} of the batch: {exc.reason}", field=exc.field
                ) from exc
        return self.process_parsed(parsed)

    def process_parsed(self, records: list[Record]) -> list[AlarmEvent]:
        """``process`` for records already parsed (the replay command's path)."""
        self._refresh()
        out = self._take_pending()
        if self._lateness_ms == 0 and not self._buffer:
            self._run(records, None, out)
            return ordered(out)
        for record in records:
            self._arrivals += 1
            heapq.heappush(self._buffer, (record.t_ms, self._arrivals, record))
            if self._max_seen is None or record.t_ms > self._max_seen:
                self._max_seen = record.t_ms
        if self._max_seen is not None:
            self._release(self._max_seen - self._lateness_ms, out)
        return ordered(out)

    def flush(self) -> list[AlarmEvent]:
        """Release every buffered record (end of a replay or of a shift with lateness)."""
        self._refresh()
        out = self._take_pending()
        if self._max_seen is not None:
            self._release(self._max_seen, out)
        return ordered(out)

    def _release(self, watermark: int, out: list[AlarmEvent]) -> None:
        ready: list[Record] = []
        while self._buffer and self._buffer[0][0] <= watermark:
            ready.append(heapq.heappop(self._buffer)[2])
        self._run(ready, watermark, out)

    def _take_pending(self) -> list[AlarmEvent]:
        pending, self._pending = self._pending, []
        return pending

    def _run(self, records: list[Record], until: int | None, out: list[AlarmEvent]) -> None:
        if not records and until is None:
            return
        order = sorted(range(len(records)), key=lambda k: records[k].t_ms)
        for k in order:
            record = records[k]
            self._advance(record.t_ms, out)
            self._apply(record, out)
        end = max([records[k].t_ms for k in order[-1:]] + ([until] if until is not None else []))
        self._finish(end, out)

    # ------------------------------------------------------------------ the columnar fast path

    def process_positions(
        self,
        device: NDArray[np.int32],
        t_ms: NDArray[np.int64],
        lat: NDArray[np.float64],
        lon: NDArray[np.float64],
        accuracy_m: NDArray[np.float64],
    ) -> list[AlarmEvent]:
        """A micro-batch of GPS fixes, vectorized; the same events as ``process`` would give.

        Geometry, distances, signal gaps and rule state machines run as array operations over
        the whole batch; Python only runs where a rule's state changes, at timers (a window
        opening inside the batch splits it) and for superseded fixes (rare, late uploads).
        """
        dev = np.asarray(device).astype(np.int64)
        t = np.asarray(t_ms, dtype=np.int64)
        la = np.asarray(lat, dtype=np.float64)
        lo = np.asarray(lon, dtype=np.float64)
        ac = np.asarray(accuracy_m, dtype=np.float64)
        self._check_columns(dev, t, la, lo, ac)
        if self._lateness_ms or self._buffer:
            ids = self._devices.ids
            records: list[Record] = [
                Position(ids[d], ti, a, o, c)
                for d, ti, a, o, c in zip(
                    dev.tolist(), t.tolist(), la.tolist(), lo.tolist(), ac.tolist(), strict=True
                )
            ]
            return self.process_parsed(records)
        self._refresh()
        out = self._take_pending()
        if len(t) == 0:
            return ordered(out)
        end = int(t.max())
        if self._clock is None:
            self._start_clock(int(t.min()))
        if bool((t[1:] >= t[:-1]).all()):
            # Already in time order (a feed's usual micro-batch): no sort, no gathers.
            assigned = self._devices.assigned[dev]
            if not assigned.all():
                self.unassigned_observations += int((~assigned).sum())
                dev, t, la, lo, ac = (
                    dev[assigned],
                    t[assigned],
                    la[assigned],
                    lo[assigned],
                    ac[assigned],
                )
            if len(dev):
                self._positions(None, dev, t, la, lo, ac, out)
        else:
            order = np.argsort(t, kind="stable")
            assigned = self._devices.assigned[dev[order]]
            self.unassigned_observations += int((~assigned).sum())
            order = order[assigned]
            if len(order):
                self._positions(order, dev, t, la, lo, ac, out)
        self._finish(end, out)
        return ordered(out)

    def _check_columns(self, dev: Ints, t: Ints, la: Floats, lo: Floats, ac: Floats) -> None:
        n = len(dev)
        if not all(len(a) == n for a in (t, la, lo, ac)):
            raise ScenarioError("columns must have the same length", field="device")
        if n == 0:
            return
        if dev.min() < 0 or dev.max() >= len(self._devices):
            raise ScenarioError("unknown device index (use device_index())", field="device")
        if not (np.all(np.abs(la) <= 90) and np.all(np.abs(lo) <= 180)):
            raise ScenarioError("latitude or longitude out of range (or NaN)", field="lat")
        if not np.all(np.isfinite(ac) & (ac >= 0)):
            raise ScenarioError("accuracy must be a finite number >= 0", field="accuracy_m")

    def _positions(
        self,
        order: Ints | None,
        dev: Ints,
        t: Ints,
        la: Floats,
        lo: Floats,
        ac: Floats,
        out: list[AlarmEvent],
    ) -> None:
        assert self._clock is not None
        batch_clock = self._clock
        ts = t if order is None else t[order]
        superseded = ts < self._devices.fix_t[dev if order is None else dev[order]]
        stale = np.flatnonzero(superseded)
        i, n = 0, len(ts)
        while i < n:
            due = self._next_timer()
            j = n if due is None else int(np.searchsorted(ts, due, side="right"))
            k = int(np.searchsorted(stale, i))
            if k < len(stale):
                j = min(j, int(stale[k]))
            if j > i:
                sel = slice(i, j) if order is None else order[i:j]
                self._segment(sel, dev, t, la, lo, ac, batch_clock, out)
                self._clock = max(self._clock, int(ts[j - 1]))
                i = j
                continue
            if superseded[i]:
                g = i if order is None else int(order[i])
                self._advance(int(t[g]), out)
                self._apply(
                    Position(
                        self._devices.ids[int(dev[g])],
                        int(t[g]),
                        float(la[g]),
                        float(lo[g]),
                        float(ac[g]),
                    ),
                    out,
                )
                i += 1
                continue
            self._fire_timers(int(ts[i]), False, out)
            self._clock = max(self._clock, int(ts[i]))

    def _segment(
        self,
        sel: Ints | slice,
        dev_all: Ints,
        t_all: Ints,
        la_all: Floats,
        lo_all: Floats,
        ac_all: Floats,
        batch_clock: int,
        out: list[AlarmEvent],
    ) -> None:
        """Fresh fixes in time order with no timer between them: all rules at once."""
        dv = self._devices
        dev, t = dev_all[sel], t_all[sel]
        la, lo, ac = la_all[sel], lo_all[sel], ac_all[sel]
        m = len(dev)
        # One slot past the devices stays -1: a place target (index -1) is never in a batch.
        position_of = np.full(len(dv) + 1, -1, dtype=np.int64)
        at = np.arange(m, dtype=np.int64)
        position_of[dev] = at
        if np.array_equal(position_of[dev], at):
            self._segment_once(dev, t, la, lo, ac, position_of, batch_clock, out)
            return
        # Several fixes of a device: grouped by device, in time order within each device.
        key = dev * (m + 1) + at
        by_dev = np.argsort(key)
        sorted_key = key[by_dev]
        ddev, dt = dev[by_dev], t[by_dev]
        first = np.ones(m, dtype=bool)
        first[1:] = ddev[1:] != ddev[:-1]
        last = np.ones(m, dtype=bool)
        last[:-1] = ddev[1:] != ddev[:-1]

        # Loss of signal between consecutive observations of each device. A fix is heard at
        # its own time, or at the clock if it arrives late.
        heard = np.maximum(dt, batch_clock)
        seen0 = dv.last_seen[ddev]
        previous = np.empty(m, dtype=np.int64)
        previous[1:] = heard[:-1]
        prev = np.where(first, seen0, np.maximum(previous, seen0))
        deadline = prev + dv.timeout[ddev]
        lost_first = first & dv.lost[ddev]
        gap = (prev != NEVER) & ~lost_first & (deadline < dt) & (dt > batch_clock)
        for p in np.flatnonzero(lost_first | gap).tolist():
            d = int(ddev[p])
            if gap[p]:
                if first[p]:
                    fix = self._position_of(d)
                else:
                    q = int(by_dev[p - 1])
                    fix = (int(t[q]), float(la[q]), float(lo[q]), float(ac[q]))
                dv.last_seen[d] = prev[p]
                self._raise_signal(d, int(deadline[p]), fix, out)
            dv.last_seen[d] = prev[p]
            self._sign_of_life(d, int(dt[p]), out)
        ends = ddev[last]
        dv.last_seen[ends] = np.maximum(dv.last_seen[ends], heard[last])
        dv.lost[ends] = False
        self._signal_next = min(
            self._signal_next, int((dv.last_seen[ends] + dv.timeout[ends]).min())
        )

        # Zones.
        zf, zr = _expand(self._zone_ptr, self._zone_order, dev)
        if len(zr):
            keep = self._zone_active[zr]
            zf, zr = zf[keep], zr[keep]
            zc = self._zone_table.codes(zr, la[zf], lo[zf], ac[zf])
            for p in _transitions(self._zone_raised, zr, zf, zc).tolist():
                f, i = int(zf[p]), int(zr[p])
                fix = (int(t[f]), float(la[f]), float(lo[f]), float(ac[f]))
                zone = self._zones[i]
                depth = float(evaluate_one(zone, fix[1], fix[2], fix[3])[1])
                self._zone_step(i, int(zc[p]), fix[0], depth, fix, out)

        # BAR: the other party's position as of each fix (its latest earlier fix).
        wf, wr = _expand(self._row_w_ptr, self._row_w_order, dev)
        tf, tr = _expand(self._row_t_ptr, self._row_t_order, dev)
        if len(wr) or len(tr):

            def as_of(
                other: Ints, pos: Ints
            ) -> tuple[NDArray[np.bool_], Ints, Floats, Floats, Floats]:
                q = np.searchsorted(sorted_key, other * (m + 1) + pos, side="left") - 1
                qc = np.maximum(q, 0)
                here = (q >= 0) & (ddev[qc] == other)
                src = by_dev[qc]
                ot = np.where(here, t[src], dv.fix_t[other])
                return (
                    here | (dv.fix_t[other] != NEVER),
                    ot,
                    np.where(here, la[src], dv.lat[other]),
                    np.where(here, lo[src], dv.lon[other]),
                    np.where(here, ac[src], dv.acc[other]),
                )

            device_target = self._row_target[wr]
            is_place = device_target < 0
            ok_w = is_place.copy()
            pt = np.full(len(wr), NEVER, dtype=np.int64)
            plat, plon = self._row_place[wr, 0], self._row_place[wr, 1]
            pacc = np.zeros(len(wr), dtype=np.float64)
            moving = np.flatnonzero(~is_place)
            if len(moving):
                found, ft, flat, flon, facc = as_of(device_target[moving], wf[moving])
                ok_w[moving], pt[moving], plat[moving], plon[moving], pacc[moving] = (
                    found,
                    ft,
                    flat,
                    flon,
                    facc,
                )
            ok_t, wt, wlat, wlon, wacc = as_of(self._row_wearer[tr], tf)
            # One row per (fix, target): wearer columns then target columns.
            row = np.concatenate([wr[ok_w], tr[ok_t]])
            pos = np.concatenate([wf[ok_w], tf[ok_t]])
            w_t = np.concatenate([t[wf[ok_w]], wt[ok_t]])
            w_lat = np.concatenate([la[wf[ok_w]], wlat[ok_t]])
            w_lon = np.concatenate([lo[wf[ok_w]], wlon[ok_t]])
            w_acc = np.concatenate([ac[wf[ok_w]], wacc[ok_t]])
            p_t = np.concatenate([pt[ok_w], t[tf[ok_t]]])
            p_lat = np.concatenate([plat[ok_w], la[tf[ok_t]]])
            p_lon = np.concatenate([plon[ok_w], lo[tf[ok_t]]])
            p_acc = np.concatenate([pacc[ok_w], ac[tf[ok_t]]])
            dist = distance_m(w_lat, w_lon, p_lat, p_lon)
            u = w_acc + p_acc
            for rule, is_alert in ((self._row_pre[row], False), (self._row_alert[row], True)):
                bc = proximity.codes(
                    dist, u, self._prox_threshold[rule], np.full(len(rule), is_alert)
                )
                for p in _transitions(self._prox_raised, rule, pos, bc).tolist():
                    wearer = (int(w_t[p]), float(w_lat[p]), float(w_lon[p]), float(w_acc[p]))
                    target = (int(p_t[p]), float(p_lat[p]), float(p_lon[p]), float(p_acc[p]))
                    self._prox_step(
                        int(rule[p]),
                        int(bc[p]),
                        float(dist[p]),
                        int(t[pos[p]]),
                        wearer,
                        target,
                        out,
                    )

        # Latest fix of each device.
        src = by_dev[last]
        dv.fix_t[ends], dv.lat[ends], dv.lon[ends], dv.acc[ends] = t[src], la[src], lo[src], ac[src]

    def _segment_once(
        self,
        dev: Ints,
        t: Ints,
        la: Floats,
        lo: Floats,
        ac: Floats,
        position_of: Ints,
        batch_clock: int,
        out: list[AlarmEvent],
    ) -> None:
        """``_segment`` for the usual micro-batch: at most one fix per device, no sort.

        Cheap screens (``ZoneTable.may_raise``, ``_prox_may_raise``) drop the pairs that
        surely cannot change a rule's state, so exact geometry and the state machine only
        run on the few near a line or already raised.
        """
        dv = self._devices
        # Loss of signal: the gap before each fix; a fix is heard at the batch's clock if late.
        heard = np.maximum(t, batch_clock)
        seen0 = dv.last_seen[dev]
        timeout = dv.timeout[dev]
        deadline = seen0 + timeout
        lost = dv.lost[dev]
        gap = (seen0 != NEVER) & (deadline < t) & (t > batch_clock)
        new_seen = np.maximum(seen0, heard)
        for p in np.flatnonzero(lost | gap).tolist():
            d = int(dev[p])
            if gap[p] and not lost[p]:
                self._raise_signal(d, int(deadline[p]), self._position_of(d), out)
            self._sign_of_life(d, int(t[p]), out)
            new_seen[p] = max(int(dv.last_seen[d]), int(heard[p]))
        dv.last_seen[dev] = new_seen
        new_seen += timeout
        self._signal_next = min(self._signal_next, int(new_seen.min()))

        # Zones: per zone when the batch covers most devices, else per fix.
        n_zones = len(self._zones)
        if n_zones:
            raise_at = certainty.breach_raise_depth(ac)
            if n_zones <= 4 * len(dev):
                pos_all = position_of[self._zone_device]
                take = self._zone_table.may_raise(None, la[pos_all], lo[pos_all], raise_at[pos_all])
                take |= self._zone_raised
                take &= self._zone_active
                take &= pos_all >= 0
                zr = np.flatnonzero(take)
                zf = pos_all[zr]
            else:
                zf, zr = _expand(self._zone_ptr, self._zone_order, dev)
                keep = self._zone_active[zr]
                zf, zr = zf[keep], zr[keep]
                keep = self._zone_raised[zr] | self._zone_table.may_raise(
                    zr, la[zf], lo[zf], raise_at[zf]
                )
                zf, zr = zf[keep], zr[keep]
            if len(zr):
                zc = self._zone_table.codes(zr, la[zf], lo[zf], ac[zf])
                for p in _transitions(self._zone_raised, zr, zf, zc).tolist():
                    f, i = int(zf[p]), int(zr[p])
                    fix = (int(t[f]), float(la[f]), float(lo[f]), float(ac[f]))
                    depth = float(evaluate_one(self._zones[i], fix[1], fix[2], fix[3])[1])
                    self._zone_step(i, int(zc[p]), fix[0], depth, fix, out)

        if not len(self._row_alert):
            dv.fix_t[dev], dv.lat[dev], dv.lon[dev], dv.acc[dev] = t, la, lo, ac
            return
        self._prox_once(dev, t, la, lo, ac, position_of, out)

    def _rows_fixed(self) -> bool:
        """True once every device of a BAR row has a fix (then for good: fixes only advance)."""
        if not self._all_row_devices_fixed:
            fix_t = self._devices.fix_t[self._row_devices]
            self._all_row_devices_fixed = not bool((fix_t == NEVER).any())
        return self._all_row_devices_fixed

    def _prox_once(
        self,
        dev: Ints,
        t: Ints,
        la: Floats,
        lo: Floats,
        ac: Floats,
        position_of: Ints,
        out: list[AlarmEvent],
    ) -> None:
        """BAR rows against a batch with one fix per device; stores the batch's fixes.

        A row sees at most two pairs: when both ends are in the batch, the earlier one's fix
        against the other end's previous fix; then both ends' latest fixes, i.e. the device
        table once the batch is stored. A row none of whose pairs can raise
        (``_prox_may_raise``), with neither level raised, cannot change state: only the
        other rows get exact distances, codes and the state machine.
        """
        dv = self._devices
        n = len(dv)
        top = max(float(np.abs(la).max()), float(np.abs(dv.lat[:n]).max()), self._row_place_top)
        touched = self._prox_raised[self._row_pre] | self._prox_raised[self._row_alert]
        pw = position_of[self._row_wearer]
        pt = position_of[self._row_target]
        both = np.flatnonzero((pw >= 0) & (pt >= 0))
        w_first = pw[both] < pt[both]
        first = np.where(w_first, pw[both], pt[both])
        # The end that comes second: its previous fix is still in the device table.
        later = np.where(w_first, self._row_target[both], self._row_wearer[both])
        old_t = dv.fix_t[later]
        known = old_t != NEVER
        if not known.all():
            both, w_first, first, later, old_t = (
                a[known] for a in (both, w_first, first, later, old_t)
            )
        old = (old_t, dv.lat[later], dv.lon[later], dv.acc[later])
        new = (t[first], la[first], lo[first], ac[first])
        may = _prox_may_raise(
            la[first], lo[first], old[1], old[2], ac[first] + old[3], self._row_reach[both], top
        )
        touched[both[may]] = True

        dv.fix_t[dev], dv.lat[dev], dv.lon[dev], dv.acc[dev] = t, la, lo, ac

        last = np.maximum(pw, pt)
        if int(last.min()) >= 0 and self._rows_fixed():
            rows = None  # every row has a fix in the batch and both ends known: no gathers
            wd, td, place, reach = (
                self._row_wearer,
                self._row_target,
                self._row_is_place,
                self._row_reach,
            )
        else:
            rows = np.flatnonzero(last >= 0)
            wd, td, place = self._row_wearer[rows], self._row_target[rows], self._row_is_place[rows]
            ok = (dv.fix_t[wd] != NEVER) & (place | (dv.fix_t[td] != NEVER))
            rows, wd, td, place = rows[ok], wd[ok], td[ok], place[ok]
            reach = self._row_reach[rows]
        p_lat = np.where(
            place, self._row_place[:, 0] if rows is None else self._row_place[rows, 0], dv.lat[td]
        )
        p_lon = np.where(
            place, self._row_place[:, 1] if rows is None else self._row_place[rows, 1], dv.lon[td]
        )
        u = dv.acc[td]
        u[place] = 0.0
        u += dv.acc[wd]
        may = _prox_may_raise(dv.lat[wd], dv.lon[wd], p_lat, p_lon, u, reach, top)
        if rows is None:
            touched |= may
        else:
            touched[rows[may]] = True
        if not touched.any():
            return

        # The few rows that may change: their pairs in full, then the state machine.
        keep_b = np.flatnonzero(touched[both])
        sel = np.flatnonzero(touched) if rows is None else rows[touched[rows]]
        b_new = [c[keep_b] for c in new]
        b_old = [c[keep_b] for c in old]
        wf = w_first[keep_b]
        a_w = self._row_wearer[sel]
        a_t = self._row_target[sel]
        a_place = self._row_is_place[sel]
        a_cols = (
            dv.fix_t[a_w],
            dv.lat[a_w],
            dv.lon[a_w],
            dv.acc[a_w],
            np.where(a_place, NEVER, dv.fix_t[a_t]),
            np.where(a_place, self._row_place[sel, 0], dv.lat[a_t]),
            np.where(a_place, self._row_place[sel, 1], dv.lon[a_t]),
            np.where(a_place, 0.0, dv.acc[a_t]),
        )
        b_cols = [np.where(wf, a, b) for a, b in zip(b_new, b_old, strict=True)] + [
            np.where(wf, b, a) for a, b in zip(b_new, b_old, strict=True)
        ]
        row = np.concatenate([both[keep_b], sel])
        pos = np.concatenate([first[keep_b], np.maximum(pw[sel], pt[sel])])
        w_t, w_lat, w_lon, w_acc, p_t, p_lat, p_lon, p_acc = (
            np.concatenate([b, a]) for b, a in zip(b_cols, a_cols, strict=True)
        )
        dist = distance_m(w_lat, w_lon, p_lat, p_lon)
        u = w_acc + p_acc
        for rule, is_alert in ((self._row_pre[row], False), (self._row_alert[row], True)):
            bc = proximity.codes(dist, u, self._prox_threshold[rule], np.full(len(rule), is_alert))
            for p in _transitions(self._prox_raised, rule, pos, bc).tolist():
                wearer = (int(w_t[p]), float(w_lat[p]), float(w_lon[p]), float(w_acc[p]))
                target = (int(p_t[p]), float(p_lat[p]), float(p_lon[p]), float(p_acc[p]))
                self._prox_step(
                    int(rule[p]), int(bc[p]), float(dist[p]), int(t[pos[p]]), wearer, target, out
                )

    # ------------------------------------------------------------------ snapshot / restore

    def snapshot(self) -> bytes:
        """The whole engine state, versioned JSON compressed with zlib (restore is exact)."""
        self._refresh()
        n = len(self._devices)
        dv = self._devices
        state = {
            "format": SNAPSHOT_FORMAT,
            "version": SNAPSHOT_VERSION,
            "lateness_ms": self._lateness_ms,
            "clock": self._clock,
            "max_seen": self._max_seen,
            "arrivals": self._arrivals,
            "unassigned": self.unassigned_observations,
            "devices": dv.ids,
            "columns": {name: getattr(dv, name)[:n].tolist() for name in COLUMNS},
            "reports": [
                [
                    r.battery_t,
                    r.battery_low,
                    r.tamper_t,
                    sorted(r.tamper_open),
                    r.tamper_raised_t,
                    r.power_t,
                    r.on_battery,
                ]
                for r in dv.reports
            ],
            "placements": None,  # composed below from each case's cached JSON
            "absence": {
                c.case_id: [
                    c.absence.present,
                    c.absence.presence_t,
                    c.absence.absent_since,
                    c.absence.settled_until,
                    c.absence.raised,
                    c.absence.raised_t,
                    c.absence.raised_until,
                ]
                for c in self._cases.values()
                if c.absence is not None
            },
            "zones": [
                [
                    z.case,
                    z.zone_id,
                    bool(self._zone_raised[i]),
                    int(self._zone_raised_t[i]),
                    bool(self._zone_active[i]),
                    bool(self._zone_known[i]),
                ]
                for i, z in enumerate(self._zones)
            ],
            "prox": [
                [p.case, p.target, p.kind, bool(self._prox_raised[i]), int(self._prox_raised_t[i])]
                for i, p in enumerate(self._prox)
            ],
            "pending": [e.to_dict() for e in self._pending],
            "buffer": [
                [tm, seq, _record_dict(r)]
                for tm, seq, r in sorted(self._buffer, key=lambda b: b[:2])
            ],
        }
        placements = "[" + ",".join(c.snapshot_json() for c in self._cases.values()) + "]"
        # Exactly json.dumps(state, sort_keys=True, ...) with the cached placements spliced in.
        text = (
            "{"
            + ",".join(
                f"{_canonical(key)}:{placements if key == 'placements' else _canonical(value)}"
                for key, value in sorted(state.items())
            )
            + "}"
        )
        # Level 1: a pipeline step saves one per step; 6 took three times as long for 20 % less.
        return zlib.compress(text.encode("utf-8"), 1)

    @classmethod
    def restore(cls, data: bytes) -> Engine:
        """An engine continuing exactly where ``snapshot`` left it."""
        try:
            state = json.loads(zlib.decompress(data).decode("utf-8"))
        except (zlib.error, UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"not a detection engine snapshot: {exc}") from exc
        if state.get("format") != SNAPSHOT_FORMAT or state.get("version") != SNAPSHOT_VERSION:
            raise ValueError(
                f"unsupported snapshot format {state.get('format')!r} "
                f"version {state.get('version')!r}"
            )
        engine = cls(allowed_lateness_s=state["lateness_ms"] / 1000)
        dv = engine._devices
        for device in state["devices"]:
            dv.add(device)
        for raw in state["placements"]:
            engine.add_placement(raw)
        n = len(dv)
        for name in COLUMNS:
            getattr(dv, name)[:n] = state["columns"][name]
        for rep, row in zip(dv.reports, state["reports"], strict=True):
            (
                rep.battery_t,
                rep.battery_low,
                rep.tamper_t,
                opened,
                rep.tamper_raised_t,
                rep.power_t,
                rep.on_battery,
            ) = row
            rep.tamper_open = frozenset(opened)
        engine._clock = state["clock"]
        engine._max_seen = state["max_seen"]
        engine._arrivals = state["arrivals"]
        engine.unassigned_observations = state["unassigned"]
        engine._pending = []
        engine._refresh()
        for case_id, row in state["absence"].items():
            a = engine._cases[case_id].absence
            assert a is not None
            (
                a.present,
                a.presence_t,
                a.absent_since,
                a.settled_until,
                a.raised,
                a.raised_t,
                a.raised_until,
            ) = row
            engine._schedule(("absence", case_id, ""), a.next_due())
        for case_id, zone_id, raised, raised_t, active, known in state["zones"]:
            i = engine._zone_index[(case_id, zone_id)]
            engine._zone_raised[i], engine._zone_raised_t[i] = raised, raised_t
            engine._zone_active[i], engine._zone_known[i] = active, known
            if known and engine._zones[i].schedule is not None and engine._clock is not None:
                engine._schedule_zone(i, engine._clock)
        for case_id, target, kind, raised, raised_t in state["prox"]:
            j = engine._prox_index[(case_id, target, kind)]
            engine._prox_raised[j], engine._prox_raised_t[j] = raised, raised_t
        engine._pending = [_event_of(e) for e in state["pending"]]
        engine._buffer = [(tm, seq, parse_event(r)) for tm, seq, r in state["buffer"]]
        heapq.heapify(engine._buffer)
        engine._signal_next = engine._min_deadline()
        return engine


def _record_dict(record: Record) -> dict[str, Any]:
    if isinstance(record, Tick):
        return {"kind": "tick", "t": iso_of(record.t_ms)}
    body: dict[str, Any] = {"kind": "obs", "device": record.device, "t": iso_of(record.t_ms)}
    if isinstance(record, Position):
        body.update(type="position", lat=record.lat, lon=record.lon, accuracy_m=record.accuracy_m)
    elif isinstance(record, Presence):
        body.update(type="presence", present=record.present)
    elif isinstance(record, Tamper):
        body.update(type="tamper", what=record.what)
    elif isinstance(record, Battery):
        body.update(type="battery", level=record.level)
    else:
        body.update(type="power", mains=record.mains)
    return body


def _event_of(data: dict[str, Any]) -> AlarmEvent:
    from datetime import datetime

    return AlarmEvent(
        datetime.fromisoformat(data["t"]),
        data["case"],
        data["kind"],
        data["state"],
        data["device"],
        data["detail"],
    )
