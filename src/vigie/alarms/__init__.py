"""Alarms: episodes from detection events, the operator's workflow, incident reports, the outbox."""

from vigie.alarms.errors import AlarmNotFound, AlarmStateError, QualificationRefused

__all__ = ["AlarmNotFound", "AlarmStateError", "QualificationRefused"]
