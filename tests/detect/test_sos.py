"""SOS: her alert button (`sos`) and the wearer's (`wearer_sos`), raised at once, never cleared."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.detect.records import bar, ddse, fix, obs, run, summary, tick
from vigie.cli import app
from vigie.detect import Engine, ScenarioError, replay


def test_her_sos_raises_at_once_with_both_positions_and_their_distance() -> None:
    events = run(
        [bar(km=1.0)],
        [
            fix("B3", 0, 48.80, 2.30, 12),
            fix("P3", 1, 48.85, 2.35, 8),  # about 6.7 km apart: no BAR alarm at all
            obs("P3", 1, "sos"),
        ],
    )
    assert [(e.kind, e.state, e.device, e.case) for e in events] == [("sos", "raised", "P3", "C3")]
    detail = events[0].detail
    assert detail["protected_position"] == {
        "lat": 48.85,
        "lon": 2.35,
        "accuracy_m": 8.0,
        "t": "2026-11-23T12:01:00Z",
    }
    assert detail["wearer_position"]["lat"] == 48.80
    assert 6_500 < detail["distance_m"] < 6_900
    assert events[0].to_dict()["t"] == "2026-11-23T12:01:00Z"


def test_an_sos_without_any_fix_yet_is_raised_all_the_same() -> None:
    events = run([bar()], [obs("P3", 0, "sos")])
    assert [(e.kind, e.state, e.detail) for e in events] == [("sos", "raised", {})]


def test_every_press_raises_and_nothing_clears_it() -> None:
    """No grace, no clearing by the device or by time: each press is one `raised` (the centre
    folds them into its one open SOS alarm); positions and hours after, still nothing cleared."""
    events = run(
        [bar()],
        [
            obs("P3", 0, "sos"),
            obs("P3", 2, "sos"),
            fix("P3", 3, 48.85, 2.35),
            obs("P3", 4, "battery", level=0.9),
            tick(600),
        ],
    )
    assert summary(events, "sos") == [
        ("2026-11-23T12:00:00Z", "sos", "raised"),
        ("2026-11-23T12:02:00Z", "sos", "raised"),
    ]


def test_an_sos_is_never_folded_into_a_bar_alert_open_at_the_same_time() -> None:
    events = run(
        [bar(km=1.0)],
        [fix("P3", 0, 48.85, 2.35), fix("B3", 1, 48.851, 2.35), obs("P3", 2, "sos")],
    )
    assert {(e.kind, e.state) for e in events} >= {("alert", "raised"), ("sos", "raised")}
    sos = [e for e in events if e.kind == "sos"]
    assert len(sos) == 1 and sos[0].detail["distance_m"] < 200


@pytest.mark.parametrize("device", ["B1", "H1"])
def test_the_wearers_own_button_is_a_wearer_sos(device: str) -> None:
    events = run([ddse()], [fix("B1", 0, 48.80, 2.30), obs(device, 1, "sos")])
    assert [(e.kind, e.device) for e in events] == [("wearer_sos", device)]
    assert "protected_position" not in events[0].detail
    assert events[0].detail["wearer_position"]["lat"] == 48.80


def test_an_sos_is_a_sign_of_life_but_does_not_start_the_silence_watch() -> None:
    """Like a tamper report, a press is an event, not a periodic report."""
    events = run([bar()], [obs("P3", 0, "sos"), tick(60)])
    assert [e.kind for e in events] == ["sos"]


def test_snapshot_keeps_a_buffered_sos() -> None:
    engine = Engine(allowed_lateness_s=120)
    engine.add_placement(bar())
    assert engine.process([obs("P3", 0, "sos")]) == []  # held in the reorder buffer
    restored = Engine.restore(engine.snapshot())
    assert [e.kind for e in restored.flush()] == ["sos"]


def test_an_sos_with_a_position_field_is_refused_by_nothing_and_read_as_sos() -> None:
    """Observations ignore unknown fields (the contract): an sos carrying extras is an sos."""
    events = run([bar()], [obs("P3", 0, "sos", source="osmand")])
    assert [e.kind for e in events] == ["sos"]


def test_replay_emits_the_sos_per_the_contract(tmp_path: Path) -> None:
    records = [bar(), fix("P3", 0, 48.85, 2.35, 8), obs("P3", 0, "sos"), tick(5)]
    path = tmp_path / "s.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    result = CliRunner().invoke(app, ["replay", str(path)])
    assert result.exit_code == 0, result.output
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert lines == [
        {
            "t": "2026-11-23T12:00:00Z",
            "case": "C3",
            "kind": "sos",
            "state": "raised",
            "device": "P3",
            "detail": {
                "protected_position": {
                    "lat": 48.85,
                    "lon": 2.35,
                    "accuracy_m": 8.0,
                    "t": "2026-11-23T12:00:00Z",
                }
            },
        }
    ]


def test_replay_refuses_an_sos_of_a_device_in_no_placement() -> None:
    lines = [json.dumps(bar()), json.dumps(obs("X9", 0, "sos"))]
    with pytest.raises(ScenarioError) as refused:
        replay(lines)
    assert refused.value.line == 2 and refused.value.field == "device"
