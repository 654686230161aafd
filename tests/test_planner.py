"""Reorder planner: the plan against hand computation from the raw rows, the planted stockout on the
default seed, approvals (one transaction, stale refused, idempotent), shared drafts, scenarios."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterator
from pathlib import Path
from statistics import NormalDist

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, func, select, text
from sqlalchemy.orm import Session

from ops import planner as pl
from ops.access import AccessDenied, Viewer
from ops.db import make_engine, read_session, run_in_transaction, transaction
from ops.decisions import StaleEdit, ValidationError
from ops.models import (
    AggInventoryPair,
    Base,
    Decision,
    PlannerApproval,
    Product,
    PurchaseOrder,
    PurchaseOrderLine,
    Supplier,
    Warehouse,
)
from ops.planner import math as rm
from ops.planner import queries
from tests.conftest import BACKENDS, private_pg_database

PAT = Viewer(username="pat", role="planner")
MEG = Viewer(username="meg", role="manager")
# The small demo holds enough stock that the default policy orders nothing: plan a longer review
# period at a higher service level so there are lines to check, approve and share.
BUSY = pl.Policy(service_level=0.99, review_days=28.0)


def _plan(s: Session, viewer: Viewer = PAT, policy: pl.Policy | None = None, lead: bool = True) -> pd.DataFrame:
    inputs = queries.planning_inputs(s, viewer=viewer)
    return pl.compute_plan(inputs, queries.open_po_lines(s, viewer=viewer), policy=policy,
                           lead=queries.lead_times(s, viewer=viewer) if lead else None,
                           forecast=queries.forecast_demand(s, viewer=viewer))


# --- the plan, by hand from the raw rows ------------------------------------------------------


def _raw_open_on_order(s: Session, as_of: dt.date) -> pd.DataFrame:
    """Open PO units per product x warehouse from the raw PO tables, with plain pandas."""
    po = pd.read_sql(text("SELECT id, warehouse_id, status, ordered_on FROM purchase_orders"), s.connection())
    ln = pd.read_sql(text("SELECT po_id, product_id, qty_ordered, qty_received FROM purchase_order_lines"),
                     s.connection())
    m = ln.merge(po, left_on="po_id", right_on="id")
    m["open"] = m["qty_ordered"] - m["qty_received"]
    m = m[(m["status"] == "open") & (m["open"] > 0) & (pd.to_datetime(m["ordered_on"]).dt.date <= as_of)]
    return m.groupby(["product_id", "warehouse_id"], as_index=False)["open"].sum()


def _raw_lead_times(s: Session) -> pd.DataFrame:
    """Mean and sample spread (ddof 1) of received PO lines' days per supplier, with plain pandas."""
    po = pd.read_sql(text("SELECT p.ordered_on, l.received_on, s.code AS supplier FROM purchase_order_lines l "
                          "JOIN purchase_orders p ON p.id = l.po_id JOIN suppliers s ON s.id = p.supplier_id "
                          "WHERE l.received_on IS NOT NULL"), s.connection())
    po["days"] = (pd.to_datetime(po["received_on"]) - pd.to_datetime(po["ordered_on"])).dt.days
    by = po.groupby("supplier")["days"].agg(["mean", "std", "size"])
    return by[by["size"] >= 2]


def test_plan_matches_hand_computation_from_raw_rows(seeded_engine: Engine) -> None:
    """S, IP and the rounded order of every SKU x warehouse from the raw columns and raw PO rows."""
    with read_session(seeded_engine) as s:
        plan = _plan(s, policy=BUSY)
        agg = pd.read_sql(text("SELECT product_id, warehouse_id, supplier, on_hand, wk_units, wk_sumsq, "
                               "lead_time_days, as_of FROM agg_inventory_pair"), s.connection())
        prod = pd.read_sql(text("SELECT id AS product_id, moq, case_pack, active FROM products"), s.connection())
        as_of = pd.to_datetime(agg["as_of"].iloc[0]).date()
        on_order = _raw_open_on_order(s, as_of)
        lead = _raw_lead_times(s)
    df = agg.merge(prod, on="product_id")
    df = df[df["active"].astype(bool)].merge(on_order, on=["product_id", "warehouse_id"], how="left")
    df["open"] = df["open"].fillna(0)
    measured = df["supplier"].isin(lead.index)
    lt = np.where(measured, df["supplier"].map(lead["mean"]), df["lead_time_days"])
    lsd = np.where(measured, df["supplier"].map(lead["std"]), 0.0)
    z = NormalDist().inv_cdf(0.99)
    mean_w = df["wk_units"] / 52.0
    mu = mean_w / 7.0
    sd_d = np.sqrt(np.maximum(df["wk_sumsq"] / 52.0 - mean_w**2, 0) / 7.0)
    p = lt + 28.0
    s_level = mu * p + z * np.sqrt(p * sd_d**2 + mu**2 * lsd**2)
    need = s_level - (df["on_hand"] + df["open"])
    packs = np.ceil(np.maximum(need, df["moq"]) / df["case_pack"] - 1e-9)
    df["want_qty"] = np.where(need > 0, packs * df["case_pack"], 0).astype(int)
    df["want_s"] = s_level
    got = plan.merge(df[["product_id", "warehouse_id", "want_qty", "want_s", "open"]],
                     on=["product_id", "warehouse_id"], validate="one_to_one")
    assert len(got) == len(plan) == len(df) > 50
    np.testing.assert_allclose(got["order_up_to"], got["want_s"], rtol=1e-9)
    assert (got["on_order"] == got["open"]).all()
    assert (got["suggested_qty"] == got["want_qty"]).all()
    assert (got["suggested_qty"] > 0).sum() >= 3  # not a trivial pass: there is something to order
    assert (got["suggested_qty"] % got["case_pack"] == 0).all()
    assert measured.any() and (plan["lead_time_source"] == "measured").sum() == measured.sum()


