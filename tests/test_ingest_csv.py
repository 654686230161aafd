"""Canonical CSV imports: templates, row-level refusal, all-or-nothing, idempotent upserts, audit row, CLI."""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from ops.access import SYSTEM, AccessDenied, Viewer
from ops.aggregates import REFRESHERS
from ops.db import transaction
from ops.ingest import KINDS, ImportError_, run_import
from ops.ingest.csv_tables import SPECS, TABLE_ORDER
from ops.models import Base, ImportRun, Order, OrderLine, Product, Return, Shipment, Supplier, Warehouse

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "data" / "templates"
DATA_TABLES = [t for t in Base.metadata.sorted_tables if not t.name.startswith("agg_") and t.name != "import_runs"]


def counts(engine: Engine) -> dict[str, int]:
    """Row count of every table in the model but ``import_runs`` (a refused import records itself there)."""
    with engine.connect() as c:
        return {t.name: c.execute(select(func.count()).select_from(t)).scalar_one()
                for t in Base.metadata.sorted_tables if t.name != "import_runs"}


def contents(engine: Engine) -> dict[str, list[tuple]]:
    """Every row of every data table, ordered by id (for before/after equality)."""
    with engine.connect() as c:
        return {t.name: [tuple(r) for r in c.execute(select(t).order_by(*t.primary_key.columns))] for t in DATA_TABLES}


def write(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as fh:
        csv.writer(fh).writerows(rows)
    return path


def import_templates(engine: Engine, upto: str = "returns") -> None:
    for name in TABLE_ORDER:
        run_import(engine, kind=f"csv-{name}", paths=[TEMPLATES / f"{name}.csv"], viewer=SYSTEM)
        if name == upto:
            return


# --- templates ----------------------------------------------------------------------------------


def test_every_table_has_a_documented_template() -> None:
    readme = (TEMPLATES / "README.md").read_text()
    for name, spec in SPECS.items():
        assert f"csv-{name}" in KINDS
        with open(TEMPLATES / f"{name}.csv", newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh))
        assert header == spec.names, name
        for col in spec.names:
            assert f"`{col}`" in readme, (name, col)


def test_templates_import_in_order_and_reimport_changes_nothing(engine: Engine) -> None:
    import_templates(engine)
    with transaction(engine) as s:
        p = s.execute(select(Product).where(Product.sku == "00123")).scalar_one()
        assert (p.name, p.unit_cost, p.price, p.case_pack) == ("Merino crew, navy", 18.4, 59.0, 6)
        assert s.get(Supplier, p.supplier_id).code == "SUP-001"
        wh = s.execute(select(Warehouse).where(Warehouse.code == "WH-WEST")).scalar_one()
        assert (wh.cutoff_time, wh.business_days, wh.handling_days, wh.operator_code) == (
            dt.time(12, 30), "012345", 1, "3PL-FLEX")
        o = s.execute(select(Order).where(Order.order_number == "100045")).scalar_one()
        assert (o.placed_at, o.status, o.source) == (dt.datetime(2024, 3, 1, 9, 12), "shipped", "csv")
        lines = s.execute(select(OrderLine.line_no, OrderLine.qty, OrderLine.unit_price)
                          .where(OrderLine.order_id == o.id).order_by(OrderLine.line_no)).all()
        assert [tuple(r) for r in lines] == [(1, 2, 59.0), (2, 1, 249.0)]
        sh = s.execute(select(Shipment)).scalar_one()
        assert (sh.order_id, sh.delivered_at, sh.status) == (o.id, dt.datetime(2024, 3, 5, 11, 2), "delivered")
        r = s.execute(select(Return)).scalar_one()
        assert s.get(OrderLine, r.order_line_id).line_no == 1
    before = contents(engine)
    for name in TABLE_ORDER:
        res = run_import(engine, kind=f"csv-{name}", paths=[TEMPLATES / f"{name}.csv"], viewer=SYSTEM)
        assert res.rows_changed == 0, name
    assert contents(engine) == before


# --- refusal with a row-level report ----------------------------------------------------------


