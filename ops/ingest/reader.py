"""Shared reading and validation for every importer: robust CSV decoding, typed columns, error collection.

Reading rules (the same for canonical CSVs, Shopify exports and the Olist files)
--------------------------------------------------------------------------------
- Files over :data:`MAX_FILE_BYTES` are refused from their size on disk, before a byte is read.
- Decoding: a UTF-16 byte-order mark selects UTF-16; otherwise ``utf-8-sig`` (so a UTF-8 BOM never
  reaches a header name), then ``cp1252`` (Excel's Western default) as the fallback. The encoding
  used is reported in :class:`CsvFile.encoding`. NUL characters are refused (UTF-16 without a BOM,
  or a binary file).
- Line endings CRLF, LF and CR are all accepted; quoted fields may hold newlines. Line numbers are
  physical lines in the file: the header is line 1, and a record spanning three lines moves the
  next record's number on by three.
- The delimiter is sniffed from the header line: ``,``, ``;`` or tab (whichever occurs most).
- An unnamed first column (the row numbers R's ``write.csv`` and pandas write) is named
  :data:`ROW_INDEX`; any other unnamed column is refused.
- Values stay strings until a column spec parses them, so ids such as ``00123`` keep their zeros.
- Numbers: in a comma- or tab-separated file ``6,562.50`` (thousands separators) reads 6562.5; in a
  semicolon-separated file the comma is the decimal mark (``12,5`` reads 12.5). A leading ``$``,
  ``£`` or ``€`` on an amount (``$219.40`` in grid exports) is dropped.
- Date-times with a UTC offset are converted to the import's time zone when one is set
  (:func:`localize`, ``--tz``); without an offset they are the source's local time.
- Python's csv field-size limit (:data:`FIELD_SIZE_LIMIT`, 131,072 characters) is kept; a longer
  field is refused with its line number.

Plausibility rules (every importer; a violation is a row error naming file, line and column)
-------------------------------------------------------------------------------------------
- Text is stored without control characters: every C0 control (U+0000-U+001F), DEL and C1 control
  (U+0080-U+009F) is removed, so ``\x01=HYPERLINK(...)`` is stored as ``=HYPERLINK(...)`` (which
  the exports then neutralise). Multi-line text columns (comments, review messages) keep tab and
  newline, with CR and CRLF turned into a newline; every other column turns tab, CR and newline
  into a space. Cells are trimmed after cleaning.
- Whole numbers must lie within 32 bits (the database ``INTEGER`` on SQLite and PostgreSQL alike)
  and within the column's own range (:data:`MAX_UNITS`, :data:`MAX_LEAD_TIME_DAYS`, ...); a cell of
  more than :data:`MAX_DIGITS` digits is refused before it is converted. Decimals must be finite
  (NaN and infinity are refused) and at most the column's maximum (:data:`MAX_MONEY` for amounts).
- Dates and date-times must not be before :data:`EARLIEST_DATE`. Dates of events (an order
  placed, a snapshot taken, a parcel shipped) may be at most :data:`MAX_EVENT_DAYS_AHEAD` days
  after today (time zones and clock skew); planned dates (a PO's expected date, a promised
  delivery, a ship-by deadline) at most :data:`MAX_PLAN_DAYS_AHEAD` days. One row dated 2099 would
  otherwise move every page's "as of" date and empty the dashboards.
"""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import hashlib
import math
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

MAX_FILE_BYTES = 200 * 1024 * 1024  # refuse larger files before reading them
FIELD_SIZE_LIMIT = 131_072  # Python's csv default, kept on purpose (FACTS.md)
MAX_ERRORS = 1_000  # problems kept in a report; the rest are counted
PROGRESS_EVERY = 2_000  # rows between progress callbacks

