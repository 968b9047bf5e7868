"""Dates that trigger an action on a fiche pénale, each with its article and how it is counted
(forward or backward, clamped month ends, CPP 801 or not, local holidays)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from vigie.law.fiche_input import Fiche
from vigie.law.reckoning import (
    MonthEnd,
    add_months,
    latest_within,
    previous_business_day,
    procedural_deadline,
)
from vigie.law.trace import Trace

ONE_DAY = dt.timedelta(days=1)


def deadlines(
    fiche: Fiche,
    two_thirds: dt.date,
    seizure: dt.date,
    lsc_i: bool,
    release: dt.date,
    sub: str | None,
    trace: Trace,
) -> list[dict[str, Any]]:
    """Dates that trigger an action, each with how it is counted."""
    out: list[dict[str, Any]] = []

    def add(did: str, article: str, on: dt.date, mode: str, note: str) -> None:
        out.append(
            {"id": did, "article": article, "date": on.isoformat(), "mode": mode, "note": note}
        )
        trace.record(f"fiche.deadline.{did}", article, True, f"{note}: {on} ({mode})")

    if lsc_i:
        add(
            "chap_seizure_from",
            "CPP 720-I",
            seizure,
            "forward, the day after the two-thirds date; no CPP 801 (not a délai to act)",
            f"no examination at two thirds ({two_thirds}): "
            "the CHAP president may be seized (720-I al. 5)",
        )
    if fiche.facts.notified_parquet_on is not None:
        on = fiche.facts.notified_parquet_on + ONE_DAY
        add(
            "parquet_visa_until",
            "CPP D49-40",
            on,
            "forward, 24 hours from the notification to the parquet; "
            "no CPP 801 (a stay, not a délai to act)",
            "no execution before, without the parquet's visa",
        )
    if fiche.facts.psem:
        exam = previous_business_day(latest_within(release, 12), sub)
        add(
            "psem_examination_by",
            "CPP 763-10",
            exam,
            "backward, 12 months date to date clamped to the month's last day, "
            "then the business day before",
            f"dangerousness examination at least one year before release ({release})",
        )
        fit = previous_business_day(release - dt.timedelta(days=7), sub)
        add(
            "psem_fitting_by",
            "CPP L5332-7",
            fit,
            "backward, 7 days, then the business day before (2029 numbering, ord. 2025-1091)",
            f"device fitted at the latest a week before release ({release})",
        )
    if fiche.facts.psem_expiry is not None:
        renew = previous_business_day(latest_within(fiche.facts.psem_expiry, 6), sub)
        add(
            "psem_renewal_by",
            "CPP 763-10",
            renew,
            "backward, 6 months date to date clamped to the month's last day, "
            "then the business day before",
            f"renewal decided no later than six months before expiry ({fiche.facts.psem_expiry})",
        )
    return out


def dp_reductions(fiche: Fiche, sub: str | None, trace: Trace) -> list[dict[str, Any]]:
    """721: for the time in pre-trial detention the reduction is decided « dans un délai de deux
    mois à compter de la date à laquelle la condamnation est devenue définitive »."""
    out: list[dict[str, Any]] = []
    for s in sorted(fiche.sentences, key=lambda s: (s.start, s.id)):
        held = any(c.sentence == s.id and c.kind != "arse" for c in fiche.credits)
        if s.final_on is None or not held:
            continue
        on = procedural_deadline(add_months(s.final_on, 2, MonthEnd.CLAMP).end, sub)
        mode = "forward, 2 months date to date clamped to the month's last day, then CPP 801"
        note = f"{s.id}: reductions for the pre-trial detention, conviction final on {s.final_on}"
        out.append(
            {
                "id": f"dp_reductions_by.{s.id}",
                "article": "CPP 721",
                "date": on.isoformat(),
                "mode": mode,
                "note": note,
            }
        )
        trace.record(
            f"fiche.deadline.dp_reductions_by.{s.id}", "CPP 721", True, f"{note}: {on} ({mode})"
        )
    return out
