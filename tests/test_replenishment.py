"""The replenishment math against the published known-answer cases, and its input checks.

The expected values come from ``shared/reference/inventory_cases.json`` (stockpyl's tests of the
Snyder & Shen examples), read at test time: nothing here is copied from the project's own output.
Croston / TSB cases belong to the forecasting package and are not replenishment cases.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from ops.planner import math as rm
from tests.conftest import REFERENCE

CASES = {c["id"]: c for c in json.loads((REFERENCE / "inventory_cases.json").read_text())["cases"]}
REPLENISHMENT = ("EOQ-1", "EOQ-2", "EOQB-1", "NV-1", "NV-3", "NV-4", "RQ-1", "RQ-2", "SS-1", "WW-1", "LOSS-1")
PLACES7 = 0.5e-7  # assertAlmostEqual(7 places): round(a - b, 7) == 0


def close7(got: float, want: float) -> bool:
    return round(got - want, 7) == 0


def test_every_replenishment_case_is_checked_here() -> None:
    forecasting = {cid for cid, c in CASES.items() if c["topic"].startswith(("Croston", "TSB"))}
    assert set(CASES) - forecasting == set(REPLENISHMENT)


def test_eoq_1() -> None:
    c = CASES["EOQ-1"]
    i, e = c["inputs"], c["expected"]
    q, g = rm.economic_order_quantity(i["fixed_cost_K"], i["holding_cost_h"], i["demand_rate_lam"])
    assert close7(q, e["order_quantity"]) and close7(g, e["annual_cost"])


def test_eoq_2_cost_of_a_given_quantity() -> None:
    c = CASES["EOQ-2"]
    i = c["inputs"]
    assert close7(rm.eoq_cost(i["K"], i["h"], i["lam"], i["Q"]), c["expected"]["annual_cost"])


def test_eoqb_1_planned_backorders() -> None:
    c = CASES["EOQB-1"]
    i, e = c["inputs"], c["expected"]
    q, x, g = rm.eoq_with_backorders(i["K"], i["h"], i["stockout_cost_p"], i["lam"])
    assert close7(q, e["order_quantity"]) and close7(x, e["stockout_fraction"]) and close7(g, e["annual_cost"])


def test_nv_1_newsvendor_normal() -> None:
    c = CASES["NV-1"]
    i, e = c["inputs"], c["expected"]
    s, cost = rm.newsvendor_normal(i["h"], i["p"], i["mu"], i["sigma"])
    assert close7(s, e["base_stock_level"]) and close7(cost, e["expected_cost"])
    assert close7(rm.newsvendor_normal_cost(40, i["h"], i["p"], i["mu"], i["sigma"]), e["cost_at_S_40"])


def test_nv_3_base_stock_over_lead_time_plus_one() -> None:
    c = CASES["NV-3"]
    i, e = c["inputs"], c["expected"]
    s, cost = rm.newsvendor_normal(i["h"], i["p"], i["mu"], i["sigma"], i["lead_time_L"])
    assert close7(s, e["base_stock_level"]) and close7(cost, e["expected_cost"])
    assert close7(rm.newsvendor_normal_cost(180, i["h"], i["p"], i["mu"], i["sigma"], i["lead_time_L"]),
                  e["cost_at_S_180"])


def test_nv_4_newsvendor_poisson() -> None:
    c = CASES["NV-4"]
    i, e = c["inputs"], c["expected"]
    s, cost = rm.newsvendor_poisson(i["h"], i["p"], i["mu"])
    assert s == e["base_stock_level"] and close7(cost, e["expected_cost"])
    assert close7(rm.newsvendor_poisson_cost(5, i["h"], i["p"], i["mu"]), e["cost_at_S_5"])


def test_rq_1_reorder_point_with_safety_stock() -> None:
    c = CASES["RQ-1"]
    i, e = c["inputs"], c["expected"]
    got = rm.r_q_eoqss(i["h"], i["p"], i["K"], i["lam_per_year"], i["sigma_per_year"], i["lead_time_years"])
    assert close7(got.reorder_point, e["reorder_point_r"]) and close7(got.order_quantity, e["order_quantity_Q"])


def test_rq_2() -> None:
    c = CASES["RQ-2"]
    i, e = c["inputs"], c["expected"]
    got = rm.r_q_eoqss(i["h"], i["p"], i["K"], i["lam"], i["sigma"], i["L"])
    assert close7(got.reorder_point, e["reorder_point_r"]) and close7(got.order_quantity, e["order_quantity_Q"])


def test_ss_1_s_S_exact_poisson() -> None:
    c = CASES["SS-1"]
    i, e = c["inputs"], c["expected"]
    s, big_s, cost = rm.s_s_discrete_exact(i["h"], i["p"], i["K"], i["poisson_mean"])
    assert (s, big_s) == (e["s"], e["S"])
    # The source asserts s and S exactly; the costs are checked to 7 places as well.
    assert close7(cost, e["cost"])
    assert close7(rm.s_s_cost_poisson(6, 18, i["h"], i["p"], i["K"], i["poisson_mean"]), e["cost_of_s6_S18"])


def test_ww_1_wagner_whitin() -> None:
    c = CASES["WW-1"]
    i, e = c["inputs"], c["expected"]
    q, nxt, cost = rm.wagner_whitin(i["T"], i["h"], i["K"], i["demand"])
    assert q == e["order_quantities"] and nxt == e["next_order_periods"] and cost == e["cost"]


def test_loss_1_standard_normal_loss() -> None:
    c = CASES["LOSS-1"]
    z = c["inputs"]["z"]
    np.testing.assert_allclose(rm.standard_normal_loss(z), c["expected"]["L"], rtol=0, atol=PLACES7)
    np.testing.assert_allclose(rm.complementary_loss(z), c["expected"]["L_bar"], rtol=0, atol=PLACES7)


# --- the planner's policy, by hand -----------------------------------------------------------


def test_safety_stock_with_lead_time_variability_by_hand() -> None:
    # mu_d = 10/day, sd_d = 4/day, L = 9 days (sd 2), R = 7 days: P = 16 days.
    # sigma_P = sqrt(16 * 16 + 100 * 4) = sqrt(656) = 25.6125; z(95 %) = 1.644854
    ss = rm.safety_stock(rm.z_for_cycle_service_level(0.95), 10, 4, 9, 2, 7)
    assert float(ss) == pytest.approx(1.6448536 * math.sqrt(656), rel=1e-6)
    s = rm.order_up_to(10, 9, 7, ss)
    assert float(s) == pytest.approx(160 + 1.6448536 * math.sqrt(656), rel=1e-6)
    assert float(rm.reorder_point(10, 9, ss)) == pytest.approx(90 + 1.6448536 * math.sqrt(656), rel=1e-6)


def test_fill_rate_target_inverts_the_loss_function() -> None:
    # beta = 0.98, Q = 70 (one week of 10/day), sigma = 25: L(z) = 0.02 * 70 / 25 = 0.056
    z = float(rm.z_for_fill_rate(0.98, 70, 25))
    phi = math.exp(-z * z / 2) / math.sqrt(2 * math.pi)
    upper = 0.5 * math.erfc(z / math.sqrt(2))
    assert phi - z * upper == pytest.approx(0.056, abs=1e-9)
    assert float(rm.fill_rate(z, 70, 25)) == pytest.approx(0.98, abs=1e-9)


@pytest.mark.parametrize(("qty", "moq", "pack", "want"), [
    (0, 12, 6, 0), (-5, 12, 6, 0), (1, 12, 6, 12), (12, 12, 6, 12), (13, 12, 6, 18), (30.2, 10, 5, 35),
    (7, 1, 1, 7), (7.01, 1, 1, 8),
])
def test_round_to_moq_and_case_pack(qty: float, moq: int, pack: int, want: int) -> None:
    assert float(rm.round_to_pack(qty, moq, pack)) == want


def test_budget_cuts_lowest_priority_lines_first_and_says_so() -> None:
    value = np.array([100.0, 300.0, 50.0, 200.0])
    priority = np.array([3.0, 9.0, 1.0, 5.0])  # order of importance: 300, 200, 100, 50
    cut = rm.apply_budget(value, priority, 550)
    assert cut.keep.tolist() == [False, True, False, True]  # 300 + 200 fit; 100 does not, 50 is lower
    assert (cut.kept_value, cut.cut_value, cut.cut_lines) == (500.0, 150.0, 2)
    assert "cuts 2 of 4 lines" in cut.message and "lowest priority first" in cut.message
    assert rm.apply_budget(value, priority, None).keep.all()


def test_supplier_minimum_order_value_shortfall() -> None:
    got = rm.supplier_minimum_shortfall([0.0, 120.0, 600.0], [500.0, 500.0, 500.0])
    assert got.tolist() == [0.0, 380.0, 0.0]


@pytest.mark.parametrize(("call", "field", "words"), [
    (lambda: rm.check_lead_time([5, -3], labels=["A", "B"]), "lead_time_days", "for B"),
    (lambda: rm.z_for_cycle_service_level(1.0), "service_level", "below 100 %"),
    (lambda: rm.z_for_cycle_service_level(1.2), "service_level", "below 100 %"),
    (lambda: rm.z_for_fill_rate(1.0, 10, 2), "fill_rate", "below 100 %"),
    (lambda: rm.check_moq(0), "moq", "at least 1"),
    (lambda: rm.round_to_pack(10, 0, 1), "moq", "at least 1"),
    (lambda: rm.round_to_pack(10, 10, 4), "case_pack", "divide the minimum order quantity"),
    (lambda: rm.safety_stock(1.0, 5, 1, -2, 0), "lead_time_days", "cannot be negative"),
    (lambda: rm.apply_budget([1.0], [1.0], -5), "budget", "non-negative"),
])
def test_impossible_inputs_name_the_field(call: object, field: str, words: str) -> None:
    with pytest.raises(rm.InputError) as info:
        call()  # type: ignore[operator]
    assert str(info.value).startswith(field) and words in str(info.value)
