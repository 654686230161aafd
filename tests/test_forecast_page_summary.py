"""The Forecast page's stored run summary: what a finished run stores for the page (its backtest totals per
demand pattern and its choices, over the whole catalogue) equals plain pandas over the run's raw rows; a full
viewer's page reads it, a supplier's page sums its own SKUs' rows and holds only them, and a page whose run
has nothing stored (or whose SKU is no longer a product) shows the same frames computed on load.

Expected values are computed here from the raw ``forecast_choices`` / ``forecast_scores`` / ``products`` rows
with plain pandas, independently of ``ops.forecast``. The run is written directly (a backtest on the demo
data's short history scores nothing), with awkward values: floats of very different sizes, NULL scores,
fallbacks, a pattern without baseline scores and zero actuals.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, delete, insert, select, text, update

from ops.access import Viewer
from ops.db import read_session, transaction
from ops.forecast import forecast_page, pattern_summary
from ops.forecast.page import CHOICE_VIEW, MODEL_LABELS
from ops.forecast.queries import latest_choices_named, pattern_sums, summary_frame
from ops.forecast.run import run_forecast, store_summary
from ops.models import (
    ForecastCatalogue,
    ForecastChoice,
    ForecastRun,
    ForecastScore,
    ForecastSummary,
    Product,
)

PLANNER = Viewer(username="pia", role="planner")
CARRIER = Viewer(username="car", role="vendor", vendor_kind="carrier", vendor_code="ARC")
PATTERNS = ["smooth", "erratic", "intermittent", "lumpy"]
MODELS = ["naive", "ets", "croston", "tsb", "gbm", "combo"]
SUMMARY_COLS = ["pattern", "skus", "chosen_wape", "naive_wape", "wape_ratio", "fallbacks"]


@pytest.fixture
def small(engine: Engine) -> Engine:
    from ops.demo import seed

    seed(engine, size="small", seed=7)
    return engine


def _write_run(engine: Engine, *, seed: int = 3, store: bool = True) -> int:
    """A succeeded run over every product, with random choices and scores (stored summary when ``store``)."""
    rng = np.random.default_rng(seed)
    with transaction(engine) as s:
        skus = sorted(s.execute(select(Product.sku)).scalars())
        rid = s.execute(insert(ForecastRun).values(parameters="{}", status="running", n_skus=len(skus),
                                                   n_done=len(skus)).returning(ForecastRun.id)).scalar_one()
        choices, scores = [], []
        for i, sku in enumerate(skus):
            pattern = PATTERNS[i % 3] if i % 7 else "lumpy"  # lumpy SKUs get no baseline score below
            fallback = i % 5 == 0
            model = "naive" if fallback else MODELS[1 + i % 5]
            nullish = i % 11 == 0
            choices.append({"run_id": rid, "sku": sku, "model": model, "pattern": pattern,
                            "wape": None if nullish else float(rng.random()), "mase": float(rng.random() * 3),
                            "bias": None if nullish else float(rng.normal()), "sigma_week": float(rng.random() * 40),
                            "baseline_wape": float(rng.random()), "censored_days": int(rng.integers(0, 9)),
                            "fallback_reason": "short history: 9 weeks" if fallback else None,
                            "history_weeks": 30, "chunk": 0})
            for m in sorted({model, "naive", "ets"}):
                if m == "naive" and pattern == "lumpy":
                    continue
                actual = 0.0 if i % 13 == 0 else float(rng.random() * 10.0 ** int(rng.integers(-3, 6)))
                scores.append({"run_id": rid, "sku": sku, "model": m, "abs_error": float(rng.random() * 1e3) / 7,
                               "error": float(rng.normal()), "actual": actual, "scale": 1.0, "n": 12,
                               "fit_seconds": 0.01, "failed": None})
        s.execute(insert(ForecastChoice), choices)
        s.execute(insert(ForecastScore), scores)
        s.execute(update(ForecastRun).where(ForecastRun.id == rid).values(status="succeeded"))
        if store:
            store_summary(s, run_id=rid)
    return int(rid)


def _raw(engine: Engine, rid: int) -> dict[str, pd.DataFrame]:
    with engine.connect() as c:
        return {
            "choices": pd.read_sql(text("SELECT * FROM forecast_choices WHERE run_id = :r"), c, params={"r": rid}),
            "scores": pd.read_sql(text("SELECT * FROM forecast_scores WHERE run_id = :r"), c, params={"r": rid}),
            "products": pd.read_sql(text("SELECT p.sku, p.name, s.code AS supplier FROM products p "
                                         "LEFT JOIN suppliers s ON s.id = p.supplier_id"), c),
        }


def _expected_sums(raw: dict[str, pd.DataFrame], supplier: str | None = None) -> pd.DataFrame:
    """Per pattern: SKUs and fallbacks of the choices with a chosen-model score, the chosen models' and the
    baseline's summed absolute errors and actuals (plain pandas over the raw rows)."""
    prods = raw["products"] if supplier is None else raw["products"][raw["products"]["supplier"] == supplier]
    ch = raw["choices"][raw["choices"]["sku"].isin(prods["sku"])]
    sc = raw["scores"]
    chosen = ch.merge(sc, on=["sku", "model"])
    naive = ch.merge(sc[sc["model"] == "naive"].drop(columns="model"), on="sku")
    a = chosen.groupby("pattern").agg(skus=("sku", "size"), fallbacks=("fallback_reason", "count"),
                                      ae=("abs_error", "sum"), act=("actual", "sum"))
    b = naive.groupby("pattern").agg(nae=("abs_error", "sum"), nact=("actual", "sum"))
    return a.join(b).reset_index().sort_values("pattern", ignore_index=True)