def test_bad_rows_refused_one_message_each_and_db_unchanged(engine: Engine, tmp_path: Path) -> None:
    import_templates(engine, upto="products")
    f = write(tmp_path / "snap.csv", [
        ["sku", "warehouse_code", "day", "on_hand"],
        ["00123", "WH-EAST", "2024-03-01", "5"],     # line 2 ok
        ["00123", "WH-EAST", "2024-02-30", "5"],     # line 3 bad date
        ["TENT-2P", "WH-WEST", "2024-03-01", "-4"],  # line 4 negative quantity
        ["NOPE-9", "WH-EAST", "2024-03-01", "1"],    # line 5 unknown SKU
        ["TENT-2P", "WH-EAST", "2024-03-02", "7"],   # line 6 ok
        ["00123", "WH-EAST", "2024-03-01", "6"],     # line 7 duplicate of line 2
    ])
    before_counts, before = counts(engine), contents(engine)
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="csv-inventory_snapshots", paths=[f], viewer=SYSTEM)
    errs = ei.value.errors
    assert sorted((e.line, e.column) for e in errs) == [(3, "day"), (4, "on_hand"), (5, "sku"), (7, "day")]
    assert all(e.file == "snap.csv" for e in errs)
    by_line = {e.line: e.message for e in errs}
    assert "2024-02-30" in by_line[3] and "negative" in by_line[4] and "NOPE-9" in by_line[5]
    assert "first on line 2" in by_line[7]
    assert "snap.csv line 5, column sku" in ei.value.report()
    assert counts(engine) == before_counts and contents(engine) == before


def test_orders_file_with_quoted_newline_reports_physical_lines(engine: Engine, tmp_path: Path) -> None:
    import_templates(engine, upto="products")
    head = SPECS["orders"].names

    def row(num: str, line_no: str = "1", sku: str = "00123", qty: str = "1", placed: str = "2024-03-01 10:00",
            region: str = "NY") -> list[str]:
        vals = {"order_number": num, "channel_code": "web", "warehouse_code": "WH-EAST", "customer_region": region,
                "status": "pending", "placed_at": placed, "line_no": line_no, "sku": sku, "qty": qty,
                "unit_price": "10"}
        return [vals.get(c, "") for c in head]

    f = write(tmp_path / "orders.csv", [
        head,
        row("A1", region="New\nYork\nState"),   # lines 2-4
        row("A2", placed="2024-13-01 10:00"),   # line 5: bad date-time
        row("A3", qty="-2"),                    # line 6: negative qty
        row("A4", sku="GHOST"),                 # line 7: unknown SKU
        row("A5"),                              # line 8
        row("A5"),                              # line 9: duplicate (order_number, line_no)
        row("A5", line_no="2", sku="TENT-2P"),  # line 10
    ])
    before = counts(engine)
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="csv-orders", paths=[f], viewer=SYSTEM)
    got = sorted((e.line, e.column) for e in ei.value.errors)
    assert got == [(5, "placed_at"), (6, "qty"), (7, "sku"), (9, "line_no")]
    assert counts(engine) == before


