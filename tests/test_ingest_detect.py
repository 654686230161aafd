"""One entry point: ``python -m ops import FILE_OR_DIR ...`` recognises each format from its header, imports several
formats in one transaction in reference order, ``--dry-run`` changes nothing, ``--tz`` converts offsets."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from ops.__main__ import main
from ops.access import SYSTEM
from ops.ingest import ImportError_, run_import
from ops.ingest.detect import detect, kind_of, read_header
from ops.models import ImportRun, Order, Product
from tests.test_ingest_csv import TEMPLATES, contents, counts, import_templates

FIX = Path(__file__).parent / "fixtures" / "imports"


def _url(engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=False)


def test_each_fixture_is_recognised_by_its_header() -> None:
    assert kind_of(read_header(FIX / "shopify_orders_export.csv")) == ["shopify"]
    assert kind_of(read_header(FIX / "online_retail.csv")) == ["online-retail"]
    for f in (FIX / "olist_cut").glob("*.csv"):
        assert kind_of(read_header(f)) == ["olist"], f.name
    for f in TEMPLATES.glob("*.csv"):
        kinds = kind_of(read_header(f))
        assert f"csv-{f.stem}" in kinds, f.name
        assert len(kinds) == 1 or f.stem in ("carriers", "channels")  # code,name fits both


def test_groups_in_reference_order_olist_files_together(tmp_path: Path) -> None:
    olist = tmp_path / "shop"
    shutil.copytree(FIX / "olist_cut", olist)
    shutil.copy(TEMPLATES / "products.csv", olist / "catalogue.csv")
    shutil.copy(TEMPLATES / "suppliers.csv", olist / "vendors.csv")
    groups = detect([olist, FIX / "online_retail.csv"])
    assert [k for k, _ in groups] == ["csv-suppliers", "csv-products", "olist", "online-retail"]
    assert sorted(p.name for p in dict(groups)["olist"]) == sorted(p.name for p in (FIX / "olist_cut").glob("*.csv"))


def test_unrecognised_and_ambiguous_files_are_refused_by_name(tmp_path: Path) -> None:
    (tmp_path / "notes.csv").write_text("when,what\n2024-01-01,hello\n")
    (tmp_path / "codes.csv").write_text("code,name\nX,Y\n")
    with pytest.raises(ImportError_) as ei:
        detect([tmp_path])
    got = {e.file: e.message for e in ei.value.errors}
    assert "not recognised" in got["notes.csv"]
    assert "fits csv-suppliers, csv-warehouses, csv-carriers, csv-channels alike" in got["codes.csv"]


def test_cli_imports_the_templates_folder_like_table_by_table(engine: Engine, tmp_path: Path,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", _url(engine), "import", str(TEMPLATES), "--quiet"]) == 0
    once = contents(engine)
    out = capsys.readouterr()
    assert "recognised csv-products: products.csv" in out.err
    with engine.connect() as c:
        assert c.execute(select(ImportRun.kind).order_by(ImportRun.id)).scalars().all() == [
            f"csv-{t}" for t in ("suppliers", "warehouses", "carriers", "carrier_services", "channels", "products",
                                 "inventory_snapshots", "purchase_orders", "orders", "shipments", "returns")]
    assert main(["--db", _url(engine), "import", str(TEMPLATES), "--quiet"]) == 0
    assert contents(engine) == once


def test_cli_dry_run_reports_and_changes_nothing(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    before = contents(engine)
    assert main(["--db", _url(engine), "import", str(FIX / "shopify_orders_export.csv"),
                 str(FIX / "online_retail.csv"), "--dry-run", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "dry run of import shopify" in out and "dry run of import online-retail" in out
    assert "orders                          7 would be inserted" in out
    assert contents(engine) == before
    with engine.connect() as c:
        assert c.execute(select(ImportRun.id)).first() is None  # a dry run is not recorded


def test_cli_one_bad_file_refuses_every_group(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    before = counts(engine)
    code = main(["--db", _url(engine), "import", str(FIX / "shopify_orders_export.csv"),
                 str(FIX / "online_retail_bad.csv"), "--quiet"])
    assert code == 2
    err = capsys.readouterr().err
    assert "online_retail_bad.csv line 16, column InvoiceDate" in err
    assert counts(engine) == before  # the clean Shopify file was rolled back with it


def test_cli_explicit_kind_and_tz(engine: Engine, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", _url(engine), "import", "--tz", "Mars/Olympus", "shopify",
                 str(FIX / "shopify_orders_export.csv")]) == 2
    assert "unknown time zone 'Mars/Olympus'" in capsys.readouterr().err
    assert main(["--db", _url(engine), "import", "--tz", "Europe/Berlin", "--quiet", "shopify",
                 str(FIX / "shopify_orders_export.csv")]) == 0
    with engine.connect() as c:
        placed = c.execute(select(Order.placed_at).where(Order.order_number == "#1001")).scalar_one()
    assert str(placed) == "2024-03-10 04:15:03"  # 22:15:03 -0500 is 03:15:03 UTC, 04:15:03 in Berlin (CET)


def test_products_file_and_orders_in_one_run_resolve_skus(engine: Engine) -> None:
    import_templates(engine, upto="suppliers")
    from ops.ingest import run_imports
    res = run_imports(engine, groups=[("csv-products", [TEMPLATES / "products.csv"]),
                                      ("shopify", [FIX / "shopify_orders_export.csv"])], viewer=SYSTEM)
    assert [r.kind for r in res] == ["csv-products", "shopify"]
    with engine.connect() as c:
        assert c.execute(select(Product.sku).where(Product.sku == "00123")).scalar_one() == "00123"
    assert run_import(engine, kind="shopify", paths=[FIX / "shopify_orders_export.csv"],
                      viewer=SYSTEM).rows_changed == 0
