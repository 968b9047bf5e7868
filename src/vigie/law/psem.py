"""Mobile electronic surveillance — PSEM (CP 131-36-9 to 131-36-13; CPP 763-3, R61-33).

PSEM is a measure of the suivi socio-judiciaire (131-36-9): no SSJ, no PSEM. Two routes: the
sentencing court (CP 131-36-10; 131-36-12-1 at two years since loi 2019-1480) or, for a person
still detained, the judge under CPP 763-3 with the conditions of R61-33 (five years for the
131-36-12-1 offences, not realigned). Duration (CP 131-36-12): two years, renewable once for a
délit, twice for a crime; no limit for fifteen years or more of criminal imprisonment for a
crime of CPP 706-53-13, on the R61-33 route only. Renewal decided six months before (763-10).
Thresholds compare summed legal durations (the digest), never dates.
"""

from __future__ import annotations

import datetime as dt

from vigie.law import params
from vigie.law.case import Case, Sentence, require
from vigie.law.decision import Decision
from vigie.law.errors import LawInputError
from vigie.law.reckoning import (
    LegalDuration,
    MonthEnd,
    Quantum,
    add_months,
    age_on,
    latest_within,
    parse_quantum,
)
from vigie.law.trace import Finding, Trace, rule


def _at_least(sentences: list[Sentence], years: int) -> bool:
    """Whether the sentences' summed legal duration (716-1) is at least `years`."""
    total = LegalDuration.of(*(s.quantum for s in sentences))
    return bool(sentences) and total >= LegalDuration.of(Quantum(years=years))


def qualifying(sentences: tuple[Sentence, ...], route: str, on: dt.date) -> list[Sentence]:
    """The sentences that open PSEM on `route`, each threshold on a summed legal duration (the
    digest: "every threshold ... PSEM years ... compares the summed legal duration"): all the
    firm parts >= 7 years; those for offences in legal recidivism >= 5; those for a 131-36-12-1
    offence >= 2 years (court, since 2019-12-30) or >= 5 years (R61-33)."""
    prefix = "r61_33_" if route == "R61-33" else ""
    seven = int(params.value("psem", f"{prefix}min_sentence_years", on))
    five_r = int(params.value("psem", f"{prefix}min_sentence_years_recidivism", on))
    partner = int(params.value("psem", f"{prefix}min_sentence_years_partner", on))
    found: list[Sentence] = []
    groups = (
        (list(sentences), seven),
        ([s for s in sentences if s.recidivism], five_r),
        ([s for s in sentences if "partner_violence_131_36_12_1" in s.offences], partner),
    )
    for group, years in groups:
        if _at_least(group, years):
            found += [s for s in group if s not in found]
    return found


@rule("psem.131-36-9.within_ssj", "CP 131-36-9")
def within_ssj(ssj: bool) -> Finding:
    """PSEM is a measure of the suivi socio-judiciaire: without an SSJ incurred or pronounced,
    there is no PSEM, by either route."""
    return ssj, "SSJ incurred or pronounced" if ssj else "no suivi socio-judiciaire: no PSEM"


@rule("psem.131-36-10.adult", "CP 131-36-10")
def adult(birth: dt.date, on: dt.date) -> Finding:
    """« ... à l'encontre d'une personne majeure ... »"""
    age = age_on(birth, on)
    return age >= int(params.value("psem", "adult_age_years", on)), f"aged {age} on {on}"


@rule("psem.131-36-10.sentence_threshold", "CP 131-36-10")
def sentence_threshold(found: list[Sentence], count: int, partner_years: int) -> Finding:
    """« ... condamnée à une peine privative de liberté d'une durée égale ou supérieure à sept
    ans ..., ou ... d'une durée égale ou supérieure à cinq ans » in legal recidivism, or under
    CP 131-36-12-1 (« deux ans » since loi 2019-1480: violence or threats punishable by five
    years against a spouse, partner or ex-partner, or their children)."""
    if not found:
        return False, (
            f"none of {count} sentence(s) reaches 7 years, 5 in recidivism, "
            f"or {partner_years} under 131-36-12-1"
        )
    return True, "qualifying sentence(s): " + ", ".join(s.quantum.iso() for s in found)


@rule("psem.R61-33.sentence_threshold", "CPP R61-33")
def r61_33_threshold(found: list[Sentence], count: int) -> Finding:
    """A person still detained, sentenced to at least seven years; or five years for an offence
    in legal recidivism; or five years for an offence of CP 131-36-12-1."""
    if not found:
        return False, f"none of {count} sentence(s) reaches 7 years, or 5 (recidivism, 131-36-12-1)"
    return True, "qualifying sentence(s): " + ", ".join(s.quantum.iso() for s in found)


