"""Counting legal time: durations, date-to-date months, working days, procedural deadlines.

CPP 716-1: « La peine d'un jour d'emprisonnement est de vingt-quatre heures. Celle d'un mois
est de trente jours. Celle de plus d'un mois se calcule de quantième en quantième. »
Counting date to date meets days that a month lacks (31 January + 1 month). 716-1 is silent, so
Vigie chooses one convention per use, where the rule is written, and names it in the trace
(README "Month ends"):

- `ROLL_FORWARD`: an *end instant* (a sentence or a measure ends): the missing day rolls to the
  1st of the next month (detention through the end of the shorter month);
- `CLAMP`: a *délai to act* ends on the month's last day (no quantième: the délai ends on the
  last day of the month, CPC 641's construction), then CPP 801 carries it past a Saturday,
  Sunday or holiday (`months_deadline`); backward searches ("at most N months left",
  "at least N months before") also clamp, so an end on 1 March gives 1 December.

Thresholds compare *legal durations* (`LegalDuration`: 12 months = 1 year, 30 days = 1 month),
never calendar dates, so the order in which sentences are listed never matters.
"""

from __future__ import annotations

import calendar
import datetime as dt
import re
from dataclasses import dataclass
from decimal import Decimal
from enum import Enum
from functools import cache

import holidays
import isodate

ONE_DAY = dt.timedelta(days=1)


@dataclass(frozen=True)
class Quantum:
    """A duration as the law states it: whole years, months and days (ISO-8601 `P2Y6M`, `P45D`)."""

    years: int = 0
    months: int = 0
    days: int = 0

    @property
    def total_months(self) -> int:
        return 12 * self.years + self.months

    @property
    def is_one_month(self) -> bool:
        return self.total_months == 1 and self.days == 0

    def iso(self) -> str:
        parts = [
            f"{n}{u}" for n, u in ((self.years, "Y"), (self.months, "M"), (self.days, "D")) if n
        ]
        return "P" + ("".join(parts) or "0D")


# A quantum as a court writes it in French: "3 ans", "18 mois", "2 ans et 6 mois", "15 jours".
_FRENCH_UNITS = {
    "an": "Y", "ans": "Y", "année": "Y", "années": "Y", "annee": "Y", "annees": "Y",
    "mois": "M", "semaine": "W", "semaines": "W", "jour": "D", "jours": "D",
}  # fmt: skip
_FRENCH_PART = re.compile(r"(\d+)\s*([^\W\d_]+)")
_FRENCH_WHOLE = re.compile(r"\s*(?:\d+\s*[^\W\d_]+(?:\s*,\s*|\s+et\s+|\s+)?)+\s*")


def _iso_of_french(text: str) -> str | None:
    """'2 ans 6 mois' -> 'P2Y6M'; None when `text` is not a quantum written in French."""
    lowered = text.strip().lower()
    if not lowered or not _FRENCH_WHOLE.fullmatch(lowered):
        return None
    totals = {"Y": 0, "M": 0, "W": 0, "D": 0}
    for number, unit in _FRENCH_PART.findall(lowered):
        if unit not in _FRENCH_UNITS:
            return None
        totals[_FRENCH_UNITS[unit]] += int(number)
    totals["D"] += 7 * totals.pop("W")
    return "P" + ("".join(f"{n}{u}" for u, n in totals.items() if n) or "0D")


# A century: the code pénal's longest term is thirty years (CP 131-1); a longer one is a typing
# slip, and its dates would leave the calendar Python reckons in.
_MAX_QUANTUM_MONTHS = 1200


