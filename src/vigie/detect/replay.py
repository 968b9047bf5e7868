"""Replay: a whole scenario, validated first, through the same engine that runs live."""

from __future__ import annotations

from collections.abc import Iterable

from vigie.detect.engine import Engine
from vigie.detect.events import AlarmEvent, ordered
from vigie.detect.scenario import ScenarioError, Tick, parse_scenario


def replay(lines: Iterable[str], *, arrival_order: bool = False) -> list[AlarmEvent]:
    """Alarm events of a JSON Lines scenario, in the contract's order.

    Every line is parsed and every placement compiled before anything runs; the first fault
    raises ScenarioError with its line number and field, and nothing is processed.

    By default the whole scenario is ordered by event time (ties in file order): the alarms
    of what happened. With ``arrival_order`` the file order is taken as the order in which a
    live centre received the records, and each is given to the engine on its own, so late
    uploads are handled as live (a device whose fixes were stored offline was silent for
    the centre, and its loss of signal is reported).
    """
    scenario = parse_scenario(lines)
    engine = Engine()
    for raw, line in scenario.placements:
        try:
            engine.add_placement(raw)
        except ScenarioError as exc:
            raise ScenarioError(exc.reason, line=line, field=exc.field) from exc
    known: set[str | None] = set()
    for raw, _ in scenario.placements:
        known.update(raw.get(role) for role in ("wearer", "home_unit", "protected"))
    for record, line in zip(scenario.events, scenario.event_lines, strict=True):
        if not isinstance(record, Tick) and record.device not in known:
            raise ScenarioError(
                f"device {record.device!r} is in no placement", line=line, field="device"
            )
    if not arrival_order:
        return engine.process_parsed(scenario.events)
    events: list[AlarmEvent] = []
    for record in scenario.events:
        events += engine.process_parsed([record])
    return ordered(events)