def _expected_summary(raw: dict[str, pd.DataFrame], supplier: str | None = None) -> pd.DataFrame:
    per = _expected_sums(raw, supplier)
    tot = pd.DataFrame([{"pattern": "all", **{k: per[k].sum() for k in ("skus", "fallbacks", "ae", "act", "nae",
                                                                            "nact")}}])
    df = pd.concat([per, tot], ignore_index=True)
    df["chosen_wape"] = [ae / act if act > 0 else np.nan for ae, act in zip(df["ae"], df["act"], strict=True)]
    df["naive_wape"] = [n / d if d > 0 else np.nan for n, d in zip(df["nae"], df["nact"], strict=True)]
    df["wape_ratio"] = [c / n if n > 0 else np.nan for c, n in zip(df["chosen_wape"], df["naive_wape"], strict=True)]
    return df[SUMMARY_COLS].astype({"skus": "int64", "fallbacks": "int64"})


def _expected_choices(raw: dict[str, pd.DataFrame], supplier: str | None = None) -> pd.DataFrame:
    prods = raw["products"] if supplier is None else raw["products"][raw["products"]["supplier"] == supplier]
    ch = raw["choices"].merge(prods[["sku", "name"]], on="sku").sort_values("sku", ignore_index=True)
    return pd.DataFrame({
        "sku": ch["sku"], "name": ch["name"], "forecast_model": [MODEL_LABELS[m] for m in ch["model"]],
        "pattern": ch["pattern"], "wape": ch["wape"].astype(float), "baseline_wape": ch["baseline_wape"].astype(float),
        "mase": ch["mase"].astype(float), "forecast_bias": ch["bias"].astype(float),
        "sigma_week": ch["sigma_week"].astype(float), "censored_days": ch["censored_days"].astype("int64"),
        "fallback_reason": [None if pd.isna(r) else r for r in ch["fallback_reason"]]})


def _suppliers(engine: Engine) -> list[str]:
    with engine.connect() as c:
        return [r[0] for r in c.execute(text(
            "SELECT s.code FROM products p JOIN suppliers s ON s.id = p.supplier_id GROUP BY s.code "
            "ORDER BY count(*) DESC, s.code")).all()]


def _vendor(code: str) -> Viewer:
    return Viewer(username="sup", role="vendor", vendor_kind="supplier", vendor_code=code)


def _assert_summary(got: pd.DataFrame, want: pd.DataFrame) -> None:
    # summed in another order here: the sums agree to rounding, counts and patterns exactly
    pd.testing.assert_frame_equal(got, want, check_exact=False, rtol=1e-12, atol=0)
    assert list(got["pattern"]) == list(want["pattern"]) and list(got["skus"]) == list(want["skus"])


