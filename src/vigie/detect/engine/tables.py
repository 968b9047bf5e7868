"""The tables of devices, zones and proximity rules, in columns, rebuilt when placements change.

The vectorised path needs every rule as a row of numpy columns and every device's rules as
an index (CSR): zones (``ZoneTable``, ``_zone_device``, ``_zone_ptr``) and BAR rows, one per
(wearer, target) with both levels (``_row_*``). ``_refresh`` rebuilds them after a placement
changed, carrying the state of every rule kept.
"""

from __future__ import annotations

import numpy as np

from vigie.detect.engine.arrays import csr
from vigie.detect.engine.placements import Placements
from vigie.detect.events import AlarmEvent, utc_of
from vigie.detect.persistence import zone_key
from vigie.detect.zones import ZoneTable

_REACH_SLACK_M = 1.0


class RuleTables(Placements):
    """The columnar rule tables and their rebuild."""

    def _refresh(self) -> None:
        """Rebuild the columnar rule tables after placements changed, keeping rule state."""
        if not self._dirty:
            self._cover_new_devices()
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
        self._zone_ptr, self._zone_order = csr(self._zone_device, n)
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
        self._row_w_ptr, self._row_w_order = csr(self._row_wearer, n)
        moving = np.flatnonzero(self._row_target >= 0)
        self._row_t_ptr, order = csr(self._row_target[moving], n)
        self._row_t_order = moving[order].astype(np.int64)
        bounds = [
            b
            for c in self._cases.values()
            for b in (c.spec.confirm_s, c.spec.alert_confirm_s)
            if b is not None and b > 0
        ]
        self._min_confirm_ms = round(min(bounds) * 1000) if bounds else None
        # Zones whose breach raises on its first certain fix (no confirmation bound).
        self._zone_instant = np.array(
            [self._confirm_ms(z.case, z.kind) == 0 for z in zones], dtype=bool
        )
        # What every event of a zone repeats (id, type, kind, persistence key), made once.
        self._zone_parts = [
            (
                z.zone_id,
                "exclusion" if z.exclusion else "inclusion",
                z.kind,
                zone_key(z.case, z.zone_id),
            )
            for z in zones
        ]
        self._zones_of = {}
        for i, d in enumerate(self._zone_device.tolist()):
            self._zones_of.setdefault(d, []).append(i)
        self._prox_of_wearer = {}
        self._prox_of_target = {}
        for i, (w, tg) in enumerate(
            zip(self._prox_wearer.tolist(), self._prox_target.tolist(), strict=True)
        ):
            self._prox_of_wearer.setdefault(w, []).append(i)
            if tg >= 0:
                self._prox_of_target.setdefault(tg, []).append(i)

    def _cover_new_devices(self) -> None:
        """Give the devices registered since the tables were built (``device_index``: one no
        case wears, a spare bracelet switched on) their empty rows of the per-device indexes.
        Without them such a device's first fix indexed past their end, and the batch failed at
        every step (IndexError), every case's detection with it."""
        grow = len(self._devices) + 1 - len(self._zone_ptr)
        if grow <= 0:
            return
        self._zone_ptr = np.concatenate([self._zone_ptr, np.full(grow, self._zone_ptr[-1])])
        self._row_w_ptr = np.concatenate([self._row_w_ptr, np.full(grow, self._row_w_ptr[-1])])
        self._row_t_ptr = np.concatenate([self._row_t_ptr, np.full(grow, self._row_t_ptr[-1])])
