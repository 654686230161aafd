"""Role-based navigation: each viewer sees only their pages; any other page's URL refuses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from ops.access import Viewer
from ops.domain import Domain, load_domains

APP_DIR = Path(__file__).resolve().parents[1]


# The sidebar filters a page reads; pages that read none show none (FILTER_NAMES).
FILTER_NAMES = ("dates", "warehouses", "channels")
ALL_FILTERS = FILTER_NAMES


@dataclass(frozen=True)
class PageDef:
    id: str
    title: str
    icon: str
    section: str
    filters: tuple[str, ...] = ()
    order: int = 100


# Pages outside the domain registry. Domain pages (inventory, fulfilment, ...) come from their
# registrations in ops.domain, which give the same fields; a registered domain replaces an entry here.
STATIC_PAGES: tuple[PageDef, ...] = (
    PageDef("home", "Overview", ":material/home:", "Operations", ALL_FILTERS, 10),
    PageDef("audit", "Thresholds & audit log", ":material/fact_check:", "Admin", (), 80),
    PageDef("imports", "Imports", ":material/upload_file:", "Admin", (), 90),
    PageDef("users", "Users", ":material/group:", "Admin", (), 100),
)


def _all_pages() -> tuple[PageDef, ...]:
    pages = {p.id: p for p in STATIC_PAGES}
    for d in load_domains().values():
        pages[d.id] = PageDef(d.id, d.title, d.icon, d.section, d.filters, d.order)
    return tuple(sorted(pages.values(), key=lambda p: p.order))


PAGES: tuple[PageDef, ...] = _all_pages()
BY_ID = {p.id: p for p in PAGES}


def headline_domains(viewer: Viewer) -> list[Domain]:
    """The registered domains with a headline that ``viewer`` may open, in page order (the Overview's sections)."""
    return [d for d in load_domains().values() if d.headline is not None and viewer.may_open(d.id)]


def filters_for(page_id: str, viewer: Viewer) -> tuple[str, ...]:
    """The sidebar filters page ``page_id`` reads for ``viewer``.

    The Overview reads what its sections read: a planner's shows stock only, so no date range.
    """
    if page_id == "home":
        used = {f for d in headline_domains(viewer) for f in d.filters}
        return tuple(f for f in FILTER_NAMES if f in used)
    pdef = BY_ID.get(page_id)
    return pdef.filters if pdef else ()


def page_def(url_path: str) -> PageDef | None:
    """The page definition of a ``st.Page`` url path ("" is the default page)."""
    return BY_ID.get(url_path)


def _refusal(page: PageDef) -> Any:
    def refuse() -> None:
        st.error(f"You do not have access to **{page.title}**. Ask an admin if you need it.")

    refuse.__name__ = f"refuse_{page.id}"
    return refuse


def pages_for(viewer: Viewer) -> dict[str, list[Any]]:
    """``st.navigation`` sections for ``viewer``.

    Pages the viewer may not open are still registered, hidden and bound to a refusal, so a
    pasted URL shows "no access" instead of silently landing somewhere else.
    """
    return page_objects(viewer)[0]


def page_objects(viewer: Viewer) -> tuple[dict[str, list[Any]], dict[str, Any]]:
    """:func:`pages_for`'s sections, and every ``st.Page`` by page id (to switch to one)."""
    allowed = set(viewer.pages())
    sections: dict[str, list[Any]] = {}
    hidden: list[Any] = []
    by_id: dict[str, Any] = {}
    first = True
    for p in PAGES:
        if p.id in allowed:
            page = st.Page(APP_DIR / "app_pages" / f"{p.id}.py", title=p.title, icon=p.icon, url_path=p.id,
                           default=first)
            sections.setdefault(p.section, []).append(page)
            first = False
        else:
            page = st.Page(_refusal(p), title=p.title, url_path=p.id, visibility="hidden")
            hidden.append(page)
        by_id[p.id] = page
    if hidden:
        sections.setdefault(next(iter(sections), "Operations"), []).extend(hidden)
    return sections, by_id


def current_id(page: Any, by_id: dict[str, Any]) -> str:
    """The page id of the page ``st.navigation`` picked (the default page's url path is empty)."""
    for pid, obj in by_id.items():
        if obj is page:
            return pid
    return str(getattr(page, "url_path", "") or "")
