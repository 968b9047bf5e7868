"""Legal parameters and citations by date of effect, read from the YAML files in params/.

As in OpenFisca, a parameter has one value per date of effect and names its source; a rule
asks for the value in force on the case's `as_of` date, so a change in the law is a new
dated entry in a data file, not a code change.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import yaml


class ParameterNotInForce(LookupError):
    """A rule asked for a parameter on a date before its first date of effect."""


@dataclass(frozen=True)
class Parameter:
    """One legal parameter's value in force on a date, with the article it comes from."""

    name: str
    value: Any
    article: str
    since: dt.date


def _load(file: str) -> dict[str, Any]:
    text = (resources.files("vigie.law") / "params" / f"{file}.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise ValueError(f"params/{file}.yaml: expected a mapping of parameters")
    return data


@cache
def _table(file: str) -> dict[str, Any]:
    return _load(file)


def parameter(file: str, name: str, on: dt.date) -> Parameter:
    """The value of `file.name` in force on `on`: the latest entry not starting after it."""
    entry = _table(file)[name]
    in_force = [v for v in entry["values"] if v["since"] <= on]
    if not in_force:
        first = min(v["since"] for v in entry["values"])
        raise ParameterNotInForce(f"{file}.{name} is in force from {first}, not on {on}")
    latest = max(in_force, key=lambda v: v["since"])
    return Parameter(name, latest["value"], str(entry["article"]), latest["since"])


def value(file: str, name: str, on: dt.date) -> Any:
    """Shorthand for `parameter(...).value`."""
    return parameter(file, name, on).value


def in_force(file: str, name: str, on: dt.date) -> bool:
    """Whether `file.name` has a (non-null) value in force on `on`; `null` ends a rule."""
    return any(v["since"] <= on for v in _table(file)[name]["values"]) and (
        value(file, name, on) is not None
    )


def first_in_force(file: str, name: str) -> dt.date:
    """The first date of effect of `file.name`."""
    first: dt.date = min(v["since"] for v in _table(file)[name]["values"] if v["value"] is not None)
    return first


def renumbering_date() -> dt.date:
    """The date of effect of ordonnance n° 2025-1091's renumbering: one provisional parameter."""
    when: dt.date = _table("articles")["renumbering"]["date"]
    return when


def cite(article: str, on: dt.date) -> str:
    """The citation of `article` in force on `on`, with its version identifier and its other
    number where known.

    Before the renumbering it reads "CPP 720-II (LEGIARTI…; CPP L5252-1 from 2029-01-01,
    provisional)"; from then on "CPP L5252-1 (formerly CPP 720-II; LEGIARTI…)".
    """
    table = _table("articles")
    entry = table["articles"].get(article)
    if not entry:
        return article
    when = renumbering_date()
    future = entry.get("future")
    legiarti = entry.get("legiarti")
    notes = [legiarti] if legiarti else []
    if future and on >= when:
        return f"{future} ({'; '.join([f'formerly {article}', *notes])})"
    if future:
        provisional = ", provisional" if table["renumbering"].get("provisional") else ""
        notes.append(f"{future} from {when}{provisional}")
    return f"{article} ({'; '.join(notes)})" if notes else article


_RENUMBERED = re.compile(r" from (\d{4})-(\d{2})-(\d{2})(, provisional)?")


def french_citation(citation: str) -> str:
    """A citation of `cite` as a French document writes it: "CPP L5252-1 from 2029-01-01,
    provisional" reads "CPP L5252-1 à compter du 01/01/2029, provisoire", "formerly"
    "anciennement". `cite`'s own text is the contract's (`vigie law assess`): unchanged."""

    def renumbered(m: re.Match[str]) -> str:
        return f" à compter du {m[3]}/{m[2]}/{m[1]}{', provisoire' if m[4] else ''}"

    return _RENUMBERED.sub(renumbered, citation).replace("(formerly ", "(anciennement ")
