"""The engine's state, declared once, and the two things every layer does with it.

Every later module of the engine (see ``Engine``'s docstring) adds behaviour on top of
``EngineState``: reading a device's latest fix, and emitting an alarm event for a device.
"""

from __future__ import annotations

import heapq
from typing import Any

import numpy as np
from numpy.typing import NDArray

from vigie.detect.devices import NEVER, DeviceTable
from vigie.detect.engine import alignment
from vigie.detect.engine.arrays import Floats, Ints
from vigie.detect.engine.case import Case
from vigie.detect.events import AlarmEvent, utc_of
from vigie.detect.persistence import Held, Key
from vigie.detect.proximity import Proximity
from vigie.detect.scenario import Record
from vigie.detect.zones import Zone, ZoneTable

Fix = tuple[int, float, float, float]  # (t ms, lat, lon, accuracy m)
_FAR = 2**62  # "no deadline": later than any event time


def _m(value: float) -> float:
    """Metres (or seconds) as events show them: to a tenth."""
    return round(float(value), 1)


def _deg(value: float) -> float:
    """Degrees as events show them: six decimals, about 10 cm."""
    return round(float(value), 6)


_TIE_MARGIN = 2.0**-50  # four units in the last place, relative: rounding of ``x * 10**n``


def rounded(values: Floats, digits: int) -> list[float]:
    """``round(v, digits)`` of many values, the same floats bit for bit, at numpy's pace.

    ``round`` gives the double nearest ``k / 10**digits``, ``k`` the exact ``v * 10**digits``
    rounded half to even. ``rint`` of the product in floating point gives the same ``k``
    unless the product lies within its rounding error of a half-integer; then the division
    by an exact power of ten rounds to nearest as ``round``'s parsing does. The few values
    that near a tie (and any not finite) go through ``round`` itself.
    """
    scale = 10.0**digits
    scaled = values * scale
    out = np.rint(scaled)
    out /= scale
    tie = np.abs(scaled - np.floor(scaled) - 0.5) <= np.abs(scaled) * _TIE_MARGIN
    unsure = np.flatnonzero(tie | ~np.isfinite(scaled) | (np.abs(scaled) >= 2.0**52))
    result: list[float] = out.tolist()
    for i in unsure.tolist():
        result[i] = round(float(values[i]), digits)
    return result


class EngineState:
    """Everything the engine holds, declared in one place; the rooms above it add behaviour.

    The engine is one object built in layers, each a module of its own (``Engine``'s
    docstring gives the order). This bottom layer owns the state: the device table, the
    cases, the clock and its timer heap, the reorder buffer, and the columnar rule tables
    that ``RuleTables._refresh`` builds from the cases.
    """

    # Built by ``RuleTables._refresh`` (tables.py) from the cases, before any record runs.
    _zone_table: ZoneTable
    _zone_device: Ints
    _zone_ptr: Ints
    _zone_order: Ints
    _prox_wearer: Ints
    _prox_target: Ints
    _prox_place: Floats
    _prox_threshold: Floats
    _prox_alert: NDArray[np.bool_]
    _row_pre: Ints
    _row_alert: Ints
    _row_wearer: Ints
    _row_target: Ints
    _row_place: Floats
    _row_is_place: NDArray[np.bool_]
    _row_reach: Floats
    _row_devices: Ints
    _all_row_devices_fixed: bool
    _row_place_top: float
    _row_w_ptr: Ints
    _row_w_order: Ints
    _row_t_ptr: Ints
    _row_t_order: Ints
    _zones_of: dict[int, list[int]]
    _prox_of_wearer: dict[int, list[int]]
    _prox_of_target: dict[int, list[int]]
    _min_confirm_ms: int | None  # the shortest confirmation bound of any case (None: none)
    _zone_instant: NDArray[np.bool_]  # zones raised on their first certain fix
    _zone_parts: list[tuple[str, str, str, Key]]  # each zone's id, type, kind and key

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
        # Issue 20's state, keyed by rule (persistence.Key) or device index, all snapshotted:
        # breaches held for confirmation; the last episode reported per rule (from, until;
        # until _FAR while raised), so late data never reports it twice; a late breach held
        # for a second late fix (its t, and the newer fix that superseded it); BAR devices'
        # recent fixes (alignment.py); a fresh fix asked of a device (device -> t, reason).
        self._held: dict[Key, Held] = {}
        self._episodes: dict[Key, tuple[int, int]] = {}
        self._past_held: dict[Key, tuple[int, int]] = {}
        self._history: dict[int, list[Fix]] = {}
        # The fixes recorded in the history since the pipeline last took them, in order
        # (`take_history_log`): its checkpoint stores those, not the whole history. None: no
        # one takes them (replay, tests), so none are kept.
        self._history_log: list[tuple[int, Fix]] | None = None
        self._fix_requests: dict[str, tuple[int, str]] = {}
        # Snapshot JSON of what changes only with the placements or new devices, by what it
        # was made from (snapshot.py): a checkpoint does not encode 16,000 zone keys again.
        self._json_cache: dict[str, tuple[object, str]] = {}

    def _schedule(self, key: tuple[str, str, str], due: int | None) -> None:
        """Set (or with None, cancel) the timer ``key``; stale heap entries are skipped."""
        if due is None:
            self._scheduled.pop(key, None)
            return
        if self._scheduled.get(key) == due:
            return
        self._scheduled[key] = due
        self._heap_seq += 1
        heapq.heappush(self._heap, (due, self._heap_seq, key))

    def _remember(self, d: int, fix: Fix) -> None:
        """Record a BAR device's fix in its history (``alignment``), and in the log of them."""
        alignment.record(self._history.setdefault(d, []), fix)
        if self._history_log is not None:
            self._history_log.append((d, fix))

    def _ask_fix(self, d: int, t: int, reason: str) -> None:
        """Ask a device for a fresh fix (one standing request each: the earliest)."""
        device = self._devices.ids[d]
        asked = self._fix_requests.get(device)
        if asked is None or (t, reason) < asked:
            self._fix_requests[device] = (t, reason)

    def _position_of(self, d: int) -> tuple[int, float, float, float] | None:
        dv = self._devices
        if dv.fix_t[d] == NEVER:
            return None
        return int(dv.fix_t[d]), float(dv.lat[d]), float(dv.lon[d]), float(dv.acc[d])

    def _emit(
        self,
        out: list[AlarmEvent],
        t: int,
        d: int,
        kind: str,
        state: str,
        detail: dict[str, Any],
        case: str | None = None,
        late: bool = False,
        learned: int | None = None,
    ) -> None:
        """Emit an event; ``late`` (learned from late data) stamps ``detected_at`` too.

        The centre learned of it at the clock, or at ``learned`` (a timer's own instant).
        """
        owner = case if case is not None else self._devices.case[d]
        assert owner is not None
        when = learned if learned is not None else self._clock
        late = late and when is not None and when > t
        out.append(
            AlarmEvent(
                utc_of(t),
                owner,
                kind,
                state,
                self._devices.ids[d],
                detail,
                utc_of(when) if late and when is not None else None,
            )
        )
