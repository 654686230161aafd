"""Awkward input files: encodings, line endings, delimiters, quoting, ragged rows, oversized input, fuzzing.

Each file is written by the test; each either parses to the expected values (and line numbers)
or is refused with a specific message naming the line.
"""

from __future__ import annotations

import codecs
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select

from ops.access import SYSTEM
from ops.db import transaction
from ops.ingest import MAX_FILE_BYTES, ImportError_, run_import
from ops.ingest.reader import FIELD_SIZE_LIMIT, read_csv
from ops.models import Supplier

HEADER = "code,name,city,lead_time_days"


def put(tmp_path: Path, data: bytes, name: str = "s.csv") -> Path:
    p = tmp_path / name
    p.write_bytes(data)
    return p


def refused(path: Path) -> ImportError_:
    with pytest.raises(ImportError_) as ei:
        read_csv(path)
    return ei.value


# --- encodings ------------------------------------------------------------------------------------

CITY = "Málaga – Société"  # é/á in cp1252 and an en dash (cp1252 0x96)


@pytest.mark.parametrize(("encoded", "encoding"), [
    (codecs.BOM_UTF8 + f"{HEADER}\n00123,Acme,{CITY},7\n".encode(), "utf-8"),
    (f"{HEADER}\n00123,Acme,{CITY},7\n".encode("utf-16"), "utf-16"),  # with a BOM (native order)
    (codecs.BOM_UTF16_BE + f"{HEADER}\n00123,Acme,{CITY},7\n".encode("utf-16-be"), "utf-16"),
    (f"{HEADER}\n00123,Acme,{CITY},7\n".encode("cp1252"), "cp1252"),
])
def test_encodings_decode_to_the_same_values(tmp_path: Path, encoded: bytes, encoding: str) -> None:
    f = read_csv(put(tmp_path, encoded))
    assert f.encoding == encoding
    assert f.header == ["code", "name", "city", "lead_time_days"]  # no BOM in the first name
    assert f.records == [(2, ["00123", "Acme", CITY, "7"])]


def test_cp1252_file_imports_with_accents_and_leading_zeros(engine: Engine, tmp_path: Path) -> None:
    p = put(tmp_path, f"{HEADER}\n00123,Société Générale,{CITY},7\n0042,Zero,x,\n".encode("cp1252"))
    res = run_import(engine, kind="csv-suppliers", paths=[p], viewer=SYSTEM)
    assert "cp1252" in res.files[0]
    with transaction(engine) as s:
        got = dict(s.execute(select(Supplier.code, Supplier.name)).all())
        city = s.execute(select(Supplier.city).where(Supplier.code == "00123")).scalar_one()
    assert got == {"00123": "Société Générale", "0042": "Zero"}
    assert city == CITY


def test_utf16_without_bom_is_refused_clearly(tmp_path: Path) -> None:
    err = refused(put(tmp_path, f"{HEADER}\nA,b,c,1\n".encode("utf-16-le")))
    assert "NUL characters" in err.errors[0].message and "UTF-16 without a byte-order mark" in err.errors[0].message


def test_undecodable_bytes_are_refused_with_their_line(tmp_path: Path) -> None:
    # 0x81 is undefined in cp1252 and invalid as UTF-8.
    err = refused(put(tmp_path, f"{HEADER}\nA,b,c,1\nB,\x81x,c,2\n".encode("latin-1")))
    assert err.errors[0].line == 3 and "cannot decode" in err.errors[0].message


def test_empty_file_is_refused(tmp_path: Path) -> None:
    assert refused(put(tmp_path, b"  \r\n")).errors[0].message == "the file is empty"


# --- line endings, quoting, delimiters ---------------------------------------------------------


@pytest.mark.parametrize("eol", ["\r\n", "\r", "\n"])
def test_line_endings_and_quoted_newlines_keep_physical_line_numbers(tmp_path: Path, eol: str) -> None:
    text = eol.join([HEADER, 'A,"two', 'line name",x,1', "B,b,y,2", "", 'C,"three', "", 'lines",z,3', "D,d,w,4"]) + eol
    f = read_csv(put(tmp_path, text.encode()))
    assert [line for line, _ in f.records] == [2, 4, 6, 9]
    assert f.records[0][1][1] == f"two{eol}line name"
    assert f.records[2][1][1] == f"three{eol}{eol}lines"


def test_error_after_a_quoted_newline_names_the_physical_line(engine: Engine, tmp_path: Path) -> None:
    text = f'{HEADER}\r\nA,"multi\r\nline\r\nname",x,1\r\nB,b,y,soon\r\n'
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="csv-suppliers", paths=[put(tmp_path, text.encode())], viewer=SYSTEM)
    assert [(e.line, e.column) for e in ei.value.errors] == [(5, "lead_time_days")]


@pytest.mark.parametrize(("delim", "word"), [(";", "semicolon"), ("\t", "tab"), (",", "comma")])
def test_delimiters_are_sniffed(tmp_path: Path, delim: str, word: str) -> None:
    text = delim.join(["code", "name", "city", "lead_time_days"]) + "\n" + delim.join(["00123", "Acme, Inc", "x", "3"])
    if delim == ",":
        text = text.replace("Acme, Inc", '"Acme, Inc"')
    f = read_csv(put(tmp_path, text.encode()))
    assert f.delimiter == delim and word in f.describe()
    assert f.records == [(2, ["00123", "Acme, Inc", "x", "3"])]


