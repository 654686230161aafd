"""Export writers: formula cells are neutralised in every format, numbers stay numbers, and CSV/XLSX
carry people's labels, rounded values and (XLSX) number formats; JSON keeps raw names for scripts."""

from __future__ import annotations

import datetime as dt
import io
import json

import openpyxl
import pandas as pd
import pytest

from ops.exports import neutralise, to_bytes

DANGEROUS = ["=1+1", "+1", "-x", "@SUM(1)", "\tTAB", "\rCR"]
# A control character in front hides the formula from a check made before stripping it.
HIDDEN = {"\x00=1+1": "'=1+1", "\x01=HYPERLINK(\"x\")": "'=HYPERLINK(\"x\")", "\x1f@SUM(1)": "'@SUM(1)",
          "\x00NUL": "NUL", "a\x07b": "ab"}


@pytest.mark.parametrize("value", DANGEROUS)
def test_neutralise_prefixes_formula_text(value: str) -> None:
    assert neutralise(value) == "'" + value


@pytest.mark.parametrize(("value", "want"), list(HIDDEN.items()))
def test_neutralise_strips_control_characters_before_checking(value: str, want: str) -> None:
    assert neutralise(value) == want


@pytest.mark.parametrize("value", ["plain", "a=b", "", "1+1"])
def test_neutralise_leaves_safe_text(value: str) -> None:
    assert neutralise(value) == value


@pytest.mark.parametrize("value", [-1, -1.5, 0])
def test_neutralise_leaves_numbers(value: float) -> None:
    assert neutralise(value) == value


def _frame() -> pd.DataFrame:
    texts = [*DANGEROUS, *HIDDEN]
    n = len(texts)
    return pd.DataFrame({"text": texts, "qty": [-1, 2, -3, 4, 5, 6, 7, 8, 9, 10, 11][:n], "value": [-1.5] * n})


def _want_texts() -> list[str]:
    return ["'" + v for v in DANGEROUS] + list(HIDDEN.values())


def test_csv_neutralises_text_and_keeps_negative_numbers() -> None:
    raw = to_bytes(_frame(), "csv")
    assert raw.startswith(b"\xef\xbb\xbf")  # BOM so Excel reads UTF-8
    back = pd.read_csv(io.BytesIO(raw), encoding="utf-8-sig", keep_default_na=False)
    assert list(back.columns) == ["Text", "Units", "Value"]
    assert back["Text"].tolist() == _want_texts()
    assert back["Units"].tolist() == [-1, 2, -3, 4, 5, 6, 7, 8, 9, 10, 11]
    assert back["Value"].tolist() == [-1.5] * 11


def test_xlsx_writes_strings_not_formulas_and_numbers_as_numbers() -> None:
    wb = openpyxl.load_workbook(io.BytesIO(to_bytes(_frame(), "xlsx", sheet="t")))
    ws = wb["t"]
    texts = [row[0].value for row in ws.iter_rows(min_row=2, max_col=1)]
    assert texts == [t.replace("\r", "\n") for t in _want_texts()]  # XML reads a bare CR back as LF
    for row in ws.iter_rows(min_row=2, max_col=1):
        assert row[0].data_type == "s"
    assert ws["B2"].value == -1 and ws["B2"].data_type == "n"
    assert ws["C2"].value == -1.5


def test_json_round_trips_records() -> None:
    rows = json.loads(to_bytes(pd.DataFrame({"a": [1, 2], "b": ["=x", "\x01=y"]}), "json"))
    assert rows == [{"a": 1, "b": "'=x"}, {"a": 2, "b": "'=y"}]


def test_unknown_format_is_refused() -> None:
    with pytest.raises(ValueError, match="unknown format 'pdf'"):
        to_bytes(pd.DataFrame(), "pdf")


# --- people's formatting (issue 8: raw names, long floats, internal keys, no XLSX formats) -----

VAR = 105429.74464285716
RATE = 0.24567
COVER = 27.36517


def _page_frame() -> pd.DataFrame:
    return pd.DataFrame({
        "sku": ["SKU-1", "SKU-2"],
        "value_at_risk": [VAR, -0.3],
        "on_time_ship_rate": [RATE, None],
        "days_of_cover": [COVER, float("inf")],
        "on_hand": [1234, 0],
        "projected_stockout": pd.to_datetime(["2026-03-04", None]),
        "po_overdue": [True, False],
        "entity_key": ["stockout:SKU-1:WH", "stockout:SKU-2:WH"],
        "version": [3, 0],
    })


