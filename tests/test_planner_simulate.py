"""The Monte Carlo of on-hand checked against the formulas it must reproduce, with fixed seeds.

A normal-demand SKU under a base-stock policy reviewed every period with a constant lead time L and
backorders: the net inventory at the end of a period is S minus L + 1 periods of demand, so the
cycle service level is Phi(z) and the fill rate 1 - sigma_{L+1} L(z) / mu (the standard normal loss
function, computed here from math.erf, not from the project's code).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import pytest

from ops.planner import math as rm
from ops.planner.simulate import SimInput, simulate

MU, SIGMA, LEAD = 50.0, 8.0, 4


def _loss(z: float) -> float:
    return math.exp(-z * z / 2) / math.sqrt(2 * math.pi) - z * (1 - NormalDist().cdf(z))


@pytest.mark.parametrize("target", [0.80, 0.90, 0.95])
def test_base_stock_simulation_meets_the_formulas(target: float) -> None:
    z = NormalDist().inv_cdf(target)
    sd = SIGMA * math.sqrt(LEAD + 1)
    s = MU * (LEAD + 1) + z * sd
    # Start in steady state: S on hand minus the pipeline, one period's demand arriving each period.
    x = SimInput(demand_mean=MU, demand_sd=SIGMA, lead_time_mean=LEAD, lead_time_sd=0.0, order_up_to=s,
                 review_days=1, on_hand=s - LEAD * MU, open_pos=tuple((k, MU) for k in range(1, LEAD + 1)),
                 backorders=True)
    res = simulate(x, n_paths=4000, horizon=400, warmup=50, seed=12345, fan=False)
    assert abs(res.cycle_service_level - target) < 0.01, res
    want_fill = 1 - sd * _loss(z) / MU
    assert abs(res.fill_rate - want_fill) < 0.01, (res.fill_rate, want_fill)


def test_the_same_seed_gives_the_same_numbers_and_another_seed_differs() -> None:
    x = SimInput(demand_mean=16.0, demand_sd=25.0, lead_time_mean=36.8, lead_time_sd=5.0, order_up_to=1007.0,
                 review_days=7, on_hand=114.0, open_pos=((20, 744.0),), moq=8, case_pack=4)
    a, b = simulate(x, n_paths=2000, seed=1), simulate(x, n_paths=2000, seed=1)
    c = simulate(x, n_paths=2000, seed=2)
    assert (a.stockout_probability, a.fill_rate) == (b.stockout_probability, b.fill_rate)
    assert a.fan.equals(b.fan) and not a.fan.equals(c.fan)
    # 114 on hand at 16 a day, the PO lands on day 20: nearly every path runs short before it.
    assert a.stockout_probability > 0.95
    assert list(a.fan.columns) == ["day", "q05", "q25", "q50", "q75", "q95"] and len(a.fan) == 91
    assert (a.fan["q05"] <= a.fan["q50"]).all() and (a.fan["q50"] <= a.fan["q95"]).all()


def test_lost_sales_never_serve_more_than_backorders_allow() -> None:
    base = {"demand_mean": 10.0, "demand_sd": 4.0, "lead_time_mean": 7.0, "lead_time_sd": 2.0, "order_up_to": 140.0,
                "review_days": 7, "on_hand": 60.0}
    lost = simulate(SimInput(**base), n_paths=3000, seed=3, fan=False)  # type: ignore[arg-type]
    assert 0.0 < lost.fill_rate <= 1.0 and 0.0 <= lost.stockout_probability <= 1.0


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"lead_time_mean": -1.0}, "lead_time_days"),
    ({"moq": 0}, "moq"),
    ({"moq": 10, "case_pack": 4}, "case_pack"),
    ({"review_days": 0}, "review_days"),
])
def test_impossible_simulation_inputs_name_the_field(kwargs: dict, field: str) -> None:
    base = {"demand_mean": 10.0, "demand_sd": 4.0, "lead_time_mean": 7.0, "lead_time_sd": 2.0, "order_up_to": 140.0}
    base.update(kwargs)
    with pytest.raises(rm.InputError) as info:
        SimInput(**base)  # type: ignore[arg-type]
    assert str(info.value).startswith(field)
