"""Comment themes: TF-IDF + NMF over return comments, in any language, run as a background job.

How themes are found (:func:`mine`)
-----------------------------------
- Tokens are runs of 3+ letters of any script (``(?u)\\b[^\\W\\d_]{3,}\\b``), lower-cased; no
  stop-word list (none is language-neutral). Instead ``max_df`` drops words found in more than
  :data:`MAX_DF` of the comments (the "the", "de", "que" of every language) and ``min_df`` words
  found in fewer than :data:`MIN_DF` (typos, names, order numbers).
- TF-IDF (sublinear term frequency, L2-normalised rows) then NMF with ``init="nndsvda"`` and a
  fixed ``random_state``: the same comments, theme count and seed give the same themes. Nothing
  is downloaded.
- A comment's theme is its strongest NMF component (comments with no kept word get none); a
  theme's top terms are its component's largest weights.

The job (:func:`run_job`) stores a run row (``return_theme_runs``: status, progress 0..1,
message), the themes (``return_themes``) and each comment's theme (``return_theme_docs``, with the
SKU's supplier). The page only reads these tables; mining starts from ``python -m ops returns
themes`` or from the page's button (:func:`start_job` launches that command in a subprocess).

Themes are mined over every supplier's comments, so their terms are not vendor-scoped: vendors get
no theme rows (the data functions return empty frames for them).
"""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, delete, insert, select, update
from sqlalchemy.orm import Session

from ops.access import Viewer, data_function, require_viewer
from ops.db import analyze, transaction
from ops.models import OrderLine, Product, Return, ReturnTheme, ReturnThemeDoc, ReturnThemeRun, Supplier

TOKEN_PATTERN = r"(?u)\b[^\W\d_]{3,}\b"  # noqa: S105 - a regular expression, not a password
MIN_DF = 3
MAX_DF = 0.25
DEFAULT_THEMES = 8
DEFAULT_SEED = 42
TOP_TERMS = 8
EXAMPLES = 3
MAX_DOCS = 300_000  # a bound on memory; above it the newest comments are mined
# What a run writes, given PostgreSQL planner statistics as it commits (ops.db.analyze).
ANALYZED_TABLES = ("return_theme_runs", "return_themes", "return_theme_docs")
RUN_COLUMNS = ["run_id", "status", "progress", "note", "n_docs", "n_themes", "started_by", "started_at",
               "finished_at"]
THEME_COLUMNS = ["run_id", "theme_no", "top_terms", "n_docs", "share", "examples"]


@dataclass(frozen=True)
class Mined:
    """The result of :func:`mine`: per-document theme (-1: none) and weight; per-theme top terms."""

    doc_theme: np.ndarray
    doc_weight: np.ndarray
    top_terms: list[list[str]]


def mine(texts: list[str], *, n_themes: int = DEFAULT_THEMES, seed: int = DEFAULT_SEED,
         min_df: int | float = MIN_DF, max_df: float = MAX_DF, top_terms: int = TOP_TERMS) -> Mined:
    """Find ``n_themes`` themes in ``texts`` (TF-IDF + NMF, deterministic for a seed; see the module docstring).

    Raises ValueError when the texts hold too few words to mine (say which setting to lower).
    """
    from sklearn.decomposition import NMF
    from sklearn.feature_extraction.text import TfidfVectorizer

    if n_themes < 2:
        raise ValueError(f"themes: ask for at least 2 themes, not {n_themes}")
    vec = TfidfVectorizer(token_pattern=TOKEN_PATTERN, lowercase=True, min_df=min_df, max_df=max_df,
                          sublinear_tf=True, dtype=np.float64)
    try:
        x = vec.fit_transform(texts)
    except ValueError as exc:  # "empty vocabulary" / "max_df corresponds to < documents than min_df"
        raise ValueError(f"themes: the {len(texts):,} comments leave no words to mine with min_df={min_df} and "
                         f"max_df={max_df} ({exc})") from None
    k = min(n_themes, x.shape[1])
    if k < 2:
        raise ValueError(f"themes: only {x.shape[1]} distinct words survive; lower min_df or add comments")
    model = NMF(n_components=k, init="nndsvda", random_state=seed, max_iter=500)
    w = model.fit_transform(x)
    terms = np.asarray(vec.get_feature_names_out())
    tops = [terms[np.argsort(-row, kind="stable")[:top_terms]].tolist() for row in model.components_]
    best = np.argmax(w, axis=1)
    weight = w[np.arange(w.shape[0]), best]
    theme = np.where(weight > 0, best, -1)
    return Mined(doc_theme=theme.astype("int64"), doc_weight=weight.astype("float64"), top_terms=tops)


