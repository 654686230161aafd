"""The command line end to end: init + seed on SQLite and PostgreSQL, export with scoping."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import func, select

from ops.db import make_engine
from ops.models import Base
from tests.conftest import PG_URL, private_pg_database

ROOT = Path(__file__).resolve().parents[1]


def ops_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ops", *args], cwd=ROOT, capture_output=True, text=True,
                          check=check, timeout=600)


def _counts(url: str) -> dict[str, int]:
    eng = make_engine(url)
    with eng.connect() as c:
        out = {t.name: int(c.execute(select(func.count()).select_from(t)).scalar_one())
               for t in Base.metadata.sorted_tables if t.name not in ("import_runs",)}
    eng.dispose()
    return out


@pytest.mark.slow
def test_init_and_seed_give_same_counts_on_sqlite_and_postgresql(tmp_path: Path) -> None:
    if not PG_URL:
        pytest.skip("OPS_TEST_DATABASE_URL is not set: PostgreSQL runs are skipped")
    sqlite_url = f"sqlite:///{tmp_path / 'a.db'}"
    with private_pg_database() as pg_url:
        for url in (sqlite_url, pg_url):
            ops_cli("--db", url, "init")
            ops_cli("--db", url, "seed", "--size", "small", "--seed", "7")
        first = _counts(sqlite_url)
        assert first == _counts(pg_url)
        assert first["orders"] > 0 and first["products"] > 0
        # a second seed with the same seed changes nothing
        again = ops_cli("--db", sqlite_url, "seed", "--size", "small", "--seed", "7")
        assert again.returncode == 0
        assert _counts(sqlite_url) == first


def test_export_list_names_the_registered_tables() -> None:
    out = ops_cli("export", "--list").stdout
    for name in ("row_counts", "data_freshness"):
        assert name in out


def test_export_writes_csv_json_and_xlsx_with_the_function_numbers(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    ops_cli("--db", url, "init")
    ops_cli("--db", url, "seed", "--size", "small", "--seed", "7")
    csv_out = ops_cli("--db", url, "export", "row_counts", "--format", "csv").stdout
    df = pd.read_csv(io.StringIO(csv_out.lstrip("\ufeff")))
    counts = _counts(url)
    assert list(df.columns) == ["Table", "Rows"]  # people's labels in CSV (raw names stay in JSON)
    got = dict(zip(df["Table"], df["Rows"], strict=True))
    assert got["orders"] == counts["orders"]
    assert got["products"] == counts["products"]
    js = json.loads(ops_cli("--db", url, "export", "row_counts", "--format", "json").stdout)
    assert {r["table"]: r["rows"] for r in js}["shipments"] == counts["shipments"]
    xlsx = tmp_path / "rc.xlsx"
    ops_cli("--db", url, "export", "row_counts", "--format", "xlsx", "--out", str(xlsx))
    sheet = pd.read_excel(xlsx)
    assert list(sheet.columns) == ["Table", "Rows"]
    assert dict(sheet.values.tolist())["order_lines"] == counts["order_lines"]


def test_export_unknown_table_and_bad_dates_fail_clearly(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'y.db'}"
    ops_cli("--db", url, "init")
    bad = ops_cli("--db", url, "export", "no_such_table", check=False)
    assert bad.returncode == 2 and "unknown export 'no_such_table'" in bad.stderr
    rev = ops_cli("--db", url, "export", "row_counts", "--from", "2026-02-01", "--to", "2026-01-01", check=False)
    assert rev.returncode == 2 and "reversed" in rev.stderr
    fmt = ops_cli("--db", url, "export", "row_counts", "--format", "pdf", check=False)
    assert fmt.returncode == 2 and "--format" in fmt.stderr


def test_domain_commands_report_one_line_and_honour_db(tmp_path: Path) -> None:
    """A domain command's failure is one line and exit 2 (not a traceback), on the --db given."""
    url = f"sqlite:///{tmp_path / 'ops.db'}"
    root = Path(__file__).resolve().parents[1]
    assert subprocess.run([sys.executable, "-m", "ops", "--db", url, "init"], cwd=root, capture_output=True,
                          text=True).returncode == 0
    res = subprocess.run([sys.executable, "-m", "ops", "--db", url, "returns", "themes", "--run-id", "424242"],
                         cwd=root, capture_output=True, text=True)
    assert res.returncode == 2, res.stderr
    assert res.stderr.strip() == "returns: no theme run 424242: start one without --run-id"
