"""House arrest under electronic surveillance — ARSE (CPP 142-5 to 142-13).

Ordered « d'office ou à la demande de l'intéressé » (since loi 2019-222, 1 June 2019: consent is
no longer a condition), for six months, renewable for the same period, two years at most in
all; the mobile variant (ARSEM) needs an offence punishable by more than seven years for which
socio-judicial supervision is incurred, or (142-12-1) violence or threats punishable by five
years against a partner or former partner, or the children. Every condition is read with the
law in force on the order date (the day of the effect), not on `as_of`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from vigie.law import params
from vigie.law.case import Case, Facts, require
from vigie.law.decision import Decision
from vigie.law.errors import LawInputError
from vigie.law.reckoning import (
    MonthEnd,
    add_months,
    add_quantum,
    months_deadline,
    parse_quantum,
    procedural_deadline,
)
from vigie.law.trace import Finding, Trace, rule

NEEDED_BY = "ARSE (CPP 142-5 to 142-7)"


@dataclass(frozen=True)
class ArseFacts:
    mis_en_examen: bool
    consent_with_lawyer: bool | None
    spip_check_done: bool
    incurred_years: float
    order_date: dt.date
    renewals_so_far: int
    mobile: bool
    ssj_incurred: bool
    partner_violence_5y: bool


def _facts(f: Facts, trace: Trace) -> ArseFacts:
    names = (
        "mis_en_examen",
        "spip_check_done",
        "incurred_years",
        "order_date",
        "renewals_so_far",
        "mobile",
    )
    got = {n: require(f, n, NEEDED_BY) for n in names}
    first = params.first_in_force("arse", "min_incurred_years")
    if got["order_date"] < first:
        raise LawInputError("facts.order_date", f"before the ARSE existed (in force {first})")
    consent = f.consent_with_lawyer
    if params.value("arse", "consent_required", got["order_date"]):
        consent = bool(require(f, "consent_with_lawyer", "CPP 142-5 (orders before 2019-06-01)"))
    mobile = bool(got["mobile"])
    partner: bool | None = False
    if mobile:
        partner = f.partner_violence_5y
        if partner is None:
            partner = bool(trace.assume("partner_violence_5y", False, "the 142-12-1 ARSEM route"))
    ssj = False
    if mobile and not partner:
        ssj = bool(require(f, "ssj_incurred", "ARSEM (CPP 142-5)"))
    elif mobile:
        ssj = bool(f.ssj_incurred)
    return ArseFacts(
        **got, consent_with_lawyer=consent, ssj_incurred=ssj, partner_violence_5y=bool(partner)
    )


@rule("arse.142-5.mis_en_examen", "CPP 142-5")
def mis_en_examen(f: ArseFacts) -> Finding:
    """« L'assignation à résidence avec surveillance électronique peut être ordonnée ... si la
    personne mise en examen ... » (or a defendant awaiting trial)."""
    return f.mis_en_examen, "mis en examen" if f.mis_en_examen else "not mis en examen"


@rule("arse.142-5.incurred_two_years", "CPP 142-5")
def incurred_two_years(f: ArseFacts, on: dt.date) -> Finding:
    """« ... encourt une peine d'emprisonnement correctionnel d'au moins deux ans ou une peine
    plus grave. »"""
    low = float(params.value("arse", "min_incurred_years", on))
    held = f.incurred_years >= low
    return held, f"{f.incurred_years:g} year(s) incurred {'>=' if held else '<'} {low:g}"


@rule("arse.142-5.consent_required_before_2019", "CPP 142-5")
def consent_required(f: ArseFacts) -> Finding:
    """Before loi 2019-222 (orders before 1 June 2019): « avec l'accord ou à la demande de
    l'intéressé », consent given in the presence of a lawyer."""
    held = bool(f.consent_with_lawyer)
    return held, "consent given with a lawyer" if held else "no consent with a lawyer"


