"""The engine as a whole: ordering, late data, snapshots, and the fast path against the slow."""

from __future__ import annotations

import base64
import json
import random
import zlib
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

from tests.detect.records import (
    at,
    bar,
    circle,
    ddse,
    fix,
    obs,
    offset,
    psem,
    run,
    square,
    tick,
    zone,
)
from tests.detect.snapshot_forms import encoded, version_2_state
from vigie.detect import AlarmEvent, Engine, ScenarioError
from vigie.detect.engine import SNAPSHOT_VERSION

LAT, LON = 48.85, 2.35


def jsons(events: list[AlarmEvent]) -> list[str]:
    return [e.to_json() for e in events]


def test_records_are_ordered_by_time_whatever_the_arrival_order() -> None:
    placements = [psem(zones=[zone("Z1", "exclusion", circle(LAT, LON, 500))])]
    records = [
        fix("B2", 0, LAT + 0.1, LON),
        fix("B2", 1, LAT, LON),
        fix("B2", 2, LAT + 0.1, LON),
        tick(30),
    ]
    expected = jsons(run(placements, records))
    for seed in range(5):
        shuffled = records[:]
        random.Random(seed).shuffle(shuffled)
        assert jsons(run(placements, shuffled)) == expected


def test_output_is_ordered_by_time_case_then_kind() -> None:
    events = run(
        [ddse(case="B"), ddse(case="A", wearer="B9", home="H9")],
        [
            obs("H1", 0, "power", mains=False),
            obs("B1", 0, "tamper", what="case_open"),
            obs("H9", 0, "power", mains=False),
        ],
    )
    assert [(e.case, e.kind) for e in events] == [("A", "power"), ("B", "power"), ("B", "tamper")]
    assert events == sorted(events, key=AlarmEvent.sort_key)


def test_to_json_is_canonical() -> None:
    event = run([ddse()], [obs("H1", 0, "power", mains=False)])[0]
    assert event.to_json() == (
        '{"case":"C1","detail":{"mains":false},"device":"H1","kind":"power",'
        '"state":"raised","t":"2026-11-23T12:00:00Z"}'
    )
    assert event.t.tzinfo is not None