# --- the job -------------------------------------------------------------------------------------


def create_run(session: Session, *, started_by: str, seed: int = DEFAULT_SEED) -> int:
    """Insert a queued run row and return its id (the job fills it in)."""
    run = ReturnThemeRun(status="queued", progress=0.0, message="queued", n_docs=0, n_themes=0, seed=seed,
                         started_by=started_by[:100])
    session.add(run)
    session.flush()
    return int(run.id)


def _progress(engine: Engine, run_id: int, progress: float, message: str, status: str = "running") -> None:
    with transaction(engine) as s:
        s.execute(update(ReturnThemeRun).where(ReturnThemeRun.id == run_id).values(
            progress=float(progress), message=message, status=status))


def load_comments(session: Session) -> pd.DataFrame:
    """Every return with a comment: ``return_id`` (int64), ``comment`` (str), ``supplier`` (str or None)."""
    stmt = (select(Return.id, Return.comment, Supplier.code)
            .join(OrderLine, OrderLine.id == Return.order_line_id)
            .join(Product, Product.id == OrderLine.product_id)
            .outerjoin(Supplier, Supplier.id == Product.supplier_id)
            .where(Return.comment.is_not(None), Return.comment != "")
            .order_by(Return.id.desc()).limit(MAX_DOCS))
    df = pd.DataFrame(session.execute(stmt).all(), columns=["return_id", "comment", "supplier"])
    return df.sort_values("return_id", ignore_index=True)


def run_job(engine: Engine, run_id: int, *, n_themes: int = DEFAULT_THEMES, seed: int = DEFAULT_SEED) -> None:
    """Mine the themes of run ``run_id``: read the comments, mine, store; progress in the run row.

    A failure marks the run ``failed`` with the reason and re-raises.
    """
    with transaction(engine) as s:
        if s.get(ReturnThemeRun, run_id) is None:
            raise ValueError(f"no theme run {run_id}: start one without --run-id")
    try:
        _progress(engine, run_id, 0.05, "reading comments")
        with transaction(engine) as s:
            docs = load_comments(s)
        if len(docs) < max(20, n_themes * 3):
            raise ValueError(f"only {len(docs)} comments: at least {max(20, n_themes * 3)} are needed to mine themes")
        _progress(engine, run_id, 0.2, f"mining {len(docs):,} comments")
        mined = mine(docs["comment"].astype(str).tolist(), n_themes=n_themes, seed=seed)
        _progress(engine, run_id, 0.8, "storing themes")
        counts = np.bincount(mined.doc_theme[mined.doc_theme >= 0], minlength=len(mined.top_terms))
        keep = mined.doc_theme >= 0
        with transaction(engine) as s:
            s.execute(delete(ReturnThemeDoc).where(ReturnThemeDoc.run_id == run_id))
            s.execute(delete(ReturnTheme).where(ReturnTheme.run_id == run_id))
            s.execute(insert(ReturnTheme), [
                {"run_id": run_id, "theme_no": i, "top_terms": ", ".join(t), "n_docs": int(counts[i])}
                for i, t in enumerate(mined.top_terms)])
            sup = docs["supplier"].where(docs["supplier"].notna(), None).tolist()
            rows = [{"run_id": run_id, "return_id": int(r), "theme_no": int(t), "weight": float(w), "supplier": sp}
                    for r, t, w, sp, k in zip(docs["return_id"], mined.doc_theme, mined.doc_weight, sup, keep,
                                              strict=True) if k]
            for i in range(0, len(rows), 20_000):
                s.execute(insert(ReturnThemeDoc), rows[i:i + 20_000])
            s.execute(update(ReturnThemeRun).where(ReturnThemeRun.id == run_id).values(
                status="done", progress=1.0, n_docs=int(keep.sum()), n_themes=len(mined.top_terms),
                message=f"{len(mined.top_terms)} themes in {int(keep.sum()):,} comments",
                finished_at=dt.datetime.now(dt.UTC).replace(tzinfo=None)))
            # a bulk write (up to MAX_DOCS rows): the pages' first reads of it are planned with statistics
            analyze(s.connection(), ANALYZED_TABLES)
    except Exception as exc:
        with transaction(engine) as s:
            s.execute(update(ReturnThemeRun).where(ReturnThemeRun.id == run_id).values(
                status="failed", message=str(exc)[:500], finished_at=dt.datetime.now(dt.UTC).replace(tzinfo=None)))
        raise


