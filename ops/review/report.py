"""The weekly report: the manager's, and one per vendor holding only that vendor's data.

A report is built for one viewer and one ISO week (:func:`build`): the KPIs with their change
and target, the exceptions inbox with status and owner (read over the four weeks ending with the
week, ``ops.review.inbox.exception_window``), the top return reasons of the week's sales, review
scores against lateness, the decisions taken that week (the audit log as the viewer may read
it) and a chart of the weekly KPIs over 13 weeks with the annotations that touch it. It is
written as HTML (one self-contained file: the chart is an inline SVG drawn offline with
matplotlib, no script, no network) and as XLSX (one sheet per table, formula-safe, through
``ops.exports``). Numbers are formatted for people by ``ops.fmt`` only.

:func:`export_week` writes the manager's report and one pair of files per vendor (supplier,
carrier, 3PL operator), each built with that vendor's viewer, so a vendor's file can hold only
what that vendor may see. Files are written to a temporary name and renamed when complete, so a
failure leaves nothing partial.
"""

from __future__ import annotations

import datetime as dt
import html
import io
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ops import fmt
from ops.access import Viewer, data_function, require_viewer
from ops.db import read_session
from ops.filters import Filters
from ops.models import Carrier, Supplier, Warehouse
from ops.review.annotations import chart_annotations
from ops.review.inbox import exception_window, inbox
from ops.review.kpis import resolve_week, return_reasons, review_kpis, satisfaction_vs_lateness
from ops.review.trend import kpi_trend
from ops.review.week import Week

REPORT_KPI_COLUMNS = ["label", "value", "previous", "change", "target", "meets", "definition", "target_from"]
INBOX_REPORT_COLUMNS = ["domain", "kind", "subject", "detail", "value_at_risk", "status", "owner", "link"]
DECISION_COLUMNS = ["at", "actor", "action", "entity_kind", "entity_key", "outcome", "why"]


@dataclass(frozen=True)
class Report:
    """Everything one report shows, for one viewer and week (frames as the ``ops`` functions return them)."""

    week: Week
    title: str
    kpis: pd.DataFrame
    inbox: pd.DataFrame
    reasons: pd.DataFrame
    satisfaction: pd.DataFrame
    decisions: pd.DataFrame
    trend: pd.DataFrame
    annotations: pd.DataFrame


@data_function
def build(session: Session, *, viewer: Viewer, week: str | Week | None = None, filters: Filters | None = None,
          title: str | None = None) -> Report:
    """The report of ``week`` (default: the last full week of the viewer's data) for ``viewer``."""
    from ops.decisions import audit_log

    require_viewer(viewer)
    f = filters or Filters()
    w = resolve_week(session, viewer=viewer, week=week)
    wf = exception_window(w, f)
    trend = kpi_trend(session, viewer=viewer, week=w, filters=f)
    start = trend["ds"].min().date() if len(trend) else w.start
    who = f"{viewer.vendor_kind} {viewer.vendor_code}" if viewer.is_vendor else "operations"
    return Report(
        week=w,
        title=title or f"Weekly review {w.label} ({w.start:%d %b} to {w.end:%d %b %Y}), {who}",
        kpis=review_kpis(session, viewer=viewer, week=w, filters=f),
        inbox=inbox(session, viewer=viewer, filters=wf),
        reasons=return_reasons(session, viewer=viewer, week=w, filters=f),
        satisfaction=satisfaction_vs_lateness(session, viewer=viewer, date_to=w.end, filters=f),
        # the decisions taken since the week began: the review meeting follows the week it reviews
        decisions=audit_log(session, viewer=viewer, date_from=w.start, limit=500)[DECISION_COLUMNS],
        trend=trend,
        annotations=chart_annotations(session, viewer=viewer, page="review", start=start, end=w.end),
    )


# --- people's text for each table ------------------------------------------------------------


