"""Applying one record: the record-by-record path (replay, late data, every kind of report).

``process`` and ``process_parsed`` order a batch by event time, advance the clock before
each record (firing the timers due) and apply it: a sign of life first, then the report's
own rule (``_apply_position``, ``_apply_presence``, ``_apply_tamper``, ``_apply_battery``,
``_apply_power``, ``_apply_sos``). Fixes in bulk take the vectorised path (fixes.py) instead.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from vigie.detect import battery, certainty, plausibility, power, sos, tamper
from vigie.detect.engine.late import LateData
from vigie.detect.engine.state import Fix, _deg, _m
from vigie.detect.events import AlarmEvent, iso_of, ordered
from vigie.detect.geodesy import distance_m
from vigie.detect.scenario import (
    Battery,
    Position,
    Power,
    Presence,
    Record,
    ScenarioError,
    Sos,
    Tamper,
    Tick,
    parse_event,
)
from vigie.detect.zones import evaluate_one, forbidden_depth


class RecordPath(LateData):
    """The batch of records, one at a time, in event-time order."""

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
        elif isinstance(record, Sos):
            self._apply_sos(d, record, out)
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
        # A jump the track makes impossible is held as suspect (plausibility.py).
        prev = self._position_of(d)
        acc = plausibility.effective_one(prev, fix)
        fix = (t, lat, lon, acc)
        dv.fix_t[d], dv.lat[d], dv.lon[d], dv.acc[d] = t, lat, lon, acc
        coarse = False
        for i in self._zones_of.get(d, ()):
            if self._zone_active[i]:
                zone = self._zones[i]
                code, depth = evaluate_one(zone, lat, lon, acc)
                coarse |= acc > certainty.COARSE_M and certainty.too_coarse(
                    forbidden_depth(zone, depth), acc
                )
                self._zone_step(i, code, t, depth, fix, out, prev=prev)
        if d in self._prox_of_wearer or d in self._prox_of_target:
            self._remember(d, fix)
        pairs: list[tuple[int, Fix | None, Fix | None]]
        pairs = [(j, fix, self._target_of(j, t)) for j in self._prox_of_wearer.get(d, ())]
        pairs += [
            (j, self._other_at(int(self._prox_wearer[j]), t), fix)
            for j in self._prox_of_target.get(d, ())
        ]
        for j, wearer, target in pairs:
            if wearer is not None and target is not None:
                code, dist, u = self._prox_code(j, wearer, target)
                # Uncertain against a protected place (fixed); a moving target's own doubt is
                # the pair's, not a reason to ask this device for a fix.
                coarse |= (
                    acc > certainty.COARSE_M
                    and not self._prox[j].target_is_device
                    and certainty.too_coarse(float(self._prox_threshold[j]) - dist, u)
                )
                self._prox_step(j, code, dist, t, wearer, target, out)
        self._note_certainty(d, t, coarse)

    def _note_certainty(self, d: int, t: int, coarse: bool) -> None:
        """Mark the device uncertain (and ask it for a precise fix) or certain again."""
        dv = self._devices
        if coarse and not dv.uncertain[d]:
            self._ask_fix(d, t, "uncertain")
        dv.uncertain[d] = coarse

    def uncertain_devices(self) -> list[str]:
        """Devices whose latest fix was too coarse to decide a rule (``certainty``), sorted."""
        dv = self._devices
        return sorted(dv.ids[d] for d in np.flatnonzero(dv.uncertain[: len(dv)]).tolist())

    def take_fix_requests(self) -> list[tuple[str, int, str]]:
        """The fresh fixes asked of devices since the last call: (device, t ms, reason).

        Reasons: ``uncertain`` (a fix too coarse to decide) and ``confirm`` (a breach held
        for confirmation). Detection stays pure: the centre sends them (gateway commands).
        """
        taken = sorted((device, t, reason) for device, (t, reason) in self._fix_requests.items())
        self._fix_requests = {}
        return taken

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
                self._emit(out, t, d, "tamper", "raised", {"what": record.what}, late=True)
                self._emit(
                    out, rep.tamper_t, d, "tamper", "cleared", {"reason": "superseded"}, late=True
                )
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

    def _apply_sos(self, d: int, record: Sos, out: list[AlarmEvent]) -> None:
        """Every press raises at its own time (see ``vigie.detect.sos``); nothing clears it."""
        case_id = self._devices.case[d]
        assert case_id is not None
        case = self._cases[case_id]
        wearer = self._position_of(case.wearer)
        if d != case.protected:
            where = sos.detail(None, _fix_of(wearer), None)
            self._emit(out, record.t_ms, d, sos.kind_for(False), "raised", where)
            return
        her = self._position_of(d)
        apart = None
        if her is not None and wearer is not None:
            apart = float(distance_m(her[1], her[2], wearer[1], wearer[2]))
        where = sos.detail(_fix_of(her), _fix_of(wearer), apart)
        self._emit(out, record.t_ms, d, sos.kind_for(True), "raised", where)

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
        self._hold(records)
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
        self._run(self._ready(watermark), watermark, out)

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


def _fix_of(fix: tuple[int, float, float, float] | None) -> dict[str, Any] | None:
    """A held fix as event details show one (as the BAR events do)."""
    if fix is None:
        return None
    return {"lat": _deg(fix[1]), "lon": _deg(fix[2]), "accuracy_m": _m(fix[3]), "t": iso_of(fix[0])}