@rule("psem.131-36-10.dangerousness", "CP 131-36-10")
def dangerousness(established: bool) -> Finding:
    """« ... et dont une expertise médicale a constaté la dangerosité ... »"""
    return established, "established by a medical expert" if established else "not established"


@rule("psem.R61-33.detained", "CPP R61-33")
def detained(still: bool) -> Finding:
    """The person is still detained when the measure is ordered (CPP 763-3)."""
    return still, "still detained" if still else "not detained"


@rule("psem.R61-33.commission_opinion", "CPP R61-33")
def commission_opinion(given: bool) -> Finding:
    """The multidisciplinary commission for security measures gives its opinion; the one-year
    limit of CPP 763-10 does not apply."""
    return given, "opinion given" if given else "no opinion of the commission"


@rule("psem.131-36-12.duration", "CP 131-36-12")
def duration(crime: bool, renewals: int, months: int) -> Finding:
    """« ... ordonné pour une durée de deux ans, renouvelable une fois en matière délictuelle et
    deux fois en matière criminelle. » (the first term cannot exceed two years)"""
    kind = "crime" if crime else "délit"
    return True, f"{kind}: at most 24 months, renewable {renewals} time(s), {months} months at most"


@rule("psem.R61-33.no_limit_706_53_13", "CPP R61-33")
def no_limit(sentences: tuple[Sentence, ...], on: dt.date) -> Finding:
    """No limit for fifteen years or more of criminal imprisonment for a crime of CPP 706-53-13
    (décret 2008-1129): on the JAP's route (763-3, R61-33) only, not the court's."""
    years = int(params.value("psem", "no_limit_min_years", on))
    held = any(
        s.category == "crime" and "list_706_53_13" in s.offences and _at_least([s], years)
        for s in sentences
    )
    return held, (
        "no limit: >= 15 years of criminal imprisonment for a 706-53-13 crime"
        if held
        else "no 706-53-13 crime sentenced to 15 years or more"
    )


def assess_psem(case: Case, as_of: dt.date) -> Decision:
    """Assess PSEM eligibility and its duration."""
    trace = Trace(as_of)
    route = str(require(case.facts, "route", "PSEM"))
    danger = bool(require(case.facts, "dangerousness_established", "CP 131-36-10"))
    if route == "R61-33":
        still = bool(require(case.facts, "detained", "CPP R61-33"))
        opinion = bool(require(case.facts, "commission_opinion", "CPP R61-33"))
    if case.birth_date is None:
        raise LawInputError("birth_date", "missing; needed by CP 131-36-10 (adult)")
    if not case.sentences:
        raise LawInputError("sentences", "at least one sentence is needed by PSEM")
    ssj = case.facts.ssj
    if ssj is None:
        ssj = trace.assume("ssj", True, "PSEM is a measure of the suivi socio-judiciaire")
    found = qualifying(case.sentences, route, as_of)
    conditions = [within_ssj(trace, bool(ssj)), adult(trace, case.birth_date, as_of)]
    if route == "R61-33":
        conditions += [
            r61_33_threshold(trace, found, len(case.sentences)),
            detained(trace, still),
            dangerousness(trace, danger),
            commission_opinion(trace, opinion),
        ]
    else:
        partner = int(params.value("psem", "min_sentence_years_partner", as_of))
        conditions += [
            sentence_threshold(trace, found, len(case.sentences), partner),
            dangerousness(trace, danger),
        ]
    decision = Decision("psem", "not_applicable", {}, {}, trace)
    if not all(conditions):
        return decision
    term = int(params.value("psem", "term_months", as_of))
    crime = any(s.category == "crime" for s in found)
    renewals = int(params.value("psem", "renewals_crime" if crime else "renewals_delit", as_of))
    unlimited = route == "R61-33" and no_limit(trace, case.sentences, as_of)
    decision.figures = {"term_months": term}
    if not unlimited:
        duration(trace, crime, renewals, term * (renewals + 1))
        decision.figures |= {
            "renewals_allowed": renewals,
            "max_duration_months": term * (1 + renewals),
        }
    start = case.facts.start_date
    if start is not None:
        end = add_months(start, term).end
        before = parse_quantum(params.value("psem", "renewal_decided_before", as_of)).total_months
        by = latest_within(end, before)
        decision.dates = {
            "term_start": start.isoformat(),
            "term_end": end.isoformat(),
            "renewal_decision_by": by.isoformat(),
        }
        if not unlimited:
            decision.dates["max_end"] = add_months(start, term * (1 + renewals)).end.isoformat()
        trace.record(
            "psem.763-10.renewal_decided_before_expiry",
            "CPP 763-10",
            True,
            f"term ends {end}: any renewal decided by {by}, six months before "
            f"(backward, month end: {MonthEnd.CLAMP.value})",
        )
    decision.outcome = "eligible"
    return decision
