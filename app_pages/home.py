"""Overview: the weekly review's first screen: every domain's headline KPIs and its top exceptions."""

import streamlit as st

from ui import home
from ui.cache import get_engine
from ui.context import filters, require_page
from ui.nav import headline_domains

viewer = require_page("home")
flt = filters()
engine = get_engine()

st.title("Overview")
st.caption("The exceptions worth acting on first, then each page's headline figures. Open a page for the detail.")

home.inbox_section(engine, viewer, flt)

shown = headline_domains(viewer)
if not shown:
    st.info("None of the pages you may open has headline figures yet.", icon=":material/info:")
for domain in shown:
    home.render(domain, home.load_headline(engine, viewer.cache_key, viewer, domain.id,
                                           home.domain_filters(flt, domain)))
