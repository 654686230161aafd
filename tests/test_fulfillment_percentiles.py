"""Click-to-ship percentiles read from the half-hour histograms against numpy's exact ones.

On the default demo data set (size "default", seed 42), for several date ranges and every
breakdown, the percentiles the fulfilment page and the SLA export show (median, p90 and p99 of
calendar and business click-to-ship hours, and the median tile of the KPI weeks) are compared with
``np.percentile(method="linear")`` over the raw lines, computed in plain pandas
(``tests.test_fulfillment_raw.raw_lines``, never through ``ops.fulfillment``). Every line is known to
half an hour, so each figure must be within a quarter of an hour of exact (the product promises 0.5 h).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, text

from ops import fulfillment as ful
from ops.access import SYSTEM, Viewer
from ops.db import make_engine, transaction
from ops.filters import Filters
from ops.models import Base
from tests.conftest import BACKENDS, private_pg_database
from tests.test_fulfillment_raw import data_now, raw_lines

TOLERANCE_H = 0.25 + 1e-9
QS = {"median": 50, "p90": 90, "p99": 99}


@pytest.fixture(scope="module", params=BACKENDS)
def default_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The default demo data set (what ``python -m ops seed`` writes), once per backend."""
    from ops.demo import seed

    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('default') / 'ops.db'}")
        Base.metadata.create_all(eng)
        seed(eng, size="default", seed=42)
        yield eng
        eng.dispose()
    else:
        with private_pg_database() as url:
            eng = make_engine(url)
            Base.metadata.create_all(eng)
            seed(eng, size="default", seed=42)
            yield eng
            eng.dispose()


@pytest.fixture(scope="module")
def lines(default_engine: Engine) -> pd.DataFrame:
    """Raw lines with their group labels (codes, "(none)" for none), in plain pandas."""
    df = raw_lines(default_engine)
    with default_engine.connect() as c:
        orders = pd.read_sql("SELECT id AS order_id, channel_id FROM orders", c)
        carrier = pd.read_sql("SELECT order_id, min(carrier_id) AS carrier_id FROM shipments GROUP BY order_id", c)
        codes = {t: pd.read_sql(f"SELECT id, code FROM {t}", c).set_index("id")["code"]  # noqa: S608 - constants
                 for t in ("warehouses", "channels", "carriers")}
    df = df.merge(orders, on="order_id", how="left").merge(carrier, on="order_id", how="left")
    for col, table in (("warehouse_id", "warehouses"), ("channel_id", "channels"), ("carrier_id", "carriers")):
        df[col.removesuffix("_id")] = df[col].map(codes[table]).fillna(ful.NONE_LABEL)
    df["all"] = "All"
    return df[df["c2s_h"].notna()].reset_index(drop=True)


def _exact(df: pd.DataFrame, by: str) -> pd.DataFrame:
    rows = []
    for g, part in df.groupby(by):
        row: dict[str, object] = {"group": g}
        for measure, col in (("c2s", "c2s_h"), ("c2s_bus", "c2s_bus_h")):
            for name, q in QS.items():
                row[f"{measure}_{name}_h"] = float(np.percentile(part[col].to_numpy(dtype=float), q, method="linear"))
        rows.append(row)
    return pd.DataFrame(rows).set_index("group")


def _ranges(now: pd.Timestamp) -> list[tuple[dt.date | None, dt.date | None]]:
    last = (now - pd.Timedelta(days=1)).date()
    day = dt.timedelta(days=1)
    return [(None, None), (last - 89 * day, last), (last - 200 * day, last - 170 * day), (last - 6 * day, last)]


def _in_range(df: pd.DataFrame, a: dt.date | None, z: dt.date | None) -> pd.DataFrame:
    keep = pd.Series(True, index=df.index)
    if a:
        keep &= df["day"] >= pd.Timestamp(a)
    if z:
        keep &= df["day"] <= pd.Timestamp(z)
    return df[keep]


@pytest.mark.parametrize("by", ["all", "warehouse", "channel", "carrier"])
def test_summary_percentiles_within_a_quarter_hour_of_exact(default_engine: Engine, lines: pd.DataFrame,
                                                            by: str) -> None:
    checked = 0
    for a, z in _ranges(data_now(default_engine)):
        flt = Filters(date_from=a, date_to=z)
        with transaction(default_engine) as s:
            got = ful.sla_summary(s, viewer=SYSTEM, filters=flt, by=by, exact=False)
        assert not bool(got["exact"].any())  # read from the histograms, not the raw lines
        got = got[got["c2s_lines"] > 0].set_index("group")
        want = _exact(_in_range(lines, a, z), by)
        assert sorted(got.index) == sorted(want.index)
        diff = (got[want.columns] - want.loc[got.index]).abs()
        assert float(diff.max().max()) <= TOLERANCE_H, (a, z, by, diff.max())
        checked += diff.size
    assert checked >= 4 * 6