def _upload_scenario() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The wearer walks into a zone while offline; the home unit keeps reporting."""
    placements = [
        psem(zones=[zone("Z1", "exclusion", circle(LAT, LON, 300))]),
        ddse(case="C9", wearer="B9", home="H9"),
    ]
    stored = [fix("B2", m, *offset(LAT, LON, 0, 1500 - 100 * m)) for m in range(0, 16)]
    heartbeats = [obs("H9", m, "power", mains=True) for m in range(0, 40, 2)]
    return placements, stored + heartbeats


def test_a_buffered_upload_within_the_allowed_lateness_gives_the_in_order_alarms() -> None:
    placements, records = _upload_scenario()
    in_order = jsons(run(placements, sorted(records, key=lambda r: r["t"])))
    live = Engine(allowed_lateness_s=1800)
    for p in placements:
        live.add_placement(p)
    got: list[AlarmEvent] = []
    # Heartbeats arrive on time, two minutes at a time; the bracelet's fixes come at the end,
    # in one batch, newest first.
    beats = [r for r in records if r["device"] == "H9"]
    for k in range(0, len(beats), 1):
        got += live.process([beats[k]])
    got += live.process(
        sorted([r for r in records if r["device"] == "B2"], key=lambda r: r["t"], reverse=True)
    )
    got += live.flush()
    assert sorted(jsons(got)) == sorted(in_order)
    assert any(e.kind == "zone_entry" for e in got)


def test_a_late_upload_beyond_the_lateness_is_applied_not_dropped() -> None:
    placements, records = _upload_scenario()
    live = Engine()
    for p in placements:
        live.add_placement(p)
    got = live.process([r for r in records if r["device"] == "H9"])
    got += live.process(list(reversed([r for r in records if r["device"] == "B2"])))
    entry = [e for e in got if e.kind == "zone_entry"]
    in_order = [e for e in run(placements, records) if e.kind == "zone_entry"]
    # The breach is reported with its own event time, exactly as in order, and with the time
    # the centre learned of it (the newest record then: the upload's last fix).
    assert jsons([replace(e, detected_at=None) for e in entry]) == jsons(in_order)
    assert all(e.detected_at is not None and e.detected_at > e.t for e in entry)


def test_a_superseded_fix_showing_a_breach_reports_the_past_episode() -> None:
    placements = [psem(zones=[zone("Z1", "exclusion", circle(LAT, LON, 300))])]
    engine = Engine()
    engine.add_placement(placements[0])
    engine.process([fix("B2", 10, LAT + 0.1, LON)])
    late = engine.process([fix("B2", 5, LAT, LON)])
    assert [(e.kind, e.state, e.to_dict()["t"]) for e in late] == [
        ("zone_entry", "raised", at(5).replace(".000", "")),
        ("zone_entry", "cleared", at(10).replace(".000", "")),
    ]
    assert late[1].detail["reason"] == "superseded"


def test_snapshot_and_restore_mid_stream_continue_exactly() -> None:
    placements, records = _mixed_scenario(seed=3, cases=12, fixes=600)
    ticked = records + [tick(k * 7.5) for k in range(40)]
    ticked.sort(key=lambda r: r["t"])
    whole = Engine()
    for p in placements:
        whole.add_placement(p)
    expected = jsons(whole.process(ticked[:300])) + jsons(whole.process(ticked[300:]))
    first = Engine()
    for p in placements:
        first.add_placement(p)
    got = jsons(first.process(ticked[:300]))
    data = first.snapshot()
    second = Engine.restore(data)
    assert second.snapshot() == data
    got += jsons(second.process(ticked[300:]))
    assert got == expected
    assert len(expected) > 20


def test_snapshot_is_one_canonical_json_and_follows_replaced_placements() -> None:
    """The snapshot is composed from cached parts: it must read as one canonical document, and
    a replaced placement must be saved as it is now, not as it was first cached."""
    placements, records = _mixed_scenario(seed=5, cases=6, fixes=200)
    engine = Engine()
    for p in placements:
        engine.add_placement(p)
    engine.process(records[:100])
    text = zlib.decompress(engine.snapshot()).decode()
    state = json.loads(text)
    assert text == json.dumps(state, sort_keys=True, separators=(",", ":"))
    assert state["placements"] == placements
    changed = dict(placements[0], signal_timeout_s=4321)
    engine.add_placement(changed)
    engine.remove_placement(placements[1]["case"])
    saved = json.loads(zlib.decompress(engine.snapshot()))["placements"]
    assert changed in saved
    assert placements[0] not in saved
    assert all(p["case"] != placements[1]["case"] for p in saved)


def test_a_version_1_snapshot_saved_before_the_gps_noise_rules_is_restored() -> None:
    """A centre upgraded in place restores what it saved (its open episodes, clocks, timers)
    instead of refusing it and staying blind; what version 2 added starts empty."""
    placements, records = _mixed_scenario(seed=3, cases=12, fixes=600)
    engine = Engine()
    for p in placements:
        engine.add_placement(p)
    engine.process(records[:300])
    state = version_2_state(engine.snapshot())
    for key in ("held", "episodes", "past_held", "history", "fix_requests"):
        del state[key]
    state["version"] = 1
    restored = Engine.restore(encoded(state))
    again = version_2_state(restored.snapshot())
    assert again["held"] == [] and again["history"] == {}
    assert again["columns"] == state["columns"] and again["zones"] == state["zones"]
    restored.process(records[300:])  # and it goes on
    state["version"] = 0
    with pytest.raises(ValueError, match="version 0"):
        Engine.restore(zlib.compress(json.dumps(state).encode()))


def test_a_version_2_snapshot_with_its_columns_as_lists_is_restored_exactly() -> None:
    """Version 3 packs the numeric columns (a checkpoint at 16,000 cases took 100 ms of JSON):
    a centre's last version 2 checkpoint still restores to the very same state."""
    placements, records = _mixed_scenario(seed=5, cases=15, fixes=900)
    engine = Engine()
    for p in placements:
        engine.add_placement(p)
    engine.process(records[:450])
    engine.process(
        [obs("W2", 100, "tamper", what="strap_cut"), obs("W2", 101, "battery", level=0.09)]
    )
    data = engine.snapshot()
    old = version_2_state(data)
    assert any(row[3] for row in old["reports"])  # an open tamper set travels
    assert json.loads(zlib.decompress(data))["version"] == SNAPSHOT_VERSION == 3
    restored = Engine.restore(encoded(old))
    assert restored.snapshot() == data
    assert jsons(restored.process(records[450:])) == jsons(engine.process(records[450:]))
    broken = json.loads(zlib.decompress(data))
    lat = np.frombuffer(base64.b64decode(broken["columns"]["lat"]), dtype="<f8")
    broken["columns"]["lat"] = base64.b64encode(lat[:-1].tobytes()).decode()  # one value short
    with pytest.raises(ValueError, match="column"):
        Engine.restore(encoded(broken))


def test_restore_refuses_what_is_not_a_snapshot() -> None:
    with pytest.raises(ValueError, match="snapshot"):
        Engine.restore(b"not a snapshot")


