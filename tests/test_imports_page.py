"""The Imports page as an admin meets it: upload, refusal list, warnings, history, sidebar freshness.

Each test failed before its fix: the sidebar's "Last import" stayed "never" after an import
(caches were cleared after the sidebar was drawn); a long problem was cut off in its cell with
no full text and no CSV report; a refused import was missing from "Recent imports"; a products
file without prices imported with no warning on the page.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine
from streamlit.testing.v1 import AppTest

from ops.access import SYSTEM, Viewer
from ui.imports import Outcome, error_report_csv, errors_frame

ROOT = Path(__file__).resolve().parents[1]
TEMPLATES = ROOT / "data" / "templates"
ADMIN = Viewer(username="root", role="admin")


def page(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    monkeypatch.setenv("OPS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["viewer"] = ADMIN
    at.switch_page("app_pages/imports.py")
    at.run()
    assert not at.exception
    return at


def upload(at: AppTest, kind: str, name: str, data: bytes) -> AppTest:
    at.selectbox(key="imports_kind").set_value(kind)
    at.run()
    at.file_uploader(key="imports_files").set_value((name, data, "text/csv"))
    next(b for b in at.button if b.label == "Import").click()
    at.run()
    assert not at.exception
    return at


def last_import_line(at: AppTest) -> str:
    return next(c.value for c in at.sidebar.caption if "Last import" in c.value)


def test_sidebar_last_import_updates_after_an_import(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    at = page(engine, monkeypatch)
    assert last_import_line(at).startswith("Last import never")
    upload(at, "csv-suppliers", "suppliers.csv", (TEMPLATES / "suppliers.csv").read_bytes())
    assert at.success and "2 rows changed" in at.success[0].value
    assert not last_import_line(at).startswith("Last import never")
    hist = at.dataframe[-1].value
    assert hist[["kind", "status", "rows_changed"]].to_dict("records") == [
        {"kind": "csv-suppliers", "status": "ok", "rows_changed": 2}]


def test_refusal_lists_every_problem_in_full_and_is_in_the_history(engine: Engine,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    at = page(engine, monkeypatch)
    long_name = "x" * 300
    data = f"code,name,lead_time_days\nS1,{long_name},soon\nS2,ok,-1\n".encode()
    upload(at, "csv-suppliers", "bad.csv", data)
    assert at.error and "3 problem(s)" in at.error[0].value
    errors = at.dataframe[0].value  # the problems; the history is the last table
    assert errors[["line", "column"]].to_dict("records") == [{"line": 2, "column": "name"},
                                                             {"line": 2, "column": "lead_time_days"},
                                                             {"line": 3, "column": "lead_time_days"}]
    assert errors["message"].iloc[0] == "is 300 characters long; at most 200 allowed"  # the whole message
    full = at.expander[0].code[0].value
    assert "bad.csv line 2, column name: is 300 characters long" in full
    assert "bad.csv line 3, column lead_time_days: must not be negative" in full
    hist = at.dataframe[-1].value
    assert hist[["kind", "status", "problems", "rows_changed"]].to_dict("records") == [
        {"kind": "csv-suppliers", "status": "refused", "problems": 3, "rows_changed": 0}]
    assert last_import_line(at).startswith("Last import never")  # nothing arrived


def test_products_without_prices_warn_on_the_page(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    at = page(engine, monkeypatch)
    upload(at, "csv-products", "products.csv", b"sku,name,category\nP1,One,misc\nP2,Two,misc\nP3,Three,misc\n")
    assert at.success
    warning = at.warning[0].value
    assert "price missing on 3 new rows (sku P1, P2, P3): set to 0" in warning
    assert "moq missing on 3 new rows" in warning


def test_error_report_csv_has_every_listed_problem_and_counts_the_rest() -> None:
    from ops.ingest import ImportError_, RowError

    exc = ImportError_([RowError("a.csv", 2, "price", "not a number: 'abc' " + "y" * 200),
                        RowError("a.csv", 3, "supplier_code", "unknown supplier 'SUP-NOPE' (import it first)")],
                       total=5)
    out = Outcome(kind="csv-products", errors=errors_frame(exc), total_errors=exc.total, report=exc.report())
    text = error_report_csv(out).decode("utf-8-sig").splitlines()
    assert text[0] == "File,Line,Column,Problem"
    assert text[1] == "a.csv,2,price,not a number: 'abc' " + "y" * 200
    assert text[2] == "a.csv,3,supplier_code,unknown supplier 'SUP-NOPE' (import it first)"
    assert text[3].endswith("3 more problems not listed: fix these and re-run")


def test_run_upload_clears_cached_loaders(engine: Engine) -> None:
    from tests.test_ingest_csv import _Upload
    from ui.imports import load_import_history, run_upload

    assert load_import_history(engine, ("t",), SYSTEM).empty
    run_upload(engine, kind="csv-suppliers", viewer=SYSTEM,
               files=[_Upload("suppliers.csv", (TEMPLATES / "suppliers.csv").read_bytes())])
    assert load_import_history(engine, ("t",), SYSTEM)["kind"].tolist() == ["csv-suppliers"]


FIX = ROOT / "tests" / "fixtures" / "imports"


def test_recognise_dry_run_preview_then_import(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.test_ingest_csv import counts

    at = page(engine, monkeypatch)
    assert at.selectbox(key="imports_kind").value == "auto"
    data = (FIX / "shopify_orders_export.csv").read_bytes()
    at.file_uploader(key="imports_files").set_value(("orders_export.csv", data, "text/csv"))
    at.run()
    assert not at.exception
    assert at.dataframe[0].value.to_dict("records") == [{"file": "orders_export.csv", "kind": "shopify"}]
    before = counts(engine)
    at.button(key="imports_check").click()
    at.run()
    assert not at.exception
    assert at.info and "Dry run of shopify" in at.info[0].value and "Nothing was changed" in at.info[0].value
    assert counts(engine) == before  # the dry run changed nothing
    labels = [e.label for e in at.expander]
    assert "orders (7 new)" in labels and "order_lines (10 new)" in labels
    orders = next(d.value for d in at.dataframe if "order_number" in d.value.columns and "status" in d.value.columns)
    assert sorted(orders["order_number"]) == ["#1001", "#1002", "#1003", "#1004", "#1005", "#1006", "#1007"]
    at.button(key="imports_go").click()
    at.run()
    assert not at.exception
    assert at.success and "Imported shopify" in at.success[0].value
    assert counts(engine)["orders"] == 7


def test_dry_run_of_a_bad_file_lists_its_problem(engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    at = page(engine, monkeypatch)
    data = (FIX / "shopify_orders_export_bad.csv").read_bytes()
    at.file_uploader(key="imports_files").set_value(("bad.csv", data, "text/csv"))
    at.run()
    at.button(key="imports_check").click()
    at.run()
    assert not at.exception
    assert at.error and "Dry run found 1 problem(s); nothing was changed" in at.error[0].value
    errors = at.dataframe[1].value  # after the recognised-formats table
    assert errors[["file", "line", "column"]].values.tolist() == [["bad.csv", 12, "Lineitem quantity"]]


@pytest.mark.parametrize("viewer", [Viewer(username="meg", role="manager"), Viewer(username="pia", role="planner"),
                                    Viewer(username="sup", role="vendor", vendor_code="SUP-001",
                                           vendor_kind="supplier")], ids=["manager", "planner", "vendor"])
def test_only_admins_import(engine: Engine, monkeypatch: pytest.MonkeyPatch, viewer: Viewer) -> None:
    monkeypatch.setenv("OPS_DATABASE_URL", engine.url.render_as_string(hide_password=False))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=60)
    at.session_state["viewer"] = viewer
    at.switch_page("app_pages/imports.py")
    at.run()
    assert not at.exception
    assert not at.get("file_uploader")  # no upload
    assert not [b for b in at.button if b.key in ("imports_check", "imports_go")]  # no dry run, no import
    assert any("do not have access" in e.value for e in at.error)
