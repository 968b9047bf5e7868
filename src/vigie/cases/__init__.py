"""Cases: people, placements and their obligations, devices; every placement asks the law first."""

from vigie.cases.errors import (
    CaseNotFound,
    CaseRefused,
    DeviceInUse,
    DeviceWithdrawn,
    MeasureEnded,
)

__all__ = ["CaseNotFound", "CaseRefused", "DeviceInUse", "DeviceWithdrawn", "MeasureEnded"]
