"""Refusals of the alarm workflow."""

from __future__ import annotations


class AlarmStateError(ValueError):
    """The action does not fit the alarm's state (e.g. closing an alarm nobody acknowledged)."""


class QualificationRefused(AlarmStateError):
    """A qualification the alarm's kind may not be given (the API answers 422 naming it)."""

    field = "qualification"


class AlarmNotFound(LookupError):
    def __init__(self, alarm_id: int) -> None:
        super().__init__(f"alarm {alarm_id} not found")
        self.alarm_id = alarm_id
