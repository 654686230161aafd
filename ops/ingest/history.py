"""The import history shown on the Imports page (``import_runs``, newest first)."""

from __future__ import annotations

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


@register("import_history", title="Recent imports", page="imports")
@data_function
def import_history(session: Session, *, viewer: Viewer, filters: Filters | None = None,
                   limit: int = 100) -> pd.DataFrame:
    """The ``limit`` most recent imports and seeds, newest first (admins and managers only).

    Returns
    -------
    DataFrame with columns ``id`` (int64), ``kind`` (str), ``source`` (str), ``actor`` (str),
    ``started_at`` (datetime64), ``finished_at`` (datetime64), ``rows_in`` (int64),
    ``rows_changed`` (int64), ``status`` (str), ``sha256`` (str).
    """
    require_role(viewer, *HISTORY_ROLES)
    stmt = select(*(getattr(ImportRun, c) for c in COLUMNS)).order_by(ImportRun.id.desc()).limit(limit)
    df = pd.DataFrame(session.execute(stmt).all(), columns=COLUMNS)
    for c in ("started_at", "finished_at"):
        df[c] = pd.to_datetime(df[c])
    return df.astype({"id": "int64", "rows_in": "int64", "rows_changed": "int64"})
