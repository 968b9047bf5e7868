"""Anti-approach bracelet — BAR (CPP 138-3, R24-14 to R24-22), under judicial supervision.

The order sets the alert distance in whole kilometres from 1 to 10 and the pre-alert
distance at twice that (R24-18); R24-20 sets what follows when either is crossed.
"""

from __future__ import annotations

import datetime as dt

from vigie.law import params
from vigie.law.case import Case, require
from vigie.law.decision import Decision
from vigie.law.errors import LawInputError
from vigie.law.reckoning import age_on
from vigie.law.trace import Finding, Trace, rule

NEEDED_BY = "BAR (CPP 138-3)"
PARTNERS = {
    "spouse": "spouse",
    "cohabitee": "cohabitee (concubin)",
    "pacs_partner": "PACS partner",
    "former_spouse": "former spouse",
    "former_cohabitee": "former cohabitee",
    "former_pacs_partner": "former PACS partner",
}


@rule("bar.R24-14.adult", "CPP R24-14")
def adult(birth: dt.date, on: dt.date) -> Finding:
    """« La décision de placement sous contrôle judiciaire assorti, sur le fondement de l'article
    138-3, à l'encontre d'une personne majeure, ... » (text read on archeo-lex, version of
    25 September 2020)."""
    age = age_on(birth, on)
    held = age >= int(params.value("bar", "adult_age_years", on))
    return held, f"aged {age} on {on}" + ("" if held else ": not a personne majeure")


@rule("bar.138-3.judicial_supervision", "CPP 138-3")
def judicial_supervision(placed: bool) -> Finding:
    """The person is under judicial supervision (contrôle judiciaire)."""
    return placed, "under judicial supervision" if placed else "not under judicial supervision"


@rule("bar.138-3.incurred_three_years", "CPP 138-3")
def incurred_three_years(years: float, on: dt.date) -> Finding:
    """« ... une infraction punie d'au moins trois ans d'emprisonnement ... »"""
    low = float(params.value("bar", "min_incurred_years", on))
    held = years >= low
    return held, f"{years:g} year(s) incurred {'>=' if held else '<'} {low:g}"


@rule("bar.138-3.partner_or_former_partner", "CPP 138-3")
def partner_or_former_partner(relationship: str) -> Finding:
    """« ... commise contre son conjoint, son concubin ou son partenaire lié par un pacte civil de
    solidarité, y compris lorsqu'ils ne cohabitent pas, ou commise par son ancien conjoint ou
    concubin ou par la personne ayant été liée à elle par un pacte civil de solidarité »"""
    if relationship in PARTNERS:
        return True, f"victim is the {PARTNERS[relationship]}"
    return False, "victim is not a (former) spouse, cohabitee or PACS partner"


@rule("bar.138-3.victim_consent", "CPP 138-3")
def victim_consent(given: bool) -> Finding:
    """At the victim's request or with the victim's express consent."""
    return given, "victim asked or expressly consents" if given else "no consent of the victim"


@rule("bar.R24-18.alert_distance", "CPP R24-18")
def alert_distance(km: int) -> Finding:
    """The order sets the alert distance, in whole kilometres, from 1 to 10."""
    return True, f"alert distance {km} km"


@rule("bar.R24-18.pre_alert_twice", "CPP R24-18")
def pre_alert_twice(km: int, factor: int) -> Finding:
    """The pre-alert distance is twice the alert distance."""
    return True, f"pre-alert distance {factor} x {km} = {factor * km} km"


@rule("bar.R24-20.refusal", "CPP R24-20")
def refusal() -> Finding:
    """1° The bracelet cannot be fitted without the person's consent, but refusing it is a
    breach of the obligations that can lead to revocation and pre-trial detention."""
    return True, "1° no fitting without consent; refusing it is a breach (revocation, detention)"


@rule("bar.R24-20.pre_alert_crossed", "CPP R24-20")
def pre_alert_crossed() -> Finding:
    """2° Not respecting the pre-alert distance: the remote-monitoring operator contacts the
    wearer; it can « en aucun cas » lead to revocation of the judicial supervision."""
    return True, "2° pre-alert: the operator calls the wearer; « en aucun cas » a revocation"


@rule("bar.R24-20.alert_crossed", "CPP R24-20")
def alert_crossed() -> Finding:
    """3° Approaching the victim « volontairement », « ou de provoquer son rapprochement », in
    disregard of the alert distance is a breach (revocation, detention); 4° the operator
    contacts the protected person and, as needed, alerts the police or gendarmerie."""
    return True, (
        "3° alert crossed voluntarily, or causing the victim to approach: breach; "
        "4° the operator secures the protected person, alerts police/gendarmerie as needed"
    )


@rule("bar.R24-20.device_not_charged", "CPP R24-20")
def device_not_charged() -> Finding:
    """5° Not recharging the device periodically is a breach of the obligations."""
    return True, "5° failure to keep the device charged: breach (revocation, detention)"


def assess_bar(case: Case, as_of: dt.date) -> Decision:
    """Assess a BAR order: conditions, distances and the consequences of each crossing."""
    trace = Trace(as_of)
    f = case.facts
    if case.birth_date is None:
        raise LawInputError("birth_date", "missing; needed by CPP R24-14 (personne majeure)")
    supervised = bool(require(f, "under_judicial_supervision", NEEDED_BY))
    consent = bool(require(f, "victim_consent", NEEDED_BY))
    years = float(require(f, "incurred_years", NEEDED_BY))
    relationship = str(require(f, "relationship", NEEDED_BY))
    km = int(require(f, "alert_distance_km", "CPP R24-18"))
    low = int(params.value("bar", "alert_distance_min_km", as_of))
    high = int(params.value("bar", "alert_distance_max_km", as_of))
    if not low <= km <= high:
        raise LawInputError(
            "facts.alert_distance_km",
            f"{km} km is outside {low}-{high} km, whole kilometres (CPP R24-18)",
        )
    conditions = [
        adult(trace, case.birth_date, as_of),
        judicial_supervision(trace, supervised),
        incurred_three_years(trace, years, as_of),
        partner_or_former_partner(trace, relationship),
        victim_consent(trace, consent),
    ]
    factor = int(params.value("bar", "pre_alert_factor", as_of))
    alert_distance(trace, km)
    pre_alert_twice(trace, km, factor)
    figures = {"alert_distance_km": km, "pre_alert_distance_km": factor * km}
    decision = Decision("bar", "not_applicable", {}, figures, trace)
    if all(conditions):
        refusal(trace)
        pre_alert_crossed(trace)
        alert_crossed(trace)
        device_not_charged(trace)
        decision.outcome = "eligible"
    return decision
