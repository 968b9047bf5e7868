"""Replay: a whole scenario, validated first, through the same engine that runs live."""

from __future__ import annotations

from collections.abc import Iterable

from vigie.detect.engine import Engine
from vigie.detect.events import AlarmEvent
from vigie.detect.scenario import ScenarioError, Tick, parse_scenario


def replay(lines: Iterable[str]) -> list[AlarmEvent]:
    """Alarm events of a JSON Lines scenario, in the contract's order.

    Every line is parsed and every placement compiled before anything runs; the first fault
    raises ScenarioError with its line number and field, and nothing is processed.
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
    return engine.process_parsed(scenario.events)
