"""Notices in French with the case's figures: the R24-20 notice to a BAR wearer and the
information notice on constrained release (D147-17, D147-20)."""

from __future__ import annotations

import datetime as dt
import textwrap
from typing import Any

from vigie.law.case import parse_case
from vigie.law.engine import decide
from vigie.law.errors import LawInputError

MONTHS = (
    *("janvier", "février", "mars", "avril", "mai", "juin"),
    *("juillet", "août", "septembre", "octobre", "novembre", "décembre"),
)


def french_date(iso: str) -> str:
    """`2027-01-10` -> `10 janvier 2027` (1er for the first of the month)."""
    day = dt.date.fromisoformat(iso)
    first = "1er" if day.day == 1 else str(day.day)
    return f"{first} {MONTHS[day.month - 1]} {day.year}"


def notice(case: dict[str, Any]) -> str:
    """The notice for `case`, or `LawInputError` when no notice applies to it."""
    decision = decide(parse_case(case))
    out = decision.as_dict()
    if decision.measure == "bar":
        if decision.outcome != "eligible":
            raise LawInputError("facts", "no R24-20 notice: the BAR conditions are not met")
        return _bar(out)
    if decision.measure == "lsc":
        if decision.outcome not in ("automatic", "judge_decides"):
            raise LawInputError(
                "measure", f"no LSC information notice: outcome is {decision.outcome}"
            )
        return _lsc(out)
    raise LawInputError(
        "measure", f"no notice for measure {decision.measure!r}; notices exist for bar and lsc"
    )


def _bar(d: dict[str, Any]) -> str:
    f, as_of = d["figures"], french_date(d["as_of"])
    alert, pre = f["alert_distance_km"], f["pre_alert_distance_km"]
    return f"""NOTIFICATION AU PORTEUR D'UN BRACELET ANTI-RAPPROCHEMENT
(articles 138-3 et R24-14 à R24-22 du code de procédure pénale)

Date : {as_of}

Le juge vous a placé sous contrôle judiciaire avec l'obligation de porter un bracelet
anti-rapprochement. La personne protégée porte un dispositif qui permet de connaître en
permanence la distance qui vous sépare d'elle.

- Distance d'alerte : {alert} km. Vous ne devez pas vous approcher de la personne protégée
  à moins de {alert} km.
- Distance de pré-alerte : {pre} km (le double de la distance d'alerte).

Ce qui se passe (article R24-20) :
1. Si vous franchissez la distance de pré-alerte ({pre} km), le centre de surveillance
   vous appelle pour vous demander de vous éloigner. Ce franchissement ne peut jamais, à
   lui seul, entraîner la révocation de la mesure.
2. Si vous franchissez sciemment la distance d'alerte ({alert} km), vous manquez à vos
   obligations : le centre met la personne protégée en sécurité et, si nécessaire,
   prévient la police ou la gendarmerie. Le juge en est informé.
3. Vous devez garder votre dispositif chargé : ne pas le recharger est un manquement.
4. Refuser le port du bracelet est un manquement.
Un manquement peut entraîner la révocation du contrôle judiciaire et votre placement en
détention provisoire.

Vous-même comme la personne protégée pouvez demander à tout moment au juge de modifier les
distances ou de retirer le dispositif.
"""


def _lsc(d: dict[str, Any]) -> str:
    dates, figures = d["dates"], d["figures"]
    automatic = d["outcome"] == "automatic"
    release = dates["lsc_automatic"] if automatic else dates["lsc_examination"]
    if automatic:
        what = (
            "Vous exécutez une ou plusieurs peines d'une durée totale inférieure ou égale à deux "
            "ans. Lorsqu'il vous restera trois mois ou moins à exécuter, la libération sous "
            f"contrainte s'appliquera de plein droit, à compter du {french_date(release)}, même "
            "si vous vous y opposez (articles 720 II et D147-20), sauf impossibilité matérielle "
            "faute d'hébergement."
        )
    else:
        what = (
            "Vous exécutez une ou plusieurs peines d'une durée totale inférieure ou égale à cinq "
            "ans. Lorsque la durée de peine accomplie sera au moins égale au double de la durée "
            f"restant à subir, le {french_date(release)}, le juge de l'application des peines "
            "examinera obligatoirement votre situation en vue d'une libération sous contrainte "
            "(article 720 I). Vous pouvez la refuser en le faisant connaître avant."
        )
    paragraphs = [
        f"Date : {french_date(d['as_of'])}\n"
        f"Notification à faire au plus tard le : {french_date(dates['lsc_notice'])}",
        f"Fin de peine prévue : {french_date(dates['sentence_end'])} ({figures['total_days']} "
        f"jours de détention à compter du {french_date(dates['effective_start'])}, détention "
        "provisoire et ARSE déduites).",
        what,
        "La libération sous contrainte s'exécute sous le régime de la libération "
        "conditionnelle, de la détention à domicile sous surveillance électronique, du "
        "placement à l'extérieur ou de la semi-liberté, selon la décision du juge.",
        f"Recours : appel dans un délai de {figures['appeal_window_hours']} heures à compter de "
        "la notification de la décision (article 712-11 ; le délai expire à minuit le "
        "lendemain).",
        "Après votre sortie, vous devez vous présenter au service pénitentiaire d'insertion et "
        f"de probation dans un délai de {figures['spip_interview_working_days']} jours "
        f"ouvrables, soit au plus tard le {french_date(dates['spip_interview_by'])} pour une "
        f"sortie le {french_date(release)}.",
        "Si vous ne respectez pas la mesure, le juge peut la retirer : vous serez réincarcéré "
        "pour une durée au plus égale au reliquat de peine.",
    ]
    body = "\n\n".join(
        p if p.startswith("Date") else textwrap.fill(p, width=88) for p in paragraphs
    )
    return (
        "INFORMATION SUR LA LIBÉRATION SOUS CONTRAINTE\n"
        "(articles 720, D147-17 à D147-24 du code de procédure pénale)\n\n" + body + "\n"
    )
