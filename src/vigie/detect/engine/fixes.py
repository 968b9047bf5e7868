"""The vectorised fix path: ``process_positions``, a micro-batch of GPS fixes as columns.

``process_positions`` checks the columns, drops unassigned devices, and ``_positions``
cuts the batch where a timer is due or a fix is superseded: between cuts, a *segment* of
fresh fixes in time order runs all rules at once. A segment with one fix per device goes to
``_segment_once`` (fixes_once.py); one with several fixes of a device to ``_segment``, which
decides zone breaches and BAR states from the same codes, grouped by device. The events are
those the record path would give.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from vigie.detect import certainty, plausibility
from vigie.detect.devices import NEVER
from vigie.detect.engine.arrays import Floats, Ints, expand, prox_may_raise, steps
from vigie.detect.engine.fixes_once import OneFixPerDevice
from vigie.detect.events import AlarmEvent, ordered
from vigie.detect.scenario import (
    Position,
    Record,
    ScenarioError,
)


class FixPath(OneFixPerDevice):
    """Fixes as columns, vectorised; the record path for what cannot be."""

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
        self._refresh()
        eff = self._effective_accuracy(dev, t, la, lo, ac)
        if self._lateness_ms or self._buffer or self._needs_records(dev, t, la, lo, eff):
            ids = self._devices.ids
            records: list[Record] = [
                Position(ids[d], ti, a, o, c)
                for d, ti, a, o, c in zip(
                    dev.tolist(), t.tolist(), la.tolist(), lo.tolist(), ac.tolist(), strict=True
                )
            ]
            return self.process_parsed(records)
        ac = eff
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
        self._record_history(dev, t, la, lo, ac)
        self._finish(end, out)
        return ordered(out)

    def _effective_accuracy(self, dev: Ints, t: Ints, la: Floats, lo: Floats, ac: Floats) -> Floats:
        """Each fix's accuracy as the record path uses it (``plausibility``), in time order.

        A fix is judged against its device's previous fix: the stored one, or the previous
        fresh fix of the batch (devices with several fixes in a batch, a loop: rare).
        """
        if len(dev) == 0:
            return ac
        dv = self._devices
        prev_t = dv.fix_t[dev]
        eff = plausibility.effective_accuracy(
            prev_t, dv.lat[dev], dv.lon[dev], dv.acc[dev], t, la, lo, ac
        )
        counts = np.bincount(dev)
        if counts.max() <= 1:
            return ac if eff is ac else np.where(t < prev_t, ac, eff)  # eff is ac: none suspect
        eff = np.where((counts[dev] > 1) | (t < prev_t), ac, eff)
        prev: dict[int, tuple[int, float, float, float]] = {}
        for k in np.argsort(t, kind="stable").tolist():
            d = int(dev[k])
            if counts[d] <= 1:
                continue
            fix = (int(t[k]), float(la[k]), float(lo[k]), float(ac[k]))
            before = prev.get(d, self._position_of(d))
            if before is not None and fix[0] < before[0]:
                continue  # superseded: judged by late.py, accuracy as reported
            eff[k] = plausibility.effective_one(before, fix)
            prev[d] = (fix[0], fix[1], fix[2], float(eff[k]))
        return eff

    def _needs_records(self, dev: Ints, t: Ints, la: Floats, lo: Floats, ac: Floats) -> bool:
        """True when a batch needs the record path's sequential rules (issue 20's).

        A device marked uncertain, a coarse fix whose accuracy circle may reach a zone or a
        protected place of its bearer (``certainty``: it may straddle a line), a device with a
        breach held for confirmation, and a BAR fix older than the other party's latest
        (paired with its interpolated position, ``alignment``) or than its own. Coarse fixes
        far from every line stay on the fast path: they decide nothing there either.
        """
        dv = self._devices
        if bool(dv.uncertain[dev].any()):
            return True
        # A breach held in the batch whose bound ends within it: its timer must fire between
        # the fixes, which only the record path does (a live micro-batch spans seconds).
        # (The shortest bound is kept with the rule tables: not a pass over every case here.)
        bound = self._min_confirm_ms
        if bound is not None and len(t) and int(t.max() - t.min()) >= bound:
            return True
        coarse = np.flatnonzero(ac > certainty.COARSE_M)
        if len(coarse):
            zf, zr = expand(self._zone_ptr, self._zone_order, dev[coarse])
            k = coarse[zf]
            if len(zr) and bool(self._zone_table.may_raise(zr, la[k], lo[k], -ac[k]).any()):
                return True
            wf, wr = expand(self._row_w_ptr, self._row_w_order, dev[coarse])
            place = self._row_is_place[wr]
            k, wr = coarse[wf[place]], wr[place]
            if len(wr):
                top = max(float(np.abs(la[k]).max()), self._row_place_top)
                near = prox_may_raise(
                    la[k],
                    lo[k],
                    self._row_place[wr, 0],
                    self._row_place[wr, 1],
                    ac[k],
                    self._row_reach[wr],
                    top,
                )
                if bool(near.any()):
                    return True
        if self._held and bool(np.isin(dev, self._held_devices()).any()):
            return True
        if not self._history:
            return False
        wf, wr = expand(self._row_w_ptr, self._row_w_order, dev)
        tf, tr = expand(self._row_t_ptr, self._row_t_order, dev)
        if not (len(wr) or len(tr)):
            return False
        target = self._row_target[wr]
        late_w = (target >= 0) & (t[wf] < dv.fix_t[np.maximum(target, 0)])
        late_t = t[tf] < dv.fix_t[self._row_wearer[tr]]
        own = np.concatenate([wf, tf])
        return bool(late_w.any() or late_t.any() or (t[own] < dv.fix_t[dev[own]]).any())

    def _held_devices(self) -> Ints:
        """Devices with a breach held for confirmation (both ends of a BAR pair)."""
        found = []
        for key in self._held:
            if key[0] == "held_zone":
                found.append(int(self._zone_device[self._zone_index[(key[1], key[2])]]))
            else:
                kind, target = key[2].split("\x1f", 1)
                j = self._prox_index[(key[1], target, kind)]
                found += [int(self._prox_wearer[j]), int(self._prox_target[j])]  # -1: a place
        return np.array(found, dtype=np.int64)

    def _record_history(self, dev: Ints, t: Ints, la: Floats, lo: Floats, ac: Floats) -> None:
        """Keep the BAR devices' fixes of a batch in their history (``alignment``)."""
        if not (self._prox_of_wearer or self._prox_of_target):
            return
        bar = np.flatnonzero(self._bar_device_mask()[dev])
        for k in bar[np.argsort(t[bar], kind="stable")].tolist():
            d = int(dev[k])
            self._remember(d, (int(t[k]), float(la[k]), float(lo[k]), float(ac[k])))

    def _bar_device_mask(self) -> NDArray[np.bool_]:
        mask = np.zeros(len(self._devices) + 1, dtype=bool)
        mask[list(self._prox_of_wearer)] = True
        mask[list(self._prox_of_target)] = True
        return mask

    def _check_columns(self, dev: Ints, t: Ints, la: Floats, lo: Floats, ac: Floats) -> None:
        n = len(dev)
        if not all(len(a) == n for a in (t, la, lo, ac)):
            raise ScenarioError("columns must have the same length", field="device")
        if n == 0:
            return
        if dev.min() < 0 or dev.max() >= len(self._devices):
            raise ScenarioError("unknown device index (use device_index())", field="device")
        # Extremes only (a NaN makes both NaN, and every comparison with it false).
        if not (la.min() >= -90 and la.max() <= 90 and lo.min() >= -180 and lo.max() <= 180):
            raise ScenarioError("latitude or longitude out of range (or NaN)", field="lat")
        if not (ac.min() >= 0 and ac.max() < np.inf):
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
        zf, zr = expand(self._zone_ptr, self._zone_order, dev)
        if len(zr):
            keep = self._zone_active[zr]
            zf, zr = zf[keep], zr[keep]
            zc = self._zone_table.codes(zr, la[zf], lo[zf], ac[zf])
            rank = np.empty(m, dtype=np.int64)
            rank[by_dev] = at
            sel = steps(self._zone_raised, zr, zf, zc)
            # The exact depths of every step at once (no shapely call per event).
            depths = self._zone_table.depths(zr[sel], la[zf[sel]], lo[zf[sel]]).tolist()
            for p, depth in zip(sel.tolist(), depths, strict=True):
                f, i = int(zf[p]), int(zr[p])
                fix = (int(t[f]), float(la[f]), float(lo[f]), float(ac[f]))
                r = int(rank[f])  # the bearer's fix before: earlier in the batch, or stored
                q = int(by_dev[r - 1])
                before = (
                    self._position_of(int(dev[f]))
                    if first[r]
                    else (int(t[q]), float(la[q]), float(lo[q]), float(ac[q]))
                )
                self._zone_step(i, int(zc[p]), fix[0], depth, fix, out, prev=before)

        # BAR: the other party's position as of each fix (its latest earlier fix).
        wf, wr = expand(self._row_w_ptr, self._row_w_order, dev)
        tf, tr = expand(self._row_t_ptr, self._row_t_order, dev)
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
            cols = [
                np.concatenate([t[wf[ok_w]], wt[ok_t]]),
                np.concatenate([la[wf[ok_w]], wlat[ok_t]]),
                np.concatenate([lo[wf[ok_w]], wlon[ok_t]]),
                np.concatenate([ac[wf[ok_w]], wacc[ok_t]]),
                np.concatenate([pt[ok_w], t[tf[ok_t]]]),
                np.concatenate([plat[ok_w], la[tf[ok_t]]]),
                np.concatenate([plon[ok_w], lo[tf[ok_t]]]),
                np.concatenate([pacc[ok_w], ac[tf[ok_t]]]),
            ]
            self._prox_pairs(row, pos, t, cols, out)

        # Latest fix of each device.
        src = by_dev[last]
        dv.fix_t[ends], dv.lat[ends], dv.lon[ends], dv.acc[ends] = t[src], la[src], lo[src], ac[src]
