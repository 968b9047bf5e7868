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


# --- issue 14: order-independence and monotonicity ---------------------------------------

multi_quanta = st.lists(
    st.one_of(
        st.builds(lambda m: f"P{m}M", st.integers(1, 14)),
        st.builds(lambda d: f"P{d}D", st.integers(1, 120)),
        st.builds(
            lambda y, m, d: f"P{y}Y{m}M{d}D",
            st.integers(0, 1),
            st.integers(1, 11),
            st.integers(1, 29),
        ),
    ),
    min_size=1,
    max_size=4,
)


@settings(max_examples=120, deadline=None)
@given(committal=dates, quanta=multi_quanta, seed=st.integers(0, 2**32 - 1), crime=st.booleans())
def test_any_permutation_of_sentences_gives_the_same_outcome(
    committal: dt.date, quanta: list[str], seed: int, crime: bool
) -> None:
    """720-I/II and 723-7 compare « une durée totale »: a sum, whatever the listing order."""
    sentences = [{"quantum": q, "category": "delit"} for q in quanta]
    if crime:
        sentences[0]["category"] = "crime"
    shuffled_sentences = list(sentences)
    random.Random(seed).shuffle(shuffled_sentences)
    for measure, facts in (("lsc", LSC_FACTS), ("ddse", {"as_adjustment": True})):
        base = {"measure": measure, "as_of": "2026-06-01", "committal_date": committal.isoformat()}
        a = assess({**base, "sentences": sentences, "facts": facts})
        b = assess({**base, "sentences": shuffled_sentences, "facts": facts})
        assert a["outcome"] == b["outcome"], (measure, quanta, shuffled_sentences)


@settings(max_examples=80, deadline=None)
@given(committal=dates, quanta=multi_quanta, credit=st.integers(0, 400), more=st.integers(1, 200))
def test_more_credit_never_ends_a_sentence_later(
    committal: dt.date, quanta: list[str], credit: int, more: int
) -> None:
    case = {
        "measure": "sentence",
        "committal_date": committal.isoformat(),
        "sentences": [{"quantum": q, "category": "delit"} for q in quanta],
    }
    less = assess({**case, "pretrial_days": credit})["dates"]["sentence_end"]
    most = assess({**case, "pretrial_days": credit + more})["dates"]["sentence_end"]
    assert most <= less
    assert most >= committal.isoformat()  # never before committal: at worst, served


@settings(max_examples=80, deadline=None)
@given(
    committal=dates,
    years=st.integers(0, 3),
    months=st.integers(2, 11),
    days=st.integers(0, 40),
    extra_months=st.integers(0, 12),
    extra_days=st.integers(0, 60),
)
def test_a_longer_sentence_never_ends_earlier(
    committal: dt.date, years: int, months: int, days: int, extra_months: int, extra_days: int
) -> None:
    """Counted date to date (716-1), adding months or days never brings the end forward. (A
    sentence of exactly one month is 30 days and is left out: see the test below.)"""

    def end(y: int, m: int, d: int) -> str:
        case = {
            "measure": "sentence",
            "committal_date": committal.isoformat(),
            "sentences": [{"quantum": f"P{y}Y{m}M{d}D", "category": "delit"}],
        }
        return str(assess(case)["dates"]["sentence_end"])

    assert end(years, months + extra_months, days + extra_days) >= end(years, months, days)


def test_one_month_is_thirty_days_even_when_a_month_and_a_day_ends_sooner() -> None:
    """716-1 as written: « Celle d'un mois est de trente jours. Celle de plus d'un mois se calcule
    de quantième en quantième. » From 1 February 2026, one month is 3 March (30 days) while one
    month and a day is 2 March: the text's own discontinuity, kept and documented."""

    def end(quantum: str) -> str:
        case = {
            "measure": "sentence",
            "committal_date": "2026-02-01",
            "sentences": [{"quantum": quantum, "category": "delit"}],
        }
        return str(assess(case)["dates"]["sentence_end"])

    assert end("P1M") == "2026-03-03"
    assert end("P1M1D") == "2026-03-02"
