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

Where each part is. ``Engine`` is one object built in layers, each a module of this package
that adds one responsibility on top of the one below (a reader holds one room at a time):

- ``state.py``: ``EngineState``, every attribute declared once; ``_emit``, ``_position_of``.
- ``rules.py``: raise and clear of one zone or BAR rule and its event detail (both paths).
- ``clock.py``: the watermark and its timers: where a timer fires (``_fire_timers``: absence,
  zone schedules) and loss of signal (``_fire_signal``, ``_sign_of_life``).
- ``placements.py``: ``add_placement``, ``remove_placement``, ``case_of``, ``device_index``.
- ``tables.py``: the columnar tables of devices' zones and proximity rules (``_refresh``).
- ``late.py``: the reorder buffer (``allowed_lateness_s``) and superseded fixes.
- ``records.py``: applying one record; ``process``, ``process_parsed``, ``flush``.
- ``fixes.py`` and ``fixes_once.py``: the vectorised path, ``process_positions``; a zone
  breach is decided there (``_segment_once`` for one fix per device, ``_segment`` otherwise)
  from ``ZoneTable.codes`` and ``arrays.steps``.
- ``arrays.py``: the pure array helpers of that path (rule index, pairs, screens).
- ``snapshot.py``: where the snapshot is written (``snapshot``) and read back (``restore``).
- ``case.py``: one compiled placement.
"""

from vigie.detect.engine.snapshot import SNAPSHOT_FORMAT, SNAPSHOT_VERSION, Snapshots

__all__ = ["SNAPSHOT_FORMAT", "SNAPSHOT_VERSION", "Engine"]


class Engine(Snapshots):
    """The stateful, deterministic detection engine (see the module docstring for time).

    The façade the pipeline, ``vigie replay``, the simulator and the benchmark use; its
    public methods come from the layers below: ``add_placement``, ``remove_placement``,
    ``case_of``, ``device_index`` and ``clock_ms`` (placements.py); ``process``,
    ``process_parsed`` and ``flush`` (records.py); ``process_positions`` (fixes.py);
    ``snapshot`` and ``restore`` (snapshot.py); ``unassigned_observations`` counts the
    observations of devices no placement uses.
    """
