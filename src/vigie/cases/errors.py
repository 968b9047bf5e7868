"""Why a case operation was refused, in words an operator can act on."""

from __future__ import annotations


class CaseRefused(ValueError):
    """The operation breaks a rule (the law's, a zone's, a reference's); nothing was written."""

    def __init__(self, message: str, field: str | None = None, reasons: list[str] | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.reasons = reasons or [message]


class ProtectedPlaceInZone(CaseRefused):
    """An inclusion zone covers a protected place: the refusal itself says where she is."""


class MeasureEnded(CaseRefused):
    """The placement's measure has ended: its record stands as it was; a new measure is a new
    placement."""


class DeviceWithdrawn(CaseRefused):
    """The device is out of service: no case may take it, no secret or command goes to it."""


class DeviceInUse(CaseRefused):
    """The device is fitted on a case: replace it there, or end the measure, first."""


class CaseNotFound(LookupError):
    """No such person, placement, contact, zone or device (or not one the caller may see)."""

    def __init__(self, what: str, key: object) -> None:
        super().__init__(f"{what} {key} not found")
        self.what = what
        self.key = key
