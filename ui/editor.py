"""The editor protocol every page uses to write back: data_editor -> ChangeSet -> ops.decisions.apply.

A page calls :func:`edit_table` with the rows it shows (a hidden key column and a hidden
version column included). Save turns st.data_editor's edit state into a validated
:class:`~ops.decisions.ChangeSet` with :func:`change_set_from_editor` (pure, tested without
Streamlit), applies it in one transaction with bounded retries, clears the cached loaders and
reruns; a stale edit or bad input is shown as the clear message ``ops.decisions`` gives, and
nothing is saved.

Session-state keys, for a table keyed ``k``: ``k_editor`` (st.data_editor's edit state:
``{"edited_rows": {pos: {col: value}}, "added_rows": [...], "deleted_rows": [...]}``),
``k_original`` (the rows as shown, so Save maps positions to the keys and versions the user
saw), ``k_why`` (the reason typed by the user) and ``k_flash`` (the last save's outcome).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from ops.access import AccessDenied, Viewer
from ops.db import run_in_transaction
from ops.decisions import THRESHOLD_ENTITY, Change, ChangeSet, DecisionError, ValidationError, apply
from ui.cache import clear_loaders, get_engine


def _same(old: Any, new: Any) -> bool:
    def missing(v: Any) -> bool:
        return v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT or v is pd.NA

    if missing(old) or missing(new):
        return missing(old) and missing(new)
    try:
        return bool(old == new)
    except (TypeError, ValueError):
        return False


def _plain(v: Any) -> Any:
    """NumPy/pandas scalars as plain Python values (they travel into JSON audit rows)."""
    if hasattr(v, "item") and not isinstance(v, (str, bytes)):
        try:
            return v.item()
        except (ValueError, AttributeError):
            return v
    return v


def change_set_from_editor(
    original_df: pd.DataFrame,
    editor_state: Mapping[str, Any] | None,
    *,
    key_col: str,
    version_col: str,
    editable: Sequence[str],
    entity_kind: str = THRESHOLD_ENTITY,
    kind_col: str | None = None,
    why: str | None = None,
) -> ChangeSet:
    """Map st.data_editor's edit state to a validated change set (pure; no Streamlit, no database).

    ``edited_rows`` keys are row positions in ``original_df`` (int, or their text form); each is
    mapped to the row's primary key (``key_col``) and the version the user saw
    (``version_col``). Cells equal to the original are dropped. Added or deleted rows, unknown
    positions and edits to columns outside ``editable`` raise :class:`ValidationError` naming
    the row and the column. ``kind_col`` takes the entity kind per row (else ``entity_kind``).
    """
    state = dict(editor_state or {})
    for col in (key_col, version_col):
        if col not in original_df.columns:
            raise ValidationError(f"the table has no {col!r} column to map edits to rows")
    if state.get("added_rows"):
        raise ValidationError(f"adding rows is not supported in this table ({len(state['added_rows'])} added)")
    if state.get("deleted_rows"):
        raise ValidationError(f"deleting rows is not supported in this table ({len(state['deleted_rows'])} deleted)")
    allowed = set(editable)
    n = len(original_df)
    changes: list[Change] = []
    edited: list[tuple[int, Any]] = []
    for raw_pos, cells in (state.get("edited_rows") or {}).items():
        try:
            edited.append((int(raw_pos), cells))
        except (TypeError, ValueError):
            raise ValidationError(f"edited row {raw_pos!r} is not a row number") from None
    for pos, cells in sorted(edited, key=lambda pc: pc[0]):
        if not 0 <= pos < n:
            raise ValidationError(f"edited row {pos + 1} is not in the table (it has {n} rows)")
        row = original_df.iloc[pos]
        key = str(_plain(row[key_col]))
        version = _plain(row[version_col])
        expected = None if version is None or (isinstance(version, float) and math.isnan(version)) else int(version)
        kind = str(row[kind_col]) if kind_col else entity_kind
        for col, new in dict(cells or {}).items():
            if col not in allowed:
                raise ValidationError(f"row {pos + 1} ({key}): column {col!r} cannot be edited")
            old = _plain(row[col]) if col in original_df.columns else None
            new = _plain(new)
            if _same(old, new):
                continue
            changes.append(Change(entity_kind=kind, key=key, field=str(col), old=old, new=new,
                                  expected_version=expected))
    return ChangeSet(changes=tuple(changes), why=(why or "").strip() or None)


def save_changes(changes: ChangeSet, *, viewer: Viewer, flash_key: str) -> bool:
    """Apply ``changes`` in one transaction (bounded retries), clear loaders, set the flash message.

    Returns True when saved. Refusals are already audited by ``ops.decisions``; their message
    goes to ``st.session_state[flash_key]`` for the page to show.
    """
    if not changes:
        st.session_state[flash_key] = ("info", "Nothing to save: no value was changed.")
        return False
    try:
        run_in_transaction(get_engine(), lambda s: apply(s, changes, viewer=viewer))
    except (DecisionError, AccessDenied) as exc:
        st.session_state[flash_key] = ("error", str(exc))
        return False
    clear_loaders()
    rows = len({(c.entity_kind, c.key) for c in changes.changes})
    st.session_state[flash_key] = ("success", f"Saved {rows} row{'s' if rows != 1 else ''}.")
    return True


def _on_save(key: str, viewer: Viewer, key_col: str, version_col: str, editable: tuple[str, ...],
             entity_kind: str, kind_col: str | None) -> None:
    original = st.session_state.get(f"{key}_original")
    if not isinstance(original, pd.DataFrame):
        st.session_state[f"{key}_flash"] = ("error", "The table was not loaded; reload the page and try again.")
        return
    try:
        changes = change_set_from_editor(
            original, st.session_state.get(f"{key}_editor"), key_col=key_col, version_col=version_col,
            editable=editable, entity_kind=entity_kind, kind_col=kind_col, why=st.session_state.get(f"{key}_why"),
        )
    except ValidationError as exc:
        st.session_state[f"{key}_flash"] = ("error", str(exc))
        return
    if save_changes(changes, viewer=viewer, flash_key=f"{key}_flash"):
        # Drop the edits so the editor shows the stored rows (new versions) after the rerun.
        st.session_state.pop(f"{key}_editor", None)


def show_flash(key: str) -> None:
    """Show (once) the outcome of the last save of table ``key``."""
    flash = st.session_state.pop(f"{key}_flash", None)
    if not flash:
        return
    level, text = flash
    {"success": st.success, "error": st.error, "info": st.info}.get(level, st.info)(text)


def edit_table(
    df: pd.DataFrame,
    *,
    key: str,
    viewer: Viewer,
    key_col: str,
    version_col: str,
    editable: Sequence[str],
    entity_kind: str = THRESHOLD_ENTITY,
    kind_col: str | None = None,
    column_config: Mapping[str, Any] | None = None,
    read_only: bool = False,
    on_render: Callable[[], None] | None = None,
) -> None:
    """Render ``df`` in an st.data_editor (key and version hidden) with a reason box and Save.

    Only ``editable`` columns can be changed; rows cannot be added or deleted. ``read_only``
    shows the table without Save (e.g. for roles that may not edit).
    """
    show_flash(key)
    st.session_state[f"{key}_original"] = df.reset_index(drop=True)
    config: dict[str, Any] = {key_col: None, version_col: None}
    if kind_col:
        config[kind_col] = None
    config.update(column_config or {})
    st.data_editor(
        df.reset_index(drop=True), key=f"{key}_editor", hide_index=True, num_rows="fixed", width="stretch",
        disabled=True if read_only else [c for c in df.columns if c not in set(editable)],
        column_config=config,
    )
    if on_render:
        on_render()
    if read_only:
        return
    st.text_input("Reason for the change (kept in the audit log)", key=f"{key}_why", max_chars=500)
    st.button(
        "Save changes", key=f"{key}_save", type="primary", icon=":material/save:", on_click=_on_save,
        args=(key, viewer, key_col, version_col, tuple(editable), entity_kind, kind_col),
    )
