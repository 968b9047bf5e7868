"""Sentence arithmetic: when a prison term ends, and how long it is (CPP 716-1 to 716-4, 721).

Each firm sentence is added in turn from the committal date, in the order listed (the order of
execution; months and years date to date, an end on a missing day rolled forward), then the
days credited (pre-trial detention, ARSE) and the reductions granted are taken off the end, day
for day: CPP 716-4 deducts the detention « de la durée de la peine ». Every *threshold* compares
the summed legal duration (`LegalDuration`), never dates, so the listing order never changes an
outcome. Credits that cover the sentence mean it is served: the end is the committal date.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from vigie.law import params
from vigie.law.case import Case, Sentence
from vigie.law.errors import LawInputError
from vigie.law.reckoning import (
    LegalDuration,
    MonthEnd,
    Quantum,
    Span,
    add_months,
    add_quantum,
    release_day,
)
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
    ecrou: dt.date  # first placed sous écrou (pre-trial detention included): chooses the 721 regime
    served: bool = False  # credits cover the whole sentence
    crp_days: int | None = None  # pre-2023 regime: the CRP a person had at écrou

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


def total(sentences: tuple[Sentence, ...]) -> LegalDuration:
    """The summed legal duration of the firm parts (716-1: 12 months a year, 30 days a month)."""
    return LegalDuration.of(*(s.quantum for s in sentences))


def total_at_most(sentences: tuple[Sentence, ...], limit: Quantum) -> bool:
    """Whether the summed legal duration is at most `limit`: « une durée totale » (720, 723-7)
    is a duration, so 4 y 11 m + 1 m is exactly five years, in any order."""
    return total(sentences) <= LegalDuration.of(limit)


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
    """Month-end convention for an *end instant* (716-1 is silent): date to date on a day the
    target month lacks (31 January + 2 months, 29 February + 1 year) rolls to the 1st of the
    next month: detention runs through the end of the shorter month."""
    rolled = [s.rolled for s in chain(sentences, start)[1] if s.rolled]
    if not rolled:
        return False, "no date-to-date count fell on a day missing from its month"
    days = ", ".join(str(d) for d in rolled)
    return True, f"target day missing from its month; {MonthEnd.ROLL_FORWARD.value}: {days}"


@rule("sentence.several_sentences_add_up", "CPP 720-I")
def several_sentences_add_up(sentences: tuple[Sentence, ...]) -> Finding:
    """« ... une ou plusieurs peines privatives de liberté d'une durée totale ... »: the firm
    parts are summed as a legal duration (716-1) for every threshold, in any order."""
    summed = total(sentences).iso()
    if len(sentences) < 2:
        return False, f"a single sentence; legal duration {summed}"
    return True, f"{len(sentences)} sentences; summed legal duration {summed} (order irrelevant)"


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


@rule("sentence.reductions_regime", "CPP 721")
def reductions_regime(ecrou: dt.date, post_2023: bool) -> Finding:
    """Loi n° 2021-1729: the new 721 applies to persons placed sous écrou from 1 January 2023
    (pre-trial detention included); before, the CRP credited at écrou and the RPS."""
    if post_2023:
        return True, f"placed sous écrou on {ecrou}: reductions granted by the judge (721, 2023)"
    return (
        False,
        f"placed sous écrou on {ecrou}, before 2023: CRP at écrou + RPS (former 721, 721-1)",
    )


@rule("sentence.reductions_granted", "CPP 721")
def reductions_granted(reductions: int, ceiling: int | None, detail: str) -> Finding:
    """« ... dans la limite de six mois par année d'incarcération et de quatorze jours par mois
    pour une durée d'incarcération inférieure à une année » (721-1-1, 721-1-2: lower limits)."""
    return reductions > 0, f"{reductions} day(s) granted; ceiling {ceiling} day(s) ({detail})"


@rule("sentence.served_by_credits", "CPP 716-4")
def served_by_credits(credited: int, reductions: int, quantum_days: int, at: dt.date) -> Finding:
    """Detention « intégralement déduite de la durée de la peine »: credits that cover the whole
    sentence mean it is served (daily after a comparution immédiate): released at committal."""
    if credited + reductions < quantum_days:
        return False, f"{credited + reductions} d credited/reduced < {quantum_days} d of sentence"
    return True, (
        f"{credited} d credited and {reductions} d of reductions cover the {quantum_days} d "
        f"sentence: served, release on {at}"
    )


@rule("sentence.release_on_jour_ouvrable", "CPP 716-3")
def release_on_jour_ouvrable(end: dt.date) -> Finding:
    """« Le condamné dont l'incarcération devrait prendre fin un jour de fête légale ou un
    dimanche sera libéré le jour ouvrable précédent. »"""
    release = release_day(end)
    if release == end:
        return False, f"{end} is a jour ouvrable"
    return True, f"{end} is a Sunday or public holiday: released on {release}"


@dataclass(frozen=True)
class Rate:
    """A reductions ceiling: months per whole year, days per month (partial months pro rata)."""

    per_year_months: int
    per_month_days: int

    def on(self, d: LegalDuration) -> tuple[int, int]:
        """(months, days) of ceiling for a legal duration: whole years, whole months, then the
        days beyond the last whole month pro rata (30-day month, rounded down)."""
        years, months = divmod(d.months, 12)
        days = months * self.per_month_days + d.days * self.per_month_days // 30
        return years * self.per_year_months, days


