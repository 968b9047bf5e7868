"""Whatever a case holds, the engine answers with a decision or a `LawInputError` naming the
field (the contract: exit 2, a line naming it): a date in 9999, a million days credited or a
sentence of a million years ended it on an OverflowError or a ValueError, a traceback from
`vigie law assess` and a 500 from the API."""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from vigie.law import LawInputError, assess
from vigie.law.case import FIRST_YEAR, LAST_YEAR, MAX_DAYS, MAX_TOTAL_YEARS

LSC_FACTS = {
    "refused_lsc": False,
    "adjustment_request_pending": False,
    "disciplinary_violence": False,
    "has_accommodation": True,
}
BASES: dict[str, dict[str, Any]] = {
    "sentence": {},
    "lsc": {"facts": LSC_FACTS},
    "ddse": {"facts": {"as_adjustment": True}},
    "arse": {
        "facts": {
            "mis_en_examen": True,
            "spip_check_done": True,
            "incurred_years": 3,
            "order_date": "2026-01-05",
            "renewals_so_far": 0,
            "mobile": False,
            "ssj_incurred": False,
        }
    },
    "psem": {
        "birth_date": "1980-01-01",
        "facts": {
            "route": "R61-33",
            "detained": True,
            "dangerousness_established": True,
            "commission_opinion": True,
        },
    },
    "bar": {
        "birth_date": "1980-01-01",
        "facts": {
            "under_judicial_supervision": True,
            "victim_consent": True,
            "incurred_years": 3,
            "relationship": "spouse",
            "alert_distance_km": 2,
        },
    },
}
FIRST, LAST = dt.date(FIRST_YEAR, 1, 1), dt.date(LAST_YEAR, 12, 31)


def _rarely(
    usual: st.SearchStrategy[Any], unusual: st.SearchStrategy[Any]
) -> st.SearchStrategy[Any]:
    """`unusual` one draw in twelve: a case has many fields, and most draws should go deep."""
    return st.integers(0, 11).flatmap(lambda k: unusual if k == 0 else usual)


# Dates at and near the calendar's ends as well as ordinary ones, and now and then a date
# outside it; the same for counts and quanta.
dates = _rarely(
    st.one_of(st.sampled_from([FIRST, LAST]), st.dates(min_value=FIRST, max_value=LAST)).map(str),
    st.dates(min_value=dt.date(1, 1, 1), max_value=dt.date(9999, 12, 31)).map(str),
)
counts = _rarely(
    st.one_of(st.just(MAX_DAYS), st.integers(0, MAX_DAYS)),
    st.sampled_from([101, MAX_DAYS + 1, 10**9, 10**30]),
)
quanta = _rarely(
    st.one_of(
        st.sampled_from(["P100Y", "P1200M", "P36525D", "P99Y11M30D"]),
        st.builds(
            lambda y, m, d: f"P{y}Y{m}M{d}D",
            st.integers(0, 99),
            st.integers(0, 11),
            st.integers(1, 400),
        ),
    ),
    st.sampled_from(["P100Y1D", "P1000000Y", "P" + "9" * 30 + "D"]),
)
DATE_FACTS = ("notified_on", "order_date", "final_decision_date", "request_date", "start_date")


@st.composite
def cases(draw: st.DrawFn) -> dict[str, Any]:
    measure = draw(st.sampled_from(sorted(BASES)))
    base = BASES[measure]
    case: dict[str, Any] = {
        "measure": measure,
        "as_of": draw(dates),
        "committal_date": draw(dates),
        "sentences": [
            {"quantum": draw(quanta), "category": draw(st.sampled_from(["delit", "crime"]))}
            for _ in range(draw(st.integers(1, 12)))
        ],
        **{k: v for k, v in base.items() if k != "facts"},
    }
    for name in ("pretrial_days", "arse_days", "reductions_days"):
        if draw(st.booleans()):
            case[name] = draw(counts)
    if draw(st.booleans()):
        case["birth_date"] = draw(dates)
    facts = dict(base.get("facts", {}))
    for name in DATE_FACTS:
        if draw(st.booleans()):
            facts[name] = draw(dates)
    if measure == "arse" and draw(st.booleans()):
        facts["renewals_so_far"] = draw(counts)
    case["facts"] = facts
    return case


