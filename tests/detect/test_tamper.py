"""Tamper: strap opened or cut, case opened; cleared when the device reports it restored."""

from __future__ import annotations

import pytest

from tests.detect.records import ddse, obs, run, summary


@pytest.mark.parametrize("what", ["strap_open", "strap_cut", "case_open"])
def test_an_opening_raises_and_restored_clears(what: str) -> None:
    events = run(
        [ddse()], [obs("B1", 0, "tamper", what=what), obs("B1", 5, "tamper", what="restored")]
    )
    assert [(e.kind, e.state, e.device, e.detail["what"]) for e in events] == [
        ("tamper", "raised", "B1", what),
        ("tamper", "cleared", "B1", "restored"),
    ]


def test_home_unit_case_opening_is_the_home_units_alarm() -> None:
    events = run(
        [ddse()],
        [obs("H1", 0, "tamper", what="case_open"), obs("H1", 1, "tamper", what="case_closed")],
    )
    assert [(e.device, e.state) for e in events] == [("H1", "raised"), ("H1", "cleared")]


def test_one_episode_until_every_opening_is_repaired() -> None:
    events = run(
        [ddse()],
        [
            obs("B1", 0, "tamper", what="strap_open"),
            obs("B1", 1, "tamper", what="case_open"),  # same episode: nothing new
            obs("B1", 2, "tamper", what="strap_closed"),  # the case is still open
            obs("B1", 3, "tamper", what="case_closed"),
        ],
    )
    assert summary(events, "tamper") == [
        ("2026-11-23T12:00:00Z", "tamper", "raised"),
        ("2026-11-23T12:03:00Z", "tamper", "cleared"),
    ]


def test_a_late_opening_older_than_the_repair_is_still_reported() -> None:
    events = run(
        [ddse()],
        [obs("B1", 10, "tamper", what="restored"), obs("B1", 4, "tamper", what="strap_cut")],
    )
    assert summary(events, "tamper") == [
        ("2026-11-23T12:04:00Z", "tamper", "raised"),
        ("2026-11-23T12:10:00Z", "tamper", "cleared"),
    ]
