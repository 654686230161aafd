"""Export writers: formula cells are neutralised in CSV and XLSX, numbers stay numbers (RELIABILITY 14)."""

from __future__ import annotations

import io
import json

import openpyxl
import pandas as pd
import pytest

from ops.exports import neutralise, to_bytes

DANGEROUS = ["=1+1", "+1", "-x", "@SUM(1)", "\tTAB", "\rCR", "\x00NUL"]


@pytest.mark.parametrize("value", DANGEROUS)
def test_neutralise_prefixes_formula_text(value: str) -> None:
    assert neutralise(value) == "'" + value


@pytest.mark.parametrize("value", ["plain", "a=b", "", "1+1"])
def test_neutralise_leaves_safe_text(value: str) -> None:
    assert neutralise(value) == value


def _frame() -> pd.DataFrame:
    return pd.DataFrame({"text": DANGEROUS, "qty": [-1, 2, -3, 4, 5, 6, 7], "value": [-1.5] * 7})


def test_csv_neutralises_text_and_keeps_negative_numbers() -> None:
    raw = to_bytes(_frame(), "csv")
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM so Excel reads UTF-8
    back = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig", keep_default_na=False)
    assert back["text"].tolist() == ["'=1+1", "'+1", "'-x", "'@SUM(1)", "'\tTAB", "'\rCR", "'NUL"]
    assert back["qty"].tolist() == [-1, 2, -3, 4, 5, 6, 7]
    assert back["value"].tolist() == [-1.5] * 7


def test_xlsx_writes_strings_not_formulas_and_numbers_as_numbers() -> None:
    wb = openpyxl.load_workbook(io.BytesIO(to_bytes(_frame(), "xlsx", sheet="t")))
    ws = wb["t"]
    for row in ws.iter_rows(min_row=2, max_col=1):
        assert row[0].data_type == "s"
        assert str(row[0].value).startswith("'")
    assert ws["B2"].value == -1 and ws["B2"].data_type == "n"
    assert ws["C2"].value == -1.5


def test_json_round_trips_records() -> None:
    rows = json.loads(to_bytes(pd.DataFrame({"a": [1, 2], "b": ["=x", "y"]}), "json"))
    assert rows == [{"a": 1, "b": "'=x"}, {"a": 2, "b": "y"}]


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown format 'pdf'"):
        to_bytes(pd.DataFrame(), "pdf")
