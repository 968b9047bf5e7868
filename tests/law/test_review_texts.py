"""Issue 14, the texts themselves: citations corrected (review section G), notices that can be
signed (R24-20, 720-I), month-end conventions named in the trace, assumptions listed."""

from __future__ import annotations

import json
from typing import Any

from tests.law.conftest import public_cases, vigie
from vigie.law import assess
from vigie.law.notice import notice

CASES = {c["name"]: c["case"] for c in public_cases()}
THREE_YEARS = CASES["3 years: examined after 2 years served (service-public F34150)"]
BAR = CASES["BAR: 2 km alert distance, spouse, victim consents"]
ARSE = CASES["ARSE: first term of six months"]


def cited(case: dict[str, Any]) -> dict[str, str]:
    return {s["rule"]: s["citation"] for s in assess(case)["trace"]}


def test_ddse_early_end_cites_cpp_713_43() -> None:
    """Review C1/G: the early end at half is CPP 713-43 (a JAP ordonnance), not CP 131-4-1."""
    case = {
        "measure": "ddse",
        "as_of": "2026-06-01",
        "committal_date": "2026-06-01",
        "sentences": [{"quantum": "P4M", "category": "delit"}],
        "facts": {"as_adjustment": False, "incurred_years": 2},
    }
    assert cited(case)["ddse.713-43.early_end_at_half"] == "CPP 713-43"


def test_arse_citations_fitting_d632_2_and_request_140() -> None:
    """Review D5, D6/G: fitting within 5 days is C. pénit. D632-2; the 5/20-day answer is CPP 140
    (through 142-8), not 142-5 / 142-12."""
    steps = cited(ARSE)
    assert steps["arse.fitting_deadline"] == "C. pénit. D632-2"
    assert steps["arse.140.request_answer"] == "CPP 140"
    assert "arse.142-6.consent_with_lawyer" not in steps


def test_psem_no_limit_and_renewal_citations() -> None:
    """Review E3/G: the no-limit exception is R61-33; the renewal six months before is 763-10."""
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
            "start_date": "2026-09-30",
        },
    }
    steps = cited(case)
    assert steps["psem.R61-33.no_limit_706_53_13"] == "CPP R61-33"
    assert steps["psem.763-10.renewal_decided_before_expiry"].startswith("CPP 763-10")


def test_lsc_spip_interview_cites_the_article_of_each_route() -> None:
    """Review B9/G doubted D147-22. Read in the consolidated CPP: D147-17-5 (sub-section of 720-I)
    and D147-22 (sub-section of the LSC de plein droit) both set the five jours ouvrables; each
    route cites its own."""
    automatic = CASES["18 months: automatic with three months left"]
    assert cited(automatic)["lsc.spip_first_interview"] == "CPP D147-22"
    assert cited(THREE_YEARS)["lsc.spip_first_interview"] == "CPP D147-17-5"


def test_lsc_decision_is_not_executed_before_the_parquet_s_24_hours() -> None:
    """CPP D49-40 (read): « Les dispositions du présent article sont également applicables aux
    décisions ordonnant une libération sous contrainte. »"""
    steps = cited(THREE_YEARS)
    assert steps["lsc.D49-40.parquet_visa"] == "CPP D49-40"


def test_arse_articles_date_from_loi_2009_1436() -> None:
    """Review D9/G: 142-7 and 142-11 since 26 November 2009, not 2000."""
    from vigie.law.params import _table

    articles = _table("articles")["articles"]
    assert str(articles["CPP 142-7"]["since"]) == "2009-11-26"
    assert str(articles["CPP 142-11"]["since"]) == "2009-11-26"


def test_every_parameter_says_where_its_text_was_read() -> None:
    """Issue 14 point 7: where a citation cannot be verified, the parameter file says so."""
    from vigie.law.params import _table

    for file in ("sentence", "lsc", "ddse", "arse", "psem", "bar"):
        for name, entry in _table(file).items():
            assert entry.get("verified"), f"{file}.{name}"
    for name, entry in _table("articles")["articles"].items():
        assert entry.get("verified"), name


def test_r24_20_notice_quotes_the_decree() -> None:
    """Review F4: 1° consent and refusal, 2° « en aucun cas », 3° « volontairement » and « ou de
    provoquer son rapprochement », 4° and 5°; no invented qualifier « à lui seul »."""
    text = notice(BAR)
    assert "ne peut être\neffectuée sans son consentement" in text or (
        "ne peut être effectuée sans son consentement" in " ".join(text.split())
    )
    flat = " ".join(text.split())
    assert "ne peut en aucun cas donner lieu à révocation du contrôle judiciaire" in flat
    assert "se rapprocher volontairement de la victime, ou de provoquer son rapprochement" in flat
    assert "rechargement périodique du dispositif" in flat
    assert "à lui seul" not in flat and "sciemment" not in flat
    for point in ("1°", "2°", "3°", "4°", "5°"):
        assert point in text


def test_lsc_i_notice_is_an_examination_not_a_release() -> None:
    """Review B8: in 720-I the two-thirds date is the JAP's examination; if none takes place the
    president of the chambre de l'application des peines may be seized (720-I al. 5)."""
    flat = " ".join(notice(THREE_YEARS).split())
    assert "non une date de sortie" in flat
    assert "président de la chambre de l'application des peines" in flat
    assert "D147-18" in flat
    assert "pour une sortie le 10 janvier 2027" not in flat


def test_month_end_convention_is_named_in_the_trace() -> None:
    """Issue 14 point 2: each use names its convention."""
    automatic = assess(CASES["18 months: automatic with three months left"])
    step = next(
        s for s in automatic["trace"] if s["rule"] == "lsc.720-II.automatic_three_months_left"
    )
    assert "month's last day" in step["note"]
    rolled = assess(
        {
            "measure": "sentence",
            "committal_date": "2025-12-31",
            "sentences": [{"quantum": "P2M", "category": "delit"}],
        }
    )
    step = next(s for s in rolled["trace"] if s["rule"] == "sentence.roll_forward_missing_day")
    assert "roll forward" in step["note"]


def test_assumptions_are_in_the_cli_output() -> None:
    """CONTRACT: absent optional facts are listed in `assumptions` with the value taken."""
    run = vigie(
        "law", "assess", "-", stdin=json.dumps(CASES["18 months: automatic with three months left"])
    )
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["assumptions"]["amenagement_sous_ecrou"] is False
    assert any(s["rule"] == "assumption.amenagement_sous_ecrou" for s in out["trace"])