def parse_quantum(text: str) -> Quantum:
    """Parse a duration of whole years, months, weeks or days, in ISO-8601 ('P2Y6M') or as a
    court writes it in French ('2 ans 6 mois', '18 mois', '15 jours'); ValueError otherwise."""
    iso = _iso_of_french(text) if not text.lstrip().upper().startswith("P") else None
    try:
        parsed = isodate.parse_duration(iso or text.strip())
    except (isodate.ISO8601Error, ValueError, OverflowError) as exc:
        raise ValueError(
            f"not a duration like '3 ans', '2 ans 6 mois', '15 jours' or 'P2Y6M': {text!r}"
        ) from exc
    if isinstance(parsed, isodate.Duration):
        years, months, delta = Decimal(parsed.years), Decimal(parsed.months), parsed.tdelta
    else:
        years, months, delta = Decimal(0), Decimal(0), parsed
    if years != int(years) or months != int(months):
        raise ValueError(f"years and months must be whole: {text!r}")
    if delta.seconds or delta.microseconds:
        raise ValueError(f"a sentence is counted in whole days, not hours: {text!r}")
    q = Quantum(int(years), int(months), delta.days)
    if min(q.years, q.months, q.days) < 0 or q == Quantum():
        raise ValueError(f"must be a positive duration: {text!r}")
    if q.total_months + q.days / 31 > _MAX_QUANTUM_MONTHS:  # a day: a month's 31st at least
        raise ValueError(f"longer than a hundred years, which no sentence is: {text!r}")
    return q