# Plausibility bounds (see the module docstring); change them here.
INT32_MAX = 2**31 - 1  # the database INTEGER: PostgreSQL refuses more, SQLite would accept it
MAX_DIGITS = 32  # digits in a numeric cell: longer is refused before conversion (no huge ints)
MAX_UNITS = 10_000_000  # a quantity of units: on hand, ordered, received, sold, returned, MOQ, case pack
MAX_LEAD_TIME_DAYS = 730  # a supplier's lead time
MAX_HANDLING_DAYS = 60  # business days a warehouse takes to ship
MAX_TRANSIT_DAYS = 365  # business days a carrier service promises
MAX_LINE_NO = 100_000  # lines in one order
MAX_ZONE = 1_000  # a carrier's shipping zone
MAX_MONEY = 10_000_000.0  # a price, cost, freight, label cost or refund
EARLIEST_DATE = dt.date(2000, 1, 1)  # older dates are typos (0024 for 2024) or placeholders
MAX_EVENT_DAYS_AHEAD = 2  # an event dated later than today + this is refused
MAX_PLAN_DAYS_AHEAD = 730  # a planned date later than today + this is refused
EVENT, PLAN = "event", "plan"  # Col.horizon


def today() -> dt.date:
    """Today's date, the reference for future dates (a function so that tests can pin it)."""
    return dt.date.today()  # noqa: DTZ011 - naive local dates, like every timestamp here


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
_LINE_BREAK = re.compile(r"\r\n?")
_WHITESPACE_CONTROL = re.compile(r"[\t\n]")


def clean_text(s: str, *, multiline: bool = False) -> str:
    """``s`` without control characters (see the module docstring), trimmed."""
    if s.isprintable():
        return s.strip()  # the common case: no control characters (nor any other unprintable one)
    s = _LINE_BREAK.sub("\n", s)
    if not multiline:
        s = _WHITESPACE_CONTROL.sub(" ", s)
    return _CONTROL.sub("", s).strip()

Progress = Callable[[int, int], None]


# --- results and errors -------------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    """One problem in an input file: ``line`` is the 1-based physical line (header = 1; 0 = whole file)."""

    file: str
    line: int
    column: str
    message: str

    def __str__(self) -> str:
        where = f"{self.file} line {self.line}" if self.line else self.file
        if self.column:
            where += f", column {self.column}"
        return f"{where}: {self.message}"


class ImportError_(Exception):  # noqa: N801 - trailing underscore: the builtin ImportError is another thing
    """An import was refused; nothing was written. ``errors`` lists the problems (at most MAX_ERRORS)."""

    def __init__(self, errors: Sequence[RowError], *, total: int | None = None) -> None:
        self.errors = list(errors)
        self.total = max(total or 0, len(self.errors))
        super().__init__(self.report())

    def report(self) -> str:
        """A plain-text report: a headline, then one line per problem."""
        n = self.total
        files = sorted({e.file for e in self.errors})
        head = f"import refused: {n:,} problem{'s' if n != 1 else ''}"
        if files:
            head += f" in {', '.join(files)}"
        lines = [head + "; nothing was changed."]
        lines += [f"  {e}" for e in self.errors]
        if n > len(self.errors):
            lines.append(f"  ... and {n - len(self.errors):,} more problems not shown (fix these and re-run)")
        return "\n".join(lines)


class Problems:
    """Collects every problem of an import, keeping the first MAX_ERRORS and counting the rest."""

    def __init__(self, cap: int = MAX_ERRORS) -> None:
        self.cap = cap
        self.errors: list[RowError] = []
        self.total = 0

    def add(self, file: str, line: int, column: str, message: str) -> None:
        self.total += 1
        if len(self.errors) < self.cap:
            self.errors.append(RowError(file, line, column, message))

    def extend(self, errors: Iterable[RowError]) -> None:
        """Add problems found elsewhere (a file refused as a whole while others are still read)."""
        for e in errors:
            self.add(e.file, e.line, e.column, e.message)

    def __bool__(self) -> bool:
        return self.total > 0

    def sorted_errors(self) -> list[RowError]:
        """The kept problems in reading order: file by file (as first met), then by line.

        Checks run in passes (cells, then duplicates, then references), so without this a
        row's unknown supplier would be listed far below the same row's bad price.
        """
        order: dict[str, int] = {}
        for e in self.errors:
            order.setdefault(e.file, len(order))
        return sorted(self.errors, key=lambda e: (order[e.file], e.line))

    def raise_if_any(self) -> None:
        if self.total:
            raise ImportError_(self.sorted_errors(), total=self.total)


