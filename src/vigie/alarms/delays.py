"""An alarm's delay by its priority: `after_s` times the factor of its priority (1 for one not
listed), for escalation and for the reminder of an alarm closed while its condition goes on
(`ongoing`). One SQL condition per set of priorities, made once and run with the times bound."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, bindparam, or_

from vigie.store.models import Alarm


def past(moment: Any, priorities: tuple[int, ...]) -> ColumnElement[bool]:
    """`moment` (a column of Alarm) at or before its priority's due time (`due_<p>`, else `due`)."""
    return or_(
        *(and_(Alarm.priority == p, moment <= bindparam(f"due_{p}")) for p in priorities),
        and_(Alarm.priority.not_in(priorities), moment <= bindparam("due")),
    )


def due_times(
    now: datetime, after_s: float, factors: Mapping[int, float], partition: int | None
) -> dict[str, Any]:
    """The parameters `past` reads (and `partition`, when given)."""
    due: dict[str, Any] = {
        f"due_{p}": now - timedelta(seconds=after_s * f) for p, f in factors.items()
    }
    due["due"] = now - timedelta(seconds=after_s)
    if partition is not None:
        due["partition"] = partition
    return due
