"""A sentence's length as a court writes it in French is read as its ISO-8601 twin."""

from __future__ import annotations

import pytest

from vigie.law.reckoning import Quantum, parse_quantum


@pytest.mark.parametrize(
    ("written", "iso"),
    [
        ("3 ans", "P3Y"),
        ("1 an", "P1Y"),
        ("18 mois", "P18M"),
        ("2 ans 6 mois", "P2Y6M"),
        ("2 ans et 6 mois", "P2Y6M"),
        ("2 Ans, 6 Mois", "P2Y6M"),
        ("15 jours", "P15D"),
        ("2 semaines", "P14D"),
        ("P3Y", "P3Y"),
    ],
)
def test_french_and_iso_durations_are_the_same_quantum(written: str, iso: str) -> None:
    assert parse_quantum(written) == parse_quantum(iso)
    assert parse_quantum(written).iso() == iso


@pytest.mark.parametrize("written", ["trois ans", "3", "3 ans 6", "3 lunes", "ans", ""])
def test_anything_else_is_refused_with_the_forms_it_takes(written: str) -> None:
    with pytest.raises(ValueError, match="3 ans"):
        parse_quantum(written)


def test_zero_is_not_a_sentence() -> None:
    with pytest.raises(ValueError, match="positive"):
        parse_quantum("0 ans")
    assert parse_quantum("4 ans 12 mois") == Quantum(4, 12, 0)