def kpi_text(kpis: pd.DataFrame) -> pd.DataFrame:
    """The KPI table as people read it: each value in its own kind (ops.fmt), change and target too."""
    rows = []
    for r in kpis.itertuples(index=False):
        meets = {True: "yes", False: "no"}.get(r.meets, fmt.MISSING) if r.meets is not None else fmt.MISSING
        # cents matter for a cost per order ($14.26 to $14.68), not for a stock value
        places = 2 if r.kind == "money" and not pd.isna(r.value) and abs(float(r.value)) < 1000 else None
        rows.append({"label": r.label, "value": fmt.value(r.value, r.kind, places),
                     "previous": fmt.value(r.previous, r.kind, places),
                     "change": fmt.delta(r.change, r.kind, places) or fmt.MISSING,
                     "target": fmt.value(r.target, r.kind, places), "meets": meets, "definition": r.definition,
                     "target_from": r.target_from})
    return pd.DataFrame(rows, columns=REPORT_KPI_COLUMNS)


def _table_html(df: pd.DataFrame, *, formatted: bool = False) -> str:
    """An HTML table of ``df`` as people read it (``formatted``: the cells are already people's text)."""
    if df.empty:
        return "<p class='empty'>Nothing this week.</p>"
    view = df.rename(columns=dict(zip(df.columns, KPI_SHEET_HEADER, strict=False))) if formatted else \
        fmt.export_frame(df)[0]
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in view.columns)
    body = []
    for row in view.itertuples(index=False):
        cells = []
        for v in row:
            text = fmt.MISSING if v is None or (isinstance(v, float) and pd.isna(v)) else str(v)
            cells.append(f"<td>{html.escape(text)}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def trend_svg(trend: pd.DataFrame, annotations: pd.DataFrame) -> str:
    """The weekly KPI chart as an inline SVG (matplotlib, offline), annotation bands included."""
    svg = _trend_chart(trend, annotations, "svg").decode("utf-8")
    return svg[svg.index("<svg"):]


def trend_png(trend: pd.DataFrame, annotations: pd.DataFrame) -> bytes:
    """The same chart as a PNG image (for the PDF), drawn offline at print resolution."""
    return _trend_chart(trend, annotations, "png")


def _trend_chart(trend: pd.DataFrame, annotations: pd.DataFrame, form: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 3.2), dpi=100)
    try:
        for label, g in trend.groupby("label", sort=False):
            ax.plot(g["ds"], g["value"] * 100.0, marker="o", markersize=3, label=str(label))
        for a in annotations.itertuples(index=False):
            first = pd.Timestamp(a.start)
            last = pd.Timestamp(a.end) + pd.Timedelta(days=1)
            ax.axvspan(first, last, color="#f2b134", alpha=0.25)
            ax.annotate(str(a.text)[:40], (first, 1.0), xycoords=("data", "axes fraction"), fontsize=7,
                        va="top", rotation=90)
        ax.set_ylabel("%")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
        fig.autofmt_xdate()
        buf = io.BytesIO()
        fig.savefig(buf, format=form, bbox_inches="tight", dpi=200 if form == "png" else 100)
    finally:
        plt.close(fig)
    return buf.getvalue()


_CSS = ("body{font-family:Helvetica,Arial,sans-serif;margin:24px;color:#222}"
        "table{border-collapse:collapse;font-size:12px;margin:8px 0 20px}"
        "th,td{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top}"
        "th{background:#f3f3f3}h1{font-size:20px}h2{font-size:16px;margin-top:24px}.empty{color:#777}")


def to_html(rep: Report) -> str:
    """The report as one self-contained HTML document."""
    sat = rep.satisfaction
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(rep.title)}</title>"
             f"<style>{_CSS}</style></head><body>",
             f"<h1>{html.escape(rep.title)}</h1>",
             f"<p>Compared with {html.escape(rep.week.previous().label)}. Generated "
             f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.</p>",
             "<h2>KPIs</h2>", _table_html(kpi_text(rep.kpis), formatted=True),
             "<h2>Weekly trend</h2>", trend_svg(rep.trend, rep.annotations),
             "<h2>Exceptions</h2>",
             *[f"<p><b>{html.escape(t)}</b>: its exceptions could not be read for this report.</p>"
               for t in rep.inbox.attrs.get("unavailable", [])],
             _table_html(rep.inbox[INBOX_REPORT_COLUMNS]),
             "<h2>Top return reasons of the week's sales</h2>", _table_html(rep.reasons),
             "<h2>Review scores and late deliveries (all reviews to the week's end)</h2>", _table_html(sat),
             "<h2>Decisions taken since the week began</h2>", _table_html(rep.decisions),
             "<h2>Annotations</h2>", _table_html(rep.annotations.drop(columns=["id"])),
             "</body></html>"]
    return "\n".join(parts)


