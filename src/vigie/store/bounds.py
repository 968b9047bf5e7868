"""The integers, text and times the databases can hold, as types that refuse the rest at the
edge.

Counters, observation and audit ids are signed 64-bit integers in both databases, but the other
tables' row ids are PostgreSQL INTEGERs (32 bits): a larger number sent by a client must be
refused with a 422 naming the field, not reach the driver and fail as a 500.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, Field

INT64_MAX = 2**63 - 1
INT32_MAX = 2**31 - 1

# A row id (path parameters, references in forms): positive and as large as an INTEGER column.
RowId = Annotated[int, Field(ge=1, le=INT32_MAX)]
# "After this row id" in such a table (following the alarm queue).
RowCursor = Annotated[int, Field(ge=0, le=INT32_MAX)]
# A counter or cursor (a device's sequence number, "after this id"): non-negative and storable.
Count = Annotated[int, Field(ge=0, le=INT64_MAX)]

# Text the databases can hold and a person can read: PostgreSQL keeps no NUL, neither base
# encodes half a character (a lone surrogate JSON can escape), and a control character (an
# escape sequence, a line feed in a name) is never meant in a field typed at a desk.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _unicode(value: str, where: str = "") -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        prefix = f"{where}: " if where else ""
        raise ValueError(f"{prefix}not Unicode text (a lone surrogate escape)") from None


def _text(value: str, control: re.Pattern[str]) -> str:
    _unicode(value)
    if found := control.search(value):
        raise ValueError(f"contains the control character {found.group()!r}")
    return value


# One line (a name, a reference, a phone number, a search): no control character at all.
Line = Annotated[str, AfterValidator(lambda v: _text(v, _CONTROL))]
# A note a person writes: line breaks and tabs kept, no other control character.
Prose = Annotated[str, AfterValidator(lambda v: _text(v, _CONTROL_BUT_LINES))]


def check_storable(value: Any, where: str = "") -> None:
    """Refuse (ValueError naming its path under `where`) what a JSON value kept as sent must not
    hold: a NUL or half a character (a lone surrogate escape) in a key or a string, which
    PostgreSQL does not store (SQLite would keep it where PostgreSQL fails), or NaN and
    infinities, which Python's parser reads and ``jsonb`` and every other JSON reader refuse.
    Walked with a stack: the bounded body route caps the depth, not Python's."""
    stack: list[tuple[str, Any]] = [(where, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            _storable_text(item, path or "value")
        elif isinstance(item, float) and not math.isfinite(item):
            raise ValueError(f"{path or 'value'}: not a finite number ({item})")
        elif isinstance(item, dict):
            for key, inner in item.items():
                _storable_text(key, f"{path or 'value'} (a key)")
                stack.append((f"{path}.{key}" if path else key, inner))
        elif isinstance(item, list):
            stack.extend((f"{path}[{i}]", inner) for i, inner in enumerate(item))


def _storable_text(text: str, where: str) -> None:
    _unicode(text, where)
    if "\x00" in text:
        raise ValueError(f"{where}: contains a NUL character")


def _document(value: dict[str, Any]) -> dict[str, Any]:
    check_storable(value)
    return value


# A JSON object kept as sent (GeoJSON, the legal case's facts), which the databases can store.
Document = Annotated[dict[str, Any], AfterValidator(_document)]
_PHONE = re.compile(r"\+?[0-9 .()\-]{2,40}")


def _phone(value: str) -> str:
    if not _PHONE.fullmatch(_text(value, _CONTROL)):
        raise ValueError("a phone number: digits, spaces, dots, dashes, brackets, a leading +")
    return value


# A phone number as dialled (the console makes a tel: link of it).
Phone = Annotated[str, Field(max_length=40), AfterValidator(_phone)]


def _storable_instant(value: datetime) -> datetime:
    """A time with an offset whose UTC instant exists (year 1 at +01:00 does not)."""
    try:
        value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of the calendar once in UTC") from None
    return value


# A time with its offset, that both databases can store as an instant.
Instant = Annotated[AwareDatetime, AfterValidator(_storable_instant)]