def test_one_bad_row_near_the_end_commits_nothing(engine: Engine, tmp_path: Path) -> None:
    import_templates(engine, upto="products")
    start = dt.date(2021, 1, 1)
    rows = [["sku", "warehouse_code", "day", "on_hand"]]
    for i in range(3000):
        rows.append(["00123" if i % 2 else "TENT-2P", "WH-EAST", str(start + dt.timedelta(days=i // 2)), str(i)])
    rows[-2][3] = "12.5"  # line 2,999 of 3,001: not a whole number
    f = write(tmp_path / "big.csv", rows)
    before_counts, before = counts(engine), contents(engine)
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="csv-inventory_snapshots", paths=[f], viewer=SYSTEM)
    assert [(e.line, e.column) for e in ei.value.errors] == [(3000, "on_hand")]
    assert counts(engine) == before_counts and contents(engine) == before
    rows[-2][3] = "12"
    res = run_import(engine, kind="csv-inventory_snapshots", paths=[write(f, rows)], viewer=SYSTEM)
    assert (res.rows_in, res.rows_changed) == (3000, 3000)
    assert counts(engine)["inventory_snapshots"] == before_counts["inventory_snapshots"] + 3000


def test_error_report_is_capped_with_a_note(engine: Engine, tmp_path: Path) -> None:
    rows = [["code", "name", "lead_time_days"]] + [[f"S{i}", "x", "soon"] for i in range(1500)]
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="csv-suppliers", paths=[write(tmp_path / "s.csv", rows)], viewer=SYSTEM)
    assert len(ei.value.errors) == 1000 and ei.value.total == 1500
    assert ei.value.errors[-1].line == 1001
    assert "500 more problems not shown" in ei.value.report()
    assert counts(engine)["suppliers"] == 0


def test_header_problems_are_reported(engine: Engine, tmp_path: Path) -> None:
    f = write(tmp_path / "p.csv", [["sku", "nmae", "category"], ["A", "b", "c"]])
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="csv-products", paths=[f], viewer=SYSTEM)
    assert sorted((e.line, e.column) for e in ei.value.errors) == [(1, "name"), (1, "nmae")]
    msgs = " | ".join(e.message for e in ei.value.errors)
    assert "missing required column 'name'" in msgs and "unknown column 'nmae'" in msgs


# --- upserts --------------------------------------------------------------------------------


def test_upsert_updates_changed_rows_and_leaves_missing_columns(engine: Engine, tmp_path: Path) -> None:
    import_templates(engine, upto="products")
    f = write(tmp_path / "p.csv", [["sku", "name", "category", "price"],
                                   ["00123", "Merino crew, navy", "knitwear", "64.50"],
                                   ["TENT-2P", "Two-person tent", "camping", "249.00"],
                                   ["NEW-1", "New thing", "misc", "5"]])
    res = run_import(engine, kind="csv-products", paths=[f], viewer=SYSTEM)
    assert res.rows_changed == 2 and res.inserted == {"products": 1} and res.updated == {"products": 1}
    with transaction(engine) as s:
        p = s.execute(select(Product).where(Product.sku == "00123")).scalar_one()
        assert (p.price, p.unit_cost, p.case_pack) == (64.5, 18.4, 6)  # unit_cost, case_pack not in the file
        n = s.execute(select(Product).where(Product.sku == "NEW-1")).scalar_one()
        assert (n.unit_cost, n.case_pack, n.moq, n.active, n.supplier_id) == (0.0, 1, 1, True, None)


def test_warehouse_update_bumps_version_only_when_changed(engine: Engine, tmp_path: Path) -> None:
    import_templates(engine, upto="warehouses")
    f = write(tmp_path / "w.csv", [["code", "name", "handling_days"], ["WH-EAST", "East distribution centre", "2"],
                                   ["WH-WEST", "West fulfilment (3PL)", "1"]])
    assert run_import(engine, kind="csv-warehouses", paths=[f], viewer=SYSTEM).rows_changed == 1
    with transaction(engine) as s:
        got = dict(s.execute(select(Warehouse.code, Warehouse.version)).all())
    assert got == {"WH-EAST": 2, "WH-WEST": 1}


# --- audit row, aggregates, access, progress ---------------------------------------------------


def test_import_run_row_and_refresh_in_the_same_transaction(engine: Engine, tmp_path: Path) -> None:
    seen: list[int] = []

    def spy(session) -> None:  # sees the uncommitted ImportRun row: same transaction
        seen.append(session.execute(select(func.count()).select_from(ImportRun)).scalar_one())

    REFRESHERS["test_spy"] = spy
    try:
        f = TEMPLATES / "suppliers.csv"
        viewer = Viewer(username="mia", role="admin")
        calls: list[tuple[int, int]] = []
        res = run_import(engine, kind="csv-suppliers", paths=[f], viewer=viewer,
                         progress=lambda d, t: calls.append((d, t)))
    finally:
        REFRESHERS.pop("test_spy")
    assert seen == [1]
    assert calls[-1] == (2, 2)
    with transaction(engine) as s:
        run = s.execute(select(ImportRun)).scalar_one()
        assert (run.kind, run.actor, run.rows_in, run.rows_changed, run.status) == ("csv-suppliers", "mia", 2, 2, "ok")
        assert run.sha256 == hashlib.sha256(f.read_bytes()).hexdigest() == res.sha256
        assert str(f) in run.source and run.id == res.run_id


@pytest.mark.parametrize("viewer", [Viewer(username="pat", role="planner"),
                                    Viewer(username="mo", role="manager"),
                                    Viewer(username="v", role="vendor", vendor_kind="supplier", vendor_code="SUP-001")])
def test_only_admins_import(engine: Engine, viewer: Viewer) -> None:
    with pytest.raises(AccessDenied):
        run_import(engine, kind="csv-suppliers", paths=[TEMPLATES / "suppliers.csv"], viewer=viewer)
    assert counts(engine)["suppliers"] == 0


def test_unknown_kind_is_refused(engine: Engine) -> None:
    with pytest.raises(ImportError_, match="unknown import kind 'csv-nope'"):
        run_import(engine, kind="csv-nope", paths=[TEMPLATES / "suppliers.csv"], viewer=SYSTEM)


# --- command line ------------------------------------------------------------------------------


def test_cli_import_end_to_end(sqlite_engine: Engine, tmp_path: Path) -> None:
    url = sqlite_engine.url.render_as_string(hide_password=False)
    cmd = [sys.executable, "-m", "ops", "--db", url, "import", "csv-suppliers"]
    ok = subprocess.run([*cmd, str(TEMPLATES / "suppliers.csv")], capture_output=True, text=True, cwd=ROOT)
    assert ok.returncode == 0, ok.stderr
    assert "2 rows read, 2 rows changed" in ok.stdout
    bad = write(tmp_path / "bad.csv", [["code", "name", "lead_time_days"], ["S9", "x", "3"], ["S8", "", "-1"]])
    res = subprocess.run([*cmd, str(bad)], capture_output=True, text=True, cwd=ROOT)
    assert res.returncode == 2
    assert "bad.csv line 3, column name: is required but empty" in res.stderr
    assert "bad.csv line 3, column lead_time_days: must not be negative" in res.stderr
    with sqlite_engine.connect() as c:
        assert c.execute(text("SELECT count(*) FROM suppliers")).scalar_one() == 2


# --- the Imports page ----------------------------------------------------------------------------


class _Upload:
    """Stands in for Streamlit's UploadedFile (a name and the bytes)."""

    def __init__(self, name: str, data: bytes) -> None:
        self.name, self._data = name, data

    def getvalue(self) -> bytes:
        return self._data


def test_upload_helper_imports_or_returns_the_problem_table(engine: Engine) -> None:
    from ui.imports import run_upload

    good = _Upload("suppliers.csv", (TEMPLATES / "suppliers.csv").read_bytes())
    out = run_upload(engine, kind="csv-suppliers", files=[good], viewer=SYSTEM)
    assert out.result is not None and out.result.rows_changed == 2
    bad = _Upload("../../etc/x.csv", b"code,name,lead_time_days\nS1,=cmd|' /C calc'!A0,x\n")
    out = run_upload(engine, kind="csv-suppliers", files=[bad], viewer=SYSTEM)
    assert out.result is None and out.total_errors == 1
    assert out.errors.to_dict("records") == [
        {"file": "x.csv", "line": 2, "column": "lead_time_days", "message": "not a whole number: 'x'"}]
    with transaction(engine) as s:
        runs = s.execute(select(ImportRun.source, ImportRun.status).order_by(ImportRun.id)).all()
    assert [tuple(r) for r in runs] == [("upload: suppliers.csv", "ok"),
                                        ("upload: x.csv (refused: 1 problem)", "refused")]


def test_imports_page_shows_recent_imports(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from streamlit.testing.v1 import AppTest

    import_templates(engine, upto="carriers")
    monkeypatch.setenv("OPS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["viewer"] = Viewer(username="root", role="admin")
    at.switch_page("app_pages/imports.py")
    at.run()
    assert not at.exception
    hist = at.dataframe[-1].value  # the only table before any upload
    assert hist["kind"].tolist() == ["csv-carriers", "csv-warehouses", "csv-suppliers"]
    assert hist["rows_changed"].tolist() == [2, 2, 2]
    assert at.selectbox(key="imports_kind").value == "auto"  # recognise each file from its header
