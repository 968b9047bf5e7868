"""Sentence arithmetic: when a prison term ends, and how long it is (CPP 716-1 to 716-4, 721).

Each firm sentence is added in turn from the committal date (they are served one after the
other; months and years date to date), then the days credited (pre-trial detention, ARSE) and
the reductions granted are taken off the end, day for day: CPP 716-4 deducts the detention
« de la durée de la peine », so a day credited is a day less, whatever the month. The effective
start `committal - credited days` is where time served is counted from (720-I).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from vigie.law import params
from vigie.law.case import Case, Sentence
from vigie.law.errors import LawInputError
from vigie.law.reckoning import Quantum, Span, add_months, add_quantum, release_day
from vigie.law.trace import Finding, Trace, rule


@dataclass(frozen=True)
class Term:
    """The computed prison term of a case."""

    committal: dt.date
    effective_start: dt.date
    quantum_end: dt.date  # committal + every quantum, before credits and reductions
    sentence_end: dt.date  # the day of release at the end of the term
    credited_days: int
    reductions_days: int
    reductions_ceiling_days: int | None

    @property
    def total_days(self) -> int:
        """T: days from the effective start to the end of the term."""
        return (self.sentence_end - self.effective_start).days

    @property
    def quantum_days(self) -> int:
        return (self.quantum_end - self.committal).days

    def served_on(self, day: dt.date) -> int:
        return (day - self.effective_start).days

    def left_on(self, day: dt.date) -> int:
        return (self.sentence_end - day).days


def total_at_most(sentences: tuple[Sentence, ...], start: dt.date, limit: Quantum) -> bool:
    """Whether the sentences, added up from `start`, last no longer than `limit` from it.

    Both sides are counted the same way (date to date from the same start), so "exactly
    five years" is at most five years and one day more is not.
    """
    return chain(sentences, start)[0] <= add_quantum(start, limit).end


def chain(sentences: tuple[Sentence, ...], start: dt.date) -> tuple[dt.date, list[Span]]:
    """Add the sentences one after the other; return the end and each step's span."""
    spans: list[Span] = []
    end = start
    for s in sentences:
        span = add_quantum(end, s.quantum)
        spans.append(span)
        end = span.end
    return end, spans


@rule("sentence.one_month_is_30_days", "CPP 716-1")
def one_month_is_30_days(sentences: tuple[Sentence, ...]) -> Finding:
    """« La peine d'un jour d'emprisonnement est de vingt-quatre heures. Celle d'un mois est de
    trente jours. »"""
    ones = [i for i, s in enumerate(sentences) if s.quantum.is_one_month]
    if not ones:
        return False, "no sentence of exactly one month"
    return True, f"sentence(s) {ones} of one month counted as 30 days"


@rule("sentence.date_to_date", "CPP 716-1")
def date_to_date(sentences: tuple[Sentence, ...], start: dt.date) -> Finding:
    """« Celle de plus d'un mois se calcule de quantième en quantième. »"""
    end, spans = chain(sentences, start)
    parts, begin = [], start
    for s, span in zip(sentences, spans, strict=True):
        parts.append(f"{s.quantum.iso()} from {begin} to {span.end}")
        begin = span.end
    longer = any(s.quantum.total_months and not s.quantum.is_one_month for s in sentences)
    return longer, "; ".join(parts) + f"; all sentences end {end}"


@rule("sentence.roll_forward_missing_day", "CPP 716-1")
def roll_forward_missing_day(sentences: tuple[Sentence, ...], start: dt.date) -> Finding:
    """Vigie's policy where 716-1 is silent: date to date on a day the target month lacks
    (31 January + 2 months, 29 February + 1 year) rolls to the first day of the next month."""
    rolled = [s.rolled for s in chain(sentences, start)[1] if s.rolled]
    if not rolled:
        return False, "no date-to-date count fell on a day missing from its month"
    days = ", ".join(str(d) for d in rolled)
    return True, f"target day missing from its month; rolled forward to {days} (Vigie policy)"


@rule("sentence.several_sentences_add_up", "CPP 720-I")
def several_sentences_add_up(sentences: tuple[Sentence, ...]) -> Finding:
    """« ... une ou plusieurs peines privatives de liberté d'une durée totale ... »: sentences
    served one after the other are added up for every threshold."""
    if len(sentences) < 2:
        return False, "a single sentence"
    return True, f"{len(sentences)} sentences served one after the other, added up"


@rule("sentence.pretrial_detention_credited", "CPP 716-4")
def pretrial_detention_credited(pretrial_days: int) -> Finding:
    """« Quand il y a eu détention provisoire à quelque stade que ce soit de la procédure, cette
    détention est intégralement déduite de la durée de la peine prononcée ... »"""
    return pretrial_days > 0, f"{pretrial_days} day(s) of pre-trial detention credited in full"


