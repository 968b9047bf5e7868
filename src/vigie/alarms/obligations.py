"""What obligation an alarm kind puts in doubt, and where the law states it.

For the incident report: the judge reads which obligation is in question and its source. The
placement's own decision (from `vigie.law`) adds the articles that applied to the case.
"""

from __future__ import annotations

# Base article of each measure's obligations.
MEASURE_ARTICLE = {
    "ddse": "CP 131-4-1 / CPP 723-7",
    "arse": "CPP 142-5",
    "psem": "CP 131-36-12 / CPP 763-10",
    "bar": "CPP 138-3 (17° bis) / CP 132-45-1",
    "lsc": "CPP 720",
}

OBLIGATION = {
    "absence": "être présent au domicile aux heures fixées par le juge",
    "zone_entry": "ne pas paraître dans la zone d'exclusion fixée par le juge",
    "zone_exit": "ne pas quitter la zone d'inclusion fixée par le juge",
    "alert": "ne pas se rapprocher de la victime en deçà de la distance d'alerte",
    "pre_alert": "ne pas se rapprocher de la victime (distance de pré-alerte atteinte)",
    "tamper": "porter le dispositif et ne pas l'altérer",
    "power": "maintenir le boîtier de domicile en état de fonctionnement",
    "low_battery": "recharger le dispositif",
    "signal_lost": "maintenir le dispositif en état de fonctionnement (perte de signal)",
    "clock_fault": "maintenir le dispositif en état de fonctionnement (horloge déréglée)",
    # Not an obligation in doubt: a call for help, which the report names as such.
    "sos": "protection de la victime : appel à l'aide de la personne protégée",
    "wearer_sos": "appel à l'aide de la personne placée (bouton d'alerte du dispositif)",
    # Not a case's: the centre's own duty to watch (vigie.alarms.blindness).
    "unwatched": "surveillance par le centre : une partition de détection n'est plus surveillée",
    # Nor this one: the centre's duty to watch a measure it cannot apply (vigie.alarms.unmonitored).
    "unmonitored": "surveillance par le centre : la mesure, incomplète, n'est pas surveillée",
}

# Lower is more urgent: a protected person's safety comes first, then escape, then technique.
PRIORITY = {
    "sos": 0,  # she called for help: above everything, a BAR alert included
    "alert": 1,
    # The centre blind for a partition's cases (vigie.alarms.blindness): beside the BAR alert,
    # as any of those cases may be breaching unseen, a BAR one among them; below her SOS,
    # which is one person in danger now, known and locatable.
    "unwatched": 1,
    # A measure not watched at all (vigie.alarms.unmonitored): its person may be breaching it
    # unseen, a BAR one too; beside the centre's blindness, which it is for one case.
    "unmonitored": 1,
    "tamper": 2,
    "wearer_sos": 2,
    "zone_entry": 2,
    "pre_alert": 3,
    "zone_exit": 3,
    "absence": 3,
    "signal_lost": 4,
    "power": 4,
    "clock_fault": 4,  # its observations are quarantined: the device is as good as silent
    "low_battery": 5,
}

BAR_KINDS = ("alert", "pre_alert")
SOS_KIND = "sos"  # her own call for help: cleared only by an operator (vigie.detect.sos)
# The centre's own alarm (vigie.alarms.blindness): a reference no case can take (outside the
# case-ref pattern `[A-Za-z0-9_.-]+`), so it has no placement, no case reader, no judge.
CENTRE_REF = "@centre"
UNWATCHED = "unwatched"


def is_centre_alarm(case_ref: str) -> bool:
    """Whether an alarm is the centre's own (no case, no report to a judge)."""
    return case_ref == CENTRE_REF


def obligation_for(kind: str, measure: str | None) -> tuple[str, str]:
    """(obligation in words, article) for an alarm kind under a measure."""
    if kind == UNWATCHED:
        return OBLIGATION[kind], "aucun dossier : alarme du centre"
    return (
        OBLIGATION.get(kind, f"obligation liée à l'alarme {kind}"),
        MEASURE_ARTICLE.get(measure or "", "mesure inconnue"),
    )