def test_a_bad_record_in_a_batch_names_the_field() -> None:
    engine = Engine()
    engine.add_placement(ddse())
    with pytest.raises(ScenarioError) as caught:
        engine.process(
            [
                obs("H1", 0, "presence", present=True),
                {"kind": "obs", "device": "H1", "t": "yesterday", "type": "power", "mains": True},
            ]
        )
    assert caught.value.field == "t" and "record 2" in str(caught.value)


def test_replacing_a_placement_clears_alarms_of_removed_rules() -> None:
    engine = Engine()
    engine.add_placement(psem(zones=[zone("Z1", "exclusion", circle(LAT, LON, 300))]))
    assert [e.kind for e in engine.process([fix("B2", 0, LAT, LON)])] == ["zone_entry"]
    engine.add_placement(psem(zones=[zone("Z1", "exclusion", circle(LAT, LON, 300))]))
    assert engine.process([fix("B2", 1, LAT, LON)]) == []  # same rule: same episode
    engine.add_placement(psem(zones=[]))
    cleared = engine.process([tick(2)])
    assert [(e.kind, e.state, e.detail["reason"]) for e in cleared] == [
        ("zone_entry", "cleared", "obligation_removed")
    ]


@pytest.mark.parametrize(
    ("lacking", "field", "words"),
    [
        ({"alert_distance_km": None}, "alert_distance_km", "BAR: the alert distance is needed"),
        ({"protected": None}, "protected", "BAR: a protected device or place is needed"),
    ],
)
def test_a_bar_lacking_a_part_is_refused_in_the_words_of_the_others(
    lacking: dict[str, Any], field: str, words: str
) -> None:
    """As "DDSE: a home unit is needed" (the console shows them in the unmonitored alarm)."""
    with pytest.raises(ScenarioError) as caught:
        Engine().add_placement(bar() | lacking)
    assert (caught.value.field, caught.value.reason) == (field, words)


def test_a_device_serves_one_case() -> None:
    engine = Engine()
    engine.add_placement(ddse())
    with pytest.raises(ScenarioError) as caught:
        engine.add_placement(psem(case="C2", wearer="B1"))
    assert caught.value.field == "wearer"


# ---------------------------------------------------------------- fast path == slow path


