"""The editor protocol every page uses to write back: data_editor -> ChangeSet -> ops.decisions.apply.

A page calls :func:`edit_table` with the rows it shows (a hidden key column and a hidden
version column included). Save turns st.data_editor's edit state into a validated
:class:`~ops.decisions.ChangeSet` with :func:`change_set_from_editor` (pure, tested without
Streamlit), applies it in one transaction with bounded retries, clears the cached loaders and
reruns; a stale edit or bad input is shown as the clear message ``ops.decisions`` gives, and
nothing is saved.

Session-state keys, for a table keyed ``k``: ``k_editor`` (st.data_editor's edit state:
``{"edited_rows": {pos: {col: value}}, "added_rows": [...], "deleted_rows": [...]}``; after
the grid is reset it is ``k_editor_<n>``, see below), ``k_original`` (the rows as shown, so Save
maps positions to the keys and versions the user saw), ``k_why`` (the reason typed by the user),
``k_flash`` (the last save's outcome), ``k_flash_pending`` (a change set waiting for the user
to confirm an implausible value, with the question) and ``k_gen`` (how often the grid was reset).

After a save, and after a refusal, the grid shows the stored rows again and the reason box is
emptied (after a save only: a refused attempt keeps its reason for the retry). Streamlit keeps
a keyed editor's edits in the browser across reruns, so clearing ``k_editor`` alone would leave
a refused value on screen: the editor is given a new key (``k_gen`` + 1) instead.

Entity tables (exception rows with a state) get a "Vendor response" column (``vendor_note``):
the owning vendor writes only that column (the state, note and snooze date are read-only to
vendors, and ``ops.decisions`` refuses them anyway); internal users read it beside the state.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict
from typing import Any

import pandas as pd
import streamlit as st

from ops import decisions
from ops.access import AccessDenied, Viewer
from ops.db import run_in_transaction
from ops.decisions import (
    MAX_NOTE_CHARS,
    THRESHOLD_ENTITY,
    THRESHOLDS,
    VENDOR_EDITABLE,
    Change,
    ChangeSet,
    DecisionError,
    EffectiveThreshold,
    NeedsConfirmation,
    StateRecord,
    ValidationError,
    apply,
    parse_threshold_key,
)
from ui.cache import clear_loaders, get_engine
from ui.decisions import load_entity_states

RESPONSE_COL = VENDOR_EDITABLE[0]
SHOWN_IN_SUMMARY = 5
FIELD_LABELS = {"state": "state", "note": "note", "snooze_until": "snooze until", RESPONSE_COL: "response"}


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


def _text(v: Any) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NaT:
        return "–"
    if isinstance(v, float):
        return f"{v:,.10g}"
    return str(v)


def describe_saved(changes: ChangeSet, results: Sequence[EffectiveThreshold | StateRecord]) -> str:
    """What a save stored, in words: "Saved 2 changes: Low-cover warning (global) 14 → 21 days; ..."."""
    groups: dict[tuple[str, str], list[Change]] = {}
    for ch in changes.changes:
        groups.setdefault((ch.entity_kind, str(ch.key)), []).append(ch)
    parts: list[str] = []
    for ((kind, key), cells), result in zip(groups.items(), results, strict=False):
        if kind == THRESHOLD_ENTITY and isinstance(result, EffectiveThreshold):
            name, scope_kind, scope_key = parse_threshold_key(key)
            d = THRESHOLDS.get(name)
            unit = "" if d is None else (" %" if d.unit == "%" else f" {d.unit}")
            where = "global" if scope_kind == "global" else f"{scope_kind} {scope_key}"
            parts.append(f"{d.label if d else name} ({where}) {_text(cells[0].old)} → {_text(result.value)}{unit}")
        else:
            kdef = decisions.ENTITY_KINDS.get(kind)
            label = kdef.label if kdef else kind
            stored = asdict(result) if isinstance(result, StateRecord) else {}
            what = ", ".join(
                f"{FIELD_LABELS.get(c.field, c.field)} {_text(c.old)} → {_text(stored.get(c.field, c.new))}"
                for c in cells)
            parts.append(f"{label} {key}: {what}")
    n = len(parts)
    shown = "; ".join(parts[:SHOWN_IN_SUMMARY])
    more = f"; and {n - SHOWN_IN_SUMMARY} more" if n > SHOWN_IN_SUMMARY else ""
    return f"Saved {n} change{'s' if n != 1 else ''}: {shown}{more}."


def save_changes(changes: ChangeSet, *, viewer: Viewer, flash_key: str, confirm: bool = False) -> bool:
    """Apply ``changes`` in one transaction (bounded retries), clear loaders, set the flash message.

    Returns True when saved; the flash then says what was saved. Refusals are already audited by
    ``ops.decisions``; their message goes to ``st.session_state[flash_key]`` for the page to show.
    A value outside its plausible range (and ``confirm`` False) saves nothing and leaves the change
    set and its question in ``st.session_state[flash_key + "_pending"]`` for
    :func:`show_confirmation`.
    """
    st.session_state.pop(f"{flash_key}_pending", None)
    if not changes:
        st.session_state[flash_key] = ("info", "Nothing to save: no value was changed.")
        return False
    try:
        results = run_in_transaction(get_engine(), lambda s: apply(s, changes, viewer=viewer, confirm=confirm))
    except NeedsConfirmation as exc:
        st.session_state[f"{flash_key}_pending"] = (changes, exc.question)
        return False
    except (DecisionError, AccessDenied) as exc:
        st.session_state[flash_key] = ("error", str(exc))
        return False
    clear_loaders()
    st.session_state[flash_key] = ("success", describe_saved(changes, results))
    return True


def save_threshold_form(key: str, viewer: Viewer, current: pd.DataFrame, names: Sequence[str]) -> None:
    """Form callback: save the global thresholds a form edits, through the same path as :func:`edit_table`.

    The form's widgets are keyed ``f"{key}_{name}"`` (one number per threshold name) and
    ``f"{key}_why"`` (the reason); ``current`` is ``ops.decisions.threshold_table``'s frame (or
    the rows of it the form shows). Changed values become one change set (guarded by the
    versions in ``current``); the outcome goes to ``f"{key}_flash"``: what was saved, "Nothing
    to save" as an info, a refusal, or a question for an implausible value. Render
    ``show_flash(key)`` and ``show_confirmation(key, viewer=viewer)`` above the form. After a
    save the reason is emptied.
    """
    glob = current[current["scope_kind"] == "global"].set_index("name")
    changes: list[Change] = []
    for name in names:
        new = st.session_state.get(f"{key}_{name}")
        old = _plain(glob.loc[name, "value"])
        if new is None or _same(float(old), float(new)) or math.isclose(float(old), float(new)):
            continue
        changes.append(Change(entity_kind=THRESHOLD_ENTITY, key=str(glob.loc[name, "key"]), field="value", old=old,
                              new=_plain(new), expected_version=int(glob.loc[name, "version"])))
    why = (st.session_state.get(f"{key}_why") or "").strip() or None
    if save_changes(ChangeSet(changes=tuple(changes), why=why), viewer=viewer, flash_key=f"{key}_flash"):
        st.session_state[f"{key}_why"] = ""


def _editor_key(key: str) -> str:
    gen = int(st.session_state.get(f"{key}_gen", 0))
    return f"{key}_editor" if gen == 0 else f"{key}_editor_{gen}"


def reset_grid(key: str) -> None:
    """Show table ``key``'s stored rows again: drop its edits and any pending confirmation.

    Call from a callback. The editor gets a new key because the browser keeps a keyed editor's
    edits across reruns (so a refused value would stay on screen otherwise).
    """
    st.session_state.pop(_editor_key(key), None)
    st.session_state[f"{key}_gen"] = int(st.session_state.get(f"{key}_gen", 0)) + 1
    st.session_state.pop(f"{key}_flash_pending", None)


def _after_save(key: str, saved: bool) -> None:
    if saved:
        st.session_state[f"{key}_why"] = ""  # the next change must not reuse this reason silently
        reset_grid(key)
    elif f"{key}_flash_pending" not in st.session_state:
        reset_grid(key)  # refused: show the stored values beside the refusal


def _on_save(key: str, viewer: Viewer, key_col: str, version_col: str, editable: tuple[str, ...],
             entity_kind: str, kind_col: str | None) -> None:
    original = st.session_state.get(f"{key}_original")
    if not isinstance(original, pd.DataFrame):
        st.session_state[f"{key}_flash"] = ("error", "The table was not loaded; reload the page and try again.")
        return
    try:
        changes = change_set_from_editor(
            original, st.session_state.get(_editor_key(key)), key_col=key_col, version_col=version_col,
            editable=editable, entity_kind=entity_kind, kind_col=kind_col, why=st.session_state.get(f"{key}_why"),
        )
    except ValidationError as exc:
        st.session_state[f"{key}_flash"] = ("error", str(exc))
        reset_grid(key)
        return
    if not changes:
        st.session_state[f"{key}_flash"] = ("info", "Nothing to save: no value was changed.")
        return
    _after_save(key, save_changes(changes, viewer=viewer, flash_key=f"{key}_flash"))


def _on_confirm(key: str, viewer: Viewer) -> None:
    pending = st.session_state.pop(f"{key}_flash_pending", None)
    if not pending:
        return
    changes, _question = pending
    _after_save(key, save_changes(changes, viewer=viewer, flash_key=f"{key}_flash", confirm=True))


def _on_cancel(key: str) -> None:
    reset_grid(key)
    st.session_state[f"{key}_flash"] = ("info", "Nothing was saved.")


def _drop_pending(key: str) -> None:
    # The question was about the values shown when it was asked; an edit since makes it moot.
    st.session_state.pop(f"{key}_flash_pending", None)


def show_flash(key: str) -> None:
    """Show (once) the outcome of the last save of table ``key``."""
    flash = st.session_state.pop(f"{key}_flash", None)
    if not flash:
        return
    level, text = flash
    {"success": st.success, "error": st.error, "info": st.info, "warning": st.warning}.get(level, st.info)(text)


def show_confirmation(key: str, *, viewer: Viewer) -> bool:
    """If a save of ``key`` waits for confirmation, ask its question with "Save anyway" / "Cancel".

    Returns True when a question is shown. Pages that call :func:`save_changes` themselves (with
    ``flash_key=f"{key}_flash"``) call this next to :func:`show_flash`; :func:`edit_table` does.
    """
    pending = st.session_state.get(f"{key}_flash_pending")
    if not pending:
        return False
    _changes, question = pending
    st.warning(question, icon=":material/help:")
    c1, c2 = st.columns(2)
    c1.button("Save anyway", key=f"{key}_confirm", type="primary", on_click=_on_confirm, args=(key, viewer))
    c2.button("Cancel", key=f"{key}_cancel", on_click=_on_cancel, args=(key,))
    return True


def _with_responses(df: pd.DataFrame, viewer: Viewer, key_col: str, entity_kind: str,
                    kind_col: str | None) -> pd.DataFrame:
    """``df`` with the stored vendor response of each row (after the state column), unless it has one."""
    if RESPONSE_COL in df.columns:
        return df
    states = load_entity_states(get_engine(), viewer.cache_key, viewer, None if kind_col else entity_kind)
    notes = {(str(k), str(e)): n for k, e, n in zip(states["entity_kind"], states["entity_key"],
                                                    states[RESPONSE_COL], strict=True) if isinstance(n, str)}
    kinds = df[kind_col].astype(str) if kind_col else pd.Series(entity_kind, index=df.index)
    values = [notes.get((k, str(e))) for k, e in zip(kinds, df[key_col], strict=True)]
    out = df.copy()
    at = list(out.columns).index("state") + 1 if "state" in out.columns else len(out.columns)
    out.insert(at, RESPONSE_COL, pd.Series(values, index=out.index, dtype=object))
    return out


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
    shows the table without Save (e.g. for roles that may not edit). Vendors never edit a
    threshold table; in an entity table (``entity_kind`` other than "threshold", or a
    ``kind_col``) they edit only the "Vendor response" column, which everyone else reads.
    """
    show_flash(key)
    entity_table = kind_col is not None or entity_kind != THRESHOLD_ENTITY
    if entity_table:
        df = _with_responses(df, viewer, key_col, entity_kind, kind_col)
    if viewer.is_vendor:
        # Only the response is editable on screen; a forged edit of the state still goes to
        # ops.decisions, which refuses it with the message that says what to do and audits it.
        saved = [*editable, RESPONSE_COL] if entity_table else []
        editable = [RESPONSE_COL] if entity_table else []
        read_only = read_only or not entity_table
    else:
        editable = saved = [c for c in editable if c != RESPONSE_COL]
    shown = df.reset_index(drop=True)
    st.session_state[f"{key}_original"] = shown
    config: dict[str, Any] = {key_col: None, version_col: None}
    if kind_col:
        config[kind_col] = None
    if entity_table:
        helps = ("Your answer to your account manager; they see it beside the exception." if viewer.is_vendor else
                 "The supplier's, carrier's or 3PL's answer (e.g. 'PO confirmed for the 24th'); only they change it.")
        config[RESPONSE_COL] = st.column_config.TextColumn("Vendor response", max_chars=MAX_NOTE_CHARS, help=helps)
    config.update(column_config or {})
    if viewer.is_vendor and entity_table and not read_only:
        st.caption("Answer an exception in **Vendor response**; its state is set by your account manager.")
    st.data_editor(
        shown, key=_editor_key(key), hide_index=True, num_rows="fixed", width="stretch",
        disabled=True if read_only else [c for c in shown.columns if c not in set(editable)],
        column_config=config, on_change=_drop_pending, args=(key,),
    )
    if on_render:
        on_render()
    if read_only:
        return
    show_confirmation(key, viewer=viewer)
    st.text_input("Reason for the change (kept in the audit log)", key=f"{key}_why", max_chars=500)
    st.button(
        "Save changes", key=f"{key}_save", type="primary", icon=":material/save:", on_click=_on_save,
        args=(key, viewer, key_col, version_col, tuple(saved), entity_kind, kind_col),
    )
