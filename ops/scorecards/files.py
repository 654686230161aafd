"""After the review: one scorecard file set per vendor for a week (``python -m ops scorecards export``).

For every vendor with rows in the period (carriers with shipments, suppliers with PO lines due,
3PLs with warehouses), the vendor's own :func:`~ops.scorecards.page.scorecard_page` is loaded *as
that vendor* (a vendor :class:`~ops.access.Viewer`), so each file holds exactly what the vendor sees
signed in: its rows, and the anonymous lane benchmark (a median, never a name or rank). Two files:

- ``<kind>_<code>_<week>.html``: self-contained (inline SVG chart, no script, no network): the
  period, the 13-week trend chart against the target (and the lane benchmark for carriers), the
  scorecard tables formatted by ``ops.fmt``, and the plain-words definitions;
- ``<kind>_<code>_<week>.csv``: the vendor's main scorecard table as ``ops.exports`` writes it
  (labels, rounding, formula-safe cells).
"""

from __future__ import annotations

import datetime as dt
import html
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from ops import fmt
from ops.access import Viewer
from ops.exports import to_bytes
from ops.models import AggScorecardCarrier, AggScorecardSupplier, Warehouse
from ops.scorecards import queries as q
from ops.scorecards.page import DEFINITIONS, ScorecardPage, scorecard_page

KIND_LABELS = {"carrier": "Carrier", "supplier": "Supplier", "warehouse": "3PL warehouse operator"}
SECTIONS = {"carrier": ("carriers",), "supplier": ("suppliers",), "warehouse": ("tpl",)}
MAIN_TABLE = {"carrier": "carriers", "supplier": "suppliers", "warehouse": "tpl"}
HIDE = {"score_rank"}  # never in a vendor's file (its pages never show it either)


def vendors(session: Session, p: q.Period) -> list[tuple[str, str]]:
    """``(kind, code)`` of every vendor with rows in the period, sorted."""
    a, s = AggScorecardCarrier, AggScorecardSupplier
    carriers = session.scalars(select(a.carrier).where(a.week >= p.start, a.week <= p.end, a.n > 0).distinct())
    suppliers = session.scalars(select(s.supplier).where(s.week >= p.start, s.week <= p.end, s.lines > 0).distinct())
    tpls = session.scalars(select(Warehouse.operator_code).where(Warehouse.operator_code.is_not(None)).distinct())
    found = ([("carrier", str(c)) for c in carriers if c] + [("supplier", str(c)) for c in suppliers if c]
             + [("warehouse", str(c)) for c in tpls if c])
    return sorted(set(found))


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "vendor"