def test_stored_summary_equals_plain_pandas_over_the_raw_rows(small: Engine) -> None:
    rid = _write_run(small)
    raw = _raw(small, rid)
    want = _expected_sums(raw)
    assert set(want["pattern"]) == set(PATTERNS) and want.loc[want["pattern"] == "lumpy", "nae"].isna().all()
    with small.connect() as c:
        stored = pd.read_sql(text("SELECT pattern, skus, fallbacks, ae, act, nae, nact FROM forecast_summary "
                                  "WHERE run_id = :r ORDER BY pattern"), c, params={"r": rid})
    pd.testing.assert_frame_equal(stored, want.astype(stored.dtypes.to_dict()), check_exact=False, rtol=1e-12,
                                  atol=0)
    # a lumpy SKU on the baseline has no score for its model: counted nowhere, as the page always did
    scored = raw["choices"].merge(raw["scores"][["sku", "model"]], on=["sku", "model"])
    assert stored["skus"].sum() == len(scored) < len(raw["choices"])
    assert stored["fallbacks"].sum() == scored["fallback_reason"].notna().sum() > 0


def test_full_viewer_page_reads_the_stored_run_and_equals_plain_pandas(small: Engine) -> None:
    rid = _write_run(small)
    raw = _raw(small, rid)
    with read_session(small) as s:
        page = forecast_page(s, viewer=PLANNER)
    assert page.success_id == rid and page.empty_reason is None
    _assert_summary(page.summary, _expected_summary(raw))
    # the choices are stored values, not sums: exactly the raw rows with the products' names
    pd.testing.assert_frame_equal(page.choices, _expected_choices(raw), check_exact=True)
    assert list(page.choices.columns) == CHOICE_VIEW and len(page.choices) == len(raw["products"])

    # it is the stored rows the full viewer's page read (a supplier's reads its own rows): alter them, and a
    # choice's row, behind the run's back and see which page follows which
    code = _suppliers(small)[0]
    own = raw["products"].loc[raw["products"]["supplier"] == code, "sku"].min()
    with read_session(small) as s:
        before_sup = forecast_page(s, viewer=_vendor(code))
    with transaction(small) as s:
        s.execute(update(ForecastSummary).where(ForecastSummary.run_id == rid, ForecastSummary.pattern == "smooth")
                  .values(ae=ForecastSummary.act * 0.25))
        s.execute(update(ForecastChoice).where(ForecastChoice.run_id == rid, ForecastChoice.sku == own)
                  .values(sigma_week=-1.0))
        s.execute(update(Product).where(Product.sku == own).values(name="Renamed product"))
    with read_session(small) as s:
        tampered = forecast_page(s, viewer=PLANNER)
        sup = forecast_page(s, viewer=_vendor(code))
    assert tampered.summary.set_index("pattern").loc["smooth", "chosen_wape"] == pytest.approx(0.25, rel=1e-12)
    pd.testing.assert_frame_equal(sup.summary, before_sup.summary, check_exact=True)
    mine, theirs = (p.choices.set_index("sku").loc[own] for p in (tampered, sup))
    assert mine["sigma_week"] == page.choices.set_index("sku").loc[own, "sigma_week"] != -1.0  # the stored value
    assert theirs["sigma_week"] == -1.0  # the row itself
    assert mine["name"] == theirs["name"] == "Renamed product"  # names are the products' current ones


