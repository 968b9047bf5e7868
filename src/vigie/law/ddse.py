"""Home detention under electronic surveillance — DDSE.

As a sentence (CP 131-4-1): fifteen days to six months, never above the prison term incurred.
As a sentence adjustment (CPP 723-7): a total of at most two years, or at most two years left;
also as a probation step before parole, for at most one year.
"""

from __future__ import annotations

import datetime as dt

from vigie.law import params
from vigie.law.case import Case, require
from vigie.law.decision import Decision
from vigie.law.errors import LawInputError
from vigie.law.reckoning import (
    LegalDuration,
    MonthEnd,
    Quantum,
    earliest_reaching,
    parse_quantum,
)
from vigie.law.sentence import chain, term_dates, term_figures, term_of, total, total_at_most
from vigie.law.trace import Finding, Trace, rule


def _quantum(file: str, name: str, on: dt.date) -> Quantum:
    return parse_quantum(params.value(file, name, on))


@rule("ddse.131-4-1.at_least_15_days", "CP 131-4-1")
def at_least_15_days(length: LegalDuration, on: dt.date) -> Finding:
    """« ... pendant une durée comprise entre quinze jours et six mois ... » (legal durations)."""
    low = _quantum("ddse", "sentence_min", on)
    held = length >= LegalDuration.of(low)
    return held, f"{length.iso()} {'>=' if held else '<'} {low.iso()}"


@rule("ddse.131-4-1.at_most_6_months", "CP 131-4-1")
def at_most_6_months(length: LegalDuration, on: dt.date) -> Finding:
    """« ... entre quinze jours et six mois ... »"""
    high = _quantum("ddse", "sentence_max", on)
    held = length <= LegalDuration.of(high)
    return held, f"{length.iso()} {'<=' if held else '>'} {high.iso()}"


@rule("ddse.131-4-1.not_above_incurred", "CP 131-4-1")
def not_above_incurred(length: LegalDuration, incurred_years: float) -> Finding:
    """« ... sans pouvoir excéder la durée de l'emprisonnement encouru. »"""
    months = round(incurred_years * 12)
    held = length <= LegalDuration.of(Quantum(months=months))
    return held, f"{length.iso()} {'within' if held else 'above'} the {incurred_years:g} y incurred"


@rule("ddse.713-43.early_end_at_half", "CPP 713-43")
def early_end_at_half(start: dt.date, end: dt.date) -> Finding:
    """A JAP ordonnance may end the DDSE once half of the sentence pronounced has been served,
    obligations kept, reclassement acquired and no further follow-up needed (réquisitions
    conformes of the parquet, or else a débat contradictoire)."""
    half = start + dt.timedelta(days=-(-(end - start).days // 2))
    return True, f"early end possible from {half} by a JAP ordonnance, on the 713-43 conditions"


@rule("ddse.723-7.total_two_years", "CPP 723-7")
def total_two_years(case: Case, on: dt.date) -> Finding:
    """« ... en cas de condamnation à une ou plusieurs peines privatives de liberté dont la durée
    totale n'excède pas deux ans ... » (a summed legal duration, in any order)."""
    limit = _quantum("ddse", "adjustment_max", on)
    held = total_at_most(case.sentences, limit)
    sign = "<=" if held else ">"
    return held, f"summed legal duration {total(case.sentences).iso()} {sign} {limit.iso()}"


@rule("ddse.723-7.left_two_years", "CPP 723-7")
def left_two_years(end: dt.date, on: dt.date, from_day: dt.date) -> Finding:
    """« ... soit lorsqu'il reste à subir par le condamné une ou plusieurs peines privatives de
    liberté dont la durée totale n'excède pas deux ans. »"""
    held = from_day <= on
    return held, (
        f"two years or less left from {from_day} (term ends {end}; backward search, month end: "
        f"{MonthEnd.CLAMP.value})"
    )


@rule("ddse.723-7.probation_step", "CPP 723-7")
def probation_step(asked: bool, on: dt.date) -> Finding:
    """« ... à titre probatoire de la libération conditionnelle, pour une durée n'excédant pas
    un an. »"""
    cap = _quantum("ddse", "probation_step_max", on)
    if not asked:
        return False, "not asked as a probation step"
    return True, f"as a probation step before parole: at most {cap.iso()}"


def assess_ddse(case: Case, as_of: dt.date) -> Decision:
    """Assess DDSE as a sentence or as a sentence adjustment."""
    trace = Trace(as_of)
    adjustment = bool(require(case.facts, "as_adjustment", "ddse (CP 131-4-1 / CPP 723-7)"))
    if not case.sentences:
        raise LawInputError("sentences", "at least one sentence is needed by ddse")
    decision = Decision("ddse", "not_applicable", {}, {}, trace)
    if adjustment:
        return _adjustment(case, as_of, decision)
    incurred = float(require(case.facts, "incurred_years", "CP 131-4-1"))
    start = case.facts.start_date or case.committal_date or as_of
    end = chain(case.sentences, start)[0]
    length = total(case.sentences)
    held = [
        at_least_15_days(trace, length, as_of),
        at_most_6_months(trace, length, as_of),
        not_above_incurred(trace, length, incurred),
    ]
    decision.figures = {"duration_days": (end - start).days, "max_duration_months": 6}
    if all(held):
        early_end_at_half(trace, start, end)
        decision.dates = {"term_start": start.isoformat(), "term_end": end.isoformat()}
        decision.outcome = "eligible"
    return decision


def _adjustment(case: Case, as_of: dt.date, decision: Decision) -> Decision:
    trace = decision.trace
    eligible = total_two_years(trace, case, as_of)
    if case.committal_date is not None:
        term = term_of(case, trace, "CPP 723-7")
        decision.dates = term_dates(term)
        decision.figures = term_figures(term)
        limit = _quantum("ddse", "adjustment_max", as_of)
        from_day = max(earliest_reaching(term.sentence_end, limit.total_months), term.committal)
        decision.dates["adjustment_from"] = from_day.isoformat()
        eligible = left_two_years(trace, term.sentence_end, as_of, from_day) or eligible
    elif not eligible:
        raise LawInputError("committal_date", "missing; needed by CPP 723-7 (time left)")
    if probation_step(trace, bool(case.facts.probation_step), as_of):
        decision.figures["max_duration_months"] = 12
    decision.outcome = "eligible" if eligible else "not_applicable"
    return decision
