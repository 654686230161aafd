"""Imports: upload canonical CSVs, a Shopify export or the Olist files; all-or-nothing with a row-level report."""

from __future__ import annotations

import streamlit as st

from ops.ingest import MAX_FILE_BYTES, kinds
from ui.cache import get_engine
from ui.context import require_page
from ui.downloads import download_buttons
from ui.imports import error_report_csv, load_import_history, run_upload, template_bytes
from ui.table import show_table

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
        # The sidebar was drawn before this import, from the caches run_upload has just cleared:
        # run again so that its "Last import" line and every table show the new data.
        st.rerun()

outcome = st.session_state.get("imports_outcome")
if outcome is not None and outcome.result is not None:
    res = outcome.result
    st.success(f"Imported {res.kind}: {res.rows_in:,} rows read, {res.rows_changed:,} rows changed.")
    if res.warnings:
        st.warning("Imported, but check these defaults:\n\n" + "\n".join(f"- {w}" for w in res.warnings),
                   icon=":material/warning:")
    st.code(res.summary(), language=None, wrap_lines=True)
elif outcome is not None and outcome.errors is not None:
    st.error(f"Import of {outcome.kind} refused: {outcome.total_errors:,} problem(s); nothing was changed."
             + (f" The first {len(outcome.errors):,} are listed; {outcome.more:,} more are not." if outcome.more
                else " Fix them all and import the file again."))
    show_table(outcome.errors, key="imports_errors",
               overrides={"message": st.column_config.TextColumn("Problem", width="large")})
    with st.expander("Every problem in full"):
        st.code(outcome.report, language=None, wrap_lines=True)
    st.download_button("Error report (CSV)", error_report_csv(outcome), file_name="import_problems.csv",
                       mime="text/csv", key="imports_errors_dl", icon=":material/download:")

st.subheader("Recent imports")
history = load_import_history(engine, viewer.cache_key, viewer)
show_table(history, key="imports_history", hide=("id",), empty="No imports yet.",
           overrides={"sha256": st.column_config.TextColumn("File checksum", width="small"),
                      "started_at": st.column_config.DatetimeColumn("Started (UTC)", format="YYYY-MM-DD HH:mm"),
                      "finished_at": st.column_config.DatetimeColumn("Finished (UTC)", format="YYYY-MM-DD HH:mm")})
download_buttons(history, name="import_history", key="imports_history_dl")