def test_page_percentiles_and_median_tile_for_a_vendor(default_engine: Engine, lines: pd.DataFrame) -> None:
    """The page's own load (summary by channel and the KPI weeks' median tile) for a 3PL, against exact."""
    now = data_now(default_engine)
    with default_engine.connect() as c:
        wh = pd.read_sql("SELECT id, code, operator_code FROM warehouses WHERE operator_code IS NOT NULL", c)
    assert len(wh) > 0
    viewer = Viewer(username="tpl", role="vendor", vendor_kind="warehouse",
                    vendor_code=str(wh["operator_code"].iloc[0]))
    mine = lines[lines["warehouse_id"].isin(wh.loc[wh["operator_code"] == viewer.vendor_code, "id"])]
    last = (now - pd.Timedelta(days=1)).date()
    flt = Filters(date_from=last - dt.timedelta(days=59), date_to=last)
    with transaction(default_engine) as s:
        page = ful.fulfillment_page(s, viewer=viewer, filters=flt, by="channel")
    got = page.summary[page.summary["c2s_lines"] > 0].set_index("group")
    assert not bool(got["exact"].any())
    want = _exact(_in_range(mine, flt.date_from, flt.date_to), "channel")
    assert sorted(got.index) == sorted(want.index)
    assert float((got[want.columns] - want.loc[got.index]).abs().max().max()) <= TOLERANCE_H
    kpi = page.kpis.set_index("kpi")
    for col, (a, z) in (("value", (last - dt.timedelta(days=6), last)),
                        ("previous", (last - dt.timedelta(days=13), last - dt.timedelta(days=7)))):
        exact = float(np.percentile(_in_range(mine, a, z)["c2s_h"].to_numpy(dtype=float), 50, method="linear"))
        assert abs(float(kpi.loc["c2s_median_h", col]) - exact) <= TOLERANCE_H, col


def test_histogram_view_counts_every_line_in_its_bucket(default_engine: Engine, lines: pd.DataFrame) -> None:
    now = data_now(default_engine)
    last = (now - pd.Timedelta(days=1)).date()
    flt = Filters(date_from=last - dt.timedelta(days=29), date_to=last)
    with transaction(default_engine) as s:
        got = ful.hours_histogram(s, viewer=SYSTEM, filters=flt, measure="c2s_bus")
    part = _in_range(lines, flt.date_from, flt.date_to)["c2s_bus_h"]
    want = pd.Series(np.searchsorted(np.asarray(ful.HIST_EDGES, dtype=float), part.to_numpy(), side="right"))
    assert got.set_index("bucket")["lines"].to_dict() == want.value_counts().sort_index().to_dict()


@pytest.mark.parametrize("who", ["staff", "3pl"])
def test_window_percentiles_from_warehouse_cells_equal_the_cells_per_channel_seller_and_carrier(
        default_engine: Engine, lines: pd.DataFrame, who: str) -> None:
    """Whoever sees whole warehouses reads the warehouse-wide cells: within a quarter hour of exact, and equal to
    what the per-channel, seller and carrier cells give (a database refreshed before those cells existed)."""
    now = data_now(default_engine)
    last = (now - pd.Timedelta(days=1)).date()
    viewer, mine = SYSTEM, lines
    if who == "3pl":
        with default_engine.connect() as c:
            wh = pd.read_sql("SELECT id, operator_code FROM warehouses WHERE operator_code IS NOT NULL", c)
        viewer = Viewer(username="tpl", role="vendor", vendor_kind="warehouse",
                        vendor_code=str(wh["operator_code"].iloc[0]))
        mine = lines[lines["warehouse_id"].isin(wh.loc[wh["operator_code"] == viewer.vendor_code, "id"])]
    rng = (last - dt.timedelta(days=44), last)
    week = (last - dt.timedelta(days=13), last - dt.timedelta(days=7))
    windows = [ful.Window("range", *rng, grouped=True),
               ful.Window("week", *week, grouped=False, measures=("c2s",), qs=(("median", 0.5),))]
    with transaction(default_engine) as s:
        got = ful.window_percentiles(s, viewer=viewer, by="warehouse", windows=windows)
        s.execute(text("DELETE FROM agg_fulfil_hours_cells WHERE channel_id = -1"))
        s.execute(text("DELETE FROM agg_fulfil_hours WHERE channel_id = -1"))
        per_cell = ful.window_percentiles(s, viewer=viewer, by="warehouse", windows=windows)
        s.rollback()
    want = _exact(_in_range(mine, *rng), "warehouse")
    r = got["range"].set_index("group")
    assert sorted(r.index) == sorted(want.index)
    assert float((r[want.columns] - want.loc[r.index]).abs().max().max()) <= TOLERANCE_H
    exact = float(np.percentile(_in_range(mine, *week)["c2s_h"].to_numpy(dtype=float), 50, method="linear"))
    assert list(got["week"]["group"]) == ["All"]
    assert abs(float(got["week"]["c2s_median_h"].iloc[0]) - exact) <= TOLERANCE_H
    for name in ("range", "week"):
        pd.testing.assert_frame_equal(got[name], per_cell[name])