# --- the planted stockout on the default seed -------------------------------------------------


@pytest.fixture(scope="module", params=BACKENDS)
def default_engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """The default demo (size "default", seed 42: ``ops.demo.anomalies()``), once per backend."""
    from ops.demo import seed

    if request.param == "sqlite":
        eng = make_engine(f"sqlite:///{tmp_path_factory.mktemp('plan_default') / 'ops.db'}")
        Base.metadata.create_all(eng)
        seed(eng)
        yield eng
        eng.dispose()
    else:
        with private_pg_database() as url:
            eng = make_engine(url)
            Base.metadata.create_all(eng)
            seed(eng)
            yield eng
            eng.dispose()


def test_planted_stockout_is_critical_and_its_explanation_names_the_late_po(default_engine: Engine) -> None:
    from ops.demo import anomalies

    a = anomalies()
    with read_session(default_engine) as s:
        plan = _plan(s)
        # Independent facts from the raw rows: on hand on the last snapshot day, the PO's expected day,
        # the stated lead time and the last 28 days' demand at that warehouse.
        raw = s.execute(text(
            "SELECT i.on_hand, i.day, p.lead_time_days FROM inventory_snapshots i JOIN products p ON p.id = "
            "i.product_id JOIN warehouses w ON w.id = i.warehouse_id WHERE p.sku = :sku AND w.code = :wh "
            "ORDER BY i.day DESC LIMIT 1"), {"sku": a.stockout_sku, "wh": a.stockout_warehouse}).one()
        po = s.execute(select(PurchaseOrder.status, PurchaseOrder.expected_on)
                       .where(PurchaseOrder.po_number == a.stockout_po)).one()
    on_hand, as_of, lead = int(raw[0]), pd.Timestamp(raw[1]).date(), int(raw[2])
    assert po.status == "open" and (po.expected_on - as_of).days > 10
    row = plan[(plan["sku"] == a.stockout_sku) & (plan["warehouse"] == a.stockout_warehouse)].iloc[0]
    assert row["on_hand"] == on_hand
    assert row["cover_days"] < (po.expected_on - as_of).days and row["cover_days"] < lead
    assert row["urgency"] == "critical"
    assert row["suggested_qty"] > 0 and row["suggested_qty"] % row["case_pack"] == 0
    assert row["open_po"] == a.stockout_po and bool(row["late_po"])
    # the most urgent lines come first on the page, and this one is among them
    lines = pl.page.suggested_lines(plan)
    assert a.stockout_sku in set(lines[lines["urgency"] == "critical"]["sku"])
    words = " ".join(pl.explain(plan, a.stockout_sku))
    assert a.stockout_po in words and "late" in words and "expedite" in words
    assert f"{int(row['suggested_qty']):,} units" in words


# --- approvals ---------------------------------------------------------------------------------


@pytest.fixture
def seeded(engine: Engine) -> Engine:
    from ops.demo import seed

    seed(engine, size="small", seed=7)
    return engine


def _lines(plan: pd.DataFrame, n: int = 3) -> pd.DataFrame:
    shown = pl.page.suggested_lines(plan)
    shown = shown[shown["suggested_qty"] > 0].head(n)[["sku", "warehouse", "supplier", "suggested_qty"]].copy()
    shown["qty"] = shown["suggested_qty"]
    return shown.reset_index(drop=True)


def _count(eng: Engine, model: type) -> int:
    with read_session(eng) as s:
        return int(s.scalar(select(func.count()).select_from(model)) or 0)