def _rate(prefix: str, on: dt.date) -> Rate:
    return Rate(
        int(params.value("sentence", f"{prefix}_per_year_months", on)),
        int(params.value("sentence", f"{prefix}_per_month_days", on)),
    )


def _regime(s: Sentence) -> str:
    """Which 721 ceiling a sentence falls under (the strictest that applies)."""
    if "terrorism" in s.offences and "terrorism_421_2_5" not in s.offences:
        return "terrorism"  # 721-1-1, except 421-2-5 to 421-2-5-2
    if "public_authority_721_1_2" in s.offences:
        return "authority_crime" if s.category == "crime" else "authority_delit"
    return "reduction"  # 721: the total of consecutive sentences


def _in_days(months: int, days: int, end: dt.date) -> int:
    """A ceiling of months and days in days, counted back from the end it shortens."""
    return (end - add_months(end, -months, MonthEnd.CLAMP).end).days + days


def ceiling_2023(sentences: tuple[Sentence, ...], end: dt.date, on: dt.date) -> tuple[int, str]:
    """721, 721-1-1, 721-1-2: each regime on the summed duration of its sentences."""
    groups: dict[str, list[Sentence]] = {}
    for s in sentences:
        groups.setdefault(_regime(s), []).append(s)
    months = days = 0
    parts = []
    for regime, group in sorted(groups.items()):
        m, d = _rate(regime, on).on(total(tuple(group)))
        months, days = months + m, days + d
        parts.append(f"{regime} on {total(tuple(group)).iso()}: {m} m + {d} d")
    return _in_days(months, days, end), "; ".join(parts)


def ceiling_before_2023(
    sentences: tuple[Sentence, ...], end: dt.date, on: dt.date
) -> tuple[int, int, str]:
    """Former 721 (CRP at écrou) + 721-1 (RPS): (CRP days, CRP + RPS ceiling days, detail)."""
    d = total(sentences)
    years, months = divmod(d.months, 12)
    first = int(params.value("sentence", "crp_first_year_months", on))
    nxt = int(params.value("sentence", "crp_next_years_months", on))
    per_month = int(params.value("sentence", "crp_per_month_days", on))
    cap = int(params.value("sentence", "crp_partial_cap_months", on))
    crp_months = (first + nxt * (years - 1)) if years else 0
    partial = months * per_month + d.days * per_month // 30
    if years and partial > _in_days(cap, 0, end):
        crp_months, partial = crp_months + cap, 0
    crp = _in_days(crp_months, partial, end)
    rps_m, rps_d = _rate("rps", on).on(d)
    ceiling = crp + _in_days(rps_m, rps_d, add_months(end, -crp_months, MonthEnd.CLAMP).end)
    return crp, ceiling, f"CRP {crp_months} m + {partial} d = {crp} d; RPS {rps_m} m + {rps_d} d"


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
    quantum_days = (quantum_end - committal).days
    pretrial_detention_credited(trace, case.pretrial_days)
    arse_credited(trace, case.arse_days)
    ecrou = case.ecrou_date
    if ecrou is None:
        ecrou = trace.assume(
            "ecrou_date",
            committal - dt.timedelta(days=case.pretrial_days),
            "continuous detention: committal less the pre-trial days (the 721 regime follows it)",
        )
    base_end = quantum_end - dt.timedelta(days=credited)
    post_2023 = params.in_force("sentence", "reduction_per_year_months", ecrou)
    reductions_regime(trace, ecrou, post_2023)
    crp: int | None = None
    ceiling: int | None = None
    if post_2023:
        ceiling, detail = ceiling_2023(case.sentences, base_end, ecrou)
    elif params.in_force("sentence", "crp_first_year_months", ecrou):
        crp, ceiling, detail = ceiling_before_2023(case.sentences, base_end, ecrou)
        detail += "; reductions_days = CRP kept + RPS granted"
    else:
        detail = f"no reductions regime modelled for an écrou on {ecrou} (before 2005)"
    if ceiling is not None and case.reductions_days > ceiling:
        raise LawInputError(
            "reductions_days",
            f"{case.reductions_days} day(s) exceed the legal ceiling of {ceiling} day(s) "
            f"({detail}; CPP 721)",
        )
    reductions_granted(trace, case.reductions_days, ceiling, detail)
    end = base_end - dt.timedelta(days=case.reductions_days)
    served = served_by_credits(trace, credited, case.reductions_days, quantum_days, committal)
    if served:
        end = committal
    release_on_jour_ouvrable(trace, end)
    return Term(
        committal=committal,
        effective_start=start,
        quantum_end=quantum_end,
        sentence_end=end,
        credited_days=credited,
        reductions_days=case.reductions_days,
        reductions_ceiling_days=ceiling,
        ecrou=ecrou,
        served=served,
        crp_days=crp,
    )


def term_dates(term: Term) -> dict[str, str]:
    release = term.sentence_end if term.served else release_day(term.sentence_end)
    return {
        "effective_start": term.effective_start.isoformat(),
        "sentence_end": term.sentence_end.isoformat(),
        "release_date": release.isoformat(),
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
    if term.crp_days is not None:
        out["crp_days"] = term.crp_days
    return out