def to_xlsx(rep: Report) -> bytes:
    """The report as an XLSX workbook: one formula-safe sheet per table, numbers kept as numbers."""
    import openpyxl

    from ops.exports import to_bytes

    sheets = {"Exceptions": rep.inbox,
              "Return reasons": rep.reasons, "Reviews vs lateness": rep.satisfaction,
              "Decisions": rep.decisions, "Trend": rep.trend, "Annotations": rep.annotations}
    book = openpyxl.Workbook()
    book.remove(book.active)
    _kpi_sheet(book, rep.kpis)
    for name, df in sheets.items():
        part = openpyxl.load_workbook(io.BytesIO(to_bytes(df, "xlsx", sheet=name)))
        src = part.active
        dst = book.create_sheet(name)
        for row in src.iter_rows():
            for c in row:
                cell = dst.cell(row=c.row, column=c.column, value=c.value)
                cell.number_format = c.number_format
                if c.data_type == "s":
                    cell.data_type = "s"
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


KPI_SHEET_HEADER = ["KPI", "This week", "Previous", "Change", "Target", "Met", "Definition", "Threshold and its source",
                    "Data", "Week", "Compared with"]


def _kpi_sheet(book: object, kpis: pd.DataFrame) -> None:
    """The KPIs as numbers, each row in its own kind's number format and decimals (a rate stays a fraction)."""
    from ops.exports import neutralise

    ws = book.create_sheet("KPIs")  # type: ignore[attr-defined]
    ws.append(KPI_SHEET_HEADER)
    for r in kpis.itertuples(index=False):
        places = fmt.DECIMALS.get(r.kind, 2) + (2 if r.kind in ("pct", "pts") else 0)
        nums = [None if pd.isna(v) else round(float(v), places) for v in (r.value, r.previous, r.change, r.target)]
        met = {True: "yes", False: "no"}.get(r.meets) if r.meets is not None else None
        ws.append([neutralise(r.label), *nums, met, neutralise(r.definition), neutralise(r.target_from),
                   neutralise(r.source), r.week, r.previous_week])
        row = ws.max_row
        number_format = fmt.XLSX_FORMATS.get(r.kind, "General")
        for col in (2, 3, 5):
            ws.cell(row=row, column=col).number_format = number_format
        ws.cell(row=row, column=4).number_format = fmt.XLSX_FORMATS["pts"] if r.kind == "pct" else number_format


# --- the PDF a manager forwards ----------------------------------------------------------------

# columns of each table in the PDF with their relative widths (the page is A4 landscape)
_PDF_INBOX = {"domain": 9, "kind": 10, "subject": 24, "detail": 30, "value_at_risk": 10, "status": 8, "owner": 9}
_PDF_KPIS = {"label": 17, "value": 9, "previous": 9, "change": 9, "target": 9, "meets": 5, "definition": 26,
             "target_from": 16}
_PDF_DECISIONS = {"at": 13, "actor": 9, "action": 14, "entity_kind": 10, "outcome": 10, "why": 44}


