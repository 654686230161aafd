"""Recognising an export's format from its header: ``python -m ops import FILE_OR_DIR ...``.

Every file's header (its first record; encoding and delimiter as the reader finds them) is
compared with each format's identifying columns:

- ``shopify``: ``Name``, ``Created at``, ``Lineitem quantity``, ``Lineitem price``, ``Lineitem name``;
- ``olist``: any Olist file (:data:`ops.ingest.olist.SIGNATURES`); all the Olist files given
  (or found in one folder) form one import;
- each format of :data:`ops.ingest.formats.FORMATS` by its ``signature``;
- ``csv-<table>``: every required column of the canonical table present and no other column.

A folder stands for the CSV, TSV and TXT files in it (one level). A file that fits no format is
refused by name. A header that fits several canonical tables (``code,name`` is a carrier and a
channel) takes the one the file is named after (``carriers.csv``), else it is refused, asking
for the kind (``python -m ops import csv-channels FILE``). The groups come back
in an order that satisfies references (catalogue before stock before orders before shipments
and returns), and :func:`ops.ingest.run_imports` writes them in one transaction.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from ops.ingest.csv_tables import SPECS, TABLE_ORDER
from ops.ingest.formats import FORMATS
from ops.ingest.olist import CSV_SUFFIXES, role_of
from ops.ingest.reader import (
    _PY_ENCODING,
    ROW_INDEX,
    ImportError_,
    Problems,
    detect_encoding,
    refuse,
    sniff_delimiter,
)

SHOPIFY = frozenset({"Name", "Created at", "Lineitem quantity", "Lineitem price", "Lineitem name"})
ORDERS_RANK = TABLE_ORDER.index("orders")


def read_header(path: Path) -> list[str]:
    """The header of ``path`` (names stripped; an unnamed first column is ``ROW_INDEX``); refuses unreadable files."""
    if not path.is_file():
        raise refuse(path.name, "not a file")
    encoding, _, content = detect_encoding(path, path.name)
    if not content:
        raise refuse(path.name, "the file is empty", line=1)
    with open(path, encoding=_PY_ENCODING[encoding], newline="") as fh:
        first = fh.readline()
        fh.seek(0)
        try:
            header = [h.strip() for h in next(csv.reader(fh, delimiter=sniff_delimiter(first)))]
        except (csv.Error, StopIteration) as exc:
            raise refuse(path.name, f"malformed CSV header: {exc}", line=1) from None
    if header and not header[0] and len(header) > 1:
        header[0] = ROW_INDEX
    return header


def kind_of(header: Sequence[str]) -> list[str]:
    """The import kinds a header fits (several only when ambiguous; empty when none)."""
    cols = set(header)
    if cols >= SHOPIFY:
        return ["shopify"]
    if role_of(header) is not None:
        return ["olist"]
    fits = {k: f.fits(cols) for k, f in FORMATS.items() if f.fits(cols)}
    if fits:
        return [max(fits, key=lambda k: fits[k])]
    return [f"csv-{t}" for t in TABLE_ORDER
            if set(SPECS[t].required) <= cols and cols <= set(SPECS[t].names)]


def rank(kind: str) -> int:
    """Where ``kind`` goes when several arrive together (references first)."""
    if kind.startswith("csv-"):
        return TABLE_ORDER.index(kind.removeprefix("csv-"))
    if kind in FORMATS:
        return FORMATS[kind].rank
    return ORDERS_RANK


def expand(paths: Sequence[Path]) -> list[Path]:
    """The files ``paths`` stand for: a folder's CSV/TSV/TXT files (one level), files as given."""
    out: list[Path] = []
    for p in paths:
        if p.is_dir():
            out += sorted(f for f in p.iterdir() if f.is_file() and f.suffix.lower() in CSV_SUFFIXES)
        else:
            out.append(p)
    return out


def detect(paths: Sequence[Path | str]) -> list[tuple[str, list[Path]]]:
    """Group ``paths`` (files or folders) by recognised kind, in import order; refuse what is not recognised.

    Raises
    ------
    ImportError_ naming every file that could not be read or recognised (nothing is imported).
    """
    problems = Problems()
    groups: dict[str, list[Path]] = {}
    files = expand([Path(p) for p in paths])
    if not files:
        raise refuse(", ".join(Path(p).name for p in paths) or "import", "no CSV, TSV or TXT files found")
    for f in files:
        try:
            header = read_header(f)
        except ImportError_ as exc:
            problems.extend(exc.errors)
            continue
        kinds = kind_of(header)
        if not kinds:
            problems.add(f.name, 1, "", "the format is not recognised from the header; known: Shopify orders "
                         f"export, Olist, {', '.join(FORMATS)}, canonical csv-<table> templates. Name the kind: "
                         "python -m ops import KIND FILE")
        elif len(kinds) > 1 and f"csv-{f.stem}" in kinds:
            groups.setdefault(f"csv-{f.stem}", []).append(f)  # carriers.csv: a tie broken by the file's name
        elif len(kinds) > 1:
            problems.add(f.name, 1, "", f"the header fits {', '.join(kinds)} alike; name the kind: "
                         f"python -m ops import {kinds[0]} {f.name}")
        else:
            groups.setdefault(kinds[0], []).append(f)
    problems.raise_if_any()
    return sorted(groups.items(), key=lambda kv: rank(kv[0]))
