"""Reading a JSON answer for what must not be in it."""

from __future__ import annotations


def floats(document: object) -> list[float]:
    """Every decimal number in a JSON document (positions, levels). A leaked value is looked
    for as a number: as text it may sit inside a timestamp ("48.85" in "…:48.851234Z"), and as
    a float it is not mistaken for a count (44 is no latitude 44.0)."""
    if isinstance(document, dict):
        return [n for value in document.values() for n in floats(value)]
    if isinstance(document, list):
        return [n for value in document for n in floats(value)]
    return [document] if isinstance(document, float) else []