def _font_dir() -> Path:
    """DejaVu Sans as matplotlib ships it: a Unicode font present wherever the report can draw its chart."""
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def _text_rows(df: pd.DataFrame, columns: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """``df`` (or its ``columns``) as people read it: labels and every cell formatted by ``ops.fmt``."""
    cols = [str(c) for c in (columns if columns is not None else df.columns) if str(c) not in fmt.INTERNAL]
    specs = {c: fmt.col(c, df[c]) for c in cols}
    rows = [[fmt.value(v, specs[c].kind, fmt.decimals(specs[c])) for c, v in zip(cols, r, strict=True)]
            for r in df[cols].itertuples(index=False)]
    return [specs[c].label for c in cols], rows


def to_pdf(rep: Report) -> bytes:
    """The report as a PDF to forward as it is: KPIs with change and target, the trend chart (a PNG drawn
    offline), the exceptions with status and owner, the decisions taken, the week's annotations.

    Built from the same :class:`Report` as the HTML, so a vendor's PDF holds exactly what its HTML does.
    """
    from fpdf import FPDF, FontFace

    title = rep.title
    generated = f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC"

    class _Doc(FPDF):
        def footer(self) -> None:
            self.set_y(-10)
            self.set_font("DejaVu", "", 7)
            self.set_text_color(110)
            self.cell(0, 5, f"{title}  ·  generated {generated}  ·  page {self.page_no()}/{{nb}}", align="C")
            self.set_text_color(0)

    pdf = _Doc(orientation="L", unit="mm", format="A4")
    pdf.set_title(title)
    pdf.set_creator("OpsDeck")
    fonts = _font_dir()
    pdf.add_font("DejaVu", "", str(fonts / "DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", str(fonts / "DejaVuSans-Bold.ttf"))
    pdf.set_auto_page_break(auto=True, margin=14)
    pdf.set_margins(12, 12, 12)
    pdf.add_page()
    head_style = FontFace(emphasis="BOLD", fill_color=(236, 238, 242))

    def heading(text: str) -> None:
        if pdf.get_y() > pdf.h - 40:  # a heading never ends a page alone
            pdf.add_page()
        pdf.ln(3)
        pdf.set_font("DejaVu", "B", 12)
        pdf.cell(0, 7, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 7.5)

    def note(text: str) -> None:
        pdf.set_font("DejaVu", "", 8)
        pdf.multi_cell(0, 4.5, text, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", "", 7.5)

    def table(header: list[str], rows: list[list[str]], widths: list[int]) -> None:
        if not rows:
            note("Nothing this week.")
            return
        pdf.set_font("DejaVu", "", 7.5)
        with pdf.table(col_widths=widths, headings_style=head_style, line_height=4, text_align="LEFT",
                       padding=1, borders_layout="HORIZONTAL_LINES", repeat_headings=1) as t:
            for line in [header, *rows]:
                row = t.row()
                for cell in line:
                    row.cell(cell)

    pdf.set_font("DejaVu", "B", 16)
    pdf.multi_cell(0, 8, title, new_x="LMARGIN", new_y="NEXT")
    note(f"Compared with {rep.week.previous().label}. Generated {generated}.")

    heading("KPIs")
    kt = kpi_text(rep.kpis)
    table(KPI_SHEET_HEADER[:len(REPORT_KPI_COLUMNS)], kt.astype(str).values.tolist(), list(_PDF_KPIS.values()))

    heading("Weekly trend")
    if rep.trend.empty:
        note("No weekly figures to draw.")
    else:
        if pdf.get_y() > pdf.h - 95:
            pdf.add_page()
        pdf.image(io.BytesIO(trend_png(rep.trend, rep.annotations)), w=200, alt_text="Weekly KPI trend")

    heading("Exceptions")
    for t in rep.inbox.attrs.get("unavailable", []):
        note(f"{t}: its exceptions could not be read for this report.")
    table(*_text_rows(rep.inbox, list(_PDF_INBOX)), list(_PDF_INBOX.values()))

    heading("Decisions taken since the week began")
    table(*_text_rows(rep.decisions, list(_PDF_DECISIONS)), list(_PDF_DECISIONS.values()))

    heading("Top return reasons of the week's sales")
    table(*_text_rows(rep.reasons), [1] * len(_text_rows(rep.reasons)[0]))

    heading("Review scores and late deliveries (all reviews to the week's end)")
    sat_head, sat_rows = _text_rows(rep.satisfaction)
    table(sat_head, sat_rows, [1] * len(sat_head))

    heading("Annotations")
    ann_head, ann_rows = _text_rows(rep.annotations.drop(columns=["id"]))
    table(ann_head, ann_rows, [1] * len(ann_head))
    return bytes(pdf.output())


# --- writing the week's files ------------------------------------------------------------------


def vendors(session: Session) -> list[tuple[str, str]]:
    """Every vendor a report goes to: ``(kind, code)`` of suppliers, carriers and 3PL operators."""
    out = [("supplier", c) for c in session.scalars(select(Supplier.code).order_by(Supplier.code))]
    out += [("carrier", c) for c in session.scalars(select(Carrier.code).order_by(Carrier.code))]
    ops_codes = session.scalars(select(Warehouse.operator_code).where(Warehouse.operator_code.is_not(None))
                                .distinct().order_by(Warehouse.operator_code))
    out += [("warehouse", str(c)) for c in ops_codes if c]
    return out


def _safe_name(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", text).strip("_") or "vendor"


def _write(path: Path, data: bytes) -> None:
    tmp = path.with_name(f".{path.name}.part")
    tmp.write_bytes(data)
    os.replace(tmp, path)


# The manager's report is what a manager sees; the command line runs as an operator with full rights.
REPORT_VIEWER = Viewer(username="weekly-report", role="manager")


def export_week(engine: Engine, *, week: str | Week, out_dir: str | Path, filters: Filters | None = None,
                vendor_files: bool = True) -> list[Path]:
    """Write the week's manager report (HTML, XLSX, PDF) and, with ``vendor_files``, the three per vendor.

    Everything is built first and written after, each file through a temporary name, so an error
    leaves no partial file. Returns the paths written: ``review-<week>.html/.xlsx/.pdf`` and
    ``review-<week>-<kind>-<code>.html/.xlsx/.pdf``, each vendor's built with that vendor's viewer.
    """
    viewer = REPORT_VIEWER
    out = Path(out_dir)
    files: dict[Path, bytes] = {}
    with read_session(engine) as s:
        rep = build(s, viewer=viewer, week=week, filters=filters)
        stem = f"review-{rep.week.label}"
        files[out / f"{stem}.html"] = to_html(rep).encode("utf-8")
        files[out / f"{stem}.xlsx"] = to_xlsx(rep)
        files[out / f"{stem}.pdf"] = to_pdf(rep)
        if vendor_files and not viewer.is_vendor:
            for kind, code in vendors(s):
                v = Viewer(username=f"report-{kind}-{code}", role="vendor", vendor_kind=kind, vendor_code=code)
                vrep = build(s, viewer=v, week=rep.week, filters=filters)
                vstem = f"{stem}-{kind}-{_safe_name(code)}"
                files[out / f"{vstem}.html"] = to_html(vrep).encode("utf-8")
                files[out / f"{vstem}.xlsx"] = to_xlsx(vrep)
                files[out / f"{vstem}.pdf"] = to_pdf(vrep)
    out.mkdir(parents=True, exist_ok=True)
    for path, data in files.items():
        _write(path, data)
    return list(files)


REPORT_FORMATS = ("pdf", "html", "xlsx")


def render(rep: Report, form: str) -> bytes:
    """The report's file in ``form`` (``pdf``, ``html`` or ``xlsx``)."""
    if form == "pdf":
        return to_pdf(rep)
    if form == "html":
        return to_html(rep).encode("utf-8")
    if form == "xlsx":
        return to_xlsx(rep)
    raise ValueError(f"format {form!r}: use one of {', '.join(REPORT_FORMATS)}")


def write_report(engine: Engine, *, week: str | Week, form: str, out_file: str | Path,
                 filters: Filters | None = None) -> Path:
    """Write the week's manager report (what a manager sees) as one ``form`` file at ``out_file``.

    The file is built in memory and written through a temporary name, so a failure leaves nothing partial.
    """
    if form not in REPORT_FORMATS:
        raise ValueError(f"format {form!r}: use one of {', '.join(REPORT_FORMATS)}")
    with read_session(engine) as s:
        data = render(build(s, viewer=REPORT_VIEWER, week=week, filters=filters), form)
    path = Path(out_file)
    _write(path, data)
    return path
