"""The console's words in French (the default) and English, one JSON catalogue per language."""

from __future__ import annotations

import json
from collections.abc import Callable
from functools import lru_cache
from importlib.resources import files

from fastapi import Request

LANGUAGES = ("fr", "en")
COOKIE = "vigie_lang"


class MissingTranslation(KeyError):
    """A template asked for a word the catalogue lacks: add it to both i18n/*.json."""


@lru_cache(maxsize=len(LANGUAGES))
def catalogue(lang: str) -> dict[str, str]:
    text = (files("vigie.web") / "i18n" / f"{lang}.json").read_text(encoding="utf-8")
    words: dict[str, str] = json.loads(text)
    return words


def language(request: Request) -> str:
    """`?lang=` first (the switch in the header), then the cookie it set, else French."""
    for choice in (request.query_params.get("lang"), request.cookies.get(COOKIE)):
        if choice in LANGUAGES:
            return choice
    return "fr"


def translator(lang: str) -> Callable[[str], str]:
    words = catalogue(lang)

    def t(key: str) -> str:
        try:
            return words[key]
        except KeyError as exc:
            raise MissingTranslation(f"no {lang!r} text for {key!r} in vigie/web/i18n") from exc

    return t
