"""Role-based navigation: each viewer sees only their pages; any other page's URL refuses."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import streamlit as st

from ops.access import Viewer

APP_DIR = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class PageDef:
    id: str
    title: str
    icon: str
    section: str


PAGES: tuple[PageDef, ...] = (
    PageDef("home", "Overview", ":material/home:", "Operations"),
    PageDef("inventory", "Inventory health", ":material/inventory_2:", "Operations"),
    PageDef("fulfillment", "Fulfilment SLA", ":material/local_shipping:", "Operations"),
    PageDef("carriers", "Carrier scorecards", ":material/leaderboard:", "Operations"),
    PageDef("returns", "Returns root-cause", ":material/assignment_return:", "Operations"),
    PageDef("planner", "Forecast & reorder", ":material/query_stats:", "Planning"),
    PageDef("scorecard", "My scorecard", ":material/leaderboard:", "Vendor"),
    PageDef("audit", "Thresholds & audit log", ":material/fact_check:", "Admin"),
    PageDef("imports", "Imports", ":material/upload_file:", "Admin"),
    PageDef("users", "Users", ":material/group:", "Admin"),
)


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
    allowed = set(viewer.pages())
    sections: dict[str, list[Any]] = {}
    hidden: list[Any] = []
    first = True
    for p in PAGES:
        if p.id in allowed:
            sections.setdefault(p.section, []).append(
                st.Page(APP_DIR / "app_pages" / f"{p.id}.py", title=p.title, icon=p.icon, url_path=p.id, default=first)
            )
            first = False
        else:
            hidden.append(st.Page(_refusal(p), title=p.title, url_path=p.id, visibility="hidden"))
    if hidden:
        sections.setdefault(next(iter(sections), "Operations"), []).extend(hidden)
    return sections
