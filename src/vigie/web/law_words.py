"""The legal calculator's answer in the page's language: outcomes, date and figure names, rule
titles from the catalogue; dates and ISO durations written as a reader of that language writes
them ("2027-05-20" -> "20/05/2027", "P2Y6M" -> "2 ans 6 mois"). The engine's notes are
translated by law_notes; one it does not know keeps its English, marked as such."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from vigie.law.params import french_citation
from vigie.web.i18n import catalogue

_ISO_DATE = re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b")
_ISO_DURATION = re.compile(r"\bP(?:(\d+)Y)?(?:(\d+)M)?(?:(\d+)W)?(?:(\d+)D)?\b")
_UNITS = {
    "fr": (("an", "ans"), ("mois", "mois"), ("semaine", "semaines"), ("jour", "jours")),
    "en": (("year", "years"), ("month", "months"), ("week", "weeks"), ("day", "days")),
}


def day(value: Any, lang: str) -> str:
    """A date as the language writes it: 20/05/2027 in French, 20 May 2027's ISO in English."""
    if value is None or value == "":
        return "—"
    text = str(value)
    if lang != "fr":
        return text
    return _ISO_DATE.sub(lambda m: f"{m[3]}/{m[2]}/{m[1]}", text)


def duration(match: re.Match[str], lang: str) -> str:
    parts = []
    for number, (one, many) in zip(match.groups(), _UNITS[lang], strict=True):
        if number and int(number):
            parts.append(f"{int(number)} {one if int(number) == 1 else many}")
    return " ".join(parts) or match[0]


def prose(text: Any, lang: str) -> str:
    """Dates and ISO durations inside a sentence, in the language's form."""
    shown = _ISO_DURATION.sub(lambda m: duration(m, lang) if m[0] != "P" else m[0], str(text))
    return day(shown, lang)


def cite(citation: Any, lang: str) -> str:
    """An article's citation (``law.params.cite``, the contract's English) in the language."""
    text = str(citation or "")
    return french_citation(text) if lang == "fr" else text


def helpers(lang: str) -> dict[str, Callable[..., str]]:
    """The template's functions: `label(prefix, key)` names a rule whose id ends in a figure
    (`assumption.ecrou_date`, `dp_reductions_by.A`) by its family, and falls back to the key
    itself (a rule the catalogue has not named yet is shown by its id, not an error)."""
    words = catalogue(lang)

    def label(prefix: str, key: str) -> str:
        family = key.rpartition(".")[0]
        return words.get(f"{prefix}.{key}") or words.get(f"{prefix}.{family}", key)

    return {
        "label": label,
        "day": lambda value: day(value, lang),
        "prose": lambda text: prose(text, lang),
        "cite": lambda citation: cite(citation, lang),
    }