def _mixed_scenario(
    seed: int, cases: int, fixes: int
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """DDSE, PSEM and BAR cases with wandering wearers, noisy fixes, silences and late fixes."""
    rng = random.Random(seed)
    placements: list[dict[str, Any]] = []
    movers: list[tuple[str, float, float]] = []
    for k in range(cases):
        lat, lon = LAT + rng.uniform(-0.3, 0.3), LON + rng.uniform(-0.3, 0.3)
        kind = k % 3
        if kind == 0:
            hours = [{"days": "daily", "from": "13:20", "to": "13:50"}] if k % 2 else None
            zones = [
                zone("Z", "exclusion", circle(lat, lon, rng.uniform(150, 600)), hours),
                zone("Q", "inclusion", square(lat, lon, 0.02)),
                zone("R", "exclusion", square(lat + 0.004, lon, 0.002)),
            ]
            placements.append(
                psem(
                    case=f"C{k}",
                    wearer=f"W{k}",
                    zones=zones,
                    signal_timeout_s=rng.choice([120, 600]),
                )
            )
            movers.append((f"W{k}", lat, lon))
        elif kind == 1:
            places = [{"id": "home", "lat": lat, "lon": lon}]
            placements.append(
                bar(
                    case=f"C{k}",
                    wearer=f"W{k}",
                    protected=f"P{k}",
                    km=rng.choice([0.5, 1.0]),
                    places=places,
                )
            )
            movers += [(f"W{k}", lat, lon), (f"P{k}", lat, lon)]
        else:
            placements.append(ddse(case=f"C{k}", wearer=f"W{k}", home=f"H{k}"))
            movers.append((f"W{k}", lat, lon))
    records = []
    for n in range(fixes):
        device, lat, lon = rng.choice(movers)
        minutes = n * 0.2 + (rng.uniform(-15, 0) if rng.random() < 0.05 else 0)  # some late
        if rng.random() < 0.02:
            continue  # a missing fix now and then
        acc = rng.choice([5, 10, 20, 30, 50, 50, 500])
        lat2, lon2 = offset(lat, lon, rng.uniform(0, 360), abs(rng.gauss(0, 900)))
        records.append(fix(device, minutes, lat2, lon2, acc))
    return placements, records


@pytest.mark.parametrize(
    ("seed", "batch_size", "confirm"),
    [(0, 250, False), (1, 250, False), (2, 7, False), (3, 40, False), (4, 7, True), (5, 250, True)],
)
def test_the_fast_path_gives_the_same_events_as_the_record_path(
    seed: int, batch_size: int, confirm: bool
) -> None:
    # Small batches mostly hold one fix per device (the fast path's sort-free case), large
    # ones several (its grouped case). With ``confirm``, breaches are held for confirmation
    # (issue 20: held, confirmed, taken back, transits) on both paths alike.
    placements, records = _mixed_scenario(seed, cases=24, fixes=1500)
    if confirm:
        for p in placements:
            if p["measure"] in ("psem", "bar"):
                p["confirm_s"] = 600
            if p["measure"] == "bar":
                p["alert_confirm_s"] = 60
    slow, fast = Engine(), Engine()
    for p in placements:
        slow.add_placement(p)
        fast.add_placement(p)
    slow_events: list[str] = []
    fast_events: list[str] = []
    for start in range(0, len(records), batch_size):  # micro-batches in arrival order
        batch = records[start : start + batch_size]
        slow_events += jsons(slow.process(batch))
        device = np.array([fast.device_index(r["device"]) for r in batch], dtype=np.int32)
        t_ms = np.array([_ms(r["t"]) for r in batch], dtype=np.int64)
        lat = np.array([r["lat"] for r in batch])
        lon = np.array([r["lon"] for r in batch])
        acc = np.array([r["accuracy_m"] for r in batch])
        fast_events += jsons(fast.process_positions(device, t_ms, lat, lon, acc))
    kinds = {e.split('"kind":"')[1].split('"')[0] for e in slow_events}
    assert {"zone_entry", "zone_exit", "alert", "pre_alert", "signal_lost"} <= kinds
    assert fast_events == slow_events
    assert fast.snapshot() == slow.snapshot()


def _ms(text: str) -> int:
    from vigie.detect.scenario import parse_time

    return parse_time(text)


def test_snapshot_keeps_the_reorder_buffer() -> None:
    placements, records = _upload_scenario()
    ordered_records = sorted(records, key=lambda r: r["t"])

    def fresh() -> Engine:
        engine = Engine(allowed_lateness_s=300)
        for p in placements:
            engine.add_placement(p)
        return engine

    whole = fresh()
    expected = (
        jsons(whole.process(ordered_records[:20]))
        + jsons(whole.process(ordered_records[20:]))
        + jsons(whole.flush())
    )
    first = fresh()
    got = jsons(first.process(ordered_records[:20]))
    second = Engine.restore(first.snapshot())
    got += jsons(second.process(ordered_records[20:])) + jsons(second.flush())
    assert got == expected and len(expected) > 0


def test_removing_a_placement_clears_its_raised_alarms() -> None:
    engine = Engine()
    engine.add_placement(psem(zones=[zone("Z1", "exclusion", circle(LAT, LON, 300))]))
    raised = engine.process([fix("B2", 0, LAT, LON), obs("B2", 1, "tamper", what="strap_cut")])
    assert {e.kind for e in raised} == {"zone_entry", "tamper"}
    engine.remove_placement("C2")
    cleared = engine.process([tick(2)])
    assert sorted((e.kind, e.state, e.detail["reason"]) for e in cleared) == [
        ("tamper", "cleared", "obligation_removed"),
        ("zone_entry", "cleared", "obligation_removed"),
    ]
    assert engine.process([fix("B2", 3, LAT, LON), tick(60)]) == []


def test_a_checkpoint_follows_the_zones_and_devices_of_changed_placements() -> None:
    """What a checkpoint keeps encoded between saves (zone and rule keys, case ids, device ids)
    is made again after a placement change, even one that keeps the same number of zones."""
    engine = Engine()
    engine.add_placement(psem("A", "WA", [zone("Z", "exclusion", circle(LAT, LON, 200))]))
    engine.add_placement(psem("B", "WB", [zone("Z", "exclusion", circle(LAT, LON, 300))]))
    engine.process([fix("WA", 0, LAT + 0.01, LON)])
    first = json.loads(zlib.decompress(engine.checkpoint()))
    assert first["zone_keys"] == [["A", "Z"], ["B", "Z"]] and first["cases"] == ["A", "B"]
    engine.add_placement(psem("A", "WC", [zone("Y", "inclusion", circle(LAT, LON, 900))]))
    engine.process([fix("WC", 1, LAT, LON)])
    again = json.loads(zlib.decompress(engine.checkpoint()))
    assert again["zone_keys"] == [["B", "Z"], ["A", "Y"]] and again["cases"] == ["B", "A"]
    assert again["devices"] == ["WA", "WB", "WC"]
    restored = Engine.restore(
        engine.checkpoint(),
        {
            "A": psem("A", "WC", [zone("Y", "inclusion", circle(LAT, LON, 900))]),
            "B": psem("B", "WB", [zone("Z", "exclusion", circle(LAT, LON, 300))]),
        },
    )
    assert restored.checkpoint() == engine.checkpoint()