@rule("arse.142-5.ordered_d_office", "CPP 142-5")
def ordered_d_office(f: ArseFacts) -> Finding:
    """Since loi 2019-222 (1 June 2019): « d'office ou à la demande de l'intéressé ». Consent is
    not a condition: the device cannot be fitted without it, but refusing the fitting is a
    breach that can lead to revocation and pre-trial detention (142-5 last paragraph, D32-11)."""
    given = {True: "consent given", False: "consent not given", None: "consent not stated"}
    return True, (
        f"ordered d'office or on request; {given[f.consent_with_lawyer]} (informative only); "
        "the person is told that refusing the fitting is a breach (revocation, detention)"
    )


@rule("arse.142-6.spip_check", "CPP 142-6")
def spip_check(f: ArseFacts) -> Finding:
    """The SPIP's check that the measure is technically feasible at the address."""
    held = f.spip_check_done
    return held, "SPIP check done" if held else "SPIP check not done"


@rule("arse.142-5.mobile_variant", "CPP 142-5")
def mobile_variant(f: ArseFacts, on: dt.date) -> Finding:
    """ARSEM: « ... une infraction punie de plus de sept ans d'emprisonnement et pour laquelle le
    suivi socio-judiciaire est encouru ... »"""
    floor = float(params.value("arse", "mobile_min_incurred_years_exclusive", on))
    held = f.incurred_years > floor and f.ssj_incurred
    return held, (
        f"{f.incurred_years:g} year(s) incurred (> {floor:g} needed), "
        f"socio-judicial supervision {'incurred' if f.ssj_incurred else 'not incurred'}"
    )


@rule("arse.142-12-1.mobile_partner_violence", "CPP 142-12-1")
def mobile_partner_violence(f: ArseFacts, on: dt.date) -> Finding:
    """ARSEM for violence or threats punishable by at least five years against a spouse, partner
    or former partner, or against the children: no socio-judicial supervision condition."""
    if not params.in_force("arse", "partner_violence_min_incurred_years", on):
        return False, f"142-12-1 not in force on {on}"
    floor = float(params.value("arse", "partner_violence_min_incurred_years", on))
    held = f.partner_violence_5y and f.incurred_years >= floor
    what = "partner violence" if f.partner_violence_5y else "no partner violence"
    return held, f"{what}; {f.incurred_years:g} year(s) incurred (>= {floor:g} needed)"


@rule("arse.142-7.two_years_in_all", "CPP 142-7")
def two_years_in_all(f: ArseFacts, allowed: int) -> Finding:
    """« ... prolongée pour une même durée ..., sans que la durée totale du placement dépasse deux
    ans. » This rule holds when the cap is respected."""
    held = f.renewals_so_far <= allowed
    return held, f"{f.renewals_so_far} renewal(s) so far, at most {allowed}"


@rule("arse.142-7.current_term", "CPP 142-7")
def current_term(f: ArseFacts, term_end: dt.date, max_end: dt.date) -> Finding:
    """« L'assignation à résidence est ordonnée pour une durée qui ne peut excéder six mois. »"""
    return True, f"current term ends {term_end}; the measure cannot run beyond {max_end}"


@rule("arse.fitting_deadline", "C. pénit. D632-2")
def fitting(order: dt.date, deadline: dt.date, mobile: bool) -> Finding:
    """The device is fitted within five days of the order; an ARSEM ordered on release is
    fitted before release."""
    note = f"order of {order}: fit the device by {deadline}"
    if mobile:
        note += " (ARSEM ordered on release: before release)"
    return True, note


@rule("arse.142-11.credited", "CPP 142-11")
def credited() -> Finding:
    """« L'assignation à résidence avec surveillance électronique est assimilée à une détention
    provisoire pour son imputation intégrale sur une peine privative de liberté. »"""
    return True, "every day under ARSE will be credited against a later prison sentence"


