"""OpsDeck's domain library: tables, queries, policy math and write-back.

Importing this package does no I/O and never imports Streamlit.
"""

__version__ = "0.1.0"
