"""The vectorised fix path's usual case: a micro-batch with at most one fix per device.

Where a zone breach is decided on the vectorised path, for a live feed: ``_segment_once``
screens every (fix, zone) pair with ``ZoneTable.may_raise``, takes exact codes
(``ZoneTable.codes``) for the few near a line or already raised, finds the pairs where a
zone changes state (``arrays.steps``) and hands those to ``_zone_step`` (rules.py).
``_prox_once`` does the same for BAR rows.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import NDArray

from vigie.detect import certainty, proximity
from vigie.detect.devices import NEVER
from vigie.detect.engine import alignment
from vigie.detect.engine.arrays import Floats, Ints, expand, prox_may_raise, steps
from vigie.detect.engine.records import RecordPath
from vigie.detect.engine.state import _FAR, rounded
from vigie.detect.events import AlarmEvent, event, iso_of, utc_of
from vigie.detect.geodesy import distance_m


class OneFixPerDevice(RecordPath):
    """Signal, zones and BAR for a batch holding each device at most once."""

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

        Cheap screens (``ZoneTable.may_raise``, ``prox_may_raise``) drop the pairs that
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
        gap = deadline < t
        if gap.any():  # else (the usual batch) no more passes over it
            gap &= (seen0 != NEVER) & (t > batch_clock)
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
                zr = np.flatnonzero(take)  # in zone order
                zf = pos_all[zr]
            else:
                zf, zr = expand(self._zone_ptr, self._zone_order, dev)
                keep = self._zone_active[zr]
                zf, zr = zf[keep], zr[keep]
                keep = self._zone_raised[zr] | self._zone_table.may_raise(
                    zr, la[zf], lo[zf], raise_at[zf]
                )
                zf, zr = zf[keep], zr[keep]
                order = np.argsort(zr)
                zf, zr = zf[order], zr[order]
            if len(zr):
                # Exact geometry only where a zone may change state (one pair per zone here).
                raised = self._zone_raised[zr]
                zc, depth = self._zone_table.changes(zr, la[zf], lo[zf], ac[zf], raised)
                # One pair per zone, in zone order: what ``steps`` keeps is then each pair
                # whose code disagrees with its zone's state, in that order.
                sel = np.flatnonzero((zc != 0) & ((zc > 0) != raised))
                if len(sel):
                    self._zone_steps(zr[sel], zf[sel], zc[sel], depth[sel], dev, t, la, lo, ac, out)

        if not len(self._row_alert):
            dv.fix_t[dev], dv.lat[dev], dv.lon[dev], dv.acc[dev] = t, la, lo, ac
            return
        self._prox_once(dev, t, la, lo, ac, position_of, out)

    def _zone_steps(
        self,
        zr: Ints,
        zf: Ints,
        zc: NDArray[np.int8],
        depth: Floats,
        dev: Ints,
        t: Ints,
        la: Floats,
        lo: Floats,
        ac: Floats,
        out: list[AlarmEvent],
    ) -> None:
        """The zones that change state in a batch with one fix per device, as arrays: a raise
        confirmed at once (no bound) or a clear, each with its event, written as `_zone_step`
        writes it; `depth` is each pair's exact depth (``ZoneTable.changes``). A breach held
        for confirmation goes to `_zone_step`."""
        raised = self._zone_raised[zr]
        now = (zc == certainty.RAISE) & ~raised & self._zone_instant[zr]
        fast = now | ((zc == certainty.CLEAR) & raised)
        if not fast.all():
            for p in np.flatnonzero(~fast).tolist():  # held for confirmation: one by one
                f, i = int(zf[p]), int(zr[p])
                fix = (int(t[f]), float(la[f]), float(lo[f]), float(ac[f]))
                prev = self._position_of(int(dev[f]))  # stored after the zones
                self._zone_step(i, int(zc[p]), fix[0], float(depth[p]), fix, out, prev=prev)
            keep = np.flatnonzero(fast)
            zr, zf, depth, now = zr[keep], zf[keep], depth[keep], now[keep]
            if not len(zr):
                return
        fix_t = t[zf]
        since = self._zone_raised_t[zr]
        at = np.where(now, fix_t, np.maximum(fix_t, since))  # a clear is never before its raise
        self._zone_raised[zr] = now
        self._zone_raised_t[zr] = np.where(now, at, since)
        exclusion = self._zone_table.exclusion[zr]
        forbidden = np.where(exclusion, depth, -depth)
        clock = self._clock
        detected = None if clock is None else utc_of(clock)
        parts, ids, cases, episodes = (
            self._zone_parts,
            self._devices.ids,
            self._devices.case,
            self._episodes,
        )
        # Rounded as `_m` and `_deg` round, two columns a call (`rounded`: the same floats).
        n = len(zr)
        metres = rounded(np.concatenate([forbidden, ac[zf]]), 1)
        degrees = rounded(np.concatenate([la[zf], lo[zf]]), 6)
        for i, a, is_raise, fd, acc, lat, lon, ft, d, start in zip(
            zr.tolist(),
            at.tolist(),
            now.tolist(),
            metres[:n],
            metres[n:],
            degrees[:n],
            degrees[n:],
            fix_t.tolist(),
            dev[zf].tolist(),
            since.tolist(),
            strict=True,
        ):
            zone_id, zone_type, kind, key = parts[i]
            detail: dict[str, Any]
            if is_raise:
                detail = {
                    "zone": zone_id,
                    "zone_type": zone_type,
                    "depth_m": fd,
                    "accuracy_m": acc,
                    "lat": lat,
                    "lon": lon,
                    "fix_t": iso_of(ft),
                }
                episodes[key] = (a, _FAR)
            else:
                detail = {
                    "zone": zone_id,
                    "zone_type": zone_type,
                    "depth_m": fd,
                    "accuracy_m": acc,
                    "reason": "fix",
                }
                episodes[key] = (start, a)
            owner = cases[d]
            assert owner is not None
            out.append(
                event(
                    utc_of(a),
                    owner,
                    kind,
                    "raised" if is_raise else "cleared",
                    ids[d],
                    detail,
                    detected if clock is not None and clock > a else None,
                )
            )

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
        (``prox_may_raise``), with neither level raised, cannot change state: only the
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
        may = prox_may_raise(
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
        may = prox_may_raise(dv.lat[wd], dv.lon[wd], p_lat, p_lon, u, reach, top)
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
        cols = [np.concatenate([b, a]) for b, a in zip(b_cols, a_cols, strict=True)]
        self._prox_pairs(row, pos, t, cols, out)

    def _prox_pairs(
        self, row: Ints, pos: Ints, t: Ints, cols: list[NDArray[Any]], out: list[AlarmEvent]
    ) -> None:
        """(fix, BAR row) pairs through both levels' state machines: ``cols`` are the
        wearer's then the target's (t, lat, lon, accuracy) columns, ``pos`` each pair's fix."""
        w_t, w_lat, w_lon, w_acc, p_t, p_lat, p_lon, p_acc = cols
        dist = distance_m(w_lat, w_lon, p_lat, p_lon)
        u = alignment.pair_uncertainty(w_acc, p_acc, w_t, p_t)
        for rule in (self._row_pre[row], self._row_alert[row]):
            bc = proximity.codes(dist, u, self._prox_threshold[rule])
            for p in steps(self._prox_raised, rule, pos, bc).tolist():
                wearer = (int(w_t[p]), float(w_lat[p]), float(w_lon[p]), float(w_acc[p]))
                target = (int(p_t[p]), float(p_lat[p]), float(p_lon[p]), float(p_acc[p]))
                self._prox_step(
                    int(rule[p]), int(bc[p]), float(dist[p]), int(t[pos[p]]), wearer, target, out
                )
