"""Notices in French with the case's figures: the R24-20 notice to a BAR wearer (its five
points, in the decree's words where it prescribes them), the information notice on constrained
release (D147-17, D147-20) and the notice to a person placed under ARSE (142-5)."""

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
    parsed = parse_case(case)
    decision = decide(parsed)
    out = decision.as_dict()
    if decision.measure == "bar":
        if decision.outcome != "eligible":
            raise LawInputError("facts", "no R24-20 notice: the BAR conditions are not met")
        return _bar(out)
    if decision.measure == "arse":
        if decision.outcome != "eligible":
            raise LawInputError("facts", "no ARSE notice: the ARSE conditions are not met")
        return _arse(out)
    if decision.measure == "lsc":
        if decision.outcome not in ("automatic", "judge_decides"):
            raise LawInputError(
                "measure", f"no LSC information notice: outcome is {decision.outcome}"
            )
        notified = parsed.facts.notified_on or parsed.facts.notification_date
        return _lsc(out, notified.isoformat() if notified else None)
    raise LawInputError(
        "measure",
        f"no notice for measure {decision.measure!r}; notices exist for bar, lsc and arse",
    )


def _bar(d: dict[str, Any]) -> str:
    """R24-20's five points, verbatim: the decree prescribes their content, so the notice quotes
    it (text read in the consolidated CPP, version of décret 2020-1161)."""
    f, as_of = d["figures"], french_date(d["as_of"])
    alert, pre = f["alert_distance_km"], f["pre_alert_distance_km"]
    return f"""NOTIFICATION AU PORTEUR D'UN BRACELET ANTI-RAPPROCHEMENT
(articles 138-3 et R24-14 à R24-22 du code de procédure pénale)

Date : {as_of}

Le juge vous a placé sous contrôle judiciaire avec interdiction de vous rapprocher de la
victime et obligation de porter un bracelet anti-rapprochement. La personne protégée dispose
d'un dispositif qui permet de connaître en permanence la distance qui vous sépare d'elle.

- Distance d'alerte : {alert} km. Vous ne devez pas vous rapprocher de la victime à moins
  de {alert} km.
- Distance de pré-alerte : {pre} km (le double de la distance d'alerte, article R24-18).

Article R24-20 : « La personne placée sous contrôle judiciaire avec interdiction de se
rapprocher de la victime et port d'un bracelet anti-rapprochement est avisée des
informations suivantes :
1° La pose du bracelet comportant un émetteur prévu à l'article 138-3 ne peut être
effectuée sans son consentement, mais le fait de la refuser constitue une violation de
ses obligations pouvant donner lieu à la révocation de son contrôle judiciaire et à son
placement en détention provisoire ;
2° La méconnaissance de la distance de pré-alerte donne lieu à un contact par les
personnes habilitées chargées du contrôle à distance l'avertissant de son rapprochement
de la victime et du risque de méconnaissance de la distance d'alerte ; cette
méconnaissance ne peut en aucun cas donner lieu à révocation du contrôle judiciaire ;
3° Le fait de se rapprocher volontairement de la victime, ou de provoquer son
rapprochement, en méconnaissance de la distance d'alerte constitue une violation de
l'interdiction qui lui est faite pouvant donner lieu à la révocation de son contrôle
judiciaire et à son placement en détention provisoire ;
4° En cas de nécessité, les personnes habilitées chargées du contrôle à distance du
dispositif électronique mobile anti-rapprochement prennent l'attache de la personne
protégée pour assurer sa mise en sécurité et, selon le besoin et les procédures
établies, alertent les forces de police et de gendarmerie, afin d'assurer sa protection ;
5° Le fait, par la personne porteuse d'un bracelet anti-rapprochement, de ne pas
s'assurer du rechargement périodique du dispositif, afin de garantir son fonctionnement à
tout moment, constitue une violation des obligations auxquelles elle est astreinte
pouvant donner lieu à la révocation de son contrôle judiciaire et à son placement en
détention provisoire. »

Pour vous : pré-alerte à {pre} km, alerte à {alert} km.

Vous-même comme la victime pouvez demander à tout moment que les distances d'alerte et de
pré-alerte soient révisées ou qu'il soit mis fin à l'obligation de port du bracelet
(article R24-22).
"""