@st.composite
def fiches(draw: st.DrawFn) -> dict[str, Any]:
    """A fiche pénale (its own input) with the same dates, counts and quanta."""
    sentences = []
    for i in range(draw(st.integers(1, 12))):
        sentence: dict[str, Any] = {
            "id": f"S{i}",
            "start": draw(dates),
            "quantum": draw(quanta),
            "category": draw(st.sampled_from(["delit", "crime"])),
        }
        if draw(st.booleans()):
            sentence["revoked_suspended"] = [
                {"quantum": draw(quanta), "revoked_on": draw(dates)}
                for _ in range(draw(st.integers(1, 3)))
            ]
        if draw(st.booleans()):
            sentence["surete"] = draw(quanta)
        sentences.append(sentence)
    return {
        "measure": "fiche",
        "as_of": draw(dates),
        "ecrou_date": draw(dates),
        "sentences": sentences,
        "credits": [
            {"sentence": "S0", "kind": "dp", "from": draw(dates), "to": str(LAST)}
            for _ in range(draw(st.integers(0, 2)))
        ],
        "grants": [
            {"date": draw(dates), "days": draw(counts)} for _ in range(draw(st.integers(0, 2)))
        ],
    }


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(cases(), fiches()))
def test_any_case_gets_a_decision_or_an_input_error(case: dict[str, Any]) -> None:
    try:
        decision = assess(case)
    except LawInputError as refused:
        assert refused.field  # names what is at fault
        return
    json.dumps(decision)  # a decision, every date in it written
    for name, day in decision["dates"].items():
        assert dt.date.fromisoformat(day), name


def test_the_bounds_name_the_field_and_are_not_below_what_they_say() -> None:
    ok = {"measure": "lsc", "as_of": str(LAST), "committal_date": str(LAST), "facts": LSC_FACTS}
    longest = [{"quantum": "P100Y", "category": "crime"}] * (MAX_TOTAL_YEARS // 100)
    # At every bound at once, a decision.
    assert assess(ok | {"sentences": longest, "pretrial_days": MAX_DAYS})["dates"]
    first = ok | {"as_of": str(FIRST), "committal_date": str(FIRST), "pretrial_days": MAX_DAYS}
    assert assess(first | {"sentences": [{"quantum": "P1M", "category": "delit"}]})["dates"]
    for change, field in (
        ({"as_of": "2200-01-01"}, "as_of"),
        ({"committal_date": "1899-12-31"}, "committal_date"),
        ({"pretrial_days": MAX_DAYS + 1}, "pretrial_days"),
        ({"sentences": [{"quantum": "P100Y1D", "category": "crime"}]}, "sentences[0].quantum"),
        ({"sentences": [*longest, {"quantum": "P1M", "category": "crime"}]}, "sentences"),
        ({"facts": LSC_FACTS | {"notified_on": "9999-12-31"}}, "facts.notified_on"),
    ):
        try:
            assess(ok | {"sentences": longest} | change)
        except LawInputError as refused:
            assert refused.field == field, refused
        else:
            raise AssertionError(f"{change} was taken")


def test_the_command_says_it_in_a_line_and_exits_2(tmp_path: Path) -> None:
    case = tmp_path / "case.json"
    sentence = {"quantum": "P1000000Y", "category": "crime", "recidivism": False, "offences": []}
    case.write_text(
        json.dumps({"measure": "sentence", "committal_date": "2025-01-10", "sentences": [sentence]})
    )
    done = subprocess.run(
        [sys.executable, "-c", "from vigie.cli import main; main()", "law", "assess", str(case)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "sentences[0].quantum" in done.stderr


def test_json_nested_too_deeply_is_said_in_a_line(tmp_path: Path) -> None:
    case = tmp_path / "deep.json"
    case.write_text("[" * 100_000 + "]" * 100_000)
    done = subprocess.run(
        [sys.executable, "-c", "from vigie.cli import main; main()", "law", "assess", str(case)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr  # a RecursionError's traceback before
    assert done.stderr.count("\n") == 1 and "nested too deeply" in done.stderr