def refuse(file: str, message: str, *, line: int = 0, column: str = "") -> ImportError_:
    """An ImportError_ holding one problem (for file-level refusals)."""
    return ImportError_([RowError(file, line, column, message)])


# --- reading a file -----------------------------------------------------------------------


@dataclass
class CsvFile:
    """A checked CSV file: header, how it was read, and its records streamed from disk on demand.

    Records are not held in memory (a 50 MB file would take 15 times that as Python lists):
    :meth:`rows` reads the file again each time, skipping the ragged rows that
    :func:`read_csv` reported. The file's size and modification time are checked on every
    pass, so a file changed during an import is refused rather than half read.
    """

    path: Path
    name: str
    sha256: str
    encoding: str
    delimiter: str
    header: list[str]
    n_records: int = 0
    stamp: tuple[int, int] = (0, 0)  # (size, mtime_ns) when checked

    def describe(self) -> str:
        delim = {"\t": "tab", ",": "comma", ";": "semicolon"}[self.delimiter]
        return f"{self.name}: {self.n_records:,} rows, {self.encoding}, {delim}-separated"

    def rows(self) -> Iterator[tuple[int, list[str]]]:
        """Yield ``(line, values)`` for every well-formed record, reading the file from disk."""
        try:
            same = _stamp(self.path) == self.stamp
        except OSError:
            same = False
        if not same:
            raise refuse(self.name, "the file changed while it was being imported; import it again")
        for line, rec, ragged in _scan(self.path, self.encoding, self.delimiter, self.name):
            if ragged is None:
                yield line, rec

    @property
    def records(self) -> list[tuple[int, list[str]]]:
        """Every well-formed record as a list (for small files and tests; importers stream :meth:`rows`)."""
        return list(self.rows())

    def dicts(self) -> Iterator[tuple[int, dict[str, str]]]:
        """Yield ``(line, {column: raw value})`` for every well-formed record."""
        for line, values in self.rows():
            yield line, dict(zip(self.header, values, strict=True))


def _stamp(path: Path) -> tuple[int, int]:
    st = path.stat()
    return st.st_size, st.st_mtime_ns


