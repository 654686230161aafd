"""Vendors' disputes: raised on their own rows only, shown to the manager with a status, audited; stale answers
refused."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from ops import scorecards as sc
from ops.access import AccessDenied, Viewer
from ops.db import transaction
from ops.decisions import StaleEdit, ValidationError
from ops.models import Decision, ScorecardDispute
from ops.scorecards.disputes import ENTITY
from tests.test_scorecards import MANAGER, build

CA = Viewer(username="ca-user", role="vendor", vendor_kind="carrier", vendor_code="CA")
CB = Viewer(username="cb-user", role="vendor", vendor_kind="carrier", vendor_code="CB")
OTHER_MANAGER = Viewer(username="deputy", role="manager")


def audit(engine: Engine) -> list[tuple[str, str, str, str | None, str | None]]:
    with Session(engine) as s:
        return [tuple(r) for r in s.execute(select(Decision.actor, Decision.action, Decision.outcome,
                                                   Decision.vendor_code, Decision.after)
                                            .where(Decision.entity_kind == ENTITY)
                                            .order_by(Decision.id))]


def test_dispute_reaches_the_manager_and_the_audit_log(engine: Engine) -> None:
    build(engine)
    with transaction(engine) as s:
        did = sc.raise_dispute(s, viewer=CA, subject_kind="shipment", subject_key="T2", reason="customer was away")
        week_id = sc.raise_dispute(s, viewer=CA, subject_kind="week", subject_key="2026-w10", reason="strike")
    with Session(engine) as s:
        seen = sc.disputes(s, viewer=MANAGER)
        own = sc.disputes(s, viewer=CA)
        other = sc.disputes(s, viewer=CB)
    row = seen.set_index("id").loc[did]
    assert (row["vendor_code"], row["subject_key"], row["state"], row["reason"]) == ("CA", "T2", "open",
                                                                                    "customer was away")
    assert seen.set_index("id").loc[week_id, "subject_key"] == "2026-W10"
    assert sorted(own["id"]) == sorted([did, week_id]) and other.empty
    rows = audit(engine)
    assert [(a, act, out, code) for a, act, out, code, _ in rows] == [
        ("ca-user", "scorecard.dispute", "applied", "CA"), ("ca-user", "scorecard.dispute", "applied", "CA")]
    assert json.loads(rows[0][4])["state"] == "open"


def test_only_the_owner_disputes_and_bad_input_is_refused_and_audited(engine: Engine) -> None:
    build(engine)
    cases = [(CB, "shipment", "T1", "not mine", AccessDenied, "not one of yours"),
             (CA, "shipment", "NOPE", "missing", AccessDenied, "not one of yours"),
             (MANAGER, "shipment", "T1", "x", AccessDenied, "not a vendor"),
             (CA, "shipment", "T1", "   ", ValidationError, "needs a reason"),
             (CA, "week", "last week", "x", ValidationError, "ISO week"),
             (CA, "invoice", "1", "x", ValidationError, "use one of")]
    for viewer, kind, key, reason, exc, words in cases:
        with pytest.raises(exc, match=words), transaction(engine) as s:
            sc.raise_dispute(s, viewer=viewer, subject_kind=kind, subject_key=key, reason=reason)
    with transaction(engine) as s:
        sc.raise_dispute(s, viewer=CA, subject_kind="shipment", subject_key="T1", reason="first")
    with pytest.raises(ValidationError, match="already has an open dispute"), transaction(engine) as s:
        sc.raise_dispute(s, viewer=CA, subject_kind="shipment", subject_key="T1", reason="again")
    with Session(engine) as s:
        assert s.scalar(select(ScorecardDispute.subject_key)) == "T1"
        assert len(s.scalars(select(ScorecardDispute.id)).all()) == 1
    outcomes = [r[2] for r in audit(engine)]
    assert outcomes.count("refused") == len(cases) + 1 and outcomes.count("applied") == 1


def test_a_stale_answer_is_refused_and_names_who_answered(engine: Engine) -> None:
    build(engine)
    with transaction(engine) as s:
        did = sc.raise_dispute(s, viewer=CA, subject_kind="shipment", subject_key="T5", reason="address closed")
    with Session(engine) as s:  # both managers read version 1
        v1 = int(sc.disputes(s, viewer=MANAGER).set_index("id").loc[did, "version"])
    with transaction(engine) as s:
        sc.decide_dispute(s, viewer=MANAGER, dispute_id=did, state="accepted", expected_version=v1, note="agreed")
    with pytest.raises(StaleEdit, match="changed by boss") as info, transaction(engine) as s:
        sc.decide_dispute(s, viewer=OTHER_MANAGER, dispute_id=did, state="rejected", expected_version=v1)
    assert info.value.current == "accepted"
    with pytest.raises(AccessDenied, match="may not answer"), transaction(engine) as s:
        sc.decide_dispute(s, viewer=CA, dispute_id=did, state="accepted", expected_version=2)
    with Session(engine) as s:
        d = sc.disputes(s, viewer=CA).set_index("id").loc[did]
        card = sc.carrier_scorecard(s, viewer=CA, week="2026-W10").set_index("lane").loc["WH-A>NY"]
    assert (d["state"], d["decision_note"], d["version"]) == ("accepted", "agreed", 2)
    assert d["decided_by"] == "your account manager"  # vendors never read our people's names
    assert card["excluded"] == 1 and card["shipments"] == 4
    rows = audit(engine)
    assert [(a, act, out) for a, act, out, _, _ in rows] == [
        ("ca-user", "scorecard.dispute", "applied"), ("boss", "scorecard.dispute.decide", "applied"),
        ("deputy", "scorecard.dispute.decide", "refused"), ("ca-user", "scorecard.dispute.decide", "refused")]
    assert all(code == "CA" for _, _, _, code, _ in rows)


def test_manager_flags_a_lane_with_a_corrective_action_the_carrier_sees_it(engine: Engine) -> None:
    from ops.decisions import entity_states, set_entity_state

    build(engine)
    with transaction(engine) as s:
        rec = set_entity_state(s, viewer=MANAGER, entity_kind=sc.LANE_ENTITY, entity_key="CA|WH-A>NY",
                               state="flagged", note="daily call until on time is back above 90 %",
                               expected_version=0)
    assert (rec.vendor_kind, rec.vendor_code) == ("carrier", "CA")  # the owner comes from the data
    with pytest.raises(StaleEdit), transaction(engine) as s:
        set_entity_state(s, viewer=OTHER_MANAGER, entity_kind=sc.LANE_ENTITY, entity_key="CA|WH-A>NY",
                         state="open", expected_version=0)
    with Session(engine) as s:
        mine = entity_states(s, viewer=CA, entity_kind=sc.LANE_ENTITY)
        theirs = entity_states(s, viewer=CB, entity_kind=sc.LANE_ENTITY)
    assert mine[["entity_key", "state", "note"]].values.tolist() == [
        ["CA|WH-A>NY", "flagged", "daily call until on time is back above 90 %"]]
    assert theirs.empty
