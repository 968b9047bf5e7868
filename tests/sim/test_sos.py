"""The simulated protected persons sometimes call for help, with ground truth, and the engine
raises each call at once."""

from __future__ import annotations

import json

import pytest

from tests.sim.factories import context
from vigie.detect import replay
from vigie.sim import bar, records
from vigie.sim.records import Episode, parse_iso
from vigie.sim.scenario import generate_case


def test_her_phone_presses_sos_with_truth_and_every_call_is_raised_at_once() -> None:
    calls = raised = 0
    for index in range(12):
        ctx = context(index, seed=7, days=14)
        case = generate_case(ctx, "bar")
        sent = [json.loads(line) for line in case.outbox.lines]
        presses = [r for r in sent if r.get("type") == "sos"]
        truth = [e for e in case.truth if e.kind == "sos"]
        assert {r["device"] for r in presses} <= {ctx.protected}
        assert len(truth) <= len(presses) <= 2 * len(truth)
        events = replay([records.canonical(case.placement), *case.outbox.lines])
        sos = [e for e in events if e.kind == "sos"]
        assert all(e.state == "raised" and e.device == ctx.protected for e in sos)
        assert len(sos) == len(presses)  # each press, none cleared
        for episode in truth:  # raised at the very second she pressed
            assert any(parse_iso(e.to_dict()["t"]) == episode.start for e in sos)
        calls += len(truth)
        raised += len(sos)
    assert calls >= 5 and raised >= calls  # about one call a week per case


def test_adding_the_presses_changed_nothing_else_of_a_case(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The presses draw from their own random stream: the rest of a BAR case is as it was."""
    ctx = context(3, seed=11, days=28)
    with_sos = generate_case(ctx, "bar")
    monkeypatch.setattr(bar, "SOS_PER_WEEK", 0.0)
    without = generate_case(ctx, "bar")
    assert any('"type":"sos"' in line for line in with_sos.outbox.lines)
    kept = [line for line in with_sos.outbox.lines if '"type":"sos"' not in line]
    assert kept == without.outbox.lines

    # Only her silences differ: a press is heard, as detection hears it.
    def others(truth: list[Episode]) -> list[Episode]:
        return [e for e in truth if e.kind not in ("sos", "signal_lost")]

    assert others(with_sos.truth) == others(without.truth)
