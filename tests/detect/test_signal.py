"""Loss of signal: no observation for ``signal_timeout_s``, raised at that very instant."""

from __future__ import annotations

from tests.detect.records import ddse, fix, minutes_of, obs, psem, run, tick
from vigie.detect import AlarmEvent, Engine


def lost(events: list[AlarmEvent]) -> list[tuple[str, float, str]]:
    return [(e.device, minutes_of(e), e.state) for e in events if e.kind == "signal_lost"]


def test_silence_raises_at_last_seen_plus_timeout_not_at_the_tick() -> None:
    events = run([psem()], [fix("B2", 0, 48.85, 2.35, 12), tick(60)])
    assert lost(events) == [("B2", 10, "raised")]
    detail = events[0].detail
    assert detail["last_seen"] == "2026-11-23T12:00:00Z"
    assert detail["last_position"] == {
        "t": "2026-11-23T12:00:00Z",
        "lat": 48.85,
        "lon": 2.35,
        "accuracy_m": 12.0,
    }


def test_any_observation_clears_it() -> None:
    events = run(
        [psem()], [fix("B2", 0, 48.85, 2.35), tick(30), obs("B2", 31, "battery", level=0.9)]
    )
    assert lost(events) == [("B2", 10, "raised"), ("B2", 31, "cleared")]


def test_other_devices_move_the_clock() -> None:
    events = run([psem(), ddse()], [fix("B2", 0, 48.85, 2.35), obs("H1", 25, "power", mains=True)])
    assert lost(events) == [("B2", 10, "raised")]


def test_the_placement_timeout_is_used_and_exactly_on_time_is_not_late() -> None:
    events = run(
        [psem(signal_timeout_s=120)],
        [fix("B2", 0, 48.85, 2.35), fix("B2", 2, 48.85, 2.35), tick(3.99)],
    )
    assert lost(events) == []
    events = run([psem(signal_timeout_s=120)], [fix("B2", 0, 48.85, 2.35), tick(4)])
    assert lost(events) == [("B2", 2, "raised")]


def test_a_device_never_seen_is_not_watched() -> None:
    events = run([psem(), ddse()], [obs("H1", 0, "presence", present=True), tick(30)])
    assert {device for device, _, _ in lost(events)} == {"H1"}


def test_event_only_reports_do_not_start_the_watch() -> None:
    # A home-detention RF bracelet speaks through its home unit: a tamper report from it
    # does not mean it should keep reporting on its own.
    events = run([ddse()], [obs("B1", 0, "tamper", what="strap_open"), tick(60)])
    assert lost(events) == []
    events = run(
        [ddse()],
        [obs("B1", 0, "battery", level=0.9), obs("B1", 5, "tamper", what="strap_open"), tick(60)],
    )
    assert lost(events) == [("B1", 15, "raised")]


def test_a_late_upload_ends_the_silence_when_it_arrives() -> None:
    engine = Engine()
    engine.add_placement(psem())
    engine.add_placement(ddse())
    events = engine.process([fix("B2", 0, 48.85, 2.35), obs("H1", 30, "presence", present=True)])
    assert lost(events) == [("B2", 10, "raised")]
    # The bracelet's stored fixes (taken at minutes 5..25) reach the centre at minute 30.
    late = engine.process([fix("B2", m, 48.85, 2.35) for m in range(5, 30, 5)])
    assert lost(late) == [("B2", 30, "cleared")]


def test_one_raise_per_silence() -> None:
    events = run([psem()], [fix("B2", 0, 48.85, 2.35)] + [tick(m) for m in range(11, 100, 7)])
    assert lost(events) == [("B2", 10, "raised")]