def html_table(df: pd.DataFrame) -> str:
    """``df`` as an HTML table with ``ops.fmt`` labels and formats (internal columns left out)."""
    cols = [c for c in df.columns if str(c) not in fmt.INTERNAL and str(c) not in HIDE]
    if not cols or df.empty:
        return "<p><em>No rows in the period.</em></p>"
    specs = {c: fmt.col(str(c), df[c]) for c in cols}
    head = "".join(f"<th>{html.escape(specs[c].label)}</th>" for c in cols)
    body = []
    for _, row in df[cols].iterrows():
        cells = []
        for c in cols:
            kind = specs[c].kind
            v = row[c]
            text = fmt.value(v, kind, fmt.decimals(specs[c])) if kind != "text" else (
                fmt.MISSING if v is None or (isinstance(v, float) and np.isnan(v)) else str(v))
            align = ' class="num"' if kind in ("count", "number", "pct", "pts", "money", "hours", "days") else ""
            cells.append(f"<td{align}>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def svg_trend(series: dict[str, pd.Series], target: float | None, title: str) -> str:
    """A small line chart (0-100 %) of weekly rates, one line per series, dashed target; inline SVG."""
    w, h, pad = 640, 220, 36
    weeks = sorted({d for s in series.values() for d in s.index})
    if not weeks:
        return ""
    x = {d: pad + (w - 2 * pad) * (i / max(len(weeks) - 1, 1)) for i, d in enumerate(weeks)}

    def y(v: float) -> float:
        return h - pad - (h - 2 * pad) * float(v)

    colours = ["#1f77b4", "#7f7f7f", "#2ca02c", "#9467bd"]
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" width="{w}" height="{h}" '
             f'role="img" aria-label="{html.escape(title)}">',
             f'<text x="{pad}" y="16" font-size="13">{html.escape(title)}</text>']
    for v in (0.0, 0.5, 1.0):
        parts.append(f'<line x1="{pad}" x2="{w - pad}" y1="{y(v):.1f}" y2="{y(v):.1f}" stroke="#ddd"/>'
                     f'<text x="2" y="{y(v) + 4:.1f}" font-size="10">{html.escape(fmt.pct(v, 0))}</text>')
    if target is not None and not np.isnan(target):
        parts.append(f'<line x1="{pad}" x2="{w - pad}" y1="{y(target):.1f}" y2="{y(target):.1f}" stroke="red" '
                     f'stroke-dasharray="4 4"/>')
    for i, (name, s) in enumerate(series.items()):
        s = s.dropna()
        if s.empty:
            continue
        pts = " ".join(f"{x[d]:.1f},{y(v):.1f}" for d, v in s.sort_index().items())
        dash = ' stroke-dasharray="6 3"' if i else ""
        parts.append(f'<polyline fill="none" stroke="{colours[i % 4]}" stroke-width="2"{dash} points="{pts}"/>'
                     f'<text x="{w - pad - 150}" y="{16 + 14 * i}" font-size="11" fill="{colours[i % 4]}">'
                     f'{html.escape(name)}</text>')
    label_every = max(1, len(weeks) // 7)
    for i, d in enumerate(weeks):
        if i % label_every == 0:
            parts.append(f'<text x="{x[d] - 14:.1f}" y="{h - 8}" font-size="9">'
                         f'{html.escape(pd.Timestamp(d).strftime("%G-W%V"))}</text>')
    parts.append("</svg>")
    return "".join(parts)


def _chart(kind: str, page: ScorecardPage) -> str:
    if kind == "carrier" and not page.trend.empty:
        t = page.trend.set_index("week")
        lw = page.lane_weeks
        bench = pd.Series(dtype="float64")
        if not lw.empty:
            g = lw.dropna(subset=["benchmark_on_time_rate"])
            bench = (g["benchmark_on_time_rate"] * g["shipments"]).groupby(g["week"]).sum() / g.groupby("week")[
                "shipments"].sum()
        target = float(page.carriers["target_on_time_rate"].iloc[0]) if not page.carriers.empty else None
        return svg_trend({"Your on-time delivery": t["on_time_rate"],
                          "Lane benchmark (anonymous median)": bench}, target, "On-time delivery by week")
    if kind == "supplier" and not page.supplier_trend.empty:
        t = page.supplier_trend.set_index("week")
        return svg_trend({"Your OTIF": t["otif_rate"]}, None, "PO lines on time and in full by week")
    return ""


def render_html(kind: str, code: str, page: ScorecardPage) -> str:
    tables = [("Your scorecard", getattr(page, MAIN_TABLE[kind]))]
    if kind == "carrier":
        tables += [("Weeks flagged late", page.late_lanes), ("Your weekly trend", page.trend)]
    if kind == "supplier":
        tables += [("Your weekly OTIF", page.supplier_trend)]
    notes = [n for n in (page.returns_note, page.weights_problem) if n]
    sections = "".join(f"<h2>{html.escape(t)}</h2>{html_table(df)}" for t, df in tables)
    defs = "".join(f"<dt>{html.escape(k)}</dt><dd>{html.escape(v)}</dd>" for k, v in DEFINITIONS.items())
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>Scorecard {html.escape(code)} {html.escape(page.week)}</title>"
        "<style>body{font-family:sans-serif;margin:2em;max-width:1100px}table{border-collapse:collapse;"
        "font-size:12px;margin-bottom:1.5em}th,td{border:1px solid #ccc;padding:3px 6px}td.num{text-align:right}"
        "dt{font-weight:bold;margin-top:.5em}</style></head><body>"
        f"<h1>{html.escape(KIND_LABELS[kind])} scorecard: {html.escape(code)}</h1>"
        f"<p>{html.escape(page.period)}. Every figure counts only your own rows; the only comparison is the "
        "anonymous lane benchmark.</p>"
        + "".join(f"<p><strong>{html.escape(n)}</strong></p>" for n in notes)
        + _chart(kind, page) + sections + f"<h2>What each measure means</h2><dl>{defs}</dl>"
        f"<p><small>Written {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.</small></p></body></html>")


def write_vendor_files(session: Session, *, out_dir: Path, week: Any) -> list[Path]:
    """Write the HTML and CSV of every vendor with rows in the 13 weeks ending with ``week``; return the paths."""
    p = q.period(session, week=week)
    if p is None:
        raise ValueError("there are no shipments or purchase orders to report on")
    out_dir.mkdir(parents=True, exist_ok=True)
    label = q.week_label(p.end)
    written: list[Path] = []
    for kind, code in vendors(session, p):
        viewer = Viewer(username=f"export:{kind}:{code}", role="vendor", vendor_kind=kind, vendor_code=code)
        page = scorecard_page(session, viewer=viewer, week=p.end, sections=SECTIONS[kind])
        main = getattr(page, MAIN_TABLE[kind])
        if main.empty:
            continue
        stem = out_dir / f"{kind}_{_safe(code)}_{label}"
        html_path, csv_path = stem.with_suffix(".html"), stem.with_suffix(".csv")
        html_path.write_text(render_html(kind, code, page), encoding="utf-8")
        csv_path.write_bytes(to_bytes(main.drop(columns=[c for c in HIDE if c in main.columns]), "csv"))
        written += [html_path, csv_path]
    return written
