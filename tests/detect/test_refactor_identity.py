"""The engine's split (issue 18) changed no behaviour: today's answers equal the recorded ones.

The fixtures were recorded with the engine as one module, before the split:

- ``engine_calls.jsonl.gz``: every public call the detection tests made to an ``Engine``
  (placements, batches, fixes as columns, lateness, snapshots, restores) and its answer,
  recorded by ``fixtures/record_calls.py``; played again here call by call.
- ``replay_scenarios.jsonl.gz``: every scenario those tests gave to ``replay``, and
  ``replay_expected.jsonl.gz`` the bytes ``vigie replay`` wrote for each, by event time and
  with ``--arrival-order``.
- ``population-seed1-20cases-7days.jsonl.gz``: ``vigie sim generate --seed 1 --cases 20
  --days 7`` (kept as a file so a change of the simulator does not move it), with the SHA-256
  of ``vigie replay``'s output in both orders, the engine's snapshot after the whole population,
  and what a restored engine answers next.

Recording again (``.venv/bin/python -m tests.detect.test_refactor_identity``) is only for a
change meant to alter behaviour.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from tests.detect.snapshot_forms import as_version_2
from vigie.cli import app
from vigie.detect import AlarmEvent, Engine
from vigie.detect.scenario import parse_event, parse_scenario

FIXTURES = Path(__file__).with_name("fixtures")
CALLS = FIXTURES / "engine_calls.jsonl.gz"
SCENARIOS = FIXTURES / "replay_scenarios.jsonl.gz"
EXPECTED = FIXTURES / "replay_expected.jsonl.gz"
POPULATION = FIXTURES / "population-seed1-20cases-7days.jsonl.gz"
POPULATION_EXPECTED = FIXTURES / "population_expected.json"
POPULATION_SNAPSHOT = FIXTURES / "population.snapshot"
RUNNER = CliRunner()
DAY_MS = 86_400_000


def _read_jsonl(path: Path) -> Iterator[Any]:
    with gzip.open(path, "rt", encoding="utf-8") as lines:
        for line in lines:
            if line.strip():
                yield json.loads(line)


def _calls_by_test() -> dict[str, list[dict[str, Any]]]:
    tests: dict[str, list[dict[str, Any]]] = {}
    for entry in _read_jsonl(CALLS):
        tests.setdefault(entry["test"], []).append(entry)
    return tests


CALLS_BY_TEST = _calls_by_test()


def _answer(value: Any, snapshots: dict[str, bytes]) -> Any:
    if isinstance(value, list):
        return [e.to_json() for e in value]
    if isinstance(value, bytes):  # recorded in version 2's form: the same state, its bytes
        digest = hashlib.sha256(as_version_2(value)).hexdigest()
        snapshots[digest] = value
        return {"sha256": digest}
    return value


def _call(engines: dict[int, Engine], snapshots: dict[str, bytes], entry: dict[str, Any]) -> Any:
    name, args = entry["call"], entry["args"]
    if name == "__init__":
        engines[entry["engine"]] = Engine(**args[1])
        return None
    if name == "restore":
        data = snapshots[args["sha256"]] if "sha256" in args else base64.b64decode(args["base64"])
        engines[entry["engine"]] = Engine.restore(data)
        return None
    engine = engines[entry["engine"]]
    if name == "process":
        return engine.process(args[0])
    if name == "process_parsed":
        return engine.process_parsed([parse_event(r) for r in args[0]])
    if name == "process_positions":
        columns = [np.array(values, dtype=np.dtype(dtype)) for dtype, values in args]
        return engine.process_positions(*columns)
    return getattr(engine, name)(*args[0], **args[1])


@pytest.mark.parametrize("test", sorted(CALLS_BY_TEST))
def test_every_engine_call_of_the_detection_tests_gives_the_recorded_answer(test: str) -> None:
    engines: dict[int, Engine] = {}
    snapshots: dict[str, bytes] = {}
    for number, entry in enumerate(CALLS_BY_TEST[test]):
        where = f"call {number} ({entry['call']})"
        if "error" in entry:
            with pytest.raises(Exception) as caught:  # the recorded type is checked below
                _call(engines, snapshots, entry)
            assert [type(caught.value).__name__, str(caught.value)] == entry["error"], where
            continue
        assert _answer(_call(engines, snapshots, entry), snapshots) == entry["result"], where


def _replay_cli(lines: list[str], arrival_order: bool, tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "scenario.jsonl"
    path.write_text("".join(lines), encoding="utf-8")
    args = ["replay", str(path)] + (["--arrival-order"] if arrival_order else [])
    result = RUNNER.invoke(app, args)
    return {
        "exit": result.exit_code,
        "stdout": result.stdout,
        "stderr": result.stderr.replace(str(path), "<scenario>"),
    }


def _scenario_key(lines: list[str]) -> str:
    return hashlib.sha256(json.dumps(lines).encode()).hexdigest()


def _expected_replays() -> dict[tuple[str, bool], dict[str, Any]]:
    return {(e["scenario"], e["arrival_order"]): e["output"] for e in _read_jsonl(EXPECTED)}


@pytest.mark.parametrize("arrival_order", [False, True], ids=["event-time", "arrival-order"])
def test_vigie_replay_of_every_test_scenario_writes_the_recorded_bytes(
    arrival_order: bool, tmp_path: Path
) -> None:
    expected = _expected_replays()
    scenarios = [line for line in _read_jsonl(SCENARIOS)]
    assert len(scenarios) >= 10
    for lines in scenarios:
        key = _scenario_key(lines)
        assert _replay_cli(lines, arrival_order, tmp_path) == expected[(key, arrival_order)], key


def _population_lines() -> list[str]:
    with gzip.open(POPULATION, "rt", encoding="utf-8") as lines:
        return list(lines)


def _population_engine(lines: list[str]) -> Engine:
    """The engine ``replay`` runs, kept to take its snapshot."""
    scenario = parse_scenario(lines)
    engine = Engine()
    for raw, _ in scenario.placements:
        engine.add_placement(raw)
    engine.process_parsed(scenario.events)
    return engine


def _next_day(engine: Engine) -> list[AlarmEvent]:
    """A restored engine goes on: a tick a day after its clock fires its timers."""
    clock = engine.clock_ms
    assert clock is not None
    tick = {"kind": "tick", "t": f"{np.datetime64(clock + DAY_MS, 'ms')}Z"}
    return engine.process([tick])


def _population_answers(tmp_path: Path) -> dict[str, Any]:
    lines = _population_lines()
    path = tmp_path / "population.jsonl"
    path.write_text("".join(lines), encoding="utf-8")
    answers: dict[str, Any] = {}
    for name, extra in (("event_time", []), ("arrival_order", ["--arrival-order"])):
        result = RUNNER.invoke(app, ["replay", str(path), *extra])
        assert result.exit_code == 0, result.stderr
        answers[name] = {
            "sha256": hashlib.sha256(result.stdout.encode()).hexdigest(),
            "events": result.stdout.count("\n"),
        }
    return answers


def test_vigie_replay_of_the_seven_day_population_writes_the_recorded_bytes(
    tmp_path: Path,
) -> None:
    expected = json.loads(POPULATION_EXPECTED.read_text(encoding="utf-8"))
    answers = _population_answers(tmp_path)
    assert answers["event_time"]["events"] > 100
    assert answers == {k: expected[k] for k in ("event_time", "arrival_order")}


def test_the_snapshot_after_the_population_is_the_recorded_bytes_and_restores() -> None:
    expected = json.loads(POPULATION_EXPECTED.read_text(encoding="utf-8"))
    recorded = POPULATION_SNAPSHOT.read_bytes()  # version 2, written before the split
    engine = _population_engine(_population_lines())
    assert as_version_2(engine.snapshot()) == recorded
    restored = Engine.restore(recorded)
    assert restored.snapshot() == engine.snapshot()
    assert [e.to_json() for e in _next_day(restored)] == expected["next_day"]
    assert [e.to_json() for e in _next_day(engine)] == expected["next_day"]


def _record(tmp_path: Path) -> None:
    """Write the expected fixtures from the engine as it is now."""
    with gzip.GzipFile(EXPECTED, "wb", mtime=0) as out:
        for lines in _read_jsonl(SCENARIOS):
            for arrival_order in (False, True):
                entry = {
                    "scenario": _scenario_key(lines),
                    "arrival_order": arrival_order,
                    "output": _replay_cli(lines, arrival_order, tmp_path),
                }
                out.write((json.dumps(entry, sort_keys=True) + "\n").encode())
    answers = _population_answers(tmp_path)
    engine = _population_engine(_population_lines())
    POPULATION_SNAPSHOT.write_bytes(as_version_2(engine.snapshot()))
    answers["next_day"] = [e.to_json() for e in _next_day(engine)]
    POPULATION_EXPECTED.write_text(json.dumps(answers, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        _record(Path(tmp))
