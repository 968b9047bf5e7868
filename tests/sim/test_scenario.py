"""Scenarios: repeatable to the byte, valid for the engine, in arrival order."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.sim.factories import context, scenario_text
from vigie.detect import replay
from vigie.detect.scenario import parse_scenario
from vigie.sim import records
from vigie.sim.gps import Outbox
from vigie.sim.records import parse_iso
from vigie.sim.scenario import Mix, MixError, _as_received, generate_case


def test_same_seed_same_bytes_other_seed_other_bytes() -> None:
    a = scenario_text(seed=5, cases=6, days=2)
    b = scenario_text(seed=5, cases=6, days=2)
    c = scenario_text(seed=6, cases=6, days=2)
    assert a == b
    assert a[0] != c[0]


def test_spilling_to_files_changes_nothing() -> None:
    in_memory = scenario_text(seed=2, cases=5, days=2)
    spilled = scenario_text(seed=2, cases=5, days=2, batch_lines=500)
    assert spilled == in_memory


def test_scenario_parses_with_the_engine_and_replays() -> None:
    text, _ = scenario_text(seed=3, cases=6, days=1, mix="ddse=1,psem=1,bar=1")
    parsed = parse_scenario(text.splitlines())
    assert len(parsed.placements) == 6
    events = replay(text.splitlines(), arrival_order=True)
    assert all(e.case.startswith("C") for e in events)


def test_placements_first_then_records_in_arrival_order_with_late_uploads() -> None:
    text, _ = scenario_text(seed=4, cases=12, days=3, mix="psem=1,bar=1")
    records = [json.loads(line) for line in text.splitlines()]
    kinds = [r["kind"] for r in records]
    first_other = kinds.index("tick") if kinds[0] == "placement" else 0
    assert set(kinds[:first_other]) == {"placement"}
    assert "placement" not in kinds[first_other:]
    ticks = [parse_iso(r["t"]) for r in records if r["kind"] == "tick"]
    assert ticks == sorted(ticks) and ticks[1] - ticks[0] == 60
    # Buffered uploads reach the centre after fixes taken later: some records go back in time.
    late = 0
    newest: dict[str, int] = {}
    for r in records:
        if r["kind"] == "obs":
            t = parse_iso(r["t"])
            late += t < newest.get(r["device"], t)
            newest[r["device"]] = max(t, newest.get(r["device"], t))
    assert late > 0


def test_mix_is_exact_and_validated() -> None:
    text, _ = scenario_text(seed=1, cases=10, days=1, mix="ddse=0.5,psem=0.3,bar=0.2")
    measures = [json.loads(line)["measure"] for line in text.splitlines()[:10]]
    assert sum(m in ("ddse", "arse") for m in measures) == 5
    assert measures.count("psem") == 3 and measures.count("bar") == 2
    with pytest.raises(MixError, match="unknown measure"):
        Mix.parse("lsc=1")
    with pytest.raises(MixError):
        Mix.parse("ddse=0")


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    index=st.integers(0, 10_000),
    days=st.integers(1, 3),
    measure=st.sampled_from(["ddse", "psem", "bar"]),
)
def test_any_single_case_generates_valid_records_and_truth(
    seed: int, index: int, days: int, measure: str
) -> None:
    ctx = context(index, seed, days)
    case = generate_case(ctx, measure)
    lines = [records.canonical(case.placement), *case.outbox.lines]
    parse_scenario(lines)  # raises ScenarioError on anything the engine would refuse
    for e in case.truth:
        assert ctx.start_s <= e.start < e.end <= ctx.end_s
    assert all(
        a >= int(o) or o < 0 for a, o in zip(case.outbox.arrival, case.outbox.order, strict=True)
    )


def test_the_centre_s_clock_reads_arrival_before_a_late_line_or_one_ending_a_silence() -> None:
    box = Outbox()
    line = '{{"device":"B1","kind":"obs","t":"{}","type":"battery","level":0.9}}'
    for arrival, event in ((10, 8), (200, 20), (230, 228), (900, 895)):
        box.add(arrival, event, line.format(records.iso(event)))
    received = _as_received(box, 0)
    # A tick at 200 (the line is 180 s late) and at 900 (nothing heard since 230 + 600 s):
    # never before a line that is on time and ends no silence.
    assert [(a, json.loads(text)["kind"]) for a, text in received] == [
        (10, "obs"),
        (200, "tick"),
        (200, "obs"),
        (230, "obs"),
        (900, "tick"),
        (900, "obs"),
    ]
    assert json.loads(received[4][1])["t"] == records.iso(900)
