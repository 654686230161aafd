"""Imports: upload shop-system exports or canonical CSVs; the format is recognised from the header; a dry run
previews the mapped rows and every problem; the import is all-or-nothing with a row-level report."""

from __future__ import annotations

import streamlit as st

from ops.ingest import MAX_FILE_BYTES, kinds
from ui.cache import get_engine
from ui.context import require_page
from ui.downloads import download_buttons
from ui.imports import (
    AUTO,
    error_report_csv,
    load_import_history,
    preview_frames,
    recognise,
    run_upload,
    template_bytes,
)
from ui.table import show_table

viewer = require_page("imports")
engine = get_engine()
KINDS = {AUTO: "recognise each file's format from its header", **kinds()}

st.title("Imports")
st.caption("Upload the exports your systems write (Shopify orders, products or inventory; Amazon orders or FBA "
           "returns; WooCommerce; ShipStation; a returns platform; Olist; UCI Online Retail) or the canonical "
           "CSV templates. Check first: a dry run shows the rows as they would be stored and every problem, and "
           "changes nothing. An import is all-or-nothing; re-importing a file changes nothing. Files up to "
           f"{MAX_FILE_BYTES // 2**20} MiB; UTF-8, UTF-16 or Windows-1252; comma, semicolon or tab separated.")

left, right = st.columns([3, 2])
kind = left.selectbox("What are you importing?", list(KINDS), key="imports_kind",
                      format_func=lambda k: "Recognise from the header" if k == AUTO else f"{k}: {KINDS[k]}")
tz = right.text_input("Time zone of times without an offset", key="imports_tz", placeholder="e.g. Europe/Berlin",
                      help="IANA name. Times carrying a UTC offset are converted to it; times without one are read "
                           "in it. Empty: every time is kept as written in the file.")
template = template_bytes(kind)
if template is not None:
    st.download_button("Template CSV", template, file_name=f"{kind.removeprefix('csv-')}.csv", mime="text/csv",
                       key="imports_template", icon=":material/description:")
elif kind == "olist":
    st.caption("Upload the Olist CSV files together: orders, order items, products and customers are needed; "
               "sellers, reviews and the category translation are optional. Files are recognised by their "
               "header, whatever their names.")

files = st.file_uploader("Files", type=["csv", "tsv", "txt"], accept_multiple_files=True, key="imports_files")
if files and kind == AUTO:
    found, problem = recognise(files)
    if problem:
        st.error("Not every file was recognised; choose its kind above, or fix the file.")
        st.code(problem, language=None, wrap_lines=True)
    else:
        st.caption("Recognised formats (imported in this order, in one transaction):")
        show_table(found, key="imports_recognised")

check_col, import_col = st.columns(2)
checked = check_col.button("Check (dry run)", key="imports_check", icon=":material/fact_check:",
                           disabled=not files)
submitted = import_col.button("Import", type="primary", key="imports_go", icon=":material/upload:")

if checked and files:
    with st.spinner("Checking every row..."):
        st.session_state["imports_outcome"] = run_upload(engine, kind=kind, files=files, viewer=viewer, tz=tz,
                                                         dry_run=True)
if submitted:
    if not files:
        st.warning("Choose at least one file.")
    else:
        bar = st.progress(0.0, text="Checking rows...")

        def _progress(done: int, total: int) -> None:
            bar.progress(min(done / total, 1.0) if total else 1.0, text=f"{done:,} / {total:,} rows")

        st.session_state["imports_outcome"] = run_upload(engine, kind=kind, files=files, viewer=viewer,
                                                         progress=_progress, tz=tz)
        # The sidebar was drawn before this import, from the caches run_upload has just cleared:
        # run again so that its "Last import" line and every table show the new data.
        st.rerun()

outcome = st.session_state.get("imports_outcome")
if outcome is not None and outcome.results:
    rows_in = sum(r.rows_in for r in outcome.results)
    changed = sum(r.rows_changed for r in outcome.results)
    if outcome.dry_run:
        st.info(f"Dry run of {outcome.kind}: {rows_in:,} rows read, {changed:,} rows would change. Nothing was "
                "changed; press Import to load them.", icon=":material/fact_check:")
    else:
        st.success(f"Imported {outcome.kind}: {rows_in:,} rows read, {changed:,} rows changed.")
    warnings = [w for r in outcome.results for w in r.warnings]
    if warnings:
        st.warning(("Would import, but check these:" if outcome.dry_run else "Imported, but check these defaults:")
                   + "\n\n" + "\n".join(f"- {w}" for w in warnings), icon=":material/warning:")
    st.code("\n".join(r.summary() for r in outcome.results), language=None, wrap_lines=True)
    for r in outcome.results:
        frames = preview_frames(r)
        if frames:
            st.subheader(f"Preview: {r.kind}, the first rows as they would be stored")
            for table, df in frames.items():
                with st.expander(f"{table} ({r.inserted.get(table, 0):,} new)", expanded=table in ("orders",
                                                                                                  "products")):
                    show_table(df, key=f"imports_preview_{r.kind}_{table}")
elif outcome is not None and outcome.errors is not None:
    verb = "Dry run found" if outcome.dry_run else f"Import of {outcome.kind} refused:"
    st.error(f"{verb} {outcome.total_errors:,} problem(s); nothing was changed."
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
