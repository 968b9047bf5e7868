"""The vectorised rounding of event details gives ``round``'s floats, bit for bit."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.detect.engine.state import rounded


def _same(a: float, b: float) -> bool:
    return math.copysign(1.0, a) == math.copysign(1.0, b) and a.hex() == b.hex()


@settings(max_examples=300, deadline=None)
@given(
    values=st.lists(
        st.one_of(
            st.floats(-1e4, 1e4, allow_nan=False),
            # Decimal ties and their neighbours: where rounding the product could go astray.
            st.integers(-2_000_000, 2_000_000).map(lambda k: k / 20),
            st.integers(-2_000_000, 2_000_000).map(lambda k: (k + 0.5) / 1e6),
            st.integers(-2_000_000, 2_000_000).map(lambda k: math.nextafter(k / 20, math.inf)),
            st.floats(-1e-3, 1e-3, allow_nan=False),
        ),
        min_size=1,
        max_size=40,
    ),
    digits=st.sampled_from([1, 6]),
)
def test_rounded_is_round(values: list[float], digits: int) -> None:
    got = rounded(np.array(values, dtype=np.float64), digits)
    assert all(_same(g, round(v, digits)) for g, v in zip(got, values, strict=True))


def test_rounded_known_traps() -> None:
    values = [2.675, 0.05, -0.05, 0.25, -0.25, -0.04, 0.0, -0.0, 1e300, 2.0**60 + 0.5]
    for digits in (1, 2, 6):
        got = rounded(np.array(values), digits)
        assert all(_same(g, round(v, digits)) for g, v in zip(got, values, strict=True))
