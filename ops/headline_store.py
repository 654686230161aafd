"""Stored headlines: each domain's headline as one viewer scope saw it at one data version, shared by every
app process.

The Overview and the Weekly review summarise the pages: they read every registered domain's headline
(its KPIs and top exceptions), and the review reads them twice (the week's KPI table, then the four weeks
of the exceptions inbox). A headline is a whole page's computation (the inventory headline ranks every
position's exceptions), so computing them on every load cost 0.5-0.6 s at bench size for a manager,
against a bar of 150 ms for the page.

A headline only changes when the data does, and every write path moves
:func:`ops.freshness.data_version` (an audit row, an import, a forecast or theme run). So the first read
of a headline for a (domain, viewer scope, filters) at a data version computes it and stores it in
``headline_store``; every later read at that version, by any app process, reads the stored one. The
stored row is found by a hash of:

- the domain id;
- the viewer's scope: role, vendor kind and vendor code (a headline never depends on the username, only
  on what the scope may see; a vendor's row is keyed by its own code, so no vendor reads another's);
- the filters, as given (date range, warehouses, channels);

and it holds the version it was computed at: ``data_version`` (with the newest audit row that may change a
headline in place of the newest audit row: :func:`version`) joined with the day it was computed on
(a new day starts fresh, in case a headline ever reads the calendar), :data:`FORMAT` and a hash of the
``ops`` package's source (:func:`code_stamp`: a deployment of other code computes afresh; replicas running
the same code share). The key also names the headline function (module and name). A row of
another version is never read; writing a new row deletes the rows of other versions, so the table holds
one version's headlines.

Rules that keep it exact:

- The version is read first, in the reading session, before anything else: on SQLite the session's
  snapshot starts there, on PostgreSQL every later statement sees at least what that version counted,
  so a stored headline is never older than its version.
- Only read sessions (``ops.db.read_session``: page loads, exports) use the store. A session that may
  write computes directly: its uncommitted audit row could be rolled back and its id reused.
- Storing is best effort, in its own short transaction: on SQLite it waits at most
  :data:`SQLITE_WAIT_MS` for the write lock, and a failure is logged and the computed headline returned.
  A page load is never blocked behind an import and never fails because of the store.
- A stored payload that cannot be decoded (written by another version of the code) is recomputed.

The same store holds a vendor's weekly review sums (:func:`stored_sums`): no aggregate table is keyed by a
vendor's scope, so they are read from the vendor's fact rows once per data version, under the same rules
(``tests/test_review_vendor_store.py``).

``tests/test_headline_store.py`` checks that a stored headline equals the computed one for every domain
and every kind of viewer, that a decision, an import and a refresh each make the next read compute
again, and that a vendor's read never returns another scope's row.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
import json
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Connection, Engine, delete, insert, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from ops.access import Viewer
from ops.db import READ_ONLY_OPTION
from ops.domain import Domain, Headline, Kpi
from ops.filters import Filters
from ops.models import Decision, HeadlineStore

log = logging.getLogger(__name__)

FORMAT = 1  # bump when the stored form of a Headline changes
SQLITE_WAIT_MS = 200


@functools.cache
def code_stamp() -> str:
    """A hash of every ``ops`` source file (computed once per process): headlines computed by other code
    are not read."""
    root = Path(__file__).resolve().parent
    h = hashlib.sha256()
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode("utf-8"))
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


# Audit actions that change no headline: sign-ins and account events, the inbox's review status (merged
# after the headlines are read) and chart annotations. Refused attempts change nothing either.
IGNORED_ACTIONS = ("login.ok", "login.failed", "login.locked", "user.add", "user.activate", "user.unlock",
                   "user.password_change", "user.password_reset", "review_item.set", "annotation.add")


def version(session: Session) -> str:
    """The version a stored headline must carry to be read in this session (see the module docstring).

    :func:`ops.freshness.data_version`, except that its newest audit row is the newest that may change a
    headline (not :data:`IGNORED_ACTIONS`, not refused): a manager working through the inbox in the review
    meeting, or a user signing in, does not make every headline compute again.
    """
    from ops.freshness import data_version

    parts = data_version(session)
    relevant = session.scalar(select(Decision.id).where(Decision.action.not_in(IGNORED_ACTIONS),
                                                        Decision.outcome != "refused")
                              .order_by(Decision.id.desc()).limit(1)) or 0
    stamp = ",".join(str(p) for p in (relevant, *parts[1:]))
    return f"{FORMAT}:{code_stamp()}:{dt.date.today().isoformat()}:{stamp}"


def scope_key(viewer: Viewer) -> str:
    """What a headline may depend on of the viewer: role, vendor kind and vendor code."""
    return f"{viewer.role}|{viewer.vendor_kind or ''}|{viewer.vendor_code or ''}"


def filters_key(filters: Filters) -> str:
    return "|".join([str(filters.date_from or ""), str(filters.date_to or ""), ",".join(filters.warehouses),
                     ",".join(filters.channels)])


def key(domain: Domain, viewer: Viewer, filters: Filters) -> str:
    """The stored row's key: a SHA-256 of the domain and its headline function, the viewer's scope and the
    filters."""
    fn = domain.headline
    name = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__qualname__', repr(fn))}"
    text = "\n".join((domain.id, name, scope_key(viewer), filters_key(filters)))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


_BYPASS: ContextVar[bool] = ContextVar("headline_store_bypass", default=False)


@contextmanager
def bypassed() -> Iterator[None]:
    """Within this block every headline is computed and nothing is stored (what the first load after a write
    costs: ``bench/`` times both)."""
    token = _BYPASS.set(True)
    try:
        yield
    finally:
        _BYPASS.reset(token)


def usable(session: Session) -> bool:
    """True when ``session`` is a read session (``ops.db.read_session``), the only kind that uses the store."""
    if _BYPASS.get():
        return False
    bind = session.get_bind()
    try:
        return bool(bind.get_execution_options().get(READ_ONLY_OPTION))
    except AttributeError:  # pragma: no cover - a bind without execution options
        return False


# --- the stored form -----------------------------------------------------------------------------------


def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, (pd.Timestamp, dt.date)):
        raise TypeError("dates are not stored")  # no headline holds one; refuse rather than change its type
    raise TypeError(f"cannot store a {type(v).__name__}")


def encode(h: Headline) -> str:
    """A headline as JSON that :func:`decode` turns back into an equal headline (floats exactly, NaN kept)."""
    ex = h.exceptions
    return json.dumps({
        "kpis": [dataclasses.asdict(k) for k in h.kpis],
        "columns": [str(c) for c in ex.columns],
        "dtypes": [str(t) for t in ex.dtypes],
        "rows": [list(r) for r in ex.itertuples(index=False, name=None)],
        "note": h.note, "empty_reason": h.empty_reason,
    }, default=_plain, allow_nan=True)


def decode(text: str) -> Headline:
    d = json.loads(text)
    ex = pd.DataFrame(d["rows"], columns=d["columns"]) if d["rows"] else pd.DataFrame(columns=d["columns"])
    for c, t in zip(d["columns"], d["dtypes"], strict=True):
        if t == "object":
            ex[c] = ex[c].astype(object)
        else:
            ex[c] = ex[c].astype(t)
    return Headline(kpis=tuple(Kpi(**k) for k in d["kpis"]), exceptions=ex, note=d["note"],
                    empty_reason=d["empty_reason"])


# --- reading and writing -------------------------------------------------------------------------------


def _stored(session: Session, keys: Iterable[str], ver: str,
            read: Callable[[str], Any] = decode) -> dict[str, Any]:
    """The rows of ``keys`` stored at version ``ver``, each payload decoded by ``read``; a payload that cannot
    be decoded is left out (computed again)."""
    keys = list(keys)
    out: dict[str, Any] = {}
    if not keys:
        return out
    rows = session.execute(select(HeadlineStore.key, HeadlineStore.payload)
                           .where(HeadlineStore.key.in_(keys), HeadlineStore.version == ver)).all()
    for k, payload in rows:
        try:
            out[k] = read(payload)
        except (ValueError, TypeError, KeyError):
            log.warning("stored row %s could not be read; computing it again", k[:12])
    return out


def _row(key: str, domain: str, ver: str, payload: str) -> dict[str, Any]:
    return {"key": key, "domain": domain, "version": ver, "payload": payload,
            "computed_at": dt.datetime.now(dt.UTC).replace(tzinfo=None)}


def _write(conn: Connection, rows: list[dict[str, Any]], ver: str) -> None:
    t = HeadlineStore
    conn.execute(delete(t).where(t.version != ver))
    conn.execute(delete(t).where(t.key.in_([r["key"] for r in rows])))
    conn.execute(insert(t), rows)


def _store(session: Session, rows: list[dict[str, Any]], ver: str) -> None:
    """Write ``rows`` in their own transaction, best effort (see the module docstring)."""
    if not rows:
        return
    bind = session.get_bind()
    if not isinstance(bind, Engine):  # a session bound to one connection: nothing to write through
        return
    sqlite = bind.dialect.name == "sqlite"
    try:
        # the read session's bind carries the read-only option; this short write must take the write lock
        with bind.connect().execution_options(**{READ_ONLY_OPTION: False}) as conn:
            raw = conn.connection.driver_connection if sqlite else None
            if raw is not None:  # wait briefly for the write lock, then give up: the page has its headline
                old = raw.execute("PRAGMA busy_timeout").fetchone()[0]
                raw.execute(f"PRAGMA busy_timeout={int(SQLITE_WAIT_MS)}")
            try:
                with conn.begin():
                    _write(conn, rows, ver)
            finally:
                if raw is not None:
                    raw.execute(f"PRAGMA busy_timeout={int(old)}")
    except SQLAlchemyError as exc:
        log.warning("headlines not stored (%s); they are computed again on the next load", type(exc).__name__)


def headlines(session: Session, viewer: Viewer, filters: Filters,
              domains: Iterable[Domain]) -> tuple[list[tuple[Domain, Headline]], list[tuple[Domain, Exception]]]:
    """Each domain's headline for ``viewer`` and ``filters``: stored when it is, computed (and stored) when not.

    Returns ``([(domain, headline)], [(domain, error)])``: a domain whose headline raised is in the second
    list (nothing is stored for it), so a caller can list what it could not read. Each computation runs in
    a savepoint, so a failed read does not spoil the session for the next domain.
    """
    doms = [d for d in domains if d.headline is not None]
    use = usable(session)
    ver = version(session) if use else ""
    keys = {d.id: key(d, viewer, filters) for d in doms}
    found = _stored(session, keys.values(), ver) if use else {}
    out: list[tuple[Domain, Headline]] = []
    failed: list[tuple[Domain, Exception]] = []
    new: list[dict[str, Any]] = []
    for d in doms:
        h = found.get(keys[d.id])
        if h is None:
            try:
                with session.begin_nested():
                    assert d.headline is not None
                    h = d.headline(session, viewer=viewer, filters=filters)
            except Exception as exc:  # noqa: BLE001 - the caller lists what it could not read
                failed.append((d, exc))
                continue
            if use:
                try:
                    new.append(_row(keys[d.id], d.id, ver, encode(h)))
                except (TypeError, ValueError) as exc:
                    log.warning("the %s headline cannot be stored (%s); it is computed on every load", d.id, exc)
        out.append((d, h))
    if use:
        _store(session, new, ver)
    return out, failed


def headline(session: Session, viewer: Viewer, filters: Filters, domain: Domain) -> Headline:
    """One domain's headline (stored or computed); raises what the domain's headline raises."""
    got, failed = headlines(session, viewer, filters, [domain])
    if failed:
        raise failed[0][1]
    return got[0][1]


# --- stored sums: a vendor's figures that no aggregate keys ---------------------------------------------


def sums_key(name: str, viewer: Viewer, parts: Sequence[str]) -> str:
    """The stored row's key for :func:`stored_sums`: a SHA-256 of ``name``, the viewer's scope and ``parts``."""
    text = "\n".join((name, scope_key(viewer), *parts))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def encode_sums(df: pd.DataFrame) -> str:
    """A frame of float64 columns with a string index as JSON (floats exactly, NaN kept)."""
    if not all(str(t) == "float64" for t in df.dtypes):
        raise TypeError("only float64 sums are stored")
    return json.dumps({"index": [str(i) for i in df.index], "columns": [str(c) for c in df.columns],
                       "values": df.to_numpy(dtype="float64").tolist()}, allow_nan=True)


def decode_sums(text: str) -> pd.DataFrame:
    d = json.loads(text)
    values = np.array(d["values"], dtype="float64").reshape(len(d["index"]), len(d["columns"]))
    return pd.DataFrame(values, index=list(d["index"]), columns=list(d["columns"]))


def stored_sums(session: Session, name: str, viewer: Viewer, parts: Sequence[str],
                compute: Callable[[], pd.DataFrame]) -> pd.DataFrame:
    """``compute()`` (a frame of float64 sums, its index strings) for the viewer's scope and ``parts`` (what
    else it depends on, such as the weeks and the filters), stored at the current data version like a
    headline, with the same rules (a read session only; the version read before computing; stored best effort
    in its own transaction; a row that cannot be read is computed again).

    For figures no aggregate table holds because they are scoped to one vendor (a carrier's or a 3PL's own
    weekly review sums read from their fact rows): the first load after a write computes them, every later
    load at that version, from any app process, reads them back. ``name`` says what they are (stored in the
    ``domain`` column, at most 32 characters)."""
    if not usable(session):
        return compute()
    ver = version(session)
    k = sums_key(name, viewer, parts)
    found = _stored(session, [k], ver, decode_sums).get(k)
    if found is not None:
        return found
    df = compute()
    try:
        text = encode_sums(df)
    except (TypeError, ValueError) as exc:
        log.warning("%s cannot be stored (%s); they are computed on every load", name, exc)
        return df
    _store(session, [_row(k, name[:32], ver, text)], ver)
    return df