def _arse(d: dict[str, Any]) -> str:
    """142-5 since loi 2019-222: ordered d'office; consent is asked for the fitting only, and
    refusing it is a breach: the article's last paragraph, quoted verbatim."""
    dates = d["dates"]
    paragraphs = [
        f"Date : {french_date(d['as_of'])}",
        "Le juge a ordonné votre assignation à résidence avec surveillance électronique "
        f"(ordonnance du {french_date(dates['order_date'])}), d'office ou à votre demande "
        "(article 142-5). Elle prend fin au plus tard le "
        f"{french_date(dates['term_end'])}, sauf prolongation, et ne peut dépasser au total "
        f"le {french_date(dates['max_end'])} (article 142-7).",
        "Article 142-5, dernier alinéa : « La personne mise en examen est avisée que "
        "l'installation du dispositif prévu à l'article 723-8 ne peut être effectuée sans son "
        "consentement mais que le fait de refuser cette installation constitue une violation "
        "des obligations qui lui incombent et peut donner lieu à la révocation de "
        "l'assignation à résidence avec surveillance électronique et à son placement en "
        "détention provisoire. » La pose doit intervenir au plus tard le "
        f"{french_date(dates['fitting_deadline'])}.",
        "Le temps passé sous assignation à résidence avec surveillance électronique sera "
        "déduit de toute peine privative de liberté prononcée ensuite (article 142-11).",
    ]
    body = "\n\n".join(
        p if p.startswith("Date") else textwrap.fill(p, width=88) for p in paragraphs
    )
    return (
        "NOTIFICATION DE L'ASSIGNATION À RÉSIDENCE AVEC SURVEILLANCE ÉLECTRONIQUE\n"
        "(articles 142-5 à 142-13 du code de procédure pénale)\n\n" + body + "\n"
    )


def _lsc(d: dict[str, Any], notified: str | None) -> str:
    dates, figures = d["dates"], d["figures"]
    automatic = d["outcome"] == "automatic"
    day = dates["lsc_automatic"] if automatic else dates["lsc_examination"]
    if automatic:
        what = (
            "Vous exécutez une ou plusieurs peines d'une durée totale inférieure ou égale à deux "
            "ans. Lorsqu'il vous restera trois mois ou moins à exécuter, la libération sous "
            f"contrainte s'appliquera de plein droit, à compter du {french_date(day)}, même "
            "si vous vous y opposez (articles 720 II et D147-20), sauf impossibilité matérielle "
            "faute d'hébergement."
        )
    else:
        what = (
            "Vous exécutez une ou plusieurs peines d'une durée totale inférieure ou égale à cinq "
            "ans. Lorsque la durée de peine accomplie sera au moins égale au double de la durée "
            f"restant à subir, à compter du {french_date(day)}, le juge de l'application des "
            "peines examinera obligatoirement votre situation en vue d'une libération sous "
            "contrainte (article 720 I). Cette date est celle de l'examen par le juge, non une "
            "date de sortie : la libération ne peut intervenir qu'après sa décision. Vous pouvez "
            "la refuser en le faisant connaître avant. Si le juge n'a pas statué à compter de "
            "cette date, le président de la chambre de l'application des peines de la cour "
            "d'appel peut être saisi par vous (lettre recommandée avec accusé de réception) ou "
            "par le procureur de la République, ou se saisir d'office ; il statue dans le mois "
            "de sa saisine (articles 720 I, cinquième alinéa, et D147-18)."
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
        "lendemain, article D49-39, et il est prorogé jusqu'au premier jour ouvrable suivant "
        "lorsqu'il expire un samedi, un dimanche ou un jour férié ou chômé, article 801)."
        + (
            f" Décision notifiée le {french_date(notified)} : appel au plus tard "
            f"le {french_date(dates['appeal_deadline'])} à minuit."
            if "appeal_deadline" in dates and notified
            else ""
        ),
        "Après votre sortie, vous devez vous présenter au service pénitentiaire d'insertion et "
        f"de probation dans un délai de {figures['spip_interview_working_days']} jours "
        f"ouvrables (article {'D147-22' if automatic else 'D147-17-5'})"
        + (
            f", soit au plus tard le {french_date(dates['spip_interview_by'])} pour une sortie "
            f"le {french_date(day)}."
            if automatic
            else ", à compter de la sortie décidée par le juge."
        ),
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
