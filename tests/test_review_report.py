"""The weekly report: the manager's files hold the planted anomalies and the KPIs as pandas computes them;
each vendor's files hold only that vendor's data; the command line fails in one line and writes nothing partial."""

from __future__ import annotations

import io
import re
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import Engine, select

from ops.access import Viewer
from ops.db import make_engine, read_session, transaction
from ops.demo import anomalies
from ops.models import Base, Carrier, Supplier, Warehouse
from tests.test_review_kpis import MON, NEXT_MON, _expected, _raw

ROOT = Path(__file__).resolve().parents[1]
WEEK = "2026-W46"


def _xlsx_cells(data: bytes) -> dict[str, list[list[object]]]:
    book = openpyxl.load_workbook(io.BytesIO(data), read_only=True)
    return {ws.title: [list(r) for r in ws.iter_rows(values_only=True)] for ws in book.worksheets}


def _texts(path: Path) -> str:
    if path.suffix == ".html":
        return path.read_text(encoding="utf-8")
    return "\n".join(str(c) for rows in _xlsx_cells(path.read_bytes()).values() for r in rows for c in r
                     if c is not None)


@pytest.fixture(scope="module")
def written(tmp_path_factory: pytest.TempPathFactory) -> tuple[Engine, Path]:
    from ops.demo import seed
    from ops.review.report import export_week

    eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('report') / 'ops.db'}")
    Base.metadata.create_all(eng)
    seed(eng, size="small", seed=7)
    out = tmp_path_factory.mktemp("out")
    export_week(eng, week=WEEK, out_dir=out)
    return eng, out


def test_manager_report_holds_the_planted_anomalies_of_the_week(written: tuple[Engine, Path]) -> None:
    eng, out = written
    a = anomalies("small", 7)
    html = (out / f"review-{WEEK}.html").read_text(encoding="utf-8")
    sheets = _xlsx_cells((out / f"review-{WEEK}.xlsx").read_bytes())
    head, *rows = sheets["Exceptions"]
    subj, kind = head.index("Subject"), head.index("Kind")
    found = {(r[kind], r[subj]) for r in rows}
    assert ("stockout", f"{a.stockout_sku} @ {a.stockout_warehouse}") in found
    assert ("warehouse", a.monday_cutoff_warehouse) in found  # the Monday cut-off misses: below target
    # the pages registered beside this one raise the other two: the late lane and the runs-small SKU
    assert any(a.late_lane_carrier in str(s) and a.late_lane in str(s) for k, s in found), found
    assert any(str(s) == a.runs_small_sku for k, s in found if k == "return rate"), found
    assert f"{a.stockout_sku} @ {a.stockout_warehouse}" in html
    assert re.search(rf"<td>warehouse</td><td>{a.monday_cutoff_warehouse}</td>", html)
    status, owner = head.index("Status"), head.index("Owner")
    assert {r[status] for r in rows} == {"new"} and all(r[owner] in (None, "", "–") for r in rows)


def test_manager_report_kpis_match_pandas(written: tuple[Engine, Path]) -> None:
    eng, out = written
    exp = _expected(_raw(eng), MON, NEXT_MON)
    head, *rows = _xlsx_cells((out / f"review-{WEEK}.xlsx").read_bytes())["KPIs"]
    by_label = {r[head.index("KPI")]: r for r in rows}
    value = head.index("This week")
    # XLSX keeps numbers as numbers, rounded to the kind's decimals (a rate as a fraction to 3 places)
    assert by_label["Late shipment rate (marketplace)"][value] == pytest.approx(exp["late_shipment_rate"], abs=6e-4)
    assert by_label["Cost per order"][value] == pytest.approx(exp["cost_per_order"], abs=6e-3)
    assert by_label["Order cycle time"][value] == pytest.approx(exp["order_cycle_time"], abs=0.06)
    html = (out / f"review-{WEEK}.html").read_text(encoding="utf-8")
    pct = f"{exp['late_shipment_rate'] * 100:.1f} %"
    assert re.search(rf"<td>Late shipment rate \(marketplace\)</td><td>{re.escape(pct)}</td>", html), pct
    assert "<svg" in html and "<script" not in html and "http://" not in html.split("<svg", 1)[0]


