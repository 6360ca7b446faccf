"""Text that came from outside (users, nodes, files) made safe to show or to log.

A job name, a node name or a trace's header is someone else's text: a newline in
it forges a log line, an escape sequence repaints an admin's terminal. Everything
that shows such text to a person (logs, tables, the report's parsable and CSV
output) passes it through :func:`escape_control`; everything that stores it may
refuse it with :func:`has_control`. An error message quotes a bad input with
:func:`quote_input`.
"""

from __future__ import annotations

import re

__all__ = ["escape_control", "has_control", "quote_input"]

#: C0 controls, DEL and C1 controls; Unicode's line and paragraph separators and the
#: bidirectional overrides that reorder what a terminal shows.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def escape_control(text: str) -> str:
    r"""``text`` with every control character written as an escape (``\n`` -> ``\x0a``).

    Printable text, including non-ASCII letters, is returned unchanged.
    """
    return _CONTROL.sub(_escape, text)


def has_control(text: str) -> bool:
    """Whether ``text`` holds a character :func:`escape_control` would escape."""
    return _CONTROL.search(text) is not None


#: Characters of a bad value quoted in an error message; the rest is cut.
_QUOTED_MAX = 60


def quote_input(text: str) -> str:
    """A bad input quoted for an error message: escaped, and cut if long."""
    cut = text if len(text) <= _QUOTED_MAX else text[:_QUOTED_MAX] + "..."
    return f"'{escape_control(cut)}'"
