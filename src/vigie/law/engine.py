"""`assess`: the one entry point behind the CLI, the API and the cases."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any
from zoneinfo import ZoneInfo

from vigie import clock
from vigie.law.arse import assess_arse
from vigie.law.bar import assess_bar
from vigie.law.case import Case, parse_case
from vigie.law.ddse import assess_ddse
from vigie.law.decision import Decision
from vigie.law.errors import LawInputError
from vigie.law.fiche import assess_fiche
from vigie.law.lsc import assess_lsc
from vigie.law.params import ParameterNotInForce
from vigie.law.psem import assess_psem
from vigie.law.sentence import term_dates, term_figures, term_of
from vigie.law.trace import Trace

PARIS = ZoneInfo("Europe/Paris")


def assess_sentence(case: Case, as_of: dt.date) -> Decision:
    """Arithmetic only: the term and its end; no measure is decided."""
    trace = Trace(as_of)
    term = term_of(case, trace, "sentence arithmetic (CPP 716-1)")
    return Decision("sentence", "not_applicable", term_dates(term), term_figures(term), trace)


ASSESSORS: dict[str, Callable[[Case, dt.date], Decision]] = {
    "sentence": assess_sentence,
    "lsc": assess_lsc,
    "ddse": assess_ddse,
    "arse": assess_arse,
    "psem": assess_psem,
    "bar": assess_bar,
}


def decide(case: Case) -> Decision:
    """Assess a validated case; a date before any modelled text is an input error, not a crash."""
    try:
        return ASSESSORS[case.measure](case, case.as_of or clock.today_in_paris())
    except ParameterNotInForce as exc:
        raise LawInputError("case", f"no text modelled in force on that date: {exc}") from None


def assess(case: dict[str, Any]) -> dict[str, Any]:
    """Assess a case given as in CONTRACT.md; return the decision as JSON-ready data.

    Raises `LawInputError` (a `ValueError`) naming the field for any invalid input.
    A `fiche` (several sentences on their own dates, docs/law/fiche.md) has its own shape.
    """
    if isinstance(case, dict) and case.get("measure") == "fiche":
        return assess_fiche(case)
    return decide(parse_case(case)).as_dict()
