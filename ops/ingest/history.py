"""The import history shown on the Imports page (``import_runs``, newest first).

A refused import has status ``refused``, no ``finished_at`` (no data arrived) and its problem
count in ``problems``; ``rows_in`` is what was read before the refusal and ``rows_changed`` 0.
``import_runs`` has no column for the count, so :func:`ops.ingest.run_import` appends it to
``source`` as `` (refused: N problems)`` and this module reads it back into its own column.
"""

from __future__ import annotations

import re

import pandas as pd
from sqlalchemy import select
from sqlalchemy.orm import Session

from ops.access import Viewer, data_function, require_role
from ops.exports import register
from ops.filters import Filters
from ops.models import ImportRun

HISTORY_ROLES = ("admin", "manager")
COLUMNS = ["id", "kind", "source", "actor", "started_at", "finished_at", "rows_in", "rows_changed", "status",
           "sha256"]
_REFUSED_NOTE = re.compile(r" \(refused: ([\d,]+) problems?\)$")


def _split_note(source: str) -> tuple[str, int]:
    m = _REFUSED_NOTE.search(source or "")
    if m is None:
        return source, 0
    return source[: m.start()], int(m[1].replace(",", ""))


@register("import_history", title="Recent imports", page="imports")
@data_function
def import_history(session: Session, *, viewer: Viewer, filters: Filters | None = None,
                   limit: int = 100) -> pd.DataFrame:
    """The ``limit`` most recent imports, refused ones included, and seeds, newest first (admins and managers).

    Returns
    -------
    DataFrame with columns ``id`` (int64), ``kind`` (str), ``source`` (str), ``actor`` (str),
    ``started_at`` (datetime64), ``finished_at`` (datetime64, NaT for a refused import),
    ``rows_in`` (int64), ``rows_changed`` (int64), ``status`` (str: ``ok`` or ``refused``),
    ``problems`` (int64: problems that refused the import; 0 when it loaded), ``sha256`` (str).
    """
    require_role(viewer, *HISTORY_ROLES)
    stmt = select(*(getattr(ImportRun, c) for c in COLUMNS)).order_by(ImportRun.id.desc()).limit(limit)
    df = pd.DataFrame(session.execute(stmt).all(), columns=COLUMNS)
    for c in ("started_at", "finished_at"):
        df[c] = pd.to_datetime(df[c])
    split = [_split_note(s) for s in df["source"]]
    df["source"] = [s for s, _ in split]
    df.insert(COLUMNS.index("status") + 1, "problems", [n for _, n in split])
    return df.astype({"id": "int64", "rows_in": "int64", "rows_changed": "int64", "problems": "int64"})