def test_csv_has_labels_rounded_values_and_no_internal_columns() -> None:
    back = pd.read_csv(io.BytesIO(to_bytes(_page_frame(), "csv")), encoding="utf-8-sig", keep_default_na=False)
    assert list(back.columns) == ["SKU", "Value at risk (USD)", "On-time ship", "Days of cover", "On hand",
                                  "Projected stockout", "PO overdue"]
    row = back.iloc[0]
    assert row["Value at risk (USD)"] == 105430  # money at 0 decimals: round(105429.74...)
    assert back["Value at risk (USD)"].tolist() == [105430, 0]  # -0.3 rounds to 0, never "-0"
    assert float(row["On-time ship"]) == pytest.approx(0.246)  # a fraction, 1 decimal of a percentage
    assert float(row["Days of cover"]) == pytest.approx(27.4)
    assert row["On hand"] == 1234
    assert row["Projected stockout"] == "2026-03-04"
    assert row["PO overdue"] == "yes"
    second = back.iloc[1]  # missing and infinite (no demand) are empty, never "None" or "inf"
    assert (second["On-time ship"], second["Days of cover"], second["Projected stockout"]) == ("", "", "")
    text = to_bytes(_page_frame(), "csv").decode("utf-8-sig")
    assert "105429.74" not in text and "stockout:SKU-1" not in text and "None" not in text


def test_xlsx_cells_carry_number_formats_and_real_dates() -> None:
    ws = openpyxl.load_workbook(io.BytesIO(to_bytes(_page_frame(), "xlsx", sheet="inv"))).active
    assert ws is not None
    header = [c.value for c in ws[1]]
    assert header == ["SKU", "Value at risk (USD)", "On-time ship", "Days of cover", "On hand",
                      "Projected stockout", "PO overdue"]
    var, rate, cover, on_hand, stockout = ws["B2"], ws["C2"], ws["D2"], ws["E2"], ws["F2"]
    assert var.value == 105430 and var.data_type == "n"
    assert "$" in var.number_format and "#,##0" in var.number_format and "." not in var.number_format
    assert rate.value == pytest.approx(0.246) and rate.number_format == "0.0%"
    assert cover.value == pytest.approx(27.4) and cover.number_format == "#,##0.0"
    assert on_hand.value == 1234 and on_hand.number_format == "#,##0"
    assert stockout.value == dt.datetime(2026, 3, 4) and stockout.number_format == "yyyy-mm-dd"
    assert ws["C3"].value is None and ws["D3"].value is None  # missing and infinite: empty cells


def test_json_keeps_raw_names_rounds_and_drops_internal_columns() -> None:
    rows = json.loads(to_bytes(_page_frame(), "json"))
    assert list(rows[0]) == ["sku", "value_at_risk", "on_time_ship_rate", "days_of_cover", "on_hand",
                             "projected_stockout", "po_overdue"]
    assert rows[0]["value_at_risk"] == 105430 and rows[0]["on_time_ship_rate"] == 0.246
    assert rows[0]["days_of_cover"] == 27.4 and rows[0]["projected_stockout"] == "2026-03-04"
    assert rows[1]["days_of_cover"] is None and rows[1]["on_time_ship_rate"] is None
    assert rows[1]["value_at_risk"] == 0 and rows[0]["on_hand"] == 1234


def test_currency_follows_the_shop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPS_CURRENCY", "EUR")
    back = pd.read_csv(io.BytesIO(to_bytes(_page_frame(), "csv")), encoding="utf-8-sig")
    assert "Value at risk (EUR)" in back.columns
    ws = openpyxl.load_workbook(io.BytesIO(to_bytes(_page_frame(), "xlsx"))).active
    assert ws is not None and "€" in ws["B2"].number_format


def test_kpi_rows_round_by_their_own_unit() -> None:
    """A KPI frame mixes shares and money in one column: each row rounds by its unit's decimals."""
    from ops.fmt import export_frame

    df = pd.DataFrame({"kpi": ["share", "money"], "label": ["At risk", "Value"], "unit": ["pct", "money"],
                       "value": [0.123456, 1234.5678], "previous": [0.5, 10.0], "change": [-0.376544, 1224.5678]})
    out, _ = export_frame(df)
    assert out["Value"].tolist() == [0.123, 1234.57]  # 12.3 % keeps its decimal; money keeps cents
    assert out["Change"].tolist() == [-0.377, 1224.57]
    assert "unit" not in out.columns and "kpi" not in out.columns