def sha256_of(paths: Iterable[Path]) -> str:
    """sha256 of one file, or for several the sha256 of their ``name:sha256`` lines (sorted)."""
    digests = []
    for p in paths:
        h = hashlib.sha256()
        with open(p, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
        digests.append((p.name, h.hexdigest()))
    if len(digests) == 1:
        return digests[0][1]
    joined = "\n".join(f"{n}:{d}" for n, d in sorted(digests))
    return hashlib.sha256(joined.encode()).hexdigest()


CHUNK = 1 << 20  # bytes read at a time


def _try_decode(path: Path, encoding: str, name: str) -> tuple[str, UnicodeDecodeError | None, int, bool]:
    """Stream-decode ``path``: (sha256, the first decode error or None, its byte offset, any non-blank text).

    Refuses a file holding NUL characters (UTF-16 without a byte-order mark, or a binary file).
    """
    dec = codecs.getincrementaldecoder(encoding)("strict")
    h = hashlib.sha256()
    offset = 0
    newlines = 0
    content = False
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(CHUNK)
            final = not chunk
            h.update(chunk)
            pending = len(dec.getstate()[0])
            try:
                text = dec.decode(chunk, final=final)
            except UnicodeDecodeError as exc:
                return h.hexdigest(), exc, offset - pending + exc.start, content
            nul = text.find("\x00")
            if nul >= 0:
                raise refuse(name, "the file contains NUL characters: is it UTF-16 without a byte-order mark, "
                             "or not a CSV file? Save it as UTF-8 CSV", line=newlines + text.count("\n", 0, nul) + 1)
            newlines += text.count("\n")
            content = content or bool(text.strip())
            offset += len(chunk)
            if final:
                return h.hexdigest(), None, 0, content


def _line_at(path: Path, pos: int) -> int:
    """The 1-based line holding byte ``pos`` of ``path``."""
    n = 0
    with open(path, "rb") as fh:
        done = 0
        while done < pos:
            chunk = fh.read(min(CHUNK, pos - done))
            if not chunk:
                break
            n += chunk.count(b"\n")
            done += len(chunk)
    return n + 1


def detect_encoding(path: Path, name: str) -> tuple[str, str, bool]:
    """``(encoding, sha256, has text)``: UTF-16 by BOM, else utf-8-sig, else cp1252; refuse what none decodes.

    The file is streamed (never held whole in memory); the encoding named is the one reported.
    """
    with open(path, "rb") as fh:
        head = fh.read(2)
    if head in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        digest, err, pos, content = _try_decode(path, "utf-16", name)
        if err is not None:
            raise refuse(name, f"invalid UTF-16 (byte {pos:,})")
        return "utf-16", digest, content
    digest, err, pos, content = _try_decode(path, "utf-8-sig", name)
    if err is None:
        return "utf-8", digest, content
    digest, err2, _, content = _try_decode(path, "cp1252", name)
    if err2 is not None:
        raise refuse(name, "cannot decode the file: it is not UTF-8, UTF-16 (with BOM) or cp1252 "
                     f"(first bad byte at offset {pos:,}); save it as UTF-8 CSV", line=_line_at(path, pos))
    return "cp1252", digest, content


def decode(data: bytes, name: str) -> tuple[str, str]:
    """Return ``(text, encoding)`` of bytes in memory, by the rules of :func:`detect_encoding`."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16"), "utf-16"
        except UnicodeDecodeError as exc:
            raise refuse(name, f"invalid UTF-16 (byte {exc.start:,})") from None
    try:
        text, enc = data.decode("utf-8-sig"), "utf-8"
    except UnicodeDecodeError as exc:
        try:
            text, enc = data.decode("cp1252"), "cp1252"
        except UnicodeDecodeError:
            raise refuse(name, "cannot decode the file: it is not UTF-8, UTF-16 (with BOM) or cp1252 "
                         f"(first bad byte at offset {exc.start:,}); save it as UTF-8 CSV",
                         line=data.count(b"\n", 0, exc.start) + 1) from None
    if "\x00" in text:
        raise refuse(name, "the file contains NUL characters: is it UTF-16 without a byte-order mark, "
                     "or not a CSV file? Save it as UTF-8 CSV", line=text.count("\n", 0, text.find("\x00")) + 1)
    return text, enc


def sniff_delimiter(text: str) -> str:
    """The delimiter of the header line: whichever of ``,`` ``;`` tab occurs most (``,`` on a tie)."""
    first = re.split(r"\r\n|\r|\n", text, maxsplit=1)[0]
    counts = {d: first.count(d) for d in (",", ";", "\t")}
    best = max(counts.values())
    if best == 0 or counts[","] == best:
        return ","
    return ";" if counts[";"] == best else "\t"


_PY_ENCODING = {"utf-8": "utf-8-sig", "utf-16": "utf-16", "cp1252": "cp1252"}


def _first_line(path: Path, encoding: str) -> str:
    with open(path, encoding=_PY_ENCODING[encoding], newline="") as fh:
        return fh.readline()


def _scan(path: Path, encoding: str, delimiter: str,
          name: str) -> Iterator[tuple[int, list[str], str | None]]:
    """Stream the records after the header: ``(first line, values, None)``, or ``(line, values, why)`` for a
    ragged row. Blank rows are skipped; a field over the size limit or a csv syntax error is refused.
    """
    with open(path, encoding=_PY_ENCODING[encoding], newline="") as fh:
        # strict: an unclosed quote at the end, or text after a closing quote, is an error, not a guess.
        reader = csv.reader(fh, delimiter=delimiter, strict=True)
        prev = 0
        try:
            header = next(reader)
            ncols = len(header)
            prev = reader.line_num
            for rec in reader:
                start, prev = prev + 1, reader.line_num
                if not rec or all(not v.strip() for v in rec):
                    continue  # blank line, or a row of empty cells as spreadsheets leave them
                if len(rec) > ncols and not any(v.strip() for v in rec[ncols:]):
                    rec = rec[:ncols]  # trailing empty cells (a trailing delimiter)
                if len(rec) != ncols:
                    yield start, rec, (f"row has {len(rec)} fields but the header has {ncols} "
                                       "(check the delimiter and quoting)")
                    continue
                for i, v in enumerate(rec):
                    if len(v) > FIELD_SIZE_LIMIT:
                        raise refuse(name, f"field is longer than {FIELD_SIZE_LIMIT:,} characters", line=start,
                                     column=header[i].strip())
                yield start, rec, None
        except csv.Error as exc:
            msg = str(exc)
            if "field larger than field limit" in msg:
                msg = f"a field is longer than {FIELD_SIZE_LIMIT:,} characters (is a quote left open?)"
            raise refuse(name, f"malformed CSV: {msg}", line=prev + 1) from None


def read_csv(path: Path, *, max_bytes: int = MAX_FILE_BYTES, problems: Problems | None = None) -> CsvFile:
    """Check one CSV file in a streaming pass; its records are read again from disk when used.

    File-level problems (too big, undecodable, empty, bad header, a csv syntax error) raise
    :class:`ImportError_` at once. Ragged rows (a field count different from the header's) are
    added to ``problems`` with their line number and left out of the records; without
    ``problems`` they raise too. Memory stays flat whatever the file's size.
    """
    name = path.name
    own = problems is None
    probs = problems if problems is not None else Problems()
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise refuse(name, f"cannot open the file: {exc.strerror or exc}") from None
    if not path.is_file():
        raise refuse(name, "not a file")
    if size > max_bytes:
        raise refuse(name, f"the file is {size / 2**20:,.1f} MiB; the limit is {max_bytes / 2**20:,.0f} MiB "
                     "(split it into smaller files)")
    stamp = _stamp(path)
    encoding, digest, content = detect_encoding(path, name)
    if not content:
        raise refuse(name, "the file is empty", line=1)
    delimiter = sniff_delimiter(_first_line(path, encoding))
    try:
        with open(path, encoding=_PY_ENCODING[encoding], newline="") as fh:
            header = [h.strip() for h in next(csv.reader(fh, delimiter=delimiter, strict=True))]
    except csv.Error as exc:
        raise refuse(name, f"malformed CSV: {exc}", line=1) from None
    _check_header(name, header)
    n = 0
    for line, _, ragged in _scan(path, encoding, delimiter, name):
        if ragged is None:
            n += 1
        else:
            probs.add(name, line, "", ragged)
    if own:
        probs.raise_if_any()
    if _stamp(path) != stamp:
        raise refuse(name, "the file changed while it was being read; import it again")
    return CsvFile(path=path, name=name, sha256=digest, encoding=encoding, delimiter=delimiter,
                   header=header, n_records=n, stamp=stamp)


ROW_INDEX = "(row number)"  # the name given to an unnamed first column


def _check_header(name: str, header: list[str]) -> None:
    seen: dict[str, int] = {}
    errors: list[RowError] = []
    for i, h in enumerate(header, start=1):
        if not h and i == 1 and len(header) > 1:
            header[0] = ROW_INDEX  # R's write.csv and pandas' to_csv write the row numbers under no name
            continue
        if not h:
            errors.append(RowError(name, 1, f"#{i}", f"column {i} of the header has no name"))
        elif h in seen:
            errors.append(RowError(name, 1, h, f"duplicate column name {h!r} (columns {seen[h]} and {i})"))
        else:
            seen[h] = i
    if errors:
        raise ImportError_(errors)


def check_columns(f: CsvFile, *, required: Iterable[str], known: Iterable[str] | None,
                  problems: Problems) -> bool:
    """Report missing required columns and (when ``known`` is given) unknown ones; True when all is well."""
    ok = True
    present = set(f.header)
    for col in required:
        if col not in present:
            problems.add(f.name, 1, col, f"missing required column {col!r}")
            ok = False
    if known is not None:
        known_set = set(known)
        for col in f.header:
            if col not in known_set:
                problems.add(f.name, 1, col, f"unknown column {col!r} (expected some of: {', '.join(known)})")
                ok = False
    return ok


# --- typed values -------------------------------------------------------------------------

_INT = re.compile(r"[+-]?[0-9]+")
_FLOAT = re.compile(r"[+-]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][+-]?[0-9]+)?")
_DECIMAL_COMMA = re.compile(r"[+-]?[0-9]+,[0-9]+")
_CURRENCY_SIGNS = ("$", "£", "€")
_THOUSANDS = re.compile(r"[+-]?[0-9]{1,3}(,[0-9]{3})+(\.[0-9]+)?")  # 6,562.50 as reports write it
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_TIME = re.compile(r"(\d{1,2}):(\d{2})(?::(\d{2}))?")
_TRUE = {"true", "t", "yes", "y", "1"}
_FALSE = {"false", "f", "no", "n", "0"}


class Bad(ValueError):
    """A value that does not parse; its message says what was expected."""


def _shown(s: str) -> str:
    return repr(s) if len(s) <= 40 else repr(s[:37] + "...")


def parse_int(s: str, *, decimal_comma: bool = False) -> int:
    if not decimal_comma and _THOUSANDS.fullmatch(s) and "." not in s:
        s = s.replace(",", "")
    if not _INT.fullmatch(s):
        raise Bad(f"not a whole number: {_shown(s)}")
    if len(s.lstrip("+-")) > MAX_DIGITS:
        raise Bad(f"is a whole number of {len(s.lstrip('+-')):,} digits: out of range")
    return int(s)


def parse_float(s: str, *, decimal_comma: bool = False) -> float:
    if s[:1] in _CURRENCY_SIGNS:  # $219.40 as grid exports write money
        s = s[1:]
    if decimal_comma and _DECIMAL_COMMA.fullmatch(s):
        s = s.replace(",", ".")
    elif not decimal_comma and _THOUSANDS.fullmatch(s):
        s = s.replace(",", "")
    if not _FLOAT.fullmatch(s):
        raise Bad(f"not a number: {_shown(s)}")
    if len(s) > 2 * MAX_DIGITS:
        raise Bad(f"is a number of {len(s):,} characters: out of range")
    v = float(s)
    if not math.isfinite(v):
        raise Bad(f"not a finite number: {_shown(s)}")
    return v


def parse_date(s: str) -> dt.date:
    if _DATE.fullmatch(s):
        try:
            return dt.date.fromisoformat(s)
        except ValueError:
            pass
    raise Bad(f"not a date: {_shown(s)} (expected YYYY-MM-DD)")


SOURCE_TZ: ContextVar[ZoneInfo | None] = ContextVar("SOURCE_TZ", default=None)
"""The operation's time zone for this import (``--tz``); None keeps every time as written."""


def zone(name: str) -> ZoneInfo:
    """The IANA time zone ``name`` (e.g. ``Europe/Berlin``); ValueError naming it when unknown."""
    try:
        return ZoneInfo(name.strip())
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        raise ValueError(f"unknown time zone {name!r} (use an IANA name such as Europe/Berlin or "
                         "America/New_York)") from None


@contextmanager
def source_tz(tz: ZoneInfo | None) -> Iterator[None]:
    """Within the block, date-times carrying a UTC offset are converted to ``tz`` (see :func:`localize`)."""
    token = SOURCE_TZ.set(tz)
    try:
        yield
    finally:
        SOURCE_TZ.reset(token)


def localize(v: dt.datetime) -> dt.datetime:
    """The naive local time stored for ``v``.

    Timestamps are naive local times throughout (see ops.models). A time without an offset is
    in the source's time zone and kept as written. A time with an offset (Shopify's
    ``-0400``/``-0500`` changing with DST inside one file, Amazon's ``+00:00``) is converted to
    the import's time zone (``--tz``, :data:`SOURCE_TZ`) when one is set, so one instant is one
    stored time whatever offset it was written with; without a setting its wall-clock time is
    kept (for Shopify that is the shop's own time zone).
    """
    if v.tzinfo is None:
        return v
    tz = SOURCE_TZ.get()
    if tz is not None:
        v = v.astimezone(tz)
    return v.replace(tzinfo=None)


def parse_datetime(s: str) -> dt.datetime:
    """ISO date-times (``T`` or space; seconds optional; a date alone is midnight).

    A UTC offset (``+02:00``, ``-0400`` as Shopify writes it) is applied by :func:`localize`.
    """
    t = s.strip()
    v: dt.datetime | None = None
    try:
        v = dt.datetime.fromisoformat(t)
    except ValueError:
        for fmt in ("%Y-%m-%d %H:%M:%S %z", "%Y-%m-%d %H:%M %z"):
            try:
                v = dt.datetime.strptime(t, fmt)
                break
            except ValueError:
                continue
    if v is None or not _DATE.match(t):
        raise Bad(f"not a date-time: {_shown(s)} (expected YYYY-MM-DD HH:MM[:SS])")
    return localize(v)


_US_DATETIME = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?:,? (\d{1,2}):(\d{2})(?::(\d{2}))?(?: ?([AaPp][Mm]))?)?")


def parse_us_datetime(s: str) -> dt.datetime:
    """``M/D/YYYY[ H:MM[:SS][ AM|PM]]`` as US-locale tools write it (UCI, ShipStation, WooCommerce); raises Bad.

    No offset: the time is the source's local time (the import's time zone, ``--tz``).
    """
    m = _US_DATETIME.fullmatch(s.strip())
    if m is None:
        raise Bad(f"not a date-time: {_shown(s)} (expected M/D/YYYY H:MM, e.g. 12/1/2010 8:26 or 4/1/2026 4:42:06 AM)")
    hour = int(m[4] or 0)
    if m[7]:
        if not 1 <= hour <= 12:
            raise Bad(f"not a date-time: {_shown(s)} (hour {hour} with {m[7].upper()})")
        hour = hour % 12 + (12 if m[7].lower() == "pm" else 0)
    try:
        v = dt.datetime(int(m[3]), int(m[1]), int(m[2]), hour, int(m[5] or 0), int(m[6] or 0))
    except ValueError:
        raise Bad(f"not a date-time: {_shown(s)} (month/day/year or time out of range)") from None
    _check_date(Col("date"), v.date())
    return v


def parse_time(s: str) -> dt.time:
    m = _TIME.fullmatch(s)
    if m:
        h, mi, sec = int(m[1]), int(m[2]), int(m[3] or 0)
        if h < 24 and mi < 60 and sec < 60:
            return dt.time(h, mi, sec)
    raise Bad(f"not a time of day: {s!r} (expected HH:MM)")


def parse_bool(s: str) -> bool:
    low = s.lower()
    if low in _TRUE:
        return True
    if low in _FALSE:
        return False
    raise Bad(f"not true/false: {s!r}")


def parse_weekdays(s: str) -> str:
    if not re.fullmatch(r"[0-6]{1,7}", s) or len(set(s)) != len(s):
        raise Bad(f"not a set of weekdays: {s!r} (digits 0=Mon .. 6=Sun, e.g. 01234)")
    return "".join(sorted(s))


@dataclass(frozen=True)
class Col:
    """One column of an input file: how to parse it and what is allowed.

    ``kind``: str, int, float, date, datetime, us_datetime (``M/D/YYYY H:MM[ AM]``), time, bool or
    weekdays. ``min`` and ``max`` bound
    numbers (``min=0`` refuses negative quantities; without ``max`` a whole number is bounded by
    :data:`INT32_MAX` and a decimal by :data:`MAX_MONEY`). ``max_len`` bounds strings (the
    database column's length); ``multiline`` keeps tab and newline in them. ``horizon`` is
    :data:`EVENT` or :data:`PLAN`: how far after today a date may lie. ``default`` fills an empty
    optional cell on insert.
    """

    name: str
    kind: str = "str"
    required: bool = False
    default: Any = None
    min: float | None = None
    max: float | None = None
    max_len: int | None = None
    multiline: bool = False
    horizon: str = EVENT
    choices: tuple[str, ...] = ()
    doc: str = ""


def parse_cell(col: Col, raw: str, *, decimal_comma: bool = False) -> Any:
    """Parse one raw cell; ``None`` for an empty optional cell (its default is applied later). Raises Bad."""
    s = clean_text(raw, multiline=col.multiline)
    if not s:
        if col.required:
            raise Bad("is required but empty")
        return None
    v: Any
    if col.kind == "str":
        v = s
        if col.max_len is not None and len(s) > col.max_len:
            raise Bad(f"is {len(s)} characters long; at most {col.max_len} allowed")
        if col.choices and s not in col.choices:
            raise Bad(f"{s!r} is not one of {', '.join(col.choices)}")
        return v
    if col.kind == "int":
        v = parse_int(s, decimal_comma=decimal_comma)
    elif col.kind == "float":
        v = parse_float(s, decimal_comma=decimal_comma)
    elif col.kind == "date":
        v = parse_date(s)
    elif col.kind == "datetime":
        v = parse_datetime(s)
    elif col.kind == "us_datetime":
        v = parse_us_datetime(s)
    elif col.kind == "time":
        v = parse_time(s)
    elif col.kind == "bool":
        v = parse_bool(s)
    elif col.kind == "weekdays":
        v = parse_weekdays(s)
    else:  # pragma: no cover - a spec error, not an input error
        raise AssertionError(col.kind)
    if col.kind in ("int", "float"):
        _check_range(col, v, s)
    elif col.kind in ("date", "datetime", "us_datetime"):
        _check_date(col, v if col.kind == "date" else v.date())
    return v


def _check_range(col: Col, v: float, s: str) -> None:
    if col.min is not None and v < col.min:
        raise Bad(f"must be at least {col.min:g}, got {_shown(s)}" if col.min
                  else f"must not be negative, got {_shown(s)}")
    hi = col.max if col.max is not None else (INT32_MAX if col.kind == "int" else MAX_MONEY)
    lo = -INT32_MAX - 1 if col.kind == "int" else -MAX_MONEY
    if v > hi:
        raise Bad(f"must be at most {_num(hi)}, got {_shown(s)}")
    if v < lo:
        raise Bad(f"must be at least {_num(lo)}, got {_shown(s)}")


def _num(x: float) -> str:
    return f"{int(x):,}" if float(x).is_integer() else f"{x:,}"


def _check_date(col: Col, d: dt.date) -> None:
    if d < EARLIEST_DATE:
        raise Bad(f"{d.isoformat()} is before {EARLIEST_DATE.isoformat()}: not a plausible date")
    ahead = MAX_PLAN_DAYS_AHEAD if col.horizon == PLAN else MAX_EVENT_DAYS_AHEAD
    now = today()
    if (d - now).days > ahead:
        what = "a planned date" if col.horizon == PLAN else "the date of something that has happened"
        raise Bad(f"{d.isoformat()} is more than {ahead:,} days after today ({now.isoformat()}): "
                  f"not plausible for {what}")


def parse_record(f: CsvFile, line: int, raw: dict[str, str], cols: Sequence[Col],
                 problems: Problems) -> dict[str, Any] | None:
    """Parse the columns present in the file; report each bad cell; None when any cell was bad."""
    out, ok = parse_partial(f, line, raw, cols, problems)
    return out if ok else None


def parse_partial(f: CsvFile, line: int, raw: dict[str, str], cols: Sequence[Col],
                  problems: Problems) -> tuple[dict[str, Any], bool]:
    """Parse the columns present in the file; report each bad cell.

    Returns the cells that parsed (a bad cell is left out) and whether every cell parsed, so
    that the good cells of a bad row can still be checked against other tables in the same
    pass (an unknown supplier on a row with a bad price is reported together with the price).
    """
    out: dict[str, Any] = {}
    ok = True
    decimal_comma = f.delimiter == ";"
    for col in cols:
        if col.name not in raw:
            continue
        try:
            out[col.name] = parse_cell(col, raw[col.name], decimal_comma=decimal_comma)
        except Bad as exc:
            problems.add(f.name, line, col.name, str(exc))
            ok = False
    return out, ok


def batched(items: Sequence[Any], n: int) -> Iterator[Sequence[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]
