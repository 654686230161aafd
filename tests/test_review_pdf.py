"""The weekly report as PDF: read back through a text extractor (pypdf), its exceptions hold every planted
anomaly; page 1 rendered to PNG (pypdfium2) is not blank; a vendor's PDF names no other vendor; the
``python -m ops report`` command writes one file or fails in one line and writes nothing."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pypdf
import pypdfium2 as pdfium
import pytest
from sqlalchemy import Engine, select

from ops.access import Viewer
from ops.db import read_session, transaction
from ops.demo import anomalies
from ops.models import Carrier, Product, Supplier, Warehouse

ROOT = Path(__file__).resolve().parents[1]
WEEK = "2026-W46"


def _pdf_text(data: bytes) -> str:
    return "\n".join(p.extract_text() or "" for p in pypdf.PdfReader(io.BytesIO(data)).pages)


def _section(text: str, heading: str, next_heading: str) -> str:
    m = re.search(rf"^{re.escape(heading)}$(.*?)^{re.escape(next_heading)}$", text, re.S | re.M)
    assert m, f"no section {heading!r} in the PDF text"
    return m.group(1)


def _squash(text: str) -> str:
    """The text without whitespace: a table cell may wrap onto two lines."""
    return re.sub(r"\s+", "", text)


@pytest.fixture(scope="module")
def written(seeded_engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, Path]:
    from ops.review.report import export_week

    out = tmp_path_factory.mktemp("pdf")
    export_week(seeded_engine, week=WEEK, out_dir=out)
    return seeded_engine, out


def test_manager_pdf_exceptions_hold_every_planted_anomaly(written: tuple[Engine, Path]) -> None:
    _eng, out = written
    a = anomalies("small", 7)
    text = _pdf_text((out / f"review-{WEEK}.pdf").read_bytes())
    exc = _squash(_section(text, "Exceptions", "Decisions taken since the week began"))
    assert _squash(f"stockout {a.stockout_sku} @ {a.stockout_warehouse}") in exc
    assert _squash(f"warehouse {a.monday_cutoff_warehouse}") in exc  # the Monday cut-off misses
    assert a.late_lane_carrier in exc and _squash(a.late_lane) in exc
    assert _squash(f"return rate {a.runs_small_sku}") in exc
    # none of them only in the other sections: the KPI table above names no SKU
    kpis = _squash(_section(text, "KPIs", "Weekly trend"))
    assert a.stockout_sku not in kpis and a.runs_small_sku not in kpis
    # the table's header names status and owner
    assert "StatusOwner" in exc


def test_manager_pdf_page_one_is_not_blank_and_the_chart_is_an_image(written: tuple[Engine, Path]) -> None:
    _eng, out = written
    data = (out / f"review-{WEEK}.pdf").read_bytes()
    assert data.startswith(b"%PDF-")
    doc = pdfium.PdfDocument(data)
    try:
        img = doc[0].render(scale=1).to_pil().convert("RGB")
    finally:
        doc.close()
    px = np.asarray(img)
    assert px.shape[1] > px.shape[0]  # A4 landscape
    ink = (px.min(axis=2) < 200).mean()
    assert ink > 0.01, f"page 1 is {ink:.2%} ink"
    assert len(np.unique(px.reshape(-1, 3), axis=0)) > 1
    reader = pypdf.PdfReader(io.BytesIO(data))
    assert sum(len(p.images) for p in reader.pages) >= 1  # the weekly trend, drawn offline to a PNG
    first = reader.pages[0].extract_text()
    assert f"Weekly review {WEEK}" in first and "KPIs" in first


def test_every_vendor_pdf_names_no_other_vendor(written: tuple[Engine, Path]) -> None:
    eng, out = written
    with read_session(eng) as s:
        sup = s.execute(select(Supplier.code, Supplier.name)).all()
        car = s.execute(select(Carrier.code, Carrier.name)).all()
        tpl = [(c, c) for c in s.scalars(select(Warehouse.operator_code).where(Warehouse.operator_code.is_not(None)))]
    vendors = [("supplier", c, n) for c, n in sup] + [("carrier", c, n) for c, n in car] + \
              [("warehouse", c, n) for c, n in tpl]
    assert len(vendors) > 3
    for kind, code, _name in vendors:
        path = out / f"review-{WEEK}-{kind}-{code}.pdf"
        assert path.exists(), path
        text = _pdf_text(path.read_bytes())
        assert code in text  # its own title
        flat = " ".join(text.split())
        others = [(c, n) for k, c, n in vendors if (k, c) != (kind, code)]
        leaked = [c for c, n in others if re.search(rf"(?<![A-Za-z0-9-]){re.escape(c)}(?![A-Za-z0-9-])", flat)
                  or n in flat]
        assert leaked == [], f"{path.name} names {leaked}"


def test_the_stockout_is_in_its_suppliers_pdf_only(written: tuple[Engine, Path]) -> None:
    eng, out = written
    a = anomalies("small", 7)
    with read_session(eng) as s:
        owner = s.scalar(select(Supplier.code).join(Product, Product.supplier_id == Supplier.id)
                         .where(Product.sku == a.stockout_sku))
        others = [c for c in s.scalars(select(Supplier.code)) if c != owner]
    subject = _squash(f"{a.stockout_sku} @ {a.stockout_warehouse}")
    assert subject in _squash(_pdf_text((out / f"review-{WEEK}-supplier-{owner}.pdf").read_bytes()))
    assert others
    for code in others:
        assert subject not in _squash(_pdf_text((out / f"review-{WEEK}-supplier-{code}.pdf").read_bytes()))


def test_pdf_shows_the_owner_and_the_decisions_of_the_week(engine: Engine) -> None:
    from ops.demo import seed
    from ops.models import User
    from ops.review.inbox import set_status
    from ops.review.report import build, to_pdf

    seed(engine, size="small", seed=7)
    a = anomalies("small", 7)
    meg = Viewer("meg", "manager")
    with transaction(engine) as s:
        s.add(User(username="meg", role="manager"))
    with transaction(engine) as s:
        set_status(s, viewer=meg, item=f"inventory|stockout|{a.stockout_sku} @ {a.stockout_warehouse}",
                   status="assigned", assignee="meg", expected_version=0)
    with read_session(engine) as s:
        text = _pdf_text(to_pdf(build(s, viewer=meg, week=WEEK)))
    exc = _section(text, "Exceptions", "Decisions taken since the week began")
    row = next(line for line in exc.splitlines() if f"{a.stockout_sku} @ {a.stockout_warehouse}" in line)
    assert row.rstrip().endswith("assigned meg"), row
    decisions = _section(text, "Decisions taken since the week began", "Top return reasons of the week's sales")
    assert "review_item.set" in decisions and "meg" in decisions


def test_report_command_writes_one_file_per_format(written: tuple[Engine, Path], tmp_path: Path) -> None:
    eng, _out = written
    url = eng.url.render_as_string(hide_password=False)
    a = anomalies("small", 7)
    for form, magic in (("pdf", b"%PDF-"), ("html", b"<!doctype html>"), ("xlsx", b"PK")):
        target = tmp_path / f"week.{form}"
        r = subprocess.run([sys.executable, "-m", "ops", "--db", url, "report", "--week", WEEK, "--format", form,
                            "--out", str(target)], cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        data = target.read_bytes()
        assert data.startswith(magic), form
        if form == "pdf":
            assert _squash(f"{a.stockout_sku} @ {a.stockout_warehouse}") in _squash(_pdf_text(data))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["week.html", "week.pdf", "week.xlsx"]  # no .part left


def test_report_command_fails_in_one_line_and_writes_nothing(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path / 'x.db'}"
    r = subprocess.run([sys.executable, "-m", "ops", "--db", db, "report", "--week", "2026-W60", "--format", "pdf",
                        "--out", str(tmp_path / "r.pdf")], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == "report: week '2026-W60': 2026 has no ISO week 60"
    missing = tmp_path / "no-such-folder" / "r.pdf"
    r = subprocess.run([sys.executable, "-m", "ops", "--db", db, "report", "--week", WEEK, "--out", str(missing)],
                       cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [f"report: --out {missing}: the folder {missing.parent} does not exist"]
    assert not (tmp_path / "r.pdf").exists() and not missing.parent.exists()


@pytest.mark.parametrize("viewer", [Viewer("meg", "manager"), Viewer("sup", "vendor", "supplier", "SUP-001")],
                         ids=["manager", "supplier"])
def test_review_page_offers_the_pdf_beside_html_and_excel(seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch,
                                                          viewer: Viewer) -> None:
    from tests.test_review_page import _app

    at = _app(seeded_engine, viewer, monkeypatch, "app_pages/review.py", {"week": WEEK})
    assert not at.error, [e.value for e in at.error]
    labels = [b.proto.label for b in at.get("download_button")]
    assert labels[-3:] == ["Report (HTML)", "Report (Excel)", "Report (PDF)"], labels
    pdf = next(b for b in at.get("download_button") if b.proto.label == "Report (PDF)")
    assert pdf.proto.id and "review_report_pdf" in pdf.proto.id
