"""The engine's structure: traces, citations by date, parameters, errors."""

from __future__ import annotations

import copy
import datetime as dt
import json

import pytest

from tests.law.conftest import public_cases
from vigie.law import LawInputError, assess, params
from vigie.law.params import ParameterNotInForce, cite, parameter
from vigie.law.reckoning import add_jours_ouvrables, earliest_reaching, latest_within

CASES = {c["name"]: c["case"] for c in public_cases()}
AUTOMATIC = CASES["18 months: automatic with three months left"]


def test_trace_lists_exceptions_that_did_not_hold_in_order() -> None:
    rules = [s["rule"] for s in assess(AUTOMATIC)["trace"]]
    order = [
        "lsc.720-I.scope_five_years",
        "lsc.720-II.scope_two_years",
        "lsc.720-II.material_impossibility",
        "lsc.720-III.crime",
        "lsc.720-III.terrorism",
        "lsc.720-III.minor_or_public_authority",
        "lsc.720-III.partner_aggravation",
        "lsc.720-III.disciplinary_violence",
        "lsc.D147-24.pending_request_no_bar",
        "lsc.D147-20.applies_even_if_refused",
        "lsc.720-II.automatic_three_months_left",
        "lsc.D147-24.I_not_examined",
    ]
    assert [r for r in rules if r in order] == order


def test_pending_request_point_is_recorded() -> None:
    case = copy.deepcopy(AUTOMATIC)
    case["facts"]["adjustment_request_pending"] = True
    out = assess(case)
    step = next(s for s in out["trace"] if s["rule"] == "lsc.D147-24.pending_request_no_bar")
    assert out["outcome"] == "automatic"
    assert "does NOT bar" in step["note"]


def test_roll_forward_is_said_in_the_trace() -> None:
    out = assess(
        {
            "measure": "sentence",
            "committal_date": "2025-12-31",
            "sentences": [{"quantum": "P2M", "category": "delit"}],
        }
    )
    step = next(s for s in out["trace"] if s["rule"] == "sentence.roll_forward_missing_day")
    assert step["held"] and "2026-03-01" in step["note"]


def test_citation_follows_as_of_across_the_renumbering() -> None:
    assert cite("CPP 720-II", dt.date(2028, 12, 31)) == (
        "CPP 720-II (LEGIARTI000044569670; CPP L5252-1 from 2029-01-01, provisional)"
    )
    assert cite("CPP 720-II", dt.date(2029, 1, 1)) == (
        "CPP L5252-1 (formerly CPP 720-II; LEGIARTI000044569670)"
    )
    assert cite("CPP 142-7", dt.date(2029, 6, 1)).startswith("CPP L3632-1")
    assert cite("CPP 716-3", dt.date(2029, 6, 1)).startswith("CPP L5211-6")
    assert cite("CPP D147-24", dt.date(2029, 6, 1)) == "CPP D147-24"
    case = {**AUTOMATIC, "as_of": "2029-03-01"}
    cited = {s["rule"]: s["citation"] for s in assess(case)["trace"]}
    assert cited["lsc.720-III.crime"].startswith("CPP L5252-4")
    assert cited["sentence.pretrial_detention_credited"].startswith("CPP L5211-3")


def test_renumbering_date_is_one_provisional_parameter(monkeypatch: pytest.MonkeyPatch) -> None:
    """Review B10: ord. 2025-1091 needs ratification and may move to 2030; one date moves all."""
    table = params._table("articles")
    assert table["renumbering"]["provisional"] is True
    monkeypatch.setitem(table, "renumbering", {"date": dt.date(2030, 1, 1), "provisional": True})
    assert cite("CPP 716-4", dt.date(2029, 6, 1)).startswith("CPP 716-4 (CPP L5211-3 from 2030")
    assert cite("CPP 716-4", dt.date(2030, 1, 1)).startswith("CPP L5211-3")


def test_parameters_by_date_of_effect() -> None:
    assert parameter("lsc", "automatic_max_total", dt.date(2023, 1, 1)).value == "P2Y"
    with pytest.raises(ParameterNotInForce):
        parameter("lsc", "automatic_max_total", dt.date(2022, 12, 31))


def test_psem_706_53_13_has_no_limit_on_the_r61_33_route_only() -> None:
    """R61-33 (décret 2008-1129) holds the no-limit exception, for the JAP's route (review E3)."""
    case = {
        "measure": "psem",
        "as_of": "2026-06-01",
        "birth_date": "1970-01-01",
        "sentences": [{"quantum": "P15Y", "category": "crime", "offences": ["list_706_53_13"]}],
        "facts": {
            "route": "R61-33",
            "detained": True,
            "commission_opinion": True,
            "dangerousness_established": True,
        },
    }
    out = assess(case)
    assert out["outcome"] == "eligible"
    assert "max_duration_months" not in out["figures"]
    assert "renewals_allowed" not in out["figures"]
    court = assess(case | {"facts": {"route": "131-36-10", "dangerousness_established": True}})
    assert court["figures"]["max_duration_months"] == 72


def test_output_is_json_serialisable_for_every_public_case() -> None:
    for case in CASES.values():
        try:
            json.dumps(assess(case))
        except LawInputError:
            continue


def test_input_error_is_a_value_error_with_one_line() -> None:
    with pytest.raises(ValueError) as info:
        assess({"measure": "bar", "facts": {"alert_distance_km": True}})
    assert isinstance(info.value, LawInputError)
    assert "\n" not in str(info.value) and "facts.alert_distance_km" in str(info.value)


def test_as_of_defaults_to_today_in_paris() -> None:
    case = {k: v for k, v in CASES["BAR: 2 km alert distance, spouse, victim consents"].items()}
    del case["as_of"]
    assert dt.date.fromisoformat(assess(case)["as_of"]) >= dt.date(2026, 1, 1)


def test_month_arithmetic_helpers() -> None:
    assert earliest_reaching(dt.date(2027, 5, 31), 3) == dt.date(2027, 3, 1)
    assert latest_within(dt.date(2026, 3, 31), 1) == dt.date(2026, 2, 28)
    # Christmas and a Sunday are not jours ouvrables; Saturday is.
    assert add_jours_ouvrables(dt.date(2026, 12, 24), 2) == dt.date(2026, 12, 28)