def start_job(engine: Engine, *, started_by: str, n_themes: int = DEFAULT_THEMES, seed: int = DEFAULT_SEED) -> int:
    """Queue a run and start ``python -m ops returns themes --run-id N`` in a subprocess; return the run id.

    The caller checks who may start it (managers and admins). The subprocess reads the same
    database (``OPS_DATABASE_URL``), so the page polls the run row for progress.
    """
    with transaction(engine) as s:
        run_id = create_run(s, started_by=started_by, seed=seed)
    env = dict(os.environ)
    env["OPS_DATABASE_URL"] = engine.url.render_as_string(hide_password=False)
    subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
        [sys.executable, "-m", "ops", "returns", "themes", "--run-id", str(run_id), "--themes", str(n_themes),
         "--seed", str(seed)], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)
    return run_id


# --- reads ---------------------------------------------------------------------------------------


@data_function
def theme_runs(session: Session, *, viewer: Viewer, limit: int = 10) -> pd.DataFrame:
    """The latest mining runs, newest first (internal users; vendors get no rows).

    Returns
    -------
    DataFrame with :data:`RUN_COLUMNS`: ``run_id`` (int64), ``status`` (str: queued / running /
    done / failed), ``progress`` (float64, 0..1), ``note`` (str, the job's last message), ``n_docs``, ``n_themes``
    (int64), ``started_by`` (str), ``started_at``, ``finished_at`` (datetime64[ns]).
    """
    require_viewer(viewer)
    if viewer.is_vendor:
        rows: list[Any] = []
    else:
        t = ReturnThemeRun
        rows = list(session.execute(select(t.id, t.status, t.progress, t.message, t.n_docs, t.n_themes,
                                           t.started_by, t.started_at, t.finished_at)
                                    .order_by(t.id.desc()).limit(limit)).all())
    df = pd.DataFrame(rows, columns=RUN_COLUMNS)
    df["started_at"] = pd.to_datetime(df["started_at"])
    df["finished_at"] = pd.to_datetime(df["finished_at"])
    return df.astype({"run_id": "int64", "progress": "float64", "n_docs": "int64", "n_themes": "int64"})


@data_function
def theme_table(session: Session, *, viewer: Viewer, run_id: int | None = None) -> pd.DataFrame:
    """The themes of run ``run_id`` (default: the latest finished one) with example comments.

    Internal users only (vendors get no rows: see the module docstring). ``examples`` holds the
    :data:`EXAMPLES` comments weighing most on the theme, joined by " | ".

    Returns
    -------
    DataFrame with :data:`THEME_COLUMNS`: ``run_id``, ``theme_no`` (int64), ``top_terms`` (str),
    ``n_docs`` (int64), ``share`` (float64, of the run's themed comments), ``examples`` (str).
    """
    require_viewer(viewer)
    empty = pd.DataFrame(columns=THEME_COLUMNS).astype({"run_id": "int64", "theme_no": "int64", "n_docs": "int64",
                                                        "share": "float64"})
    if viewer.is_vendor:
        return empty
    if run_id is None:
        run_id = session.scalar(select(ReturnThemeRun.id).where(ReturnThemeRun.status == "done")
                                .order_by(ReturnThemeRun.id.desc()).limit(1))
        if run_id is None:
            return empty
    th = pd.DataFrame(session.execute(select(ReturnTheme.theme_no, ReturnTheme.top_terms, ReturnTheme.n_docs)
                                      .where(ReturnTheme.run_id == run_id).order_by(ReturnTheme.theme_no)).all(),
                      columns=["theme_no", "top_terms", "n_docs"])
    if th.empty:
        return empty
    examples = []
    for no in th["theme_no"]:
        d = ReturnThemeDoc
        texts = session.scalars(select(Return.comment).join(d, d.return_id == Return.id)
                                .where(d.run_id == run_id, d.theme_no == int(no))
                                .order_by(d.weight.desc(), d.return_id).limit(EXAMPLES)).all()
        examples.append(" | ".join(str(x) for x in texts))
    th["run_id"] = int(run_id)
    th["examples"] = examples
    total = float(th["n_docs"].sum())
    th["share"] = th["n_docs"] / total if total else np.nan
    return th[THEME_COLUMNS].astype({"run_id": "int64", "theme_no": "int64", "n_docs": "int64", "share": "float64"})
