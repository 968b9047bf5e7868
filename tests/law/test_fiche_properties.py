"""Properties of the fiche that hold for every file, not only the worked ones (issue 19):
a credit never moves an end later, a grant never moves the release later, and the order in
which the greffe lists sentences, credits and grants never changes a date."""

from __future__ import annotations

import datetime as dt
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from vigie.law import LawInputError, assess

starts = st.dates(min_value=dt.date(2023, 1, 1), max_value=dt.date(2027, 12, 31))
quanta = st.one_of(
    st.builds(lambda y, m: f"P{y}Y{m}M", st.integers(0, 3), st.integers(1, 11)),
    st.builds(lambda d: f"P{d}D", st.integers(1, 400)),
    st.builds(lambda m: f"P{m}M", st.integers(1, 2)),
)


@st.composite
def fiches(draw: st.DrawFn) -> dict[str, Any]:
    n = draw(st.integers(1, 4))
    sentences = []
    for i in range(n):
        s: dict[str, Any] = {
            "id": f"S{i}",
            "start": draw(starts).isoformat(),
            "quantum": draw(quanta),
            "category": draw(st.sampled_from(["delit", "crime"])),
        }
        if i and draw(st.booleans()) and draw(st.booleans()):
            s["confused_with"] = "S0"
        if draw(st.booleans()) and draw(st.booleans()):
            s["revoked_suspended"] = [{"quantum": draw(quanta), "revoked_on": s["start"]}]
        sentences.append(s)
    credits = []
    day = dt.date(2022, 1, 1)
    for _ in range(draw(st.integers(0, 3))):
        day += dt.timedelta(days=draw(st.integers(0, 30)))
        length = draw(st.integers(0, 40))
        credits.append(
            {
                "sentence": f"S{draw(st.integers(0, n - 1))}",
                "kind": draw(st.sampled_from(["dp", "eaw", "arse"])),
                "from": (day + dt.timedelta(days=1)).isoformat(),
                "to": (day + dt.timedelta(days=1 + length)).isoformat(),
            }
        )
        day += dt.timedelta(days=2 + length)
    return {
        "measure": "fiche",
        "as_of": "2026-11-30",
        "ecrou_date": "2023-01-01",
        "sentences": sentences,
        "credits": credits,
    }


def ends(got: dict[str, Any]) -> dict[str, str]:
    return {ln["id"]: ln["end"] for ln in got["timeline"]["sentences"]}


@settings(max_examples=150, deadline=None)
@given(fiches(), st.integers(1, 60), st.data())
def test_adding_a_credit_never_moves_an_end_later(
    fiche: dict[str, Any], length: int, data: st.DataObject
) -> None:
    before = assess(fiche)
    target = data.draw(st.sampled_from([s["id"] for s in fiche["sentences"]]))
    extra = {"sentence": target, "kind": "dp", "from": "2021-01-01"}
    extra["to"] = (dt.date(2021, 1, 1) + dt.timedelta(days=length - 1)).isoformat()
    after = assess(fiche | {"credits": [extra, *fiche["credits"]]})
    old, new = ends(before), ends(after)
    assert all(new[k] <= old[k] for k in old)
    assert after["dates"]["release_date"] <= before["dates"]["release_date"]


@settings(max_examples=150, deadline=None)
@given(fiches(), st.integers(1, 40))
def test_a_grant_never_moves_the_release_later(fiche: dict[str, Any], days: int) -> None:
    before = assess(fiche)
    try:
        after = assess(fiche | {"grants": [{"date": "2026-01-01", "days": days}]})
    except LawInputError as err:
        assert err.field == "grants"  # only a grant above the 721 ceiling is refused
        return
    assert after["dates"]["sentence_end"] <= before["dates"]["sentence_end"]
    assert after["dates"]["release_date"] <= before["dates"]["release_date"]
    assert after["dates"]["probable_release_date"] <= before["dates"]["release_date"]


def _without_trace(got: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in got.items() if k != "trace"}


@settings(max_examples=150, deadline=None)
@given(fiches(), st.randoms(use_true_random=False))
def test_input_order_never_changes_the_result(fiche: dict[str, Any], rnd: Any) -> None:
    shuffled = dict(fiche)
    for key in ("sentences", "credits"):
        items = list(fiche[key])
        rnd.shuffle(items)
        shuffled[key] = items
    assert _without_trace(assess(shuffled)) == _without_trace(assess(fiche))
