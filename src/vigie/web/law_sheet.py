"""The fiche pénale printed as the greffe's working sheet: a PDF rendered by WeasyPrint (as the
incident reports are), with the timeline drawn server-side as SVG since no script runs there."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from importlib.resources import files
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from jinja2 import Environment, FileSystemLoader, select_autoescape
from markupsafe import Markup

from vigie.web import law_notes, law_words

_env = Environment(
    loader=FileSystemLoader(str(files("vigie.web") / "templates")),
    autoescape=select_autoescape(["html"]),
)


def _day(iso: str) -> int:
    return dt.date.fromisoformat(iso).toordinal()


def timeline_svg(decision: dict[str, Any], label: str) -> Markup:
    """One bar per executing sentence (credits before it in a lighter shade), a dashed line
    at each threshold date reached; every text escaped."""
    rows = decision["timeline"]["sentences"]
    marks = [t for t in decision["thresholds"] if t["applies"] and t["date"]]
    start = decision["timeline"]["whole"]["effective_start"]
    days = [_day(start)] + [_day(r[k]) for r in rows for k in ("begin", "end")]
    days += [_day(m["date"]) for m in marks]
    lo, hi = min(days), max(days)
    width, left, right, bar, gap = 900, 70, 110, 22, 10

    def x(day: int) -> float:
        return left + (day - lo) / max(1, hi - lo) * (width - left - right)

    height = 20 + len(rows) * (bar + gap) + len(marks) * 16 + 10
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'role="img" aria-label={quoteattr(label)} class="law-chart">'
    ]
    for i, r in enumerate(rows):
        y = 20 + i * (bar + gap)
        begin, end = _day(r["begin"]), _day(r["end"])
        out.append(f'<text x="4" y="{y + bar * 0.7:.1f}" class="label">{escape(r["id"])}</text>')
        if r["credited_days"]:
            cx = x(begin - r["credited_days"])
            out.append(
                f'<rect x="{cx:.1f}" y="{y}" width="{max(1.0, x(begin) - cx):.1f}" '
                f'height="{bar}" class="credit"/>'
            )
        out.append(
            f'<rect x="{x(begin):.1f}" y="{y}" width="{max(2.0, x(end) - x(begin)):.1f}" '
            f'height="{bar}" class="bar"/>'
        )
        out.append(
            f'<text x="{x(end) + 4:.1f}" y="{y + bar * 0.7:.1f}" class="date">'
            f"{escape(r['end'])}</text>"
        )
    bottom = 20 + len(rows) * (bar + gap)
    for i, m in enumerate(marks):
        mx, my = x(_day(m["date"])), bottom + i * 16 + 12
        out.append(f'<line x1="{mx:.1f}" x2="{mx:.1f}" y1="12" y2="{my - 10}" class="mark"/>')
        out.append(
            f'<text x="{mx + 3:.1f}" y="{my}" class="date">'
            f"{escape(m['id'])} {escape(m['date'])}</text>"
        )
    out.append("</svg>")
    return Markup("".join(out))


def sheet_html(decision: dict[str, Any], t: Callable[[str], str], lang: str) -> str:
    chart = timeline_svg(decision, t("law.chart")) if "timeline" in decision else None
    return _env.get_template("law_sheet.html").render(
        decision=decision,
        t=t,
        lang=lang,
        chart=chart,
        **law_words.helpers(lang),
        note=lambda text: law_notes.note(str(text or ""), lang),
    )


def sheet_pdf(decision: dict[str, Any], t: Callable[[str], str], lang: str) -> bytes:
    # Imported here, as for the reports: WeasyPrint loads Pango at import.
    from weasyprint import HTML

    pdf: bytes = HTML(string=sheet_html(decision, t, lang)).write_pdf()
    return pdf