@pytest.mark.parametrize("which", [0, -1])  # the supplier with the most SKUs and the one with the fewest
def test_supplier_page_holds_only_its_skus_and_their_summary(small: Engine, which: int) -> None:
    rid = _write_run(small)
    raw = _raw(small, rid)
    code = _suppliers(small)[which]
    own = set(raw["products"].loc[raw["products"]["supplier"] == code, "sku"])
    with read_session(small) as s:
        page = forecast_page(s, viewer=_vendor(code))
        named = latest_choices_named(s, viewer=_vendor(code))
    assert set(page.choices["sku"]) == own == set(named["sku"]) and len(page.choices) == len(own) > 0
    pd.testing.assert_frame_equal(page.choices, _expected_choices(raw, code), check_exact=True)
    _assert_summary(page.summary, _expected_summary(raw, code))
    scored = raw["choices"].merge(raw["scores"][["sku", "model"]], on=["sku", "model"])
    assert page.summary.loc[page.summary["pattern"] == "all", "skus"].item() == scored["sku"].isin(own).sum()
    # summed in SKU order in Python: on SQLite bit for bit the sums its GROUP BY gives for the same SKUs
    with read_session(small) as s:
        in_sql = summary_frame(list(pattern_sums(s, viewer=_vendor(code)).itertuples(index=False, name=None)))
    exact = small.dialect.name == "sqlite"
    pd.testing.assert_frame_equal(page.summary, in_sql, check_exact=exact, **({} if exact else {"rtol": 1e-12}))


def test_vendors_without_products_see_nothing(small: Engine) -> None:
    _write_run(small)
    with read_session(small) as s:
        page = forecast_page(s, viewer=CARRIER)
        summary = pattern_summary(s, viewer=CARRIER)
    assert page.choices.empty and page.summary.empty and summary.empty
    assert page.empty_reason == "The latest forecast holds none of your SKUs."
    assert list(page.choices.columns) == CHOICE_VIEW and list(page.summary.columns) == SUMMARY_COLS


def _pages(engine: Engine) -> dict[str, object]:
    viewers = {"planner": PLANNER, **{code: _vendor(code) for code in _suppliers(engine)[:2]}}
    with read_session(engine) as s:
        return {k: forecast_page(s, viewer=v) for k, v in viewers.items()}


def test_a_run_with_nothing_stored_gives_the_same_pages_computed_on_load(small: Engine) -> None:
    rid = _write_run(small)
    stored = _pages(small)
    with transaction(small) as s:
        for table in (ForecastSummary, ForecastCatalogue):
            s.execute(delete(table).where(table.run_id == rid))
    computed = _pages(small)
    for k, page in stored.items():
        other = computed[k]
        pd.testing.assert_frame_equal(page.summary, other.summary, check_exact=True)  # type: ignore[attr-defined]
        pd.testing.assert_frame_equal(page.choices, other.choices, check_exact=True)  # type: ignore[attr-defined]
    # and the same again from the stored rows once they are written
    with transaction(small) as s:
        assert store_summary(s, run_id=rid) == len(PATTERNS)
    again = _pages(small)
    for k, page in stored.items():
        pd.testing.assert_frame_equal(page.choices, again[k].choices, check_exact=True)  # type: ignore[attr-defined]


def test_a_stored_sku_that_is_no_longer_a_product_is_left_out(small: Engine) -> None:
    rid = _write_run(small)
    with transaction(small) as s:
        gone = s.execute(select(Product.sku).order_by(Product.sku).limit(1)).scalar_one()
        s.execute(update(Product).where(Product.sku == gone).values(sku="RENAMED-1"))
    raw = _raw(small, rid)
    with read_session(small) as s:
        page = forecast_page(s, viewer=PLANNER)
    assert gone not in set(page.choices["sku"]) and len(page.choices) == len(raw["products"]) - 1
    pd.testing.assert_frame_equal(page.choices, _expected_choices(raw), check_exact=True)


@pytest.mark.parametrize("status", ["running", "failed"])
def test_a_newer_unfinished_run_shows_its_status_beside_the_last_successful_one(small: Engine, status: str) -> None:
    rid = _write_run(small)
    with read_session(small) as s:
        before = forecast_page(s, viewer=PLANNER)
    with transaction(small) as s:
        newer = s.execute(insert(ForecastRun).values(parameters="{}", status=status, n_skus=50, n_done=7,
                                                     error="boom" if status == "failed" else None)
                          .returning(ForecastRun.id)).scalar_one()
    with read_session(small) as s:
        page = forecast_page(s, viewer=PLANNER)
        sup = forecast_page(s, viewer=_vendor(_suppliers(small)[0]))
    assert page.latest.run_id == newer and page.latest.status == status and page.latest.n_done == 7
    assert page.latest.error == ("boom" if status == "failed" else None) and sup.latest.error is None
    assert page.success_id == rid == before.success_id and page.as_of == before.as_of
    assert page.success_finished == before.success_finished
    pd.testing.assert_frame_equal(page.choices, before.choices, check_exact=True)
    pd.testing.assert_frame_equal(page.summary, before.summary, check_exact=True)


