"""Per-vendor scorecard files (``python -m ops scorecards export``): one HTML + CSV per vendor, each holding only
that vendor's rows (no other vendor's code anywhere in it), the CSV equal to what the vendor's page shows."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ops import scorecards as sc
from ops.access import Viewer
from ops.models import Carrier, Supplier, Warehouse
from ops.scorecards.files import write_vendor_files
from tests.test_scorecards import WEEK


def _codes(engine: Engine) -> dict[str, set[str]]:
    with Session(engine) as s:
        return {"carrier": set(s.scalars(select(Carrier.code))), "supplier": set(s.scalars(select(Supplier.code))),
                "warehouse": {c for c in s.scalars(select(Warehouse.operator_code)) if c},
                "sites": set(s.scalars(select(Warehouse.code)))}


def test_each_vendor_file_holds_only_its_own_rows(seeded_engine: Engine, tmp_path: Path) -> None:
    with Session(seeded_engine) as s:
        paths = write_vendor_files(s, out_dir=tmp_path, week=WEEK)
    codes = _codes(seeded_engine)
    by_kind: dict[str, list[Path]] = {}
    for p in paths:
        by_kind.setdefault(p.name.split("_", 1)[0], []).append(p)
    counts = {k: len(v) // 2 for k, v in by_kind.items()}
    assert counts["carrier"] == len(codes["carrier"]) and counts["warehouse"] == len(codes["warehouse"])
    assert 0 < counts["supplier"] <= len(codes["supplier"])  # suppliers with PO lines due in the period
    checked = 0
    for p in paths:
        kind, rest = p.name.split("_", 1)
        code = rest.rsplit("_", 1)[0]
        text = p.read_text(encoding="utf-8-sig")
        others = (codes[kind] - {code}) | (codes["carrier"] | codes["supplier"] | codes["warehouse"]) - {code}
        if kind == "warehouse":
            with Session(seeded_engine) as s:
                own = set(s.scalars(select(Warehouse.code).where(Warehouse.operator_code == code)))
            others |= codes["sites"] - own
        leaked = sorted(o for o in others if re.search(rf"(?<![\w-]){re.escape(o)}(?![\w-])", text))
        assert leaked == [], f"{p.name} names {leaked}"
        if p.suffix == ".csv":
            viewer = Viewer(username="v", role="vendor", vendor_kind=kind, vendor_code=code)
            with Session(seeded_engine) as s:
                page = sc.scorecard_page(s, viewer=viewer, week=WEEK)
            shown = {"carrier": page.carriers, "supplier": page.suppliers, "warehouse": page.tpl}[kind]
            got = pd.read_csv(io.StringIO(text))
            assert len(got) == len(shown) > 0  # export parity: rows in the file = rows on the vendor's page
            key = {"carrier": "Lane", "supplier": "Supplier", "warehouse": "Warehouse"}[kind]
            col = {"carrier": "lane", "supplier": "supplier", "warehouse": "warehouse"}[kind]
            assert got[key].tolist() == shown[col].tolist()
            assert "Rank" not in got.columns
            checked += 1
        else:
            assert "<svg" in text or kind == "warehouse"
            assert "What each measure means" in text
    assert checked == len(paths) // 2


def test_cli_writes_the_files_and_refuses_a_bad_week(seeded_engine: Engine, tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    from ops.__main__ import main

    monkeypatch.setenv("OPS_DATABASE_URL", seeded_engine.url.render_as_string(hide_password=False))
    assert main(["scorecards", "export", "--week", WEEK, "--out", str(tmp_path / "out")]) == 0
    assert "wrote" in capsys.readouterr().out
    assert sorted({p.suffix for p in (tmp_path / "out").iterdir()}) == [".csv", ".html"]
    assert main(["scorecards", "export", "--week", "week 47", "--out", str(tmp_path / "x")]) == 2
    assert "ISO week like 2026-W47" in capsys.readouterr().err
