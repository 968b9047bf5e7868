"""The integers the databases can hold, as types that refuse the rest at the edge.

Both databases store ids and counters as signed 64-bit integers: a larger number sent by a
client must be refused with a 422 naming the field, not reach the driver and fail as a 500.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

INT64_MAX = 2**63 - 1

# A row id (path parameters, references in forms): positive and storable.
RowId = Annotated[int, Field(ge=1, le=INT64_MAX)]
# A counter or cursor (a device's sequence number, "after this id"): non-negative and storable.
Count = Annotated[int, Field(ge=0, le=INT64_MAX)]
