"""The protected person's position: shown only to an operator working a live BAR alarm."""

from __future__ import annotations

from typing import Any

from vigie.alarms.obligations import BAR_KINDS
from vigie.store.models import Alarm, User

LIVE = ("acknowledged", "in_progress")


def is_protected_key(key: str) -> bool:
    """Detail keys that carry the protected person's whereabouts (detection names them so)."""
    return key.startswith("protected")


def public_detail(detail: dict[str, Any]) -> dict[str, Any]:
    """The alarm detail without the protected person's position."""
    return {k: v for k, v in detail.items() if not is_protected_key(k)}


def protected_detail(detail: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in detail.items() if is_protected_key(k)}


def may_see_protected_position(user: User, alarm: Alarm) -> bool:
    return user.role == "operator" and alarm.kind in BAR_KINDS and alarm.status in LIVE