def test_approve_writes_open_pos_and_audit_rows_and_the_inventory_sees_them(
        seeded: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    from ops.inventory import refresh_inventory

    monkeypatch.setitem(pl.approve.__globals__, "REFRESH_CHUNK", 2)  # the chunked path, with 3 SKUs

    with read_session(seeded) as s:
        plan = _plan(s, policy=BUSY)
    lines = _lines(plan)
    first = plan[(plan["sku"] == lines.at[0, "sku"]) & (plan["warehouse"] == lines.at[0, "warehouse"])].iloc[0]
    lines.at[0, "qty"] = int(lines.at[0, "suggested_qty"] + first["case_pack"])  # the planner's edit
    pos_before, audit_before = _count(seeded, PurchaseOrder), _count(seeded, Decision)
    res = run_in_transaction(seeded, lambda s: pl.approve(s, viewer=PAT, lines=lines, policy=BUSY,
                                                          idempotency_key="key-1", why="weekly run"))
    n_groups = lines.groupby(["supplier", "warehouse"]).ngroups
    assert res.created and len(res.po_numbers) == n_groups and res.lines == 3
    assert _count(seeded, PurchaseOrder) == pos_before + n_groups
    with read_session(seeded) as s:
        rows = pd.DataFrame(s.execute(
            select(PurchaseOrder.po_number, PurchaseOrder.status, PurchaseOrder.created_by, Product.sku,
                   Warehouse.code, PurchaseOrderLine.qty_ordered, PurchaseOrderLine.unit_cost, Product.unit_cost)
            .join(PurchaseOrderLine, PurchaseOrderLine.po_id == PurchaseOrder.id)
            .join(Product, Product.id == PurchaseOrderLine.product_id)
            .join(Warehouse, Warehouse.id == PurchaseOrder.warehouse_id)
            .where(PurchaseOrder.po_number.in_(res.po_numbers))).all(),
            columns=["po", "status", "by", "sku", "wh", "qty", "cost", "product_cost"])
        audit = s.execute(select(Decision.action, Decision.entity_key, Decision.outcome, Decision.after,
                                 Decision.vendor_code).where(Decision.action == "planner.po.approve")).all()
    assert set(rows["status"]) == {"open"} and set(rows["by"]) == {"pat"}
    got = dict(zip(zip(rows["sku"], rows["wh"], strict=True), rows["qty"], strict=True))
    want = dict(zip(zip(lines["sku"], lines["warehouse"], strict=True), lines["qty"].astype(int), strict=True))
    assert got == want
    assert (rows["cost"] == rows["product_cost"]).all()
    assert _count(seeded, Decision) == audit_before + n_groups
    assert sorted(a.entity_key for a in audit) == sorted(res.po_numbers)
    assert {a.outcome for a in audit} == {"applied"}
    assert all(json.loads(a.after)["status"] == "open" for a in audit)

    # The approval's own commit refreshed the open-PO aggregates of the SKUs ordered (in chunks of 2
    # SKUs here): the same rows a full rebuild gives, so the Inventory page lists the new POs as open.
    cols = "product_id, warehouse_id, po_number, qty_open, expected_on"
    with read_session(seeded) as s:
        targeted = pd.read_sql(text(f"SELECT {cols} FROM agg_inventory_po ORDER BY po_number, product_id"),  # noqa: S608
                               s.connection())
        pair_t = pd.read_sql(text("SELECT product_id, warehouse_id, on_order, next_po FROM agg_inventory_pair "
                                  "ORDER BY product_id, warehouse_id"), s.connection())
    assert set(res.po_numbers) <= set(targeted["po_number"])
    from ops.inventory.queries import read_open_pos

    with read_session(seeded) as s:  # what the Inventory page's "Open POs" table reads
        assert set(res.po_numbers) <= set(read_open_pos(s, viewer=MEG)["po_number"])
    run_in_transaction(seeded, refresh_inventory)
    with read_session(seeded) as s:
        full = pd.read_sql(text(f"SELECT {cols} FROM agg_inventory_po ORDER BY po_number, product_id"),  # noqa: S608
                           s.connection())
        pair_f = pd.read_sql(text("SELECT product_id, warehouse_id, on_order, next_po FROM agg_inventory_pair "
                                  "ORDER BY product_id, warehouse_id"), s.connection())
        open_pos = pl.planner_page(s, viewer=MEG).open_pos
    pd.testing.assert_frame_equal(targeted, full)
    pd.testing.assert_frame_equal(pair_t, pair_f)
    assert set(res.po_numbers) <= set(open_pos["po_number"])


def test_approving_twice_creates_one_set_of_pos(seeded: Engine) -> None:
    with read_session(seeded) as s:
        lines = _lines(_plan(s, policy=BUSY))
    first = run_in_transaction(seeded, lambda s: pl.approve(s, viewer=PAT, lines=lines, policy=BUSY,
                                                            idempotency_key="same-key"))
    pos, audit = _count(seeded, PurchaseOrder), _count(seeded, Decision)
    again = run_in_transaction(seeded, lambda s: pl.approve(s, viewer=PAT, lines=lines, policy=BUSY,
                                                            idempotency_key="same-key"))
    assert first.created and not again.created and again.po_numbers == first.po_numbers
    assert (_count(seeded, PurchaseOrder), _count(seeded, Decision)) == (pos, audit)
    assert _count(seeded, PlannerApproval) == 1


def test_a_stale_approval_is_refused_and_audited(seeded: Engine) -> None:
    with read_session(seeded) as s:
        lines = _lines(_plan(s, policy=BUSY), n=2)
        row = s.execute(select(Product.id, Product.supplier_id, Warehouse.id).join(Warehouse, Warehouse.code ==
                        lines.at[0, "warehouse"]).where(Product.sku == lines.at[0, "sku"])).one()
        as_of = s.scalar(select(AggInventoryPair.as_of).limit(1))
    # Meanwhile someone places a PO for the first line: its suggested quantity changes.
    with transaction(seeded) as s:
        po = PurchaseOrder(po_number="PO-MEANWHILE", supplier_id=row[1], warehouse_id=row[2], status="open",
                           ordered_on=as_of, expected_on=as_of + dt.timedelta(days=3), created_by="someone")
        s.add(po)
        s.flush()
        s.add(PurchaseOrderLine(po_id=po.id, product_id=row[0], qty_ordered=100_000, unit_cost=1.0))
    run_in_transaction(seeded, lambda s: pl.refresh_open_pos(s, [(row[0], row[2])]))
    pos, approvals = _count(seeded, PurchaseOrder), _count(seeded, PlannerApproval)
    with pytest.raises(StaleEdit, match=f"changed since they were shown: {lines.at[0, 'sku']}"):
        run_in_transaction(seeded, lambda s: pl.approve(s, viewer=PAT, lines=lines, policy=BUSY,
                                                        idempotency_key="stale-key"))
    assert (_count(seeded, PurchaseOrder), _count(seeded, PlannerApproval)) == (pos, approvals)
    with read_session(seeded) as s:
        refused = s.execute(select(Decision.outcome, Decision.actor).where(
            Decision.action == "planner.po.approve", Decision.entity_key == "stale-key")).all()
    assert refused == [("refused", "pat")]


def test_approval_is_one_transaction(seeded: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The audit write of the second PO fails: nothing of the first PO remains either."""
    with read_session(seeded) as s:
        plan = _plan(s, policy=BUSY)
    shown = pl.page.suggested_lines(plan)
    shown = shown[shown["suggested_qty"] > 0].drop_duplicates(["supplier", "warehouse"]).head(2)
    lines = shown[["sku", "warehouse", "supplier", "suggested_qty"]].assign(qty=shown["suggested_qty"])
    assert len(lines) == 2
    calls = {"n": 0}
    real = pl.approve.__globals__["decisions"].record

    def failing(*args: object, **kwargs: object) -> None:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("disk full")
        real(*args, **kwargs)

    monkeypatch.setattr(pl.approve.__globals__["decisions"], "record", failing)
    pos, audit = _count(seeded, PurchaseOrder), _count(seeded, Decision)
    with pytest.raises(RuntimeError):
        run_in_transaction(seeded, lambda s: pl.approve(s, viewer=PAT, lines=lines, policy=BUSY,
                                                        idempotency_key="atomic"))
    assert (_count(seeded, PurchaseOrder), _count(seeded, Decision), _count(seeded, PlannerApproval)) == (
        pos, audit, 0)


def test_a_failing_aggregate_refresh_rolls_the_approval_back(seeded: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    """The open-PO aggregates are refreshed inside the approval's transaction: when that fails, no PO,
    no audit row and no approval key remain, and the aggregates are as they were."""
    with read_session(seeded) as s:
        lines = _lines(_plan(s, policy=BUSY))
        agg_before = pd.read_sql(text("SELECT product_id, warehouse_id, po_number, qty_open FROM agg_inventory_po "
                                      "ORDER BY product_id, warehouse_id, po_number"), s.connection())
    called: list[object] = []

    def failing(session: Session, pairs: object) -> None:
        called.append(pairs)
        raise RuntimeError("refresh failed")

    monkeypatch.setitem(pl.approve.__globals__, "refresh_open_pos", failing)
    pos, audit = _count(seeded, PurchaseOrder), _count(seeded, Decision)
    with pytest.raises(RuntimeError, match="refresh failed"):
        run_in_transaction(seeded, lambda s: pl.approve(s, viewer=PAT, lines=lines, policy=BUSY,
                                                        idempotency_key="refresh-fails"))
    assert len(called) == 1
    assert (_count(seeded, PurchaseOrder), _count(seeded, Decision), _count(seeded, PlannerApproval)) == (
        pos, audit, 0)
    with read_session(seeded) as s:
        agg_after = pd.read_sql(text("SELECT product_id, warehouse_id, po_number, qty_open FROM agg_inventory_po "
                                     "ORDER BY product_id, warehouse_id, po_number"), s.connection())
    pd.testing.assert_frame_equal(agg_before, agg_after)


def test_bad_quantities_are_refused_naming_the_field(seeded: Engine) -> None:
    with read_session(seeded) as s:
        plan = _plan(s, policy=BUSY)
    packed = plan[(plan["suggested_qty"] > 0) & (plan["case_pack"] > 1)].iloc[0]
    lines = pd.DataFrame([{"sku": packed["sku"], "warehouse": packed["warehouse"], "supplier": packed["supplier"],
                           "suggested_qty": int(packed["suggested_qty"]), "qty": int(packed["suggested_qty"]) + 1}])
    with pytest.raises(ValidationError, match=rf"^qty: .*{packed['sku']}.*case pack"):
        run_in_transaction(seeded, lambda s: pl.approve(s, viewer=PAT, lines=lines, policy=BUSY,
                                                        idempotency_key="bad-1"))
    lines.at[0, "qty"] = -4
    with pytest.raises(ValidationError, match=r"^qty: -4 for .* whole number"):
        run_in_transaction(seeded, lambda s: pl.approve(s, viewer=PAT, lines=lines, policy=BUSY,
                                                        idempotency_key="bad-2"))
    lines.at[0, "qty"] = 0
    with pytest.raises(ValidationError, match=r"^qty: every quantity is 0"):
        run_in_transaction(seeded, lambda s: pl.approve(s, viewer=PAT, lines=lines, policy=BUSY,
                                                        idempotency_key="bad-3"))
    assert _count(seeded, PlannerApproval) == 0


def test_vendors_get_nothing_of_the_planner_but_their_shared_drafts(seeded: Engine) -> None:
    with read_session(seeded) as s:
        plan = _plan(s, viewer=MEG, policy=BUSY)
        codes = sorted(s.scalars(select(Supplier.code)))
    drafts = pl.draft_pos(plan)
    sup, wh = drafts.at[0, "supplier"], drafts.at[0, "warehouse"]
    other = next(c for c in codes if c != sup)
    lines = plan[(plan["supplier"] == sup) & (plan["warehouse"] == wh) & (plan["suggested_qty"] > 0)]
    frame = pd.DataFrame({"sku": lines["sku"], "qty": lines["suggested_qty"], "unit_cost": lines["unit_cost"],
                          "expected_on": drafts.at[0, "expected_on"]})
    with pytest.raises(AccessDenied):  # planners do not share; managers do
        run_in_transaction(seeded, lambda s: pl.share_draft(s, viewer=PAT, supplier=sup, warehouse=wh, lines=frame))
    n = run_in_transaction(seeded, lambda s: pl.share_draft(s, viewer=MEG, supplier=sup, warehouse=wh, lines=frame))
    assert n == len(lines) > 0
    mine = Viewer(username="sup", role="vendor", vendor_kind="supplier", vendor_code=sup)
    theirs = Viewer(username="oth", role="vendor", vendor_kind="supplier", vendor_code=other)
    carrier = Viewer(username="car", role="vendor", vendor_kind="carrier", vendor_code=sup)
    with read_session(seeded) as s:
        assert sorted(queries.shared_drafts(s, viewer=mine)["sku"]) == sorted(lines["sku"])
        assert set(queries.shared_drafts(s, viewer=mine)["supplier"]) == {sup}
        assert queries.shared_drafts(s, viewer=theirs).empty and queries.shared_drafts(s, viewer=carrier).empty
        for fn in (pl.planner_page, queries.planning_inputs, queries.open_po_lines, pl.list_scenarios):
            with pytest.raises(AccessDenied):
                fn(s, viewer=mine)
    with pytest.raises(AccessDenied):
        run_in_transaction(seeded, lambda s: pl.approve(s, viewer=mine, lines=_lines(plan), policy=BUSY,
                                                        idempotency_key="vendor"))


# --- scenarios -----------------------------------------------------------------------------------


def test_scenarios_are_saved_by_name_and_compared_side_by_side(seeded: Engine) -> None:
    with read_session(seeded) as s:
        inputs = queries.planning_inputs(s, viewer=PAT)
        open_pos = queries.open_po_lines(s, viewer=PAT)
    cat = inputs["category"].value_counts().index[0]
    busy = pl.Policy(service_level=0.99, review_days=28.0, demand_change={f"category:{cat}": 0.5})
    safer = pl.Policy(service_level=0.99)
    run_in_transaction(seeded, lambda s: pl.save_scenario(s, viewer=PAT, name="Promo", policy=busy))
    run_in_transaction(seeded, lambda s: pl.save_scenario(s, viewer=PAT, name="Safer", policy=safer))
    with pytest.raises(StaleEdit, match="was changed by pat"):  # overwriting needs the version read
        run_in_transaction(seeded, lambda s: pl.save_scenario(s, viewer=MEG, name="Promo", policy=safer))
    assert run_in_transaction(seeded, lambda s: pl.save_scenario(s, viewer=MEG, name="Promo", policy=busy,
                                                                 expected_version=1)) == 2
    with read_session(seeded) as s:
        saved = pl.list_scenarios(s, viewer=PAT)
        audit = s.scalar(select(func.count()).select_from(Decision).where(
            Decision.action == "planner.scenario.save", Decision.outcome == "applied"))
    assert list(saved["name"]) == ["Promo", "Safer"] and audit == 3
    pols = pl.policies(saved)
    assert pols["Promo"] == busy
    summary, by_supplier = pl.compare(inputs, open_pos, pols)
    assert list(summary.columns) == [pl.BASELINE, "Promo", "Safer"]
    base = pl.compute_plan(inputs, open_pos)
    assert summary.at["order_value", pl.BASELINE] == pytest.approx(base["order_value"].sum())
    assert summary.at["order_value", "Promo"] > pl.compute_plan(inputs, open_pos, policy=BUSY)["order_value"].sum() > 0
    assert summary.at["investment", "Safer"] > summary.at["investment", pl.BASELINE]
    assert summary.at["exp_short_units", "Safer"] < summary.at["exp_short_units", pl.BASELINE]
    # fill rate by hand: 1 - expected short units / demand of one review cycle
    cycle = (base["demand_per_day"] * base["review_days"]).sum()
    assert summary.at["fill_rate", pl.BASELINE] == pytest.approx(1 - base["exp_short_units"].sum() / cycle)
    assert summary.at["po_count", pl.BASELINE] == base[base["suggested_qty"] > 0].groupby(
        ["supplier", "warehouse"]).ngroups
    for name in (pl.BASELINE, "Promo", "Safer"):
        assert by_supplier[name].sum() == pytest.approx(summary.at["order_value", name])


def test_a_budget_cuts_the_lowest_priority_lines_first_and_says_so(seeded: Engine) -> None:
    with read_session(seeded) as s:
        inputs = queries.planning_inputs(s, viewer=PAT)
        open_pos = queries.open_po_lines(s, viewer=PAT)
    base = pl.compute_plan(inputs, open_pos, policy=BUSY)
    budget = float(base["order_value"].sum()) / 2
    capped = pl.compute_plan(inputs, open_pos, policy=pl.Policy(service_level=0.99, review_days=28.0, budget=budget))
    assert capped["order_value"].sum() <= budget
    kept = capped[capped["suggested_qty"] > 0]
    cut = capped[capped["cut_by_budget"]]
    assert len(cut) > 0 and kept["priority"].min() >= cut["priority"].max()
    assert (base.loc[cut.index, "suggested_qty"] > 0).all()
    assert f"cuts {len(cut)} of" in capped.attrs["budget_message"]


@pytest.mark.parametrize(("policy", "field"), [
    ({"service_level": 1.0}, "service_level"),
    ({"service_level": 0.995, "target": "fill_rate", "review_days": 0}, "review_days"),
    ({"moq_factor": 0}, "moq_factor"),
    ({"budget": -1.0}, "budget"),
    ({"demand_change": {"colour:red": 0.1}}, "demand_change"),
])
def test_impossible_scenarios_name_the_field(policy: dict, field: str) -> None:
    with pytest.raises(rm.InputError) as info:
        pl.Policy(**policy)
    assert str(info.value).startswith(field)


def test_a_lead_time_cut_below_zero_names_the_field_and_the_row(seeded_engine: Engine) -> None:
    with read_session(seeded_engine) as s:
        inputs = queries.planning_inputs(s, viewer=PAT)
        open_pos = queries.open_po_lines(s, viewer=PAT)
    sup = inputs["supplier"].iloc[0]
    with pytest.raises(rm.InputError, match=r"^lead_time_days: -\d+ for .* a lead time cannot be negative"):
        pl.compute_plan(inputs, open_pos, policy=pl.Policy(lead_time_change={sup: -1000}))


def test_the_fill_rate_target_meets_its_loss_function_value(seeded_engine: Engine) -> None:
    with read_session(seeded_engine) as s:
        inputs = queries.planning_inputs(s, viewer=PAT)
        open_pos = queries.open_po_lines(s, viewer=PAT)
    plan = pl.compute_plan(inputs, open_pos, policy=pl.Policy(target="fill_rate", service_level=0.98))
    live = plan[(plan["demand_per_day"] > 0) & (plan["demand_sd_per_day"] > 0)]
    sigma = np.sqrt((live["lead_time_days"] + 7) * live["demand_sd_per_day"] ** 2
                    + live["demand_per_day"] ** 2 * live["lead_time_sd_days"] ** 2)
    z = live["z"].to_numpy()
    loss = np.array([math.exp(-v * v / 2) / math.sqrt(2 * math.pi) - v * (1 - NormalDist().cdf(v)) for v in z])
    beta = 1 - sigma * loss / (live["demand_per_day"] * 7)
    np.testing.assert_allclose(beta[z > -3.9], 0.98, atol=1e-6)


def test_the_export_registry_holds_every_planner_table() -> None:
    from ops.exports import load_registry

    reg = load_registry()
    assert set(pl.EXPORTS) <= set(reg)
    assert {reg[n].page for n in pl.EXPORTS} == {"planner", "any"}



# --- sources: the forecast when there is one, stated lead times when nothing is measured ----------


def test_forecast_demand_replaces_history_split_by_warehouse_share(seeded_engine: Engine) -> None:
    with read_session(seeded_engine) as s:
        inputs = queries.planning_inputs(s, viewer=PAT)
        open_pos = queries.open_po_lines(s, viewer=PAT)
    two = inputs[inputs.groupby("sku")["sku"].transform("size") == 2]
    sku = str(two[two["sku_wk_units"] > 0]["sku"].iloc[0])
    fc = pd.DataFrame({"sku": [sku], "fc_week_mean": [70.0], "fc_sigma_week": [14.0], "fc_model": ["ets"]})
    plan = pl.compute_plan(inputs, open_pos, forecast=fc)
    rows = plan[plan["sku"] == sku]
    src = inputs[inputs["sku"] == sku]
    share = (src["wk_units"] / src["sku_wk_units"]).to_numpy()
    np.testing.assert_allclose(rows["demand_per_day"], share * 70.0 / 7.0)
    np.testing.assert_allclose(rows["demand_sd_per_day"], share * 14.0 / math.sqrt(7.0))
    assert set(rows["demand_source"]) == {"forecast"}
    assert set(plan.loc[plan["sku"] != sku, "demand_source"]) == {"history"}
    assert "forecast" in " ".join(pl.explain(plan, sku))


def test_without_the_scorecard_module_stated_lead_times_are_used_and_said(
        seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    real = queries.module_available
    monkeypatch.setattr(queries, "module_available", lambda name: False if name == queries.LEADTIME_MODULE
                        else real(name))
    with read_session(seeded_engine) as s:
        page = pl.planner_page(s, viewer=PAT)
        stated = pd.read_sql(text("SELECT product_id, warehouse_id, lead_time_days FROM agg_inventory_pair"),
                             s.connection())
    got = page.plan.merge(stated, on=["product_id", "warehouse_id"], suffixes=("", "_raw"))
    assert set(page.plan["lead_time_source"]) == {"stated"} and (page.plan["lead_time_sd_days"] == 0).all()
    assert (got["lead_time_days"] == got["lead_time_days_raw"]).all()
    assert any("No measured lead times yet" in n for n in page.notes)


@pytest.mark.parametrize(("moq", "case_pack", "field", "words"), [
    (0, 1, "moq", "at least 1"),
    (10, 4, "case_pack", "divide the minimum order quantity"),
])
def test_impossible_master_data_is_refused_naming_the_field_and_the_sku(
        seeded: Engine, moq: int, case_pack: int, field: str, words: str) -> None:
    with transaction(seeded) as s:
        sku = s.scalar(select(Product.sku).where(Product.active.is_(True)).order_by(Product.sku).limit(1))
        s.execute(Product.__table__.update().where(Product.sku == sku).values(moq=moq, case_pack=case_pack))
    with read_session(seeded) as s, pytest.raises(rm.InputError) as info:
        pl.planner_page(s, viewer=PAT)
    assert str(info.value).startswith(f"{field}: ") and f"for {sku} in " in str(info.value)
    assert words in str(info.value)


def test_two_concurrent_presses_write_one_set_of_pos_and_the_erp_file_holds_it(seeded: Engine) -> None:
    import threading

    from ops.exports import to_bytes
    from ops.filters import Filters
    from ops.planner.exports import export_erp_pos

    with read_session(seeded) as s:
        lines = _lines(_plan(s, policy=BUSY))
    results: list[object] = []

    def press() -> None:
        try:
            results.append(run_in_transaction(seeded, lambda s: pl.approve(
                s, viewer=PAT, lines=lines, policy=BUSY, idempotency_key="double-click")))
        except StaleEdit as exc:  # the loser of a race on PostgreSQL is told it was already submitted
            results.append(exc)

    threads = [threading.Thread(target=press) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    written = [r for r in results if isinstance(r, pl.ApprovalResult) and r.created]
    assert len(results) == 2 and len(written) == 1
    assert _count(seeded, PlannerApproval) == 1
    with read_session(seeded) as s:
        erp = export_erp_pos(s, viewer=PAT, filters=Filters())
        mine = s.scalar(select(func.count()).select_from(PurchaseOrder).where(PurchaseOrder.created_by == "pat"))
    assert mine == len(written[0].po_numbers) and sorted(set(erp["po_number"])) == sorted(written[0].po_numbers)
    assert int(erp["qty"].sum()) == int(lines["qty"].sum())
    assert erp["line_value"].sum() == pytest.approx(written[0].order_value)
    csv = to_bytes(erp, "csv").decode("utf-8-sig")
    assert all(po in csv for po in written[0].po_numbers)


def test_the_plan_command_prints_the_summary_and_refuses_impossible_targets(
        seeded_engine: Engine, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        tmp_path: Path) -> None:
    from ops import fmt
    from ops.__main__ import main

    monkeypatch.setenv("OPS_DATABASE_URL", seeded_engine.url.render_as_string(hide_password=False))
    with read_session(seeded_engine) as s:
        page = pl.planner_page(s, viewer=MEG, policy_json=BUSY.to_json())
    sku = str(page.lines["sku"].iloc[0])
    out_csv = tmp_path / "lines.csv"
    assert main(["plan", "--service-level", "0.99", "--review-days", "28", "--sku", sku, "--csv", str(out_csv)]) == 0
    out = capsys.readouterr().out
    assert f"{fmt.count(page.summary['lines'])} lines to order" in out and f"{sku} in " in out
    assert out_csv.read_text(encoding="utf-8-sig").count("\n") == len(page.lines) + 1
    assert main(["plan", "--service-level", "1.0"]) == 2
    assert "service_level: 1: must be below 100 %" in capsys.readouterr().err


def test_a_real_forecast_run_feeds_the_plan(seeded: Engine) -> None:
    """The forecast package's own job on three SKUs: those plan from its weekly forecast (first 8
    weeks' mean, split by warehouse share), every other row from history, and the page says so."""
    from ops.forecast.run import run_forecast

    skus = ["SKU-00001", "SKU-00002", "SKU-00003"]
    run_id = run_forecast(seeded, skus=skus, jobs=1)
    with read_session(seeded) as s:
        page = pl.planner_page(s, viewer=PAT)
        weeks = pd.read_sql(text("SELECT sku, week, yhat FROM forecast_weeks WHERE run_id = :r ORDER BY sku, week"),
                            s.connection(), params={"r": run_id})
        agg = pd.read_sql(text("SELECT p.sku, w.code AS warehouse, a.wk_units, a.sku_wk_units "
                               "FROM agg_inventory_pair a JOIN products p ON p.id = a.product_id "
                               "JOIN warehouses w ON w.id = a.warehouse_id"),
                          s.connection())
    week_mean = weeks.groupby("sku").head(8).groupby("sku")["yhat"].mean().clip(lower=0)
    agg = agg[agg["sku"].isin(skus)]
    share = np.where(agg["sku_wk_units"] > 0, agg["wk_units"] / agg["sku_wk_units"].where(agg["sku_wk_units"] > 0, 1),
                     1.0 / agg.groupby("sku")["sku"].transform("size"))
    want = dict(zip(zip(agg["sku"], agg["warehouse"], strict=True), share * agg["sku"].map(week_mean) / 7.0,
                    strict=True))
    rows = page.plan[page.plan["sku"].isin(skus)]
    assert len(rows) == len(want) > 0 and set(rows["demand_source"]) == {"forecast"}
    for r in rows.itertuples(index=False):
        assert r.demand_per_day == pytest.approx(want[(r.sku, r.warehouse)], rel=1e-9)
    assert set(page.plan.loc[~page.plan["sku"].isin(skus), "demand_source"]) == {"history"}
    assert any("have no forecast and use their demand history" in n for n in page.notes)
