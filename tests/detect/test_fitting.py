"""A device fitted to a case after it was heard elsewhere (a bracelet back from a measure that
ended, then on the shelf): its silence for the new case counts from its fitting. It raised the
new case's loss of signal at once, dated from the time it lay on the shelf."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from tests.detect.records import T0, at, fix, psem, tick
from vigie.detect import Engine
from vigie.detect.scenario import ScenarioError

TIMEOUT_MIN = 10  # the placements' signal timeout: 600 s


def losses(events: list[Any]) -> list[tuple[str, str, str, datetime]]:
    return [(e.case, e.device, e.state, e.t) for e in events if e.kind == "signal_lost"]


def minute(n: float) -> datetime:
    return T0 + timedelta(minutes=n)


def shelved(**fitting: Any) -> tuple[Engine, list[Any]]:
    """B2 heard on case C1 at minute 0; C1 ends at minute 1; at minute 120 B2 goes to C7."""
    engine = Engine()
    engine.add_placement(psem(case="C1", wearer="B2"))
    events = engine.process([fix("B2", 0, 48.85, 2.35), tick(1)])
    engine.remove_placement("C1")
    events += engine.process([tick(120)])
    engine.add_placement(psem(case="C7", wearer="B2", **fitting))
    return engine, events


def test_a_device_from_the_shelf_is_silent_from_its_fitting() -> None:
    engine, before = shelved(fitted={"B2": at(120)})
    assert losses(before) == []  # nobody's: no case to raise it for
    assert losses(engine.process([tick(121)])) == []
    assert losses(engine.process([tick(120 + TIMEOUT_MIN - 0.5)])) == []
    late = engine.process([tick(120 + TIMEOUT_MIN + 1)])
    assert losses(late) == [("C7", "B2", "raised", minute(120 + TIMEOUT_MIN))]
    heard = engine.process([fix("B2", 131, 48.85, 2.35)])
    assert [(e.case, e.state) for e in heard if e.kind == "signal_lost"] == [("C7", "cleared")]


def test_without_its_fitting_the_silence_runs_from_its_last_word() -> None:
    """The replay format's placement before `fitted` (and a file without it) keeps its rule:
    no observation from the device for the timeout."""
    engine, _ = shelved()
    assert losses(engine.process([tick(121)])) == [("C7", "B2", "raised", minute(TIMEOUT_MIN))]


def test_a_case_added_again_keeps_the_silence_it_had() -> None:
    """Fitted before its last word (the same case, its record changed and back): the loss of
    signal is raised at its deadline, as before."""
    engine = Engine()
    engine.add_placement(psem(case="C1", wearer="B2", fitted={"B2": at(-60)}))
    engine.process([fix("B2", 0, 48.85, 2.35), tick(1)])
    engine.remove_placement("C1")
    engine.process([tick(30)])
    engine.add_placement(psem(case="C1", wearer="B2", fitted={"B2": at(-60)}))
    assert losses(engine.process([tick(31)])) == [("C1", "B2", "raised", minute(TIMEOUT_MIN))]


def test_a_device_never_heard_stays_unwatched_until_it_speaks() -> None:
    """A home-detention bracelet speaks only through its home unit: fitting it starts no watch."""
    engine = Engine()
    engine.add_placement(psem(case="C7", wearer="B9", fitted={"B9": at(0)}))
    assert losses(engine.process([tick(60)])) == []


@pytest.mark.parametrize("when", ["2026-11-23T12:00:00", "yesterday", 5])
def test_a_fitting_time_without_offset_or_not_a_time_is_refused(when: Any) -> None:
    with pytest.raises(ScenarioError, match="fitted"):
        Engine().add_placement(psem(case="C7", wearer="B2", fitted={"B2": when}))
