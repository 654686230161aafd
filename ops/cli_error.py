"""The one exception the command line turns into a one-line message and exit code 2.

Its own module so that ``python -m ops`` (where the entry module is ``__main__``) and every
``ops/<domain>/cli.py`` raise and catch the same class.
"""

from __future__ import annotations


class CliError(Exception):
    """A problem the command line reports in one line and exits 2 for."""
