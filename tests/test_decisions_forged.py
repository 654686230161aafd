"""Forged writes on the real entity kinds (RELIABILITY 5, issue 10).

The marker vendors of tests/test_isolation.py (three of each kind) are added to an empty
database. As vendor A of each kind, edits carrying B's row keys are submitted through the
editor's path (``ops.decisions.apply``) on the kinds the pages write: inventory exceptions,
fulfilment exceptions (backlog orders and warehouses), B's stored exception row, and thresholds
at B's scope. Every one is refused, nothing changes, and each attempt leaves one refused audit
row that A (and only A) reads.
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import Engine, select

import ops.fulfillment  # noqa: F401 - registers the fulfilment_exception kind
import ops.inventory  # noqa: F401 - registers the inventory_exception kind
from ops import decisions as d
from ops.access import AccessDenied, Viewer
from ops.db import transaction
from ops.models import Decision, EntityState, Threshold
from tests.test_isolation import KINDS, MARKERS, add_markers, vendor

INV, FUL = "inventory_exception", "fulfilment_exception"


def forged_edits(kind: str, a: str, b: str, facts: dict[str, Any]) -> list[d.Change]:
    """Edits vendor A (of ``kind``) might forge against vendor B's rows, per kind."""
    wh = facts["base_warehouse"]
    own = f"SUP-{a}" if kind == "supplier" else a
    b_code = f"SUP-{b}" if kind == "supplier" else b
    edits = [
        d.Change(INV, f"{b}-exception", "vendor_note", None, "mine now", 1),  # B's stored row
        d.Change(INV, f"{b}-exception", "state", "acknowledged", "open", 1),
        d.Change("threshold", d.threshold_key("cover_warning_days", "global"), "value", 14, 1, None),
    ]
    if kind == "supplier":
        edits += [
            d.Change(INV, f"stockout:{b}-SKU-0:{wh}", "vendor_note", None, "mine now", 0),
            d.Change(INV, f"excess:{b}-SKU-1:{wh}", "state", "open", "acknowledged", 0),
            d.Change(FUL, f"backlog:ORD-{b}-0|{b_code}", "vendor_note", None, "mine now", 0),
            # B's order with A's own code in the key: the owner must come from the data, not the key.
            d.Change(FUL, f"backlog:ORD-{b}-0|{own}", "vendor_note", None, "mine now", 0),
            d.Change("threshold", d.threshold_key("cover_warning_days", "sku", f"{b}-SKU-0"), "value", 9, 3, 1),
        ]
    elif kind == "carrier":
        edits += [
            d.Change(INV, f"stockout:{MARKERS['supplier'][1]}-SKU-0:{wh}", "vendor_note", None, "mine now", 0),
            d.Change(FUL, f"backlog:ORD-{b}-0|{own}", "vendor_note", None, "mine now", 0),
            d.Change("threshold", d.threshold_key("backlog_age_alert_hours", "global"), "value", 24, 1, None),
        ]
    else:
        edits += [
            d.Change(FUL, f"warehouse:WH-{b}", "vendor_note", None, "mine now", 0),
            d.Change(FUL, f"backlog:ORD-{b}-0|", "vendor_note", None, "mine now", 0),
            d.Change(FUL, f"backlog:ORD-{b}-0|{own}", "vendor_note", None, "mine now", 0),
            d.Change("threshold", d.threshold_key("cover_warning_days", "warehouse", f"WH-{b}"), "value", 9, 3, 1),
        ]
    return edits


def _snapshot(engine: Engine) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
    with transaction(engine) as s:
        states = [tuple(r) for r in s.execute(select(
            EntityState.entity_kind, EntityState.entity_key, EntityState.state, EntityState.note,
            EntityState.vendor_note, EntityState.vendor_code, EntityState.version).order_by(EntityState.id)).all()]
        thresholds = [tuple(r) for r in s.execute(select(
            Threshold.name, Threshold.scope_kind, Threshold.scope_key, Threshold.value, Threshold.version)
            .order_by(Threshold.id)).all()]
    return states, thresholds


@pytest.mark.parametrize("kind", KINDS)
def test_vendor_a_forging_b_keys_on_real_kinds_is_refused_unchanged_and_audited(engine: Engine, kind: str) -> None:
    with transaction(engine) as s:
        facts = add_markers(s)
    a, b, _ = MARKERS[kind]
    viewer: Viewer = vendor(kind, a)
    before = _snapshot(engine)
    edits = forged_edits(kind, a, b, facts)
    accepted = []
    for change in edits:
        try:
            with transaction(engine) as s:
                d.apply(s, d.ChangeSet((change,)), viewer=viewer)
            accepted.append(f"{change.entity_kind} {change.key} {change.field}")
        except (AccessDenied, d.DecisionError):
            pass
    assert accepted == [], f"vendor {viewer.vendor_code} ({kind}) wrote to another vendor's rows: {accepted}"
    assert _snapshot(engine) == before
    with transaction(engine) as s:
        rows = s.execute(select(Decision.entity_key, Decision.outcome, Decision.vendor_kind, Decision.vendor_code)
                         .where(Decision.actor == viewer.username, Decision.outcome != "applied")
                         .order_by(Decision.id)).all()
        assert [r.entity_key for r in rows] == [c.key for c in edits]
        assert {(r.outcome, r.vendor_kind, r.vendor_code) for r in rows} == {
            ("refused", kind, viewer.vendor_code)}
        # A reads its own attempts; B reads none of them.
        mine = d.audit_log(s, viewer=viewer, outcome="refused")
        assert sorted(mine["entity_key"]) == sorted(c.key for c in edits)
        assert d.audit_log(s, viewer=vendor(kind, b), outcome="refused").empty