def test_semicolon_file_accepts_decimal_comma(engine: Engine, tmp_path: Path) -> None:
    p = put(tmp_path, b"sku;name;category;price\n007;Spy kit;toys;12,50\n")
    run_import(engine, kind="csv-products", paths=[p], viewer=SYSTEM)
    from ops.models import Product

    with transaction(engine) as s:
        assert s.execute(select(Product.sku, Product.price)).one() == ("007", 12.5)


def test_unclosed_quote_is_refused_with_its_line(tmp_path: Path) -> None:
    err = refused(put(tmp_path, f'{HEADER}\nA,b,c,1\nB,"open,c,2\n'.encode()))
    assert err.errors[0].line == 3 and "malformed CSV" in err.errors[0].message


# --- structure ----------------------------------------------------------------------------


def test_ragged_rows_are_reported_with_their_lines(engine: Engine, tmp_path: Path) -> None:
    text = f"{HEADER}\nA,b,c,1\nB,b\nC,c,x,3,extra\nD,d,y,4,,\n"  # trailing empty cells are fine
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="csv-suppliers", paths=[put(tmp_path, text.encode())], viewer=SYSTEM)
    got = [(e.line, e.message) for e in ei.value.errors]
    assert got == [(3, "row has 2 fields but the header has 4 (check the delimiter and quoting)"),
                   (4, "row has 5 fields but the header has 4 (check the delimiter and quoting)")]


def test_duplicate_and_empty_headers_are_refused(tmp_path: Path) -> None:
    err = refused(put(tmp_path, b"code,name,code,\nA,b,c,d\n"))
    assert [(e.line, e.column, e.message) for e in err.errors] == [
        (1, "code", "duplicate column name 'code' (columns 1 and 3)"),
        (1, "#4", "column 4 of the header has no name"),
    ]


def test_blank_lines_are_skipped_but_counted(tmp_path: Path) -> None:
    f = read_csv(put(tmp_path, f"{HEADER}\n\nA,b,c,1\n,,,\nB,b,c,2\n".encode()))
    assert [line for line, _ in f.records] == [3, 5]


# --- oversized input -------------------------------------------------------------------------


def test_oversized_field_is_refused(tmp_path: Path) -> None:
    big = "x" * (FIELD_SIZE_LIMIT + 10)
    err = refused(put(tmp_path, f'{HEADER}\nA,b,c,1\nB,"{big}",c,2\n'.encode()))
    assert err.errors[0].line == 3 and "longer than 131,072 characters" in err.errors[0].message


def test_file_over_the_size_cap_is_refused_before_reading(engine: Engine, tmp_path: Path) -> None:
    p = tmp_path / "huge.csv"
    with open(p, "wb") as fh:  # sparse: takes no disk space and is never read
        fh.write(f"{HEADER}\n".encode())
        fh.truncate(MAX_FILE_BYTES + 1)
    with pytest.raises(ImportError_) as ei:
        run_import(engine, kind="csv-suppliers", paths=[p], viewer=SYSTEM)
    assert ei.value.errors[0].message.startswith("the file is 200.0 MiB; the limit is 200 MiB")


def test_missing_file_is_an_import_error(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ImportError_, match="cannot open the file"):
        run_import(engine, kind="csv-suppliers", paths=[tmp_path / "nope.csv"], viewer=SYSTEM)


# --- fuzzing: only the importer's own error escapes ------------------------------------------------

CSV_TEXT = st.text(alphabet=st.sampled_from(list('ab0123-.,;\t\r\n"é ') + ["\x00", "\u2028"]), max_size=200)
HEADERS = {
    "csv-products": "sku,name,category,price,unit_cost,case_pack,active\n",
    "csv-orders": "order_number,channel_code,status,placed_at,line_no,sku,qty,unit_price\n",
    "shopify": "Name,Created at,Lineitem quantity,Lineitem price,Lineitem sku,Shipping\n",
}
PAYLOADS = st.one_of(
    st.binary(max_size=300),
    st.tuples(st.sampled_from(sorted(HEADERS)), CSV_TEXT, st.sampled_from(["utf-8", "utf-16", "cp1252"])),
)


@pytest.mark.parametrize("kind", sorted(HEADERS))
@settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(payload=PAYLOADS)
def test_fuzz_only_import_errors_escape(sqlite_engine: Engine, kind: str, payload: object) -> None:
    if isinstance(payload, bytes):
        data = payload
    else:
        _, body, enc = payload  # type: ignore[misc]
        data = (HEADERS[kind] + body).encode(enc, errors="replace")
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "fuzz.csv"
        p.write_bytes(data)
        try:
            res = run_import(sqlite_engine, kind=kind, paths=[p], viewer=SYSTEM)
        except ImportError_ as exc:
            assert exc.errors and all(e.file for e in exc.errors)
        else:
            assert res.rows_in >= 0