@dataclass(frozen=True, order=True)
class LegalDuration:
    """A sum of quanta as the law adds them (716-1): months (12 a year) and days under 30.

    Ordered, so that thresholds are compared on durations: 4 y 11 m + 1 m is exactly 5 years.
    """

    months: int = 0
    days: int = 0

    @classmethod
    def of(cls, *quanta: Quantum) -> LegalDuration:
        months = sum(q.total_months for q in quanta)
        days = sum(q.days for q in quanta)
        return cls(months + days // 30, days % 30)

    def iso(self) -> str:
        years, months = divmod(self.months, 12)
        return Quantum(years, months, self.days).iso()


class MonthEnd(Enum):
    """What a date-to-date count does on a day its target month lacks (see the module doc)."""

    ROLL_FORWARD = "roll forward to the 1st of the next month (end instant)"
    CLAMP = "the month's last day (délai, backward search)"


@dataclass(frozen=True)
class Span:
    """The end of a duration counted from a start, and whether a missing day was rolled forward."""

    end: dt.date
    rolled: dt.date | None = None  # the day the target month lacked, if any (its 1st-of-next)


def add_months(start: dt.date, months: int, mode: MonthEnd = MonthEnd.ROLL_FORWARD) -> Span:
    """Same day `months` later (date to date, `months` may be negative); a day the month lacks
    rolls to the next 1st (`ROLL_FORWARD`) or becomes the month's last day (`CLAMP`)."""
    y, m = divmod(start.month - 1 + months, 12)
    year, month = start.year + y, m + 1
    last = calendar.monthrange(year, month)[1]
    if start.day > last:
        if mode is MonthEnd.CLAMP:
            return Span(dt.date(year, month, last), rolled=dt.date(year, month, last))
        first_next = dt.date(year, month, last) + ONE_DAY
        return Span(first_next, rolled=first_next)
    return Span(dt.date(year, month, start.day))


def months_deadline(start: dt.date, months: int) -> dt.date:
    """A délai of `months` to act, from `start`: the same quantième, else the month's last day;
    then CPP 801 carries an end on a Saturday, Sunday or holiday to the next working day."""
    return procedural_deadline(add_months(start, months, MonthEnd.CLAMP).end)


def add_quantum(start: dt.date, q: Quantum) -> Span:
    """Add a sentence's quantum: one month alone is 30 days, longer terms go date to date.

    Years and months are added together in one step (so 29 February + P1Y1M is 29 March),
    then the days.
    """
    if q.is_one_month:
        return Span(start + dt.timedelta(days=30))
    span = add_months(start, q.total_months) if q.total_months else Span(start)
    return Span(span.end + dt.timedelta(days=q.days), span.rolled)


def earliest_reaching(target: dt.date, months: int) -> dt.date:
    """The earliest day t such that t (+) `months` is on or after `target` ("at most N months
    left"), where (+) clamps to the month's last day: an end on 1 March gives 1 December, not
    29 November (29 November + 3 months is 28 February, more than 3 months before 1 March).

    t -> t (+) n months is non-decreasing, so the answer is well defined; we start from the
    obvious candidate and step by days.
    """
    t = add_months(target, -months, MonthEnd.CLAMP).end
    while add_months(t, months, MonthEnd.CLAMP).end >= target:
        t -= ONE_DAY
    while add_months(t, months, MonthEnd.CLAMP).end < target:
        t += ONE_DAY
    return t


def latest_within(target: dt.date, months: int) -> dt.date:
    """ "At least N months before `target`": `target` less N months, date to date, clamped to
    the month's last day (30 April -> 30 March; 31 March -> 28 February)."""
    return add_months(target, -months, MonthEnd.CLAMP).end


@cache
def _french_holidays(year: int, subdiv: str | None = None) -> frozenset[dt.date]:
    return frozenset(holidays.country_holidays("FR", subdiv=subdiv, years=year).keys())


#: Départements whose local public holidays differ from the metropolitan calendar, with the
#: `holidays` package's subdivision: Alsace-Moselle (Good Friday, 26 December; C. trav.
#: L3134-13) and the overseas départements (abolition of slavery, loi 83-550).
LOCAL_CALENDARS: dict[str, str] = {
    "57": "57",
    "67": "6AE",
    "68": "6AE",
    "971": "971",
    "972": "972",
    "973": "973",
    "974": "974",
    "976": "976",
}


def calendar_of(departement: str | None) -> str | None:
    """The holiday calendar of a court's or prison's département (None: metropolitan)."""
    return LOCAL_CALENDARS.get(departement) if departement else None


def is_public_holiday(day: dt.date, subdiv: str | None = None) -> bool:
    """A French public holiday (jour férié), metropolitan unless a local calendar is given."""
    return day in _french_holidays(day.year, subdiv)


def is_jour_ouvrable(day: dt.date, subdiv: str | None = None) -> bool:
    """Jour ouvrable: every day but Sunday and public holidays (Saturday counts)."""
    return day.weekday() != 6 and not is_public_holiday(day, subdiv)


def is_jour_ouvre(day: dt.date, subdiv: str | None = None) -> bool:
    """A business day: Monday to Friday, not a public holiday."""
    return day.weekday() < 5 and not is_public_holiday(day, subdiv)


def add_jours_ouvrables(start: dt.date, n: int, subdiv: str | None = None) -> dt.date:
    """The n-th jour ouvrable after `start` (the starting day itself is not counted)."""
    day, counted = start, 0
    while counted < n:
        day += ONE_DAY
        if is_jour_ouvrable(day, subdiv):
            counted += 1
    return day


def procedural_deadline(day: dt.date, subdiv: str | None = None) -> dt.date:
    """CPP 801: a deadline ending on a Saturday, Sunday or holiday runs to the next business day."""
    while not is_jour_ouvre(day, subdiv):
        day += ONE_DAY
    return day


def previous_business_day(day: dt.date, subdiv: str | None = None) -> dt.date:
    """A "no later than" date counted backward that falls on a non-working day moves earlier."""
    while not is_jour_ouvre(day, subdiv):
        day -= ONE_DAY
    return day


def release_day(day: dt.date, subdiv: str | None = None) -> dt.date:
    """CPP 716-3: release due on a Sunday or public holiday happens the jour ouvrable before."""
    while not is_jour_ouvrable(day, subdiv):
        day -= ONE_DAY
    return day


def age_on(birth: dt.date, on: dt.date) -> int:
    """Age in whole years on a date (a 29 February birthday is reached on 1 March)."""
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))
