"""Constrained release — libération sous contrainte (CPP 720, D147-17 to D147-24).

720-I: examination by the judge at two thirds for a total of at most five years.
720-II: release by operation of law with at most three months left, for at most two years;
720-III lists who is outside II. Where II applies, I is not examined (D147-24).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass

from vigie.law import params
from vigie.law.case import Case, Facts, Sentence, require
from vigie.law.decision import Decision
from vigie.law.reckoning import (
    MonthEnd,
    add_jours_ouvrables,
    earliest_reaching,
    latest_within,
    parse_quantum,
    procedural_deadline,
)
from vigie.law.sentence import (
    Term,
    term_dates,
    term_figures,
    term_of,
    total,
    total_at_most,
)
from vigie.law.trace import Finding, Trace, rule


@dataclass(frozen=True)
class LscFacts:
    """The LSC facts, each required only when a rule reads it (CONTRACT: "an absent fact that a
    rule needs is an input error"): a 6-year sentence is outside the LSC whatever the facts."""

    facts: Facts

    def _read(self, name: str, needed_by: str) -> bool:
        return bool(require(self.facts, name, needed_by))

    @property
    def refused(self) -> bool:
        return self._read("refused_lsc", "CPP 720-I")

    @property
    def request_pending(self) -> bool:
        return self._read("adjustment_request_pending", "CPP 720-I")

    @property
    def disciplinary_violence(self) -> bool:
        return self._read("disciplinary_violence", "CPP 720-III")

    @property
    def has_accommodation(self) -> bool:
        return self._read("has_accommodation", "CPP 720-II")

    def under_amenagement(self, trace: Trace) -> tuple[bool, bool]:
        """(already under an aménagement sous écrou, a PE supervised by prison staff); optional
        facts added after the first contract: absent means false, listed in `assumptions`."""
        under = self.facts.amenagement_sous_ecrou
        if under is None:
            under = trace.assume("amenagement_sous_ecrou", False, "D147-19, D147-24")
        supervised = self.facts.pe_supervised
        if under and supervised is None:
            supervised = trace.assume("pe_supervised", False, "D147-24 al. 1")
        return bool(under), bool(supervised)


def effect_on(file: str, name: str, day: dt.date) -> dt.date:
    """The date whose law applies to an effect on `day`: the day itself, or the rule's entry
    into force if the effect would fall before it (the rule then applies from that date to
    persons already serving). OpenFisca's per-period evaluation, not `as_of`."""
    return max(day, params.first_in_force(file, name))


# --- I: examination at two thirds -------------------------------------------------------


@rule("lsc.720-I.scope_five_years", "CPP 720-I")
def scope_five_years(sentences: tuple[Sentence, ...], on: dt.date) -> Finding:
    """« La situation de toute personne condamnée exécutant une ou plusieurs peines privatives
    de liberté d'une durée totale inférieure ou égale à cinq ans est obligatoirement examinée
    par le juge de l'application des peines ... » (a summed legal duration, 716-1)."""
    limit = parse_quantum(params.value("lsc", "examination_max_total", on))
    held = total_at_most(sentences, limit)
    sign = "<=" if held else ">"
    return held, f"summed legal duration {total(sentences).iso()} {sign} {limit.iso()}"


@rule("lsc.D147-19.amenagement_sous_ecrou", "CPP D147-19")
def amenagement_sous_ecrou(under: bool, pe_supervised: bool) -> Finding:
    """A person already under an aménagement de peine sous écrou (DDSE, semi-liberté, placement
    extérieur) is outside the LSC, I (D147-19) and II (D147-24 al. 1), except a placement
    extérieur supervised by prison staff."""
    if not under:
        return False, "not under an aménagement sous écrou"
    if pe_supervised:
        return False, "placement extérieur supervised by prison staff: the LSC stays open"
    return True, "already under DDSE, semi-liberté or placement extérieur: neither I nor II"


def two_thirds(term: Term, on: dt.date) -> dt.date:
    """First day on which time served >= ratio x time left: start + ceil(ratio T / (1 + ratio))."""
    ratio = int(params.value("lsc", "examination_served_to_left_ratio", on))
    days = math.ceil(ratio * term.total_days / (ratio + 1))
    return term.effective_start + dt.timedelta(days=days)


@rule("lsc.720-I.examination_at_two_thirds", "CPP 720-I")
def examination_at_two_thirds(term: Term, on: dt.date) -> Finding:
    """« ... afin que soit prononcée une libération sous contrainte lorsque la durée de la peine
    accomplie est au moins égale au double de la durée de la peine restant à subir. » The date
    is the judge's examination, not a release; if no examination takes place, the president of
    the chambre de l'application des peines may be seized (720-I al. 5, D49-33)."""
    day = two_thirds(term, on)
    note = (
        f"examination by the JAP from {day} (not a release date): served "
        f"{term.served_on(day)} d >= 2 x left {term.left_on(day)} d (T = {term.total_days} d); "
        "without a decision from that day, the CHAP president may be seized by the prisoner or "
        "the parquet, or act of his own motion, and rules within a month (720-I al. 5, D147-18)"
    )
    if day < term.committal:
        note += f"; already reached at committal ({term.committal})"
    return True, note


@rule("lsc.720-I.1_refused", "CPP 720-I")
def refused_beforehand(facts: LscFacts) -> Finding:
    """« Le présent I n'est pas applicable aux condamnés : 1° Qui ont préalablement fait connaître
    qu'ils refusaient une libération sous contrainte ; »"""
    return facts.refused, "refusal made known" if facts.refused else "no refusal made known"


@rule("lsc.720-I.2_adjustment_request_pending", "CPP 720-I")
def adjustment_request_pending(facts: LscFacts) -> Finding:
    """« 2° Pour lesquels une requête en aménagement de peine est pendante ...; dans ce cas,
    ... l'aménagement doit être ordonné sauf s'il est impossible à mettre en œuvre ... »"""
    if facts.request_pending:
        return True, "request pending: the adjustment itself must be ordered unless impossible"
    return False, "no adjustment request pending"


@rule("lsc.720-I.judge_decides", "CPP 720-I")
def judge_decides() -> Finding:
    """« Le juge de l'application des peines ne peut refuser l'octroi de la libération sous
    contrainte qu'en constatant, par ordonnance spécialement motivée, qu'il est impossible de
    mettre en œuvre une de ces mesures au regard des exigences de l'article 707. »"""
    return True, (
        "the judge must examine; refusal only by a specially reasoned order; modalities: "
        "parole (LC), DDSE, placement extérieur, semi-liberté"
    )


# --- II: automatic with three months left ----------------------------------------------


@rule("lsc.720-II.scope_two_years", "CPP 720-II")
def scope_two_years(sentences: tuple[Sentence, ...], on: dt.date, end: dt.date) -> Finding:
    """« ... une ou plusieurs peines privatives de liberté d'une durée totale inférieure ou égale
    à deux ans ... » (in force from 1 January 2023, for prisoners already serving too). `on` is
    the day the effect would happen: its law applies, not the law of `as_of`."""
    if on >= end:
        return False, f"720-II (in force {on}) comes too late: the term ends {end}"
    limit = parse_quantum(params.value("lsc", "automatic_max_total", on))
    held = total_at_most(sentences, limit)
    sign = "<=" if held else ">"
    return held, (
        f"summed legal duration {total(sentences).iso()} {sign} {limit.iso()} "
        f"(law in force on {on}, the date of effect)"
    )


@rule("lsc.720-II.material_impossibility", "CPP 720-II")
def material_impossibility(facts: LscFacts) -> Finding:
    """« ... sauf en cas d'impossibilité matérielle résultant de l'absence d'hébergement ... »
    (written in II itself; the digest lists it with III)."""
    if facts.has_accommodation:
        return False, "accommodation available"
    return True, "no accommodation: material impossibility"


@rule("lsc.720-III.crime", "CPP 720-III")
def crime(sentences: tuple[Sentence, ...]) -> Finding:
    """Le II n'est pas applicable aux personnes condamnées pour un crime."""
    held = any(s.category == "crime" for s in sentences)
    return held, "a sentence for a crime" if held else "no sentence for a crime"


def _tagged(sentences: tuple[Sentence, ...], *tags: str) -> Finding:
    hits = sorted({t for s in sentences for t in s.offences if t in tags})
    return bool(hits), f"offence tag(s): {', '.join(hits)}" if hits else "no such offence"


@rule("lsc.720-III.terrorism", "CPP 720-III")
def terrorism(sentences: tuple[Sentence, ...]) -> Finding:
    """... ni aux condamnés pour une infraction prévue aux articles 421-1 à 421-6 du code pénal."""
    return _tagged(sentences, "terrorism")


@rule("lsc.720-III.minor_or_public_authority", "CPP 720-III")
def minor_or_public_authority(sentences: tuple[Sentence, ...]) -> Finding:
    """... ni pour une infraction du titre II du livre II du code pénal commise sur un mineur de
    quinze ans ou sur une personne dépositaire de l'autorité publique."""
    return _tagged(sentences, "minor_under_15", "public_authority")


@rule("lsc.720-III.partner_aggravation", "CPP 720-III")
def partner_aggravation(sentences: tuple[Sentence, ...]) -> Finding:
    """... ni pour une infraction commise avec la circonstance aggravante de l'article 132-80 du
    code pénal (conjoint, concubin, partenaire de PACS)."""
    return _tagged(sentences, "partner_aggravation")


@rule("lsc.720-III.disciplinary_violence", "CPP 720-III")
def disciplinary_violence(facts: LscFacts) -> Finding:
    """... ni aux condamnés ayant fait l'objet, pendant leur détention, d'une sanction
    disciplinaire pour des violences contre le personnel, une personne en mission ou en
    visite ou un codétenu, une rébellion violente ou une action collective contre la
    sécurité."""
    held = facts.disciplinary_violence
    return held, "disciplinary sanction for violence" if held else "no such sanction"


@rule("lsc.D147-24.pending_request_no_bar", "CPP D147-24")
def pending_request_no_bar(facts: LscFacts) -> Finding:
    """« La libération sous contrainte de plein droit est applicable y compris lorsqu'une
    instance est pendante devant les juridictions de l'application des peines. »
    The public summary (service-public F34150) lists a pending request against II; the statute
    and D147-24 do not: Vigie follows the texts."""
    if facts.request_pending:
        return False, "request pending: does NOT bar 720-II (D147-24; the public summary says so)"
    return False, "no request pending (would not bar 720-II anyway)"


@rule("lsc.D147-20.applies_even_if_refused", "CPP D147-20")
def applies_even_if_refused(facts: LscFacts) -> Finding:
    """« ... qu'elle est susceptible de bénéficier d'une libération sous contrainte de plein
    droit, même si elle s'y oppose. »"""
    if facts.refused:
        return False, "refusal made known: does NOT bar 720-II (« même si elle s'y oppose »)"
    return False, "no refusal (would not bar 720-II anyway)"


@rule("lsc.720-II.automatic_three_months_left", "CPP 720-II")
def automatic_three_months_left(day: dt.date, term: Term, clamped: bool) -> Finding:
    """« Lorsque la durée de la peine restant à exécuter ... est inférieure ou égale à trois
    mois, la libération sous contrainte s'applique de plein droit ... »"""
    note = (
        f"from {day}: {term.left_on(day)} d left (<= 3 months to {term.sentence_end}; "
        f"backward search, month end: {MonthEnd.CLAMP.value})"
    )
    if clamped:
        note += "; three months or less left already at committal"
    return True, note


@rule("lsc.D147-24.I_not_examined", "CPP D147-24")
def i_not_examined() -> Finding:
    """« Il n'y a pas lieu de faire application des dispositions du I de l'article 720 ...
    lorsque la personne condamnée est éligible à la libération sous contrainte de plein droit. »"""
    return True, "720-II applies, so 720-I is not examined"


# --- deadlines ---------------------------------------------------------------------------


def notice_date(day: dt.date, term: Term, sentences: tuple[Sentence, ...], on: dt.date) -> dt.date:
    """« au moins un mois avant ..., ou, si la peine est inférieure ou égale à six mois, lors de
    sa mise sous écrou » (D147-17 for I, D147-20 for II): the latest day at least one month
    before `day`, never before committal."""
    on = effect_on("lsc", "notice_at_committal_max_sentence", on)
    short = parse_quantum(params.value("lsc", "notice_at_committal_max_sentence", on))
    if total_at_most(sentences, short):
        return term.committal
    before = parse_quantum(params.value("lsc", "notice_before", on))
    return max(term.committal, latest_within(day, before.total_months))


def assess_lsc(case: Case, as_of: dt.date) -> Decision:
    """Assess constrained release for `case`; each rule with the law of the day of its effect."""
    trace = Trace(as_of)
    facts = LscFacts(case.facts)
    term = term_of(case, trace, "CPP 720 (lsc)")
    dates = term_dates(term)
    figures: dict[str, int] = term_figures(term)
    figures["days_left_on_as_of"] = term.left_on(as_of)
    decision = Decision("lsc", "not_applicable", dates, figures, trace)
    exam_day = two_thirds(term, params.first_in_force("lsc", "examination_served_to_left_ratio"))
    exam_on = effect_on("lsc", "examination_max_total", exam_day)
    if not scope_five_years(trace, case.sentences, exam_on):
        return decision
    dates["lsc_examination"] = exam_day.isoformat()
    if term.served:
        return decision  # nothing left to serve: released at committal (716-4)
    under, pe_supervised = facts.under_amenagement(trace)
    if amenagement_sous_ecrou(trace, under, pe_supervised):
        decision.outcome = "excluded"
        return decision

    left = parse_quantum(
        params.value(
            "lsc", "automatic_time_left", effect_on("lsc", "automatic_time_left", term.committal)
        )
    )
    candidate = earliest_reaching(term.sentence_end, left.total_months)
    auto_on = effect_on("lsc", "automatic_max_total", max(candidate, term.committal))
    if scope_two_years(trace, case.sentences, auto_on, term.sentence_end):
        exceptions = [
            material_impossibility(trace, facts),
            crime(trace, case.sentences),
            terrorism(trace, case.sentences),
            minor_or_public_authority(trace, case.sentences),
            partner_aggravation(trace, case.sentences),
            disciplinary_violence(trace, facts),
        ]
        pending_request_no_bar(trace, facts)
        applies_even_if_refused(trace, facts)
        if not any(exceptions):
            automatic_three_months_left(trace, auto_on, term, candidate < term.committal)
            i_not_examined(trace)
            dates["lsc_automatic"] = auto_on.isoformat()
            _deadlines(trace, case, term, auto_on, dates, figures, auto_on, "CPP D147-20")
            decision.outcome = "automatic"
            return decision

    examination_at_two_thirds(trace, term, exam_on)
    excluded = [refused_beforehand(trace, facts), adjustment_request_pending(trace, facts)]
    if any(excluded):
        decision.outcome = "excluded"
        return decision
    judge_decides(trace)
    _deadlines(trace, case, term, max(exam_day, term.committal), dates, figures, exam_on, "")
    decision.outcome = "judge_decides"
    return decision


def _deadlines(
    trace: Trace,
    case: Case,
    term: Term,
    release: dt.date,
    dates: dict[str, str],
    figures: dict[str, int],
    on: dt.date,
    notice_article: str,
) -> None:
    """Notice, appeal window and first SPIP interview after a constrained release."""
    day = release
    dates["lsc_notice"] = notice_date(day, term, case.sentences, on).isoformat()
    trace.record(
        "lsc.notice",
        notice_article or "CPP D147-17",
        True,
        f"tell the prisoner by {dates['lsc_notice']} (one month before {day}, month end: "
        f"{MonthEnd.CLAMP.value}; or at committal for a sentence of six months or less)",
    )
    on = effect_on("lsc", "spip_interview_working_days", on)
    hours = int(params.value("lsc", "appeal_window_hours", on))
    figures["appeal_window_hours"] = hours
    note = (
        f"appeal within {hours} hours of notification: expires at midnight the day after "
        "(D49-39), carried past a Saturday, Sunday or holiday (CPP 801; Cass. crim. "
        "21 Feb 2007, n° 06-85.078)"
    )
    notified = case.facts.notified_on or case.facts.notification_date
    if notified is None:
        trace.assume("notified_on", None, "no appeal_deadline without the notification date")
    else:
        next_day = notified + dt.timedelta(days=1)
        deadline = procedural_deadline(next_day)
        dates["appeal_deadline"] = deadline.isoformat()
        note += f": notified {notified}, by {deadline} 24:00"
        if deadline != next_day:
            note += f" ({next_day} is a Saturday, Sunday or holiday: CPP 801)"
    trace.record("lsc.appeal_window", "CPP 712-11", True, note)
    trace.record(
        "lsc.D49-40.parquet_visa",
        "CPP D49-40",
        True,
        "no execution before midnight the day after notification to the parquet, unless it "
        "endorses that it does not appeal (« également applicables aux décisions ordonnant une "
        "libération sous contrainte »); after an appeal, the other party has 24 more hours for "
        "an appel incident (D49-39-1)",
    )
    n = int(params.value("lsc", "spip_interview_working_days", on))
    figures["spip_interview_working_days"] = n
    interview = add_jours_ouvrables(day, n)
    dates["spip_interview_by"] = interview.isoformat()
    trace.record(
        "lsc.spip_first_interview",
        notice_article.replace("D147-20", "D147-22") if notice_article else "CPP D147-17-5",
        True,
        f"release on {day}: appear before the SPIP within {n} jours ouvrables, by {interview}"
        + ("" if notice_article else " (if the judge grants the LSC on the examination date)"),
    )