@rule("sentence.arse_credited", "CPP 142-11")
def arse_credited(arse_days: int) -> Finding:
    """« L'assignation à résidence avec surveillance électronique est assimilée à une détention
    provisoire pour son imputation intégrale sur une peine privative de liberté. »"""
    return arse_days > 0, f"{arse_days} day(s) under ARSE credited in full"


@rule("sentence.reductions_granted", "CPP 721")
def reductions_granted(reductions: int, ceiling: int | None) -> Finding:
    """Reductions are granted by the judge (for committals from 1 January 2023): at most six
    months per year of incarceration and fourteen days per month under a year."""
    if ceiling is None:
        return reductions > 0, f"{reductions} day(s) granted (no ceiling computed before 2023)"
    note = f"{reductions} day(s) granted; legal ceiling {ceiling} day(s)"
    if reductions > ceiling:
        note += " — ABOVE the ceiling: check the input"
    return reductions > 0, note


@rule("sentence.release_on_jour_ouvrable", "CPP 716-3")
def release_on_jour_ouvrable(end: dt.date) -> Finding:
    """« Le condamné dont l'incarcération devrait prendre fin un jour de fête légale ou un
    dimanche sera libéré le jour ouvrable précédent. »"""
    release = release_day(end)
    if release == end:
        return False, f"{end} is a jour ouvrable"
    return True, f"{end} is a Sunday or public holiday: released on {release}"


def reductions_ceiling(start: dt.date, quantum_end: dt.date, committal: dt.date) -> int | None:
    """Ceiling of reductions: 180 days per whole year, 14 per whole month of the remainder."""
    if not params.in_force("sentence", "reduction_per_year_days", committal):
        return None
    per_year = int(params.value("sentence", "reduction_per_year_days", committal))
    per_month = int(params.value("sentence", "reduction_per_month_days", committal))
    months = 0
    while add_months(start, months + 1).end <= quantum_end:
        months += 1
    years, rest = divmod(months, 12)
    return years * per_year + rest * per_month


def term_of(case: Case, trace: Trace, needed_by: str) -> Term:
    """Compute the term of `case`, recording the arithmetic rules in `trace`."""
    if case.committal_date is None:
        raise LawInputError("committal_date", f"missing; needed by {needed_by}")
    if not case.sentences:
        raise LawInputError("sentences", f"at least one sentence is needed by {needed_by}")
    committal = case.committal_date
    credited = case.pretrial_days + case.arse_days
    start = committal - dt.timedelta(days=credited)
    several_sentences_add_up(trace, case.sentences)
    one_month_is_30_days(trace, case.sentences)
    date_to_date(trace, case.sentences, committal)
    roll_forward_missing_day(trace, case.sentences, committal)
    quantum_end = chain(case.sentences, committal)[0]
    pretrial_detention_credited(trace, case.pretrial_days)
    arse_credited(trace, case.arse_days)
    ceiling = reductions_ceiling(committal, quantum_end, committal)
    reductions_granted(trace, case.reductions_days, ceiling)
    end = quantum_end - dt.timedelta(days=credited + case.reductions_days)
    if end <= committal:
        raise LawInputError(
            "reductions_days" if case.reductions_days else "pretrial_days",
            f"{credited} day(s) credited and {case.reductions_days} day(s) of reductions "
            f"leave nothing to serve after committal (term {(quantum_end - committal).days} days)",
        )
    release_on_jour_ouvrable(trace, end)
    return Term(
        committal=case.committal_date,
        effective_start=start,
        quantum_end=quantum_end,
        sentence_end=end,
        credited_days=credited,
        reductions_days=case.reductions_days,
        reductions_ceiling_days=ceiling,
    )


def term_dates(term: Term) -> dict[str, str]:
    return {
        "effective_start": term.effective_start.isoformat(),
        "sentence_end": term.sentence_end.isoformat(),
        "release_date": release_day(term.sentence_end).isoformat(),
    }


def term_figures(term: Term) -> dict[str, int]:
    out = {
        "total_days": term.total_days,
        "quantum_days": term.quantum_days,
        "credited_days": term.credited_days,
        "reductions_days": term.reductions_days,
    }
    if term.reductions_ceiling_days is not None:
        out["reductions_ceiling_days"] = term.reductions_ceiling_days
    return out


def two_thirds_day(term: Term) -> dt.date:
    """The first day on which time served is at least twice the time left: start + ceil(2T/3)."""
    return term.effective_start + dt.timedelta(days=math.ceil(2 * term.total_days / 3))
