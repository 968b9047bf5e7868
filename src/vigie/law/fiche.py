"""The fiche pénale: several sentences on their own dates, as a greffe computes them.

Each sentence is put into execution on its own `start` (716-2) and, when another is still
running, executed after it (CP 132-4: « s'exécutent cumulativement »). A sentence confused with
another is absorbed by it (CP 132-4 « confusion »; 716-4 deducts credits « de la durée totale de la
peine à subir après confusion »). A revoked suspended part is served after the firm part.
Credits are dated intervals, the first and the last day both counted (greffe practice: the day
of écrou and the day of release are each a day of detention). A day is credited once.

Per sentence: `end = begin (+) quanta − credits − reductions + time not counted` (733: time on
parole revoked does not count). The whole is read as days served, so a threshold « when the
time served is at least k » is the first day on which the running count reaches k, across
gaps between sentences; its legal duration (716-1) decides which thresholds apply.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from vigie import clock
from vigie.law import params
from vigie.law.case import Sentence
from vigie.law.errors import LawInputError
from vigie.law.fiche_deadlines import deadlines, dp_reductions
from vigie.law.fiche_input import Fiche, FicheSentence, RevokedPart, parse_fiche
from vigie.law.reckoning import (
    LegalDuration,
    Quantum,
    add_quantum,
    calendar_of,
    earliest_reaching,
    release_day,
)
from vigie.law.sentence import ceiling_2023, ceiling_before_2023
from vigie.law.trace import Trace

ONE_DAY = dt.timedelta(days=1)
_720_III_TAGS = ("terrorism", "minor_under_15", "public_authority", "partner_aggravation")


@dataclass
class Line:
    """One sentence as executed (an absorbing sentence carries those confused with it)."""

    sentence: FicheSentence
    quanta: tuple[Quantum, ...]
    absorbed: tuple[str, ...]
    begin: dt.date = dt.date.min
    quantum_end: dt.date = dt.date.min
    credited: int = 0
    crp: int = 0
    granted: int = 0
    withdrawn: int = 0
    not_counted: int = 0
    end: dt.date = dt.date.min
    served: bool = False
    excess_credit: int = 0
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.sentence.id

    @property
    def days(self) -> int:
        return (self.end - self.begin).days


def _key(s: FicheSentence) -> tuple[dt.date, str]:
    return s.start, s.id


def _part_key(p: RevokedPart) -> tuple[dt.date, int, int, int]:
    return p.revoked_on, p.quantum.years, p.quantum.months, p.quantum.days


def _group(fiche: Fiche, trace: Trace) -> list[Line]:
    """Confusion: the absorbing sentence executes the longest firm quantum of its group
    (CP 132-4); revoked suspended parts are never absorbed and run after it."""
    lines = []
    for s in sorted(fiche.sentences, key=_key):
        if s.confused_with is not None:
            continue
        members = [s, *sorted((o for o in fiche.sentences if o.confused_with == s.id), key=_key)]
        longest = max(members, key=lambda m: (LegalDuration.of(m.quantum), m.id == s.id))
        revoked = sorted((p for m in members for p in m.revoked_suspended), key=_part_key)
        parts = tuple(p.quantum for p in revoked)
        absorbed = tuple(m.id for m in members[1:])
        if absorbed:
            trace.record(
                "fiche.confusion",
                "CP 132-4",
                True,
                f"{', '.join(absorbed)} confused with {s.id}: one quantum executed, "
                f"{longest.quantum.iso()} (the longest, from {longest.id}); their credits are "
                f"deducted from it (716-4 « après confusion »)",
            )
        if parts:
            trace.record(
                "fiche.revoked_suspended",
                "CP 132-36",
                True,
                f"{s.id}: revoked suspended part(s) {', '.join(q.iso() for q in parts)} served "
                "after the firm part, without confusion with it",
            )
        lines.append(Line(s, (longest.quantum, *parts), absorbed))
    return sorted(lines, key=lambda ln: (ln.sentence.start, ln.id))


def _root(fiche: Fiche, sid: str) -> str:
    s = next(x for x in fiche.sentences if x.id == sid)
    return s.confused_with or s.id


def _credit_days(fiche: Fiche, trace: Trace) -> dict[str, int]:
    """Days credited per executing sentence: each interval counts its first and last day; a
    day credited twice is an input error (716-4 deducts detention once)."""
    seen: dict[dt.date, str] = {}
    counts: dict[str, int] = {}
    ordered = sorted(enumerate(fiche.credits), key=lambda ic: (ic[1].from_, ic[1].to, ic[0]))
    for i, c in ordered:
        root = _root(fiche, c.sentence)
        day = c.from_
        while day <= c.to:
            if day in seen:
                raise LawInputError(
                    f"credits[{i}]", f"{day} is already credited ({seen[day]}): a day counts once"
                )
            seen[day] = f"to {c.sentence}"
            day += ONE_DAY
        n = (c.to - c.from_).days + 1
        counts[root] = counts.get(root, 0) + n
        article = "CPP 142-11" if c.kind == "arse" else "CPP 716-4"
        trace.record(
            f"fiche.credit.{c.kind}",
            article,
            True,
            f"{c.kind} from {c.from_} to {c.to}: {n} day(s), first and last day counted, "
            f"deducted from {root}",
        )
    return counts


def _ecrou(fiche: Fiche, lines: list[Line], trace: Trace) -> dt.date:
    if fiche.ecrou_date is not None:
        return fiche.ecrou_date
    first = min([c.from_ for c in fiche.credits if c.kind != "arse"] + [lines[0].sentence.start])
    taken: dt.date = trace.assume(
        "ecrou_date",
        first,
        "the earliest detention on the fiche (the 721 regime follows the first écrou)",
    )
    return taken


def _sentences(lines: list[Line]) -> tuple[Sentence, ...]:
    return tuple(
        Sentence(quantum=q, category=ln.sentence.category, offences=ln.sentence.offences)
        for ln in lines
        for q in ln.quanta
    )


def _execute(fiche: Fiche, lines: list[Line], credits: dict[str, int], trace: Trace) -> None:
    """Place each sentence after the one before (cumulative execution) and compute its end;
    run again once the CRP is known, so every count starts from zero."""
    last = lines[-1].id
    for ln in lines:
        ln.granted = ln.withdrawn = ln.not_counted = ln.excess_credit = 0
        ln.served = False
        ln.events = []
    for g in fiche.grants:
        target = _root(fiche, g.sentence) if g.sentence else last
        next(ln for ln in lines if ln.id == target).granted += g.days
    for w in fiche.withdrawals:
        target = _root(fiche, w.sentence) if w.sentence else last
        next(ln for ln in lines if ln.id == target).withdrawn += w.days
    prev: dt.date | None = None
    for ln in lines:
        ln.begin = ln.sentence.start if prev is None else max(ln.sentence.start, prev)
        if ln.begin > ln.sentence.start:
            trace.record(
                "fiche.cumulative_execution",
                "CP 132-4",
                True,
                f"{ln.id} put into execution on {ln.sentence.start} while {prev} was still due: "
                f"executed from {ln.begin}, after the sentence before it",
            )
        end = ln.begin
        for q in ln.quanta:
            end = add_quantum(end, q).end
        ln.quantum_end = end
        ln.credited = credits.get(ln.id, 0)
        mine = [e for e in fiche.events if _root(fiche, e.sentence) == ln.id]
        for ev in sorted(mine, key=lambda e: (e.from_, e.decided_on, e.kind)):
            ln.events.append(_event(ev.kind, ev.modality, ev.from_, ev.decided_on, trace))
            ln.not_counted += ln.events[-1]["not_counted_days"]
        quantum_days = (end - ln.begin).days
        off = ln.credited + ln.crp + ln.granted - ln.withdrawn
        if off >= quantum_days + ln.not_counted:
            ln.served, ln.end = True, ln.begin
            ln.excess_credit = max(0, ln.credited - quantum_days)
            trace.record(
                "fiche.served_by_credits",
                "CPP 716-4",
                True,
                f"{ln.id}: {off} d credited or reduced cover its {quantum_days} d: served on "
                f"{ln.begin}"
                + (f"; {ln.excess_credit} d of credit in excess" if ln.excess_credit else ""),
            )
        else:
            ln.end = end - dt.timedelta(days=off - ln.not_counted)
        for out in ln.events:
            out["new_end"] = ln.end.isoformat()
            out["time_left_days"] = max(0, (ln.end - dt.date.fromisoformat(out["decided_on"])).days)
        prev = ln.end


def _event(
    kind: str, modality: str | None, start: dt.date, decided: dt.date, trace: Trace
) -> dict[str, Any]:
    """The time left to serve after a measure is withdrawn or revoked, and what is not counted."""
    outside = (decided - start).days
    if kind == "parole" or (kind == "lsc" and modality == "lc"):
        article = "CPP 733"
        counted = False
        note = (
            f"parole from {start} revoked on {decided}: the time on parole ({outside} d) does not "
            "count; the person serves what was left on the day of release (all of it, unless the "
            "decision says less)"
        )
    elif kind == "arse":
        article = "CPP 142-11"
        counted = True
        note = (
            f"ARSE from {start} revoked on {decided} into pre-trial detention (142-8): the ARSE "
            "days count as detention (enter them as a credit of kind arse)"
        )
    else:
        article = "CPP 723-13"
        counted = True
        where = "under DDSE" if kind == "ddse" or modality == "ddse" else f"under {modality}"
        note = (
            f"measure {where} from {start} withdrawn on {decided}: it was served sous écrou, "
            "the time under it counts; what is left is what remained on the decision's date"
        )
    if kind == "lsc":
        note = (
            "LSC (720: « les conséquences de l'inobservation ... sont celles prévues au présent "
            "code »): " + note
        )
    trace.record(f"fiche.withdrawal.{kind}", article, True, note)
    return {
        "kind": kind,
        "modality": modality,
        "from": start.isoformat(),
        "decided_on": decided.isoformat(),
        "article": article,
        "time_counted": counted,
        "not_counted_days": 0 if counted else outside,
    }


def _reductions(
    fiche: Fiche, lines: list[Line], ecrou: dt.date, trace: Trace
) -> tuple[str, int, int, int, str]:
    """(regime, ceiling still open, ceiling, crp total, detail): since 2023 grants within 721's
    ceilings; before, the CRP credited at écrou per sentence plus RPS within their ceiling."""
    base_end = lines[-1].quantum_end - dt.timedelta(days=sum(ln.credited for ln in lines))
    granted = sum(ln.granted for ln in lines)
    if params.in_force("sentence", "reduction_per_year_months", ecrou):
        bad = [i for i, w in enumerate(fiche.withdrawals) if w.kind != "721"]
        if bad:
            raise LawInputError(
                f"withdrawals[{bad[0]}].kind", "no CRP or RPS for an écrou from 2023"
            )
        ceiling, detail = ceiling_2023(_sentences(lines), base_end, ecrou)
        withdrawn = sum(w.days for w in fiche.withdrawals)
        if withdrawn > granted:
            raise LawInputError("withdrawals", f"{withdrawn} d withdrawn > {granted} d granted")
        if granted > ceiling:
            raise LawInputError(
                "grants",
                f"{granted} d granted exceed the ceiling of {ceiling} d ({detail}; CPP 721)",
            )
        trace.record(
            "fiche.reductions_2023",
            "CPP 721",
            True,
            f"écrou {ecrou}: reductions granted by the judge, {granted} d granted, "
            f"{withdrawn} d withdrawn; ceiling {ceiling} d on the total ({detail}); the "
            "probable release assumes the rest of the ceiling granted",
        )
        return "2023", max(0, ceiling - granted), ceiling, 0, detail
    if not params.in_force("sentence", "crp_first_year_months", ecrou):
        raise LawInputError("ecrou_date", f"no reductions regime modelled for an écrou on {ecrou}")
    for ln in lines:
        sub = _sentences([ln])
        ln.crp = ceiling_before_2023(sub, ln.quantum_end - dt.timedelta(days=ln.credited), ecrou)[0]
    crp_all, ceiling, detail = ceiling_before_2023(_sentences(lines), base_end, ecrou)
    crp_total = sum(ln.crp for ln in lines)
    rps_ceiling = max(0, ceiling - crp_all)
    crp_out = sum(w.days for w in fiche.withdrawals if w.kind == "crp")
    if crp_out > crp_total:
        raise LawInputError("withdrawals", f"{crp_out} d of CRP withdrawn > {crp_total} d credited")
    if granted > rps_ceiling:
        raise LawInputError(
            "grants", f"{granted} d of RPS exceed their ceiling of {rps_ceiling} d (former 721-1)"
        )
    trace.record(
        "fiche.reductions_before_2023",
        "CPP 721 (before loi 2021-1729)",
        True,
        f"écrou {ecrou}: CRP credited at écrou per sentence ({crp_total} d), "
        f"{crp_out} d withdrawn; "
        f"RPS granted {granted} d of a ceiling of {rps_ceiling} d ({detail})",
    )
    return "before_2023", max(0, rps_ceiling - granted), ceiling, crp_total, detail


def _reached(lines: list[Line], credited: int, k: int) -> dt.date:
    """The first day on which the days served (credits, then each sentence's days) reach k."""
    left = k - credited
    if left <= 0:
        return lines[0].begin
    for ln in lines:
        if left <= ln.days:
            return ln.begin + dt.timedelta(days=left)
        left -= ln.days
    return lines[-1].end


def _release(lines: list[Line], day: dt.date, sub: str | None) -> dt.date:
    """716-3 on the day a sentence ends, never before that sentence began: a term ending on a
    Sunday that began the day before releases on the day it began (and a served one at once)."""
    began = max((ln.begin for ln in lines if ln.begin <= day), default=day)
    return max(release_day(day, sub), began)


def years(n: int) -> LegalDuration:
    return LegalDuration.of(Quantum(years=n))


def _ceil(a: int, b: int) -> int:
    return -(-a // b)


def assess_fiche(raw: dict[str, Any]) -> dict[str, Any]:
    """Compute a fiche pénale (see docs/law/fiche.md); JSON-ready output."""
    fiche = parse_fiche(raw)
    as_of = fiche.as_of or clock.today_in_paris()
    trace = Trace(as_of)
    sub = calendar_of(fiche.departement)
    trace.record(
        "fiche.calendar",
        "CPP 801",
        sub is not None,
        f"holidays of département {fiche.departement}: local calendar {sub}"
        if sub
        else "metropolitan holidays (no local calendar given or needed)",
    )
    lines = _group(fiche, trace)
    credits = _credit_days(fiche, trace)
    ecrou = _ecrou(fiche, lines, trace)
    _execute(fiche, lines, credits, Trace(trace.as_of))  # places and quantum ends, untraced
    regime, open_days, ceiling, crp_total, _ = _reductions(fiche, lines, ecrou, trace)
    _execute(fiche, lines, credits, trace)  # with the CRP, if any
    return _output(fiche, lines, regime, open_days, ceiling, crp_total, sub, trace)


def _output(
    fiche: Fiche,
    lines: list[Line],
    regime: str,
    open_days: int,
    ceiling: int,
    crp_total: int,
    sub: str | None,
    trace: Trace,
) -> dict[str, Any]:
    credited = sum(ln.credited for ln in lines)
    total_days = credited + sum(ln.days for ln in lines)
    first, last = lines[0], lines[-1]
    effective_start = first.begin - dt.timedelta(days=credited)
    end = last.end
    release = _release(lines, end, sub)
    trace.record(
        "fiche.release_on_jour_ouvrable",
        "CPP 716-3",
        release != end,
        f"end {end}; release {release} (a Sunday or holiday moves it to the jour ouvrable before)",
    )
    legal = LegalDuration.of(*(q for ln in lines for q in ln.quanta))
    thresholds: list[dict[str, Any]] = []
    dates: dict[str, str] = {
        "effective_start": effective_start.isoformat(),
        "sentence_end": end.isoformat(),
        "release_date": release.isoformat(),
    }

    def mark(
        tid: str, article: str, applies: bool, on: dt.date | None, how: str, note: str
    ) -> None:
        thresholds.append(
            {
                "id": tid,
                "article": article,
                "applies": applies,
                "date": on.isoformat() if on and applies else None,
                "rounding": how,
                "note": note,
            }
        )
        trace.record(
            f"fiche.threshold.{tid}",
            article,
            applies,
            f"{note}; {how}" + (f": {on}" if on and applies else ""),
        )

    two_thirds = _reached(lines, credited, _ceil(2 * total_days, 3))
    half = _reached(lines, credited, _ceil(total_days, 2))
    surete_end: dt.date | None = None
    for ln in lines:
        if ln.sentence.surete is not None:
            ps = add_quantum(ln.begin - dt.timedelta(days=ln.credited), ln.sentence.surete).end
            surete_end = max(surete_end or ps, ps)
    mark(
        "720-I",
        "CPP 720-I",
        legal <= years(5),
        two_thirds,
        f"first day with served >= 2 x left: ceil(2 x {total_days} / 3) days served",
        f"total {legal.iso()} {'<=' if legal <= years(5) else '>'} 5 years",
    )
    if legal <= years(5):
        dates["lsc_examination"] = two_thirds.isoformat()
    excluded = [
        ln.id
        for ln in lines
        if ln.sentence.category == "crime" or any(t in ln.sentence.offences for t in _720_III_TAGS)
    ]
    # 720-II is in force from 1 January 2023, for prisoners already serving too (README B5)
    ii_since = dt.date(2023, 1, 1)
    auto = max(earliest_reaching(end, 3), ii_since)
    ii_ok = legal <= years(2) and not excluded and end > ii_since
    ii_note = f"total {legal.iso()}" + (
        f"; 720-III excludes {', '.join(excluded)}" if excluded else ""
    )
    if end <= ii_since:
        ii_note += "; the term ends before 720-II came into force (2023-01-01)"
    elif auto == ii_since:
        ii_note += "; in force from 2023-01-01 for a prisoner already serving then"
    if fiche.facts.disciplinary_violence:
        ii_ok, ii_note = False, ii_note + "; 720-III disciplinary sanction for violence"
    if fiche.facts.has_accommodation is False:
        ii_ok, ii_note = False, ii_note + "; material impossibility (no accommodation)"
    mark(
        "720-II",
        "CPP 720-II",
        ii_ok,
        auto,
        "earliest t with t (+) 3 months >= end, months clamped to the month's last day",
        ii_note,
    )
    if ii_ok:
        dates["lsc_automatic"] = auto.isoformat()
    seizure = two_thirds + ONE_DAY
    # months left on the day the first sentence is put into execution, read backward (clamp)
    left_at_start = next(
        (n for n in (6, 12) if earliest_reaching(end, n) <= first.sentence.start), 13
    )
    must = legal <= LegalDuration.of(Quantum(months=6)) or left_at_start <= 6
    ddse_from = first.begin if legal <= years(2) else earliest_reaching(end, 24)
    mark(
        "723-7",
        "CPP 723-7",
        True,
        ddse_from,
        "total <= 2 years: from the start; else earliest t with <= 2 years left (clamp)",
        f"total {legal.iso()}",
    )
    mark(
        "723-15",
        "CPP 723-15",
        legal <= years(1) or left_at_start <= 12,
        first.sentence.start,
        "before incarceration: total pronounced, or left to serve, <= 1 year "
        "(left: earliest t with t (+) 12 months >= end, clamped, on or before the start)",
        f"total {legal.iso()}"
        + ("; <= 6 months: DDSE, SL or PE « doit », unless impossible" if must else ""),
    )
    mark(
        "132-25",
        "CP 132-25",
        legal <= years(1),
        first.sentence.start,
        "at sentencing: aménagement for a sentence <= 1 year (« doit » up to 6 months)",
        f"total {legal.iso()}",
    )
    parole = max(half, surete_end) if surete_end else half
    mark(
        "729",
        "CPP 729",
        True,
        parole,
        f"first day with served >= left: ceil({total_days} / 2) days served"
        + ("; not before the end of the période de sûreté" if surete_end else ""),
        "parole at half sentence",
    )
    dates["parole_from"] = parole.isoformat()
    parent_from = first.begin if legal <= years(4) else earliest_reaching(end, 48)
    if surete_end:
        parent_from = max(parent_from, surete_end)
    mark(
        "729-3",
        "CPP 729-3",
        fiche.facts.parent_of_child_under_10 is not False,
        parent_from,
        "total <= 4 years: from the start; else earliest t with <= 4 years left (clamp)",
        "parent of a child under 10 living with them, or pregnant over 12 weeks"
        + ("" if fiche.facts.parent_of_child_under_10 else " (fact not given: conditional)"),
    )
    mark(
        "730-3",
        "CPP 730-3",
        legal > years(5),
        two_thirds,
        f"two thirds served: ceil(2 x {total_days} / 3) days",
        f"total {legal.iso()} over 5 years",
    )
    if surete_end is not None:
        mark(
            "132-23",
            "CP 132-23",
            True,
            surete_end,
            "start less credits (+) the période de sûreté, date to date",
            "no parole, semi-liberté, placement or permission before; "
            "reductions only on the part beyond",
        )
    # probable release with maximal reductions
    probable_end = _reached(lines, credited, max(0, total_days - open_days))
    if surete_end:
        probable_end = max(probable_end, min(surete_end, end))
    probable = _release(lines, probable_end, sub)
    dates["probable_release_date"] = probable.isoformat()
    trace.record(
        "fiche.probable_release",
        "CPP 721" if regime == "2023" else "CPP 721-1 (before loi 2021-1729)",
        open_days > 0,
        f"assuming the {open_days} d still open under the ceiling are granted: end {probable_end}, "
        f"release {probable} (716-3)",
    )
    actions = deadlines(fiche, two_thirds, seizure, legal <= years(5), release, sub, trace)
    if regime == "2023":
        actions += dp_reductions(fiche, sub, trace)
    figures: dict[str, int] = {
        "total_days": total_days,
        "quantum_days": sum((ln.quantum_end - ln.begin).days for ln in lines),
        "credited_days": credited,
        "reductions_days": sum(ln.granted - ln.withdrawn for ln in lines) + crp_total,
        "reductions_ceiling_days": ceiling,
        "reductions_open_days": open_days,
    }
    if regime == "before_2023":
        figures["crp_days"] = crp_total
    timeline = [
        _line_out(ln, i == len(lines) - 1 or lines[i + 1].begin > ln.end, sub)
        for i, ln in enumerate(lines)
    ]
    return {
        "measure": "fiche",
        "as_of": trace.as_of.isoformat(),
        "outcome": "not_applicable",
        "articles": trace.articles(),
        "dates": dates,
        "figures": figures,
        "assumptions": trace.assumptions,
        "regime": regime,
        "legal_duration": legal.iso(),
        "timeline": {
            "sentences": timeline,
            "whole": {
                "start": first.begin.isoformat(),
                "effective_start": effective_start.isoformat(),
                "credited_days": credited,
                "end": end.isoformat(),
                "release_date": release.isoformat(),
                "probable_release_date": probable.isoformat(),
            },
        },
        "thresholds": thresholds,
        "deadlines": actions,
        "trace": trace.steps,
    }


def _line_out(ln: Line, released: bool, sub: str | None) -> dict[str, Any]:
    return {
        "id": ln.id,
        "start": ln.sentence.start.isoformat(),
        "begin": ln.begin.isoformat(),
        "quanta": [q.iso() for q in ln.quanta],
        "absorbed": list(ln.absorbed),
        "quantum_end": ln.quantum_end.isoformat(),
        "credited_days": ln.credited,
        "crp_days": ln.crp,
        "granted_days": ln.granted,
        "withdrawn_days": ln.withdrawn,
        "not_counted_days": ln.not_counted,
        "end": ln.end.isoformat(),
        "served_by_credits": ln.served,
        "excess_credit_days": ln.excess_credit,
        "release_date": _release([ln], ln.end, sub).isoformat() if released else None,
        "events": ln.events,
    }
