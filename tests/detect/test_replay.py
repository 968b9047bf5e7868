"""`vigie replay`: whole-file validation, exit 2 naming line and field, byte-identical output."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.detect.records import bar, circle, ddse, fix, obs, psem, tick, zone
from vigie.cli import app
from vigie.detect import ScenarioError, replay

RUNNER = CliRunner()


def scenario(tmp_path: Path, records: list[dict[str, Any]], name: str = "s.jsonl") -> Path:
    path = tmp_path / name
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def full_scenario() -> list[dict[str, Any]]:
    return [
        ddse(),
        psem(zones=[zone("Z1", "exclusion", circle(48.85, 2.35, 400))]),
        bar(places=[{"id": "home", "lat": 48.80, "lon": 2.30}]),
        obs("H1", 100, "presence", present=False),
        fix("B2", 3, 48.85, 2.35, 25),
        fix("P3", 1, 48.80, 2.30, 15),
        fix("B3", 2, 48.805, 2.30, 12),
        obs("B1", 5, "tamper", what="strap_cut"),
        obs("B3", 6, "battery", level=0.15),
        obs("H1", 7, "power", mains=False),
        tick(600),
    ]


def test_replay_twice_through_the_cli_is_byte_identical(tmp_path: Path) -> None:
    path = scenario(tmp_path, full_scenario())
    first = RUNNER.invoke(app, ["replay", str(path)])
    second = RUNNER.invoke(app, ["replay", str(path), "--out", str(tmp_path / "a.jsonl")])
    assert first.exit_code == 0 and second.exit_code == 0
    assert first.stdout.encode() == (tmp_path / "a.jsonl").read_bytes()
    lines = first.stdout.splitlines()
    kinds = {json.loads(line)["kind"] for line in lines}
    assert kinds == {
        "absence",
        "zone_entry",
        "alert",
        "pre_alert",
        "tamper",
        "low_battery",
        "power",
        "signal_lost",
    }
    keys = [(d["t"], d["case"], d["kind"]) for d in map(json.loads, lines)]
    assert keys == sorted(keys)


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (
            {
                "kind": "obs",
                "device": "B2",
                "t": "2026-11-23T12:00:00Z",
                "type": "position",
                "lat": 95,
                "lon": 2.3,
                "accuracy_m": 5,
            },
            "lat",
        ),
        (
            {
                "kind": "obs",
                "device": "B2",
                "t": "2026-11-23T12:00:00",
                "type": "battery",
                "level": 0.5,
            },
            "t",
        ),
        ({"kind": "obs", "device": "B2", "t": "2026-11-23T12:00:00Z", "type": "smoke"}, "type"),
        (
            {
                "kind": "obs",
                "device": "B2",
                "t": "2026-11-23T12:00:00Z",
                "type": "tamper",
                "what": "kicked",
            },
            "what",
        ),
        (
            {
                "kind": "obs",
                "device": "NOPE",
                "t": "2026-11-23T12:00:00Z",
                "type": "power",
                "mains": True,
            },
            "device",
        ),
        ({"kind": "telemetry", "t": "2026-11-23T12:00:00Z"}, "kind"),
        (ddse(case="C9", wearer="B9", home="H9", start="25:00"), "schedule.0.from"),
        (psem(case="C8", wearer="B8", grace=30), "grace"),
    ],
)
def test_a_bad_line_exits_2_naming_line_and_field_and_writes_nothing(
    tmp_path: Path, bad: dict[str, Any], field: str
) -> None:
    records = full_scenario()
    records.insert(4, bad)
    path = scenario(tmp_path, records)
    out = tmp_path / "alarms.jsonl"
    result = RUNNER.invoke(app, ["replay", str(path), "--out", str(out)])
    assert result.exit_code == 2
    message = result.stderr.strip()
    assert "\n" not in message
    assert "line 5" in message and f"'{field}'" in message
    assert not out.exists()
    assert list(tmp_path.iterdir()) == [path]


def test_malformed_json_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "s.jsonl"
    path.write_text(json.dumps(ddse()) + "\n{not json\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as caught:
        replay(path.read_text().splitlines())
    assert caught.value.line == 2 and caught.value.field == "record"


def test_json_nested_too_deeply_names_the_line() -> None:
    """Exit 2 naming the line, where the parser's RecursionError was a traceback."""
    with pytest.raises(ScenarioError) as caught:
        replay([json.dumps(ddse()), "[" * 100_000 + "]" * 100_000])
    assert caught.value.line == 2 and caught.value.field == "record"
    assert "nested too deeply" in str(caught.value)


def test_placement_lines_may_come_anywhere(tmp_path: Path) -> None:
    records = full_scenario()
    moved = records[3:] + records[:3]
    assert [e.to_json() for e in replay(json.dumps(r) for r in moved)] == [
        e.to_json() for e in replay(json.dumps(r) for r in records)
    ]


def test_arrival_order_reports_the_silence_of_a_buffered_upload(tmp_path: Path) -> None:
    # The bracelet stored its fixes offline; they reach the centre after the home unit's
    # later reports. In event time it never fell silent; for the centre it did.
    heartbeats = [obs("H1", m, "presence", present=True) for m in range(0, 41, 4)]
    upload = [fix("B2", m, 48.80, 2.30, 10) for m in range(0, 40, 3)]
    records = [ddse(), psem(), upload[0], *heartbeats, *upload[1:]]
    path = scenario(tmp_path, records)

    def lost(*options: str) -> list[tuple[str, str, str]]:
        result = RUNNER.invoke(app, ["replay", str(path), *options])
        assert result.exit_code == 0
        events = [json.loads(line) for line in result.stdout.splitlines()]
        return [(e["device"], e["t"], e["state"]) for e in events if e["kind"] == "signal_lost"]

    assert [d for d, _, _ in lost()] == []
    assert lost("--arrival-order") == [
        ("B2", "2026-11-23T12:10:00Z", "raised"),
        ("B2", "2026-11-23T12:40:00Z", "cleared"),
    ]
