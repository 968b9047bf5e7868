"""Properties of the arithmetic that hold for every sentence, not just the chosen cases."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from vigie.law import LawInputError, assess

LSC_FACTS = {
    "refused_lsc": False,
    "adjustment_request_pending": False,
    "disciplinary_violence": False,
    "has_accommodation": True,
}

dates = st.dates(min_value=dt.date(2023, 1, 1), max_value=dt.date(2028, 12, 31))
quanta = st.one_of(
    st.builds(lambda y, m: f"P{y}Y{m}M", st.integers(0, 4), st.integers(1, 11)),
    st.builds(lambda d: f"P{d}D", st.integers(1, 900)),
    st.builds(lambda y: f"P{y}Y", st.integers(1, 5)),
)


def lsc(committal: dt.date, quantum: str, **extra: int) -> dict:
    return assess(
        {
            "measure": "lsc",
            "as_of": "2026-06-01",
            "committal_date": committal.isoformat(),
            "sentences": [{"quantum": quantum, "category": "delit"}],
            "facts": LSC_FACTS,
            **extra,
        }
    )


@settings(max_examples=60, deadline=None)
@given(committal=dates, quantum=quanta, credit=st.integers(0, 200))
def test_end_moves_one_day_per_day_of_credit(committal: dt.date, quantum: str, credit: int) -> None:
    case = {
        "measure": "sentence",
        "committal_date": committal.isoformat(),
        "sentences": [{"quantum": quantum, "category": "delit"}],
    }
    base = assess(case)
    if base["figures"]["total_days"] <= credit:
        return
    for field in ("pretrial_days", "arse_days"):
        credited = assess({**case, field: credit})
        end = dt.date.fromisoformat(base["dates"]["sentence_end"])
        assert credited["dates"]["sentence_end"] == (end - dt.timedelta(days=credit)).isoformat()
        start = dt.date.fromisoformat(credited["dates"]["effective_start"])
        assert start == committal - dt.timedelta(days=credit)


@settings(max_examples=60, deadline=None)
@given(committal=dates, quantum=quanta, reductions=st.integers(0, 60))
def test_end_moves_one_day_per_day_of_reduction(
    committal: dt.date, quantum: str, reductions: int
) -> None:
    case = {
        "measure": "sentence",
        "committal_date": committal.isoformat(),
        "sentences": [{"quantum": quantum, "category": "delit"}],
    }
    base = assess(case)
    if base["figures"]["total_days"] <= reductions:
        return
    if reductions > base["figures"]["reductions_ceiling_days"]:
        with pytest.raises(LawInputError, match=r"reductions_days.*ceiling"):
            assess({**case, "reductions_days": reductions})
        return
    reduced = assess({**case, "reductions_days": reductions})
    end = dt.date.fromisoformat(base["dates"]["sentence_end"])
    assert reduced["dates"]["sentence_end"] == (end - dt.timedelta(days=reductions)).isoformat()


@settings(max_examples=80, deadline=None)
@given(committal=dates, quantum=quanta, pretrial=st.integers(0, 120))
def test_two_thirds_is_first_day_served_at_least_twice_left(
    committal: dt.date, quantum: str, pretrial: int
) -> None:
    try:
        out = lsc(committal, quantum, pretrial_days=pretrial)
    except LawInputError:  # credits covering the whole term: nothing left to serve
        assume(False)
    if out["outcome"] == "not_applicable":
        return
    start = dt.date.fromisoformat(out["dates"]["effective_start"])
    end = dt.date.fromisoformat(out["dates"]["sentence_end"])
    day = dt.date.fromisoformat(out["dates"]["lsc_examination"])

    def served_twice_left(t: dt.date) -> bool:
        return (t - start).days >= 2 * (end - t).days

    assert served_twice_left(day)
    assert not served_twice_left(day - dt.timedelta(days=1))


def plus_three_months(t: dt.date) -> dt.date:
    """t + 3 months date to date; a missing day is the month's last day (README "Month ends":
    backward searches clamp), written independently of the engine."""
    month = t.month + 3
    year, month = t.year + (month - 1) // 12, (month - 1) % 12 + 1
    day = t.day
    while True:
        try:
            return dt.date(year, month, day)
        except ValueError:
            day -= 1


@settings(max_examples=80, deadline=None)
@given(committal=dates, quantum=quanta)
def test_automatic_is_first_day_with_three_months_left(committal: dt.date, quantum: str) -> None:
    out = lsc(committal, quantum)
    if out["outcome"] != "automatic":
        return
    end = dt.date.fromisoformat(out["dates"]["sentence_end"])
    day = dt.date.fromisoformat(out["dates"]["lsc_automatic"])
    assert plus_three_months(day) >= end
    if day > committal:
        assert plus_three_months(day - dt.timedelta(days=1)) < end
    else:
        assert day == committal


def shuffled(value: object, rng: random.Random) -> object:
    """The same JSON value with every object's keys in another order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {k: shuffled(v, rng) for k, v in items}
    if isinstance(value, list):
        return [shuffled(v, rng) for v in value]
    return value


@settings(max_examples=40, deadline=None)
@given(committal=dates, quantum=quanta, seed=st.integers(0, 2**32 - 1))
def test_results_do_not_depend_on_key_order(committal: dt.date, quantum: str, seed: int) -> None:
    case = {
        "measure": "lsc",
        "as_of": "2026-06-01",
        "committal_date": committal.isoformat(),
        "pretrial_days": 0,
        "reductions_days": 0,
        "sentences": [
            {"quantum": quantum, "category": "delit", "offences": [], "recidivism": False}
        ],
        "facts": LSC_FACTS,
    }
    rng = random.Random(seed)
    a = json.dumps(assess(case), sort_keys=True)
    b = json.dumps(assess(shuffled(case, rng)), sort_keys=True)  # type: ignore[arg-type]
    assert a == b