def assess_arse(case: Case, as_of: dt.date) -> Decision:
    """Assess an ARSE order: conditions (law of the order date), terms, renewals, deadlines."""
    trace = Trace(as_of)
    f = _facts(case.facts, trace)
    on = f.order_date
    conditions = [mis_en_examen(trace, f), incurred_two_years(trace, f, on)]
    if params.value("arse", "consent_required", on):
        conditions.append(consent_required(trace, f))
    else:
        ordered_d_office(trace, f)
    conditions.append(spip_check(trace, f))
    if f.mobile:
        routes = [mobile_variant(trace, f, on), mobile_partner_violence(trace, f, on)]
        conditions.append(any(routes))
    term = parse_quantum(params.value("arse", "term", on))
    cap = parse_quantum(params.value("arse", "max_total", on))
    allowed = cap.total_months // term.total_months - 1
    term_end = add_months(f.order_date, term.total_months * (f.renewals_so_far + 1)).end
    max_end = add_quantum(f.order_date, cap).end
    fit = f.order_date + dt.timedelta(days=int(params.value("arse", "fitting_days", on)))
    dates = {
        "order_date": f.order_date.isoformat(),
        "fitting_deadline": fit.isoformat(),
        "term_end": min(term_end, max_end).isoformat(),
        "max_end": max_end.isoformat(),
    }
    figures = {
        "term_months": term.total_months,
        "max_duration_months": cap.total_months,
        "renewals_allowed": allowed,
        "renewals_left": max(0, allowed - f.renewals_so_far),
    }
    decision = Decision("arse", "not_applicable", dates, figures, trace)
    if not all(conditions):
        return decision
    within_cap = two_years_in_all(trace, f, allowed)
    current_term(trace, f, min(term_end, max_end), max_end)
    fitting(trace, f.order_date, fit, f.mobile)
    credited(trace)
    _deadlines(case, trace, decision, on)
    decision.outcome = "eligible" if within_cap else "excluded"
    return decision


def _deadlines(case: Case, trace: Trace, decision: Decision, on: dt.date) -> None:
    """Answers to a request, appeal and compensation, with CPP 801's extension to a workday."""
    judge = int(params.value("arse", "judge_answer_days", on))
    chamber = int(params.value("arse", "chamber_answer_days", on))
    appeal = int(params.value("arse", "appeal_days", on))
    months = int(params.value("arse", "compensation_months", on))
    decision.figures |= {
        "judge_answer_days": judge,
        "chamber_answer_days": chamber,
        "appeal_days": appeal,
        "compensation_months": months,
    }
    facts = case.facts
    note = f"judge rules within {judge} days, else the chamber within {chamber} days"
    if facts.request_date is not None:
        by = procedural_deadline(facts.request_date + dt.timedelta(days=judge))
        decision.dates["judge_answer_by"] = by.isoformat()
        seized = by + dt.timedelta(days=1)
        chamber_by = procedural_deadline(seized + dt.timedelta(days=chamber))
        decision.dates["chamber_answer_by"] = chamber_by.isoformat()
        note += f": judge by {by}; if seized on {seized}, chamber by {chamber_by} or lifted"
    trace.record("arse.140.request_answer", "CPP 140", True, note + " (CPP 142-8)")
    note = f"appeal within {appeal} days of notification"
    notified = facts.notified_on or facts.notification_date
    if notified is not None:
        by = procedural_deadline(notified + dt.timedelta(days=appeal))
        decision.dates["appeal_deadline"] = by.isoformat()
        note += f": by {by} (CPP 801)"
    trace.record("arse.186.appeal", "CPP 186", True, note)
    note = (
        f"compensation may be asked within {months} months of a final dismissal or acquittal "
        f"(a délai: month end = {MonthEnd.CLAMP.value}, then CPP 801)"
    )
    if facts.final_decision_date is None:
        trace.assume("final_decision_date", None, "no compensation_deadline without it")
    else:
        by = months_deadline(facts.final_decision_date, months)
        decision.dates["compensation_deadline"] = by.isoformat()
        note += f": by {by}"
    trace.record("arse.149-2.compensation", "CPP 149-2", True, note)
