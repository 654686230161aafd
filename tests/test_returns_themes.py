"""Comment themes: deterministic, the planted "too small" comments land in one theme, Portuguese reviews give
Portuguese themes, the job stores runs/themes/docs with progress, and theme names go through ops.decisions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, select

from ops import returns as ret
from ops.access import SYSTEM, Viewer
from ops.db import transaction
from ops.decisions import apply
from ops.models import Decision, Return, ReturnThemeDoc
from ops.returns.themes import create_run, mine, run_job
from tests.conftest import SHARED_DATA, planner_estimate, sqlite_statistics

OLIST_REVIEWS = SHARED_DATA / "olist_sample_4k" / "olist_order_reviews_dataset.csv"
# Words that would only show up if the mining leaned on English text or an English stop-word list.
ENGLISH = {"the", "and", "not", "was", "product", "delivery", "good", "very", "received"}
PORTUGUESE = {"produto", "entrega", "prazo", "recebi", "chegou", "muito", "bom", "recomendo", "antes", "qualidade",
              "excelente", "gostei", "ótimo", "loja", "entregue", "veio", "rápida"}


@pytest.fixture(scope="module")
def demo_comments(seeded_engine: Engine) -> pd.DataFrame:
    with transaction(seeded_engine) as s:
        rows = s.execute(select(Return.id, Return.comment, Return.reason_code)
                         .where(Return.comment.is_not(None)).order_by(Return.id)).all()
    return pd.DataFrame(rows, columns=["id", "comment", "reason_code"])


def test_mining_is_deterministic(demo_comments: pd.DataFrame) -> None:
    texts = demo_comments["comment"].tolist()
    a, b = mine(texts, seed=42), mine(list(texts), seed=42)
    np.testing.assert_array_equal(a.doc_theme, b.doc_theme)
    np.testing.assert_array_equal(a.doc_weight, b.doc_weight)
    assert a.top_terms == b.top_terms
    assert len(set(a.doc_theme[a.doc_theme >= 0])) >= 6  # real themes, not one bucket


@pytest.fixture(scope="module")
def default_demo_comments() -> pd.DataFrame:
    """The comments of the default demo data set (seed 42), generated in memory (about 5 s)."""
    from ops.demo import generate

    r = generate("default", 42)["returns"]
    df = pd.DataFrame({"comment": r["comment"], "reason_code": r["reason_code"]})
    return df[df["comment"].notna()].reset_index(drop=True)


def test_planted_too_small_comments_fall_mostly_in_one_theme(default_demo_comments: pd.DataFrame) -> None:
    demo_comments = default_demo_comments
    assert len(demo_comments) > 5000
    got = mine(demo_comments["comment"].tolist(), seed=42)
    small = got.doc_theme[(demo_comments["reason_code"] == "runs_small").to_numpy()]
    counts = np.bincount(small[small >= 0], minlength=len(got.top_terms))
    best = int(counts.argmax())
    assert counts[best] / len(small) >= 0.7, (counts, got.top_terms)
    assert {"size", "small", "too"} & set(got.top_terms[best])
    # ... and that theme is about fit: few comments of unrelated reasons in it.
    in_best = demo_comments.loc[got.doc_theme == best, "reason_code"]
    assert in_best.isin(["runs_small", "runs_large"]).mean() >= 0.6
    # The non-English "too small" comments (Spanish, French, German, Portuguese templates) are there too.
    assert demo_comments["comment"].str.contains("Talla pequeña|Taille trop petite|zu klein|pequeno").any()


def test_olist_reviews_give_portuguese_themes() -> None:
    reviews = pd.read_csv(OLIST_REVIEWS, usecols=["review_comment_message"])
    texts = reviews["review_comment_message"].dropna().astype(str).tolist()
    assert len(texts) > 1000
    got = mine(texts, n_themes=6, seed=42)
    terms = {t for theme in got.top_terms for t in theme}
    assert len(terms & PORTUGUESE) >= 8, got.top_terms
    assert not terms & ENGLISH
    assert any(any(ch in t for ch in "áéíóúãõç") for t in terms)  # accented words survive the token pattern
    assert sum(len(set(th) & PORTUGUESE) > 0 for th in got.top_terms) >= 5  # nearly every theme reads Portuguese


def test_job_stores_themes_with_progress_and_vendors_see_none(engine: Engine) -> None:
    from ops.demo import seed

    seed(engine, size="small", seed=7)
    with transaction(engine) as s:
        run_id = create_run(s, started_by="maria")
    run_job(engine, run_id, n_themes=8, seed=42)
    supplier = Viewer(username="v", role="vendor", vendor_kind="supplier", vendor_code="SUP-001")
    with transaction(engine) as s:
        runs = ret.theme_runs(s, viewer=SYSTEM)
        table = ret.theme_table(s, viewer=SYSTEM)
        docs = len(s.execute(select(ReturnThemeDoc.id).where(ReturnThemeDoc.run_id == run_id)).all())
        n_comments = len(s.execute(select(Return.id).where(Return.comment.is_not(None))).all())
        assert ret.theme_table(s, viewer=supplier).empty and ret.theme_runs(s, viewer=supplier).empty
    assert runs.iloc[0][["run_id", "status", "progress"]].tolist() == [run_id, "done", 1.0]
    assert len(table) == 8 and int(table["n_docs"].sum()) == docs
    # every comment keeping a word after min_df gets a theme; only a few short rare-language ones keep none
    assert 0.9 * n_comments <= docs <= n_comments
    assert table["examples"].str.len().gt(0).all()
    # a bulk write: PostgreSQL has statistics of what the run wrote (a table this small is sampled whole);
    # SQLite keeps its rule-based plans
    with engine.connect() as conn:
        if conn.dialect.name == "postgresql":
            for t, n in (("return_theme_docs", docs), ("return_themes", 8)):
                assert planner_estimate(conn, t) == n
        else:
            assert not sqlite_statistics(conn)
    # the same run again (the job is idempotent per run) gives the same table
    run_job(engine, run_id, n_themes=8, seed=42)
    with transaction(engine) as s:
        again = ret.theme_table(s, viewer=SYSTEM)
    pd.testing.assert_frame_equal(table, again)


def test_failed_job_says_why(engine: Engine) -> None:
    with transaction(engine) as s:
        run_id = create_run(s, started_by="maria")
    with pytest.raises(ValueError, match="comments"):
        run_job(engine, run_id)
    with transaction(engine) as s:
        runs = ret.theme_runs(s, viewer=SYSTEM)
    assert runs.iloc[0]["status"] == "failed" and "comments" in runs.iloc[0]["note"]


def test_a_manager_names_a_theme_and_maps_it_to_a_reason(engine: Engine) -> None:
    manager = Viewer(username="maria", role="manager")
    with transaction(engine) as s:
        apply(s, ret.theme_change(run_id=3, theme_no=1, name="Runs small", reason_code="runs_small",
                                  expected_version=0), viewer=manager, why="reads like fit")
    with transaction(engine) as s:
        names = ret.theme_names(s, viewer=manager)
        audit = s.scalars(select(Decision).where(Decision.entity_key == "theme:3:1")).all()
    assert names[["run_id", "theme_no", "name", "reason_code", "version"]].values.tolist() == [
        [3, 1, "Runs small", "runs_small", 1]]
    assert [a.actor for a in audit] == ["maria"]


def test_cli_and_page_button_run_the_job_outside_the_page(sqlite_engine: Engine, monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    """``python -m ops returns themes`` mines in-process; the page's button starts the same command in a
    subprocess and the run row shows its progress until it is done."""
    import time

    from ops.__main__ import main
    from ops.demo import seed
    from ops.returns.themes import start_job

    seed(sqlite_engine, size="small", seed=7)
    monkeypatch.setenv("OPS_DATABASE_URL", sqlite_engine.url.render_as_string(hide_password=False))
    assert main(["returns", "themes", "--themes", "6", "--seed", "3"]) == 0
    assert "6 themes" in capsys.readouterr().out
    run_id = start_job(sqlite_engine, started_by="maria", n_themes=5)
    deadline = time.monotonic() + 240
    while True:
        with transaction(sqlite_engine) as s:
            runs = ret.theme_runs(s, viewer=SYSTEM).set_index("run_id")
        if runs.loc[run_id, "status"] in ("done", "failed") or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert runs.loc[run_id, "status"] == "done", runs.loc[run_id, "note"]
    assert runs.loc[run_id, "n_themes"] == 5 and runs.loc[run_id, "started_by"] == "maria"
    with transaction(sqlite_engine) as s:
        assert len(ret.theme_table(s, viewer=SYSTEM, run_id=run_id)) == 5