def test_every_vendor_gets_files_naming_no_other_vendor(written: tuple[Engine, Path]) -> None:
    eng, out = written
    with read_session(eng) as s:
        sup = s.execute(select(Supplier.code, Supplier.name)).all()
        car = s.execute(select(Carrier.code, Carrier.name)).all()
        tpl = [(c, c) for c in s.scalars(select(Warehouse.operator_code).where(Warehouse.operator_code.is_not(None)))]
    vendors = [("supplier", c, n) for c, n in sup] + [("carrier", c, n) for c, n in car] + \
              [("warehouse", c, n) for c, n in tpl]
    for kind, code, _name in vendors:
        for suffix in (".html", ".xlsx"):
            path = out / f"review-{WEEK}-{kind}-{code}{suffix}"
            assert path.exists(), path
            text = _texts(path)
            others = [(c, n) for k, c, n in vendors if (k, c) != (kind, code)]
            leaked = [c for c, n in others if re.search(rf"(?<![A-Za-z0-9-]){re.escape(c)}(?![A-Za-z0-9-])", text)
                      or n in text]
            assert leaked == [], f"{path.name} names {leaked}"


def test_a_suppliers_file_holds_its_own_stockout_and_nothing_of_the_managers_internals(
        written: tuple[Engine, Path]) -> None:
    from ops.models import Product

    eng, out = written
    a = anomalies("small", 7)
    with read_session(eng) as s:
        owner = s.scalar(select(Supplier.code).join(Product, Product.supplier_id == Supplier.id)
                         .where(Product.sku == a.stockout_sku))
    mine = _texts(out / f"review-{WEEK}-supplier-{owner}.xlsx")
    assert f"{a.stockout_sku} @ {a.stockout_warehouse}" in mine
    assert "Fulfilment SLA" not in mine  # a supplier does not open the fulfilment page


def test_report_shows_annotations_and_decisions_of_the_week(engine: Engine, tmp_path: Path) -> None:
    from ops.decisions import add_annotation
    from ops.demo import seed
    from ops.models import User
    from ops.review.inbox import set_status
    from ops.review.report import build, to_html, to_xlsx

    seed(engine, size="small", seed=7)
    a = anomalies("small", 7)
    meg = Viewer("meg", "manager")
    with transaction(engine) as s:
        s.add(User(username="meg", role="manager"))
    with transaction(engine) as s:
        add_annotation(s, viewer=meg, page="review", day="2026-11-10", end_day="2026-11-12", text="Carrier strike",
                       scope_kind="carrier", scope_key="SWX")
        set_status(s, viewer=meg, item=f"inventory|stockout|{a.stockout_sku} @ {a.stockout_warehouse}",
                   status="assigned", assignee="meg", expected_version=0)
    with read_session(engine) as s:
        rep = build(s, viewer=meg, week=WEEK)
    html = to_html(rep)
    assert "Carrier strike" in html and "review_item.set" in html
    sheets = _xlsx_cells(to_xlsx(rep))
    head, *rows = sheets["Exceptions"]
    row = next(r for r in rows if r[head.index("Subject")] == f"{a.stockout_sku} @ {a.stockout_warehouse}")
    assert (row[head.index("Status")], row[head.index("Owner")]) == ("assigned", "meg")
    assert any("Carrier strike" in str(c) for r in sheets["Annotations"] for c in r)
    # the trend chart is drawn with the annotation's band (a one-day-wide rect per day span)
    assert html.count("Carrier strike") >= 2  # in the chart's label and the annotations table


def test_command_line_bad_week_exits_2_in_one_line_and_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "out"
    r = subprocess.run([sys.executable, "-m", "ops", "--db", f"sqlite:///{tmp_path / 'x.db'}", "review", "export",
                        "--week", "2026-W60", "--out", str(out)], cwd=ROOT, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == "review: week '2026-W60': 2026 has no ISO week 60"
    assert not out.exists()
