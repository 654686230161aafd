"""Vendors see when data last arrived, never what every import held (issue 10 finding 11)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, func, select

from ops.db import read_session
from ops.exports import run, to_bytes
from ops.filters import Filters
from ops.freshness import data_freshness
from ops.models import ImportRun
from tests.test_app_roles import viewer_for

STAFF_COLUMNS = ["kind", "source", "actor", "finished_at", "rows_in", "rows_changed", "status"]


@pytest.mark.parametrize("role", ["supplier", "carrier", "3pl"])
def test_a_vendor_sees_only_when_data_last_arrived(seeded_engine: Engine, role: str) -> None:
    viewer = viewer_for(role, seeded_engine)
    with read_session(seeded_engine) as s:
        df = data_freshness(s, viewer=viewer)
        exported = run(s, "data_freshness", viewer=viewer, filters=Filters())
        last = s.scalar(select(func.max(ImportRun.finished_at)).where(ImportRun.status == "ok"))
    assert list(df.columns) == ["finished_at"]  # before: kind, source, actor, rows_in, rows_changed, status
    assert df["finished_at"].tolist() == [last]
    assert list(exported.columns) == ["finished_at"]
    for fmt in ("csv", "json"):
        text = to_bytes(exported, fmt, sheet="data_freshness").decode("utf-8-sig").lower()
        assert "seed" not in text and "rows" not in text and "demo" not in text


@pytest.mark.parametrize("role", ["admin", "manager", "planner"])
def test_staff_still_see_each_import(seeded_engine: Engine, role: str) -> None:
    with read_session(seeded_engine) as s:
        df = data_freshness(s, viewer=viewer_for(role, seeded_engine))
    assert list(df.columns) == STAFF_COLUMNS
    assert df["kind"].tolist() == ["seed"] and int(df["rows_in"].iloc[0]) > 0


def test_a_vendor_before_any_import_sees_nothing(engine: Engine) -> None:
    from ops.access import Viewer

    with read_session(engine) as s:
        df = data_freshness(s, viewer=Viewer(username="v", role="vendor", vendor_kind="carrier", vendor_code="X"))
    assert list(df.columns) == ["finished_at"] and df.empty
    assert df["finished_at"].dropna().empty  # what the sidebar reads: "Last import never"
