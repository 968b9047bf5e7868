"""The incident report's words: times in Paris local time, and each detection event told as a
French sentence a judge reads (never a raw detail dict, never an English key).

The details given here are already filtered by the privacy rules (report.py passes the
shared view): a BAR distance arrives rounded, with `distance_rounded_to_m`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from vigie.clock import PARIS

KIND_LABELS = {
    "alert": "alerte BAR (rapprochement en deçà de la distance d'alerte)",
    "pre_alert": "pré-alerte BAR (rapprochement en deçà de la distance de pré-alerte)",
    "sos": "appel de détresse de la personne protégée",
    "wearer_sos": "appel de détresse du porteur du bracelet",
    "tamper": "arrachement ou ouverture du dispositif",
    "zone_entry": "entrée dans une zone d'exclusion",
    "zone_exit": "sortie d'une zone d'inclusion",
    "absence": "absence du domicile aux heures fixées",
    "signal_lost": "perte du signal du dispositif",
    "power": "coupure de l'alimentation secteur du boîtier",
    "low_battery": "batterie faible",
    "clock_fault": "horloge du dispositif déréglée",
    "unwatched": "partition de détection sans surveillance (centre aveugle pour ses dossiers)",
    "unmonitored": "mesure non surveillée (incomplète ou refusée par la détection)",
}
QUALIFICATION_LABELS = {
    "breach": "manquement",
    "technical_fault": "incident technique",
    "false_alarm": "fausse alarme",
    "authorised_absence": "absence autorisée",
}
RAISED = {
    "zone_entry": "La personne placée est entrée dans la zone d'exclusion{zone}{depth}.",
    "zone_exit": "La personne placée est sortie de la zone d'inclusion{zone}{depth}.",
    "absence": "La personne placée n'était pas à son domicile aux heures fixées.",
    "tamper": "Le dispositif a signalé un arrachement ou une ouverture.",
    "signal_lost": "Le dispositif ne transmet plus{last_seen}.",
    "power": "Le boîtier de domicile a signalé une coupure de l'alimentation secteur.",
    "low_battery": "Le dispositif a signalé une batterie faible{level}.",
    "clock_fault": "L'horloge du dispositif est déréglée : ses messages sont mis à l'écart.",
    "unmonitored": "La mesure n'est pas surveillée : la détection ne peut l'appliquer telle "
    "qu'elle est enregistrée (un dispositif ou une obligation manque ou est en conflit).",
    "alert": "Alerte BAR : la personne placée se trouvait {distance}{target}.",
    "pre_alert": "Pré-alerte BAR : la personne placée se trouvait {distance}{target}.",
}
# A change the detection could not apply to a measure it watched: it keeps the version before.
UNMONITORED_AS_BEFORE = (
    "La dernière modification de la mesure ne peut être appliquée par la détection (un "
    "dispositif ou une obligation manque ou est en conflit) : la mesure reste surveillée selon "
    "sa version précédente."
)
# Raised again while the measure stays so (an operator closed it meanwhile, or it is still open).
UNMONITORED_AGAIN = "Rappel : le défaut de surveillance dure toujours."
# An alarm closed while its condition went on, raised again as it still does (`ongoing`).
ONGOING_AGAIN = (
    "Rappel : la situation est toujours en cours{since}, après la clôture de l'alarme n° {alarm}."
)
CLEARED = {
    "zone_entry": "La personne placée est sortie de la zone d'exclusion{zone}.",
    "zone_exit": "La personne placée est revenue dans la zone d'inclusion{zone}.",
    "absence": "La personne placée est de retour à son domicile, ou la plage horaire a pris fin.",
    "tamper": "Le signal d'arrachement ou d'ouverture a cessé.",
    "signal_lost": "Le dispositif transmet de nouveau.",
    "power": "L'alimentation secteur du boîtier est rétablie.",
    "low_battery": "La batterie du dispositif est rechargée.",
    "clock_fault": "L'horloge du dispositif est de nouveau à l'heure.",
    "unmonitored": "Fin du défaut de surveillance de la mesure.",
    "alert": "Fin de l'alerte BAR : la personne placée se trouvait {distance}{target}.",
    "pre_alert": "Fin de la pré-alerte BAR : la personne placée se trouvait {distance}{target}.",
}
REASONS = {
    "window_end": " (fin de la plage horaire)",
    "superseded": " (signal remplacé par un message plus récent)",
    "watched": " (la mesure est de nouveau surveillée)",
    "placement_ended": " (la mesure a pris fin)",
    "no_bracelet": " (plus aucun bracelet affecté)",
}
# An alarm that ended with its rule, not with what it reported: never told as the situation's
# end ("est sortie de la zone", "transmet de nouveau"), which nothing observed.
ENDED_WITH_RULE = {
    "obligation_removed": "L'alarme « {label} »{zone} a pris fin parce que l'obligation a été "
    "levée, non parce que la situation a cessé.",
    "zone_inactive": "L'alarme « {label} »{zone} a pris fin parce que la zone n'était plus en "
    "vigueur (ses horaires), non parce que la personne placée {moved}.",
}
MOVED = {"zone_entry": "en est sortie", "zone_exit": "y est revenue"}


def local_time(at: datetime | None) -> str:
    """'30/11/2026 à 10:03:12' in Paris time, to the second."""
    if at is None:
        return "—"
    return at.astimezone(PARIS).strftime("%d/%m/%Y à %H:%M:%S")


def lapse(seconds: float) -> str:
    """A delay as a reader says it: '42 s', '3 min 22 s', '1 h 05 min 03 s'."""
    whole = max(0, round(seconds))
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}\u00a0h {minutes:02d}\u00a0min {secs:02d}\u00a0s"
    if minutes:
        return f"{minutes}\u00a0min {secs:02d}\u00a0s"
    return f"{secs}\u00a0s"


def local_date(day: date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else "—"


def metres(value: float) -> str:
    """'1 500 m' (a French thousands separator, a narrow no-break space before the unit)."""
    return f"{round(value):,}".replace(",", "\u202f") + "\u00a0m"


def distance_words(detail: dict[str, Any]) -> str:
    """'à 850 m' or, rounded for anyone but the holder, 'à environ 1 000 m'."""
    distance = detail.get("distance_m")
    if not isinstance(distance, int | float):
        return "à une distance non connue"
    about = "environ " if detail.get("distance_rounded_to_m") else ""
    return f"à {about}{metres(distance)}"


def _target(detail: dict[str, Any]) -> str:
    if detail.get("target_kind") == "place":
        return " d'un lieu protégé"
    return " de la personne protégée"


def event_sentence(kind: str, state: str, detail: dict[str, Any]) -> str:
    """One detection event as a French sentence."""
    if kind == "unmonitored" and state == "raised":
        said = UNMONITORED_AS_BEFORE if detail.get("watched_as_before") else RAISED["unmonitored"]
        return f"{UNMONITORED_AGAIN} {said}" if detail.get("again") else said
    table = RAISED if state == "raised" else CLEARED
    template = table.get(kind)
    if template is None:
        label = KIND_LABELS.get(kind, "alarme")
        verb = "déclenchement" if state == "raised" else "fin"
        return f"{verb.capitalize()} : {label}."
    zone = detail.get("zone")
    ended = ENDED_WITH_RULE.get(str(detail.get("reason", ""))) if state == "cleared" else None
    if ended is not None:
        return ended.format(
            label=KIND_LABELS.get(kind, "alarme"),
            zone=f" (zone « {zone} »)" if zone else "",
            moved=MOVED.get(kind, "a changé de situation"),
        )
    depth = detail.get("depth_m")
    level = detail.get("level")
    last_seen = detail.get("last_seen")
    sentence = template.format(
        zone=f" « {zone} »" if zone else "",
        depth=f", à {metres(depth)} de la limite" if isinstance(depth, int | float) else "",
        level=f" ({round(level * 100)} %)" if isinstance(level, int | float) else "",
        last_seen=f" depuis le {local_time(_parse(last_seen))}" if last_seen else "",
        distance=distance_words(detail),
        target=_target(detail),
    )
    reason = REASONS.get(str(detail.get("reason", "")))
    sentence = sentence[:-1] + reason + "." if reason else sentence
    closed = detail.get("closed_alarm")
    if state == "raised" and closed is not None:  # raised again by the centre (`ongoing`)
        since = _parse(detail.get("ongoing_since"))
        start = f" depuis le {local_time(since)}" if since is not None else ""
        return f"{ONGOING_AGAIN.format(since=start, alarm=closed)} {sentence}"
    return sentence


def _parse(value: Any) -> datetime | None:
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
