"""Mobile electronic surveillance — PSEM (CP 131-36-9 to 131-36-13; CPP 763-3, R61-33).

Two routes: the sentencing court (CP 131-36-10, 131-36-12-1) or, for a person still
detained, the judge under CPP 763-3 with the conditions of R61-33. Duration (CP 131-36-12):
two years, renewable once for a délit, twice for a crime; no limit for fifteen years or more
of criminal imprisonment for a crime of CPP 706-53-13.
"""

from __future__ import annotations

import datetime as dt

from vigie.law import params
from vigie.law.case import Case, Sentence, require
from vigie.law.decision import Decision
from vigie.law.errors import LawInputError
from vigie.law.reckoning import (
    Quantum,
    add_months,
    add_quantum,
    age_on,
    latest_within,
    parse_quantum,
)
from vigie.law.trace import Finding, Trace, rule


def _at_least(s: Sentence, years: int, anchor: dt.date) -> bool:
    """Whether one sentence is at least `years` long, counted date to date from `anchor`."""
    return add_quantum(anchor, s.quantum).end >= add_quantum(anchor, Quantum(years=years)).end


def qualifying(sentences: tuple[Sentence, ...], anchor: dt.date, on: dt.date) -> list[Sentence]:
    """The sentences that open PSEM: >= 7 years; >= 5 in legal recidivism; >= 5 under 131-36-12-1.

    The texts speak of « une peine »: each sentence is weighed on its own, not added up.
    """
    seven = int(params.value("psem", "min_sentence_years", on))
    five_r = int(params.value("psem", "min_sentence_years_recidivism", on))
    five_p = int(params.value("psem", "min_sentence_years_partner", on))
    return [
        s
        for s in sentences
        if _at_least(s, seven, anchor)
        or (s.recidivism and _at_least(s, five_r, anchor))
        or ("partner_violence_131_36_12_1" in s.offences and _at_least(s, five_p, anchor))
    ]


@rule("psem.131-36-10.adult", "CP 131-36-10")
def adult(birth: dt.date, on: dt.date) -> Finding:
    """« ... à l'encontre d'une personne majeure ... »"""
    age = age_on(birth, on)
    return age >= int(params.value("psem", "adult_age_years", on)), f"aged {age} on {on}"


@rule("psem.131-36-10.sentence_threshold", "CP 131-36-10")
def sentence_threshold(found: list[Sentence], count: int) -> Finding:
    """« ... condamnée à une peine privative de liberté d'une durée égale ou supérieure à sept
    ans ..., ou ... d'une durée égale ou supérieure à cinq ans » in legal recidivism, or under
    CP 131-36-12-1 (violence against a spouse, partner or ex-partner, or their children)."""
    if not found:
        return False, f"none of {count} sentence(s) reaches 7 years, or 5 (recidivism, 131-36-12-1)"
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
    deux fois en matière criminelle. »"""
    kind = "crime" if crime else "délit"
    return True, f"{kind}: 24 months renewable {renewals} time(s), {months} months at most"


@rule("psem.131-36-12.no_limit_706_53_13", "CP 131-36-12")
def no_limit(sentences: tuple[Sentence, ...], anchor: dt.date, on: dt.date) -> Finding:
    """« Par dérogation ..., lorsque la personne a été condamnée à une peine de réclusion
    criminelle d'une durée égale ou supérieure à quinze ans pour l'un des crimes visés à
    l'article 706-53-13 ..., [la durée] n'est pas limitée. »"""
    years = int(params.value("psem", "no_limit_min_years", on))
    held = any(
        s.category == "crime" and "list_706_53_13" in s.offences and _at_least(s, years, anchor)
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
    anchor = case.committal_date or as_of
    found = qualifying(case.sentences, anchor, as_of)
    conditions = [adult(trace, case.birth_date, as_of)]
    if route == "R61-33":
        conditions += [
            r61_33_threshold(trace, found, len(case.sentences)),
            detained(trace, still),
            dangerousness(trace, danger),
            commission_opinion(trace, opinion),
        ]
    else:
        conditions += [
            sentence_threshold(trace, found, len(case.sentences)),
            dangerousness(trace, danger),
        ]
    decision = Decision("psem", "not_applicable", {}, {}, trace)
    if not all(conditions):
        return decision
    term = int(params.value("psem", "term_months", as_of))
    crime = any(s.category == "crime" for s in found)
    renewals = int(params.value("psem", "renewals_crime" if crime else "renewals_delit", as_of))
    unlimited = no_limit(trace, case.sentences, anchor, as_of)
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
            "psem.131-36-12.renewal_decided_before_expiry",
            "CP 131-36-12",
            True,
            f"term ends {end}: any renewal decided by {by}, six months before",
        )
    decision.outcome = "eligible"
    return decision