def test_a_finished_forecast_run_stores_its_summary_in_its_transaction(small: Engine) -> None:
    rid = run_forecast(small, jobs=1, horizon=4)
    raw = _raw(small, rid)
    with read_session(small) as s:
        n = s.execute(select(ForecastCatalogue.n).where(ForecastCatalogue.run_id == rid)).scalar_one()
        page = forecast_page(s, viewer=PLANNER)
    assert n == len(raw["choices"]) == len(raw["products"])
    pd.testing.assert_frame_equal(page.choices, _expected_choices(raw), check_exact=True)


def test_a_database_without_the_tables_still_finishes_runs_and_shows_them(small: Engine) -> None:
    with transaction(small) as s:  # as before migration 0014
        s.execute(text("DROP TABLE forecast_catalogue"))
        s.execute(text("DROP TABLE forecast_summary"))
    try:
        rid = run_forecast(small, jobs=1, horizon=4)
        with read_session(small) as s:
            run = s.get(ForecastRun, rid)
            assert run is not None and run.status == "succeeded"
    finally:
        from ops.models import Base

        Base.metadata.create_all(small)  # the engine fixture's tables, for the next test on PostgreSQL


# --- the summary's frame is the pandas computation it replaced, bit for bit ----------------------------------


def _replaced(rows: list[tuple]) -> pd.DataFrame:
    """The page's previous per-pattern computation (pandas merge, total row, ratios), kept here as the reference."""
    cols = SUMMARY_COLS
    a = pd.DataFrame([r[:5] for r in rows], columns=["pattern", "skus", "fallbacks", "ae", "act"])
    b = pd.DataFrame([(r[0], r[5], r[6]) for r in rows if r[5] is not None], columns=["pattern", "nae", "nact"])
    if a.empty:
        return pd.DataFrame(columns=cols)
    df = a.merge(b, on="pattern", how="left")
    tot = pd.DataFrame([{"pattern": "all", "skus": df["skus"].sum(), "fallbacks": df["fallbacks"].sum(),
                         "ae": df["ae"].sum(), "act": df["act"].sum(), "nae": df["nae"].sum(),
                         "nact": df["nact"].sum()}])
    df = pd.concat([df, tot], ignore_index=True)
    df["chosen_wape"] = df["ae"] / df["act"].where(df["act"] > 0)
    df["naive_wape"] = df["nae"] / df["nact"].where(df["nact"] > 0)
    df["wape_ratio"] = df["chosen_wape"] / df["naive_wape"].where(df["naive_wape"] > 0)
    return df[cols].astype({"skus": "int64", "fallbacks": "int64"})


_float = st.floats(min_value=0, max_value=1e9, allow_nan=False) | st.sampled_from([0.0, 1e-300, 0.1, 3.0])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(1, 10_000), st.integers(0, 50), _float, _float,
                          st.one_of(st.none(), _float), _float), min_size=0, max_size=5))
def test_summary_frame_is_the_replaced_pandas_computation(parts: list[tuple]) -> None:
    rows = [(PATTERNS[i % 4] + str(i // 4), n, min(fb, n), ae, act, nae, None if nae is None else nact)
            for i, (n, fb, ae, act, nae, nact) in enumerate(parts)]
    rows.sort(key=lambda r: r[0])
    got, want = summary_frame(rows), _replaced(rows)
    if want.empty:
        pd.testing.assert_frame_equal(got, want)
        return
    if not any(r[5] is not None for r in rows):
        # none of the patterns has a baseline score: the replaced code gave object columns of NaN here;
        # the values are the same, the columns are floats now
        want = want.astype({"naive_wape": "float64", "wape_ratio": "float64"})
    pd.testing.assert_frame_equal(got, want, check_exact=True)
