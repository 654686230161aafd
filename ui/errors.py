"""The page-level error boundary: no exception text or traceback ever reaches a page.

``app.py`` runs the sidebar and the page inside :func:`boundary`. An error the product
expects (a refused access, a bad filter from a pasted link) is shown as its plain message;
anything else is logged with its traceback under a short reference, and the person sees what
happened in words, the reference to quote, and what to try. Navigation and sign-out are
rendered before the boundary, so they stay usable whatever the page does.

Streamlit's own control flow (``st.stop``, ``st.rerun``, ``st.switch_page``) raises
``BaseException`` subclasses, which pass through untouched. Errors raised in widget callbacks
run before the script and never reach this boundary; ``.streamlit/config.toml`` sets
``client.showErrorDetails = "none"`` so that even those show no traceback.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import streamlit as st

from ops.access import AccessDenied

log = logging.getLogger("opsdeck.ui")


def _reference() -> str:
    return uuid.uuid4().hex[:8]


@contextmanager
def boundary(what: str = "this page") -> Iterator[None]:
    """Run the block; turn any exception into a plain message with a logged reference."""
    try:
        yield
    except AccessDenied as exc:
        st.error(f"You do not have access to this: {exc}. Ask an admin if you need it.", icon=":material/block:")
    except Exception:  # noqa: BLE001 - the boundary exists to catch everything a page raises
        ref = _reference()
        log.exception("error while showing %s (reference %s)", what, ref)
        st.error(
            f"Something went wrong while showing {what}, and it was not your doing. Try again, or change the "
            f"filters in the sidebar; if it keeps happening, tell an admin the reference **{ref}** "
            "(the details are in the server log).",
            icon=":material/error:",
        )
