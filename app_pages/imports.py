"""Imports: upload canonical CSVs, a Shopify export or the Olist files; all-or-nothing with a row-level report."""

from __future__ import annotations

import streamlit as st

from ops.ingest import MAX_FILE_BYTES, kinds
from ui.cache import clear_loaders, get_engine
from ui.context import require_page
from ui.downloads import download_buttons
from ui.imports import load_import_history, run_upload, template_bytes

viewer = require_page("imports")
engine = get_engine()
KINDS = kinds()

st.title("Imports")
st.caption("Every import is checked in full first: any problem refuses the whole import and lists each bad row, "
           "with its line and column. A clean import is upserted on natural keys; re-importing a file changes "
           f"nothing. Files up to {MAX_FILE_BYTES // 2**20} MiB; UTF-8, UTF-16 or Windows-1252; comma, "
           "semicolon or tab separated.")

kind = st.selectbox("What are you importing?", list(KINDS), key="imports_kind",
                    format_func=lambda k: f"{k}: {KINDS[k]}")
template = template_bytes(kind)
if template is not None:
    st.download_button("Template CSV", template, file_name=f"{kind.removeprefix('csv-')}.csv", mime="text/csv",
                       key="imports_template", icon=":material/description:")
elif kind == "olist":
    st.caption("Upload the Olist CSV files together (orders, order items, customers, products, sellers, reviews "
               "and the category translation); payments are not used.")

with st.form("imports_form", clear_on_submit=True):
    files = st.file_uploader("Files", type=["csv", "tsv", "txt"], accept_multiple_files=True, key="imports_files")
    submitted = st.form_submit_button("Import", type="primary", icon=":material/upload:")

if submitted:
    if not files:
        st.warning("Choose at least one file.")
    else:
        bar = st.progress(0.0, text="Checking rows...")

        def _progress(done: int, total: int) -> None:
            bar.progress(min(done / total, 1.0) if total else 1.0, text=f"{done:,} / {total:,} rows")

        st.session_state["imports_outcome"] = run_upload(engine, kind=kind, files=files, viewer=viewer,
                                                         progress=_progress)
        bar.empty()
        clear_loaders()

outcome = st.session_state.get("imports_outcome")
if outcome is not None and outcome.result is not None:
    res = outcome.result
    st.success(f"Imported {res.kind}: {res.rows_in:,} rows read, {res.rows_changed:,} rows changed.")
    st.code(res.summary(), language=None)
elif outcome is not None and outcome.errors is not None:
    more = outcome.total_errors - len(outcome.errors)
    st.error(f"Import of {outcome.kind} refused: {outcome.total_errors:,} problem(s); nothing was changed."
             + (f" The first {len(outcome.errors):,} are listed." if more else ""))
    st.dataframe(outcome.errors, hide_index=True, width="stretch", key="imports_errors")
    download_buttons(outcome.errors, name="import_problems", key="imports_errors_dl")

st.subheader("Recent imports")
history = load_import_history(engine, viewer.cache_key, viewer)
TIME = "YYYY-MM-DD HH:mm"
st.dataframe(history, hide_index=True, width="stretch", key="imports_history",
             column_config={"id": None, "sha256": st.column_config.TextColumn("sha256", width="small"),
                            "started_at": st.column_config.DatetimeColumn("Started (UTC)", format=TIME),
                            "finished_at": st.column_config.DatetimeColumn("Finished (UTC)", format=TIME)})
download_buttons(history, name="import_history", key="imports_history_dl")
