"""Free text as it is stored: no terminal or bidi control characters (pure, no I/O).

People's text reaches screens, terminals (``civicloop case show``), CSV files and JSON clients. A stored
``ESC [31m`` repaints whoever's terminal prints it, a BEL rings it, and a right-to-left override
(U+202E) makes ``gpj.exe`` read as ``exe.jpg``. :func:`clean_text` is applied where text enters the
system (every free-text field of a command, the HTTP bodies and Open311 forms):

* control characters (Unicode category ``Cc``: C0, DEL and C1) are removed, except newline and tab;
  a carriage return, alone or before a newline, becomes one newline, as do U+2028/U+2029;
* the bidi embedding, override and isolate controls (U+202A–U+202E, U+2066–U+2069) are removed — the
  text keeps its own direction from its letters; the plain marks (U+200E, U+200F, U+061C) stay.
"""

from __future__ import annotations

import re
import unicodedata

_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_NEWLINES = re.compile("\r\n|\r|\u2028|\u2029")


def _kept(c: str) -> bool:
    if c in "\n\t":
        return True
    if c in _BIDI_CONTROLS:
        return False
    return unicodedata.category(c) != "Cc"


def clean_text(text: str) -> str:
    """*text* without control characters other than newline and tab, and without bidi overrides."""
    # The common case, fast: a printable text (any script) has no control, bidi-control or separator
    # characters (Cc, Cf, Zl and Zp are all non-printable), so nothing would be removed or replaced.
    if text.isprintable():
        return text
    text = _NEWLINES.sub("\n", text)
    return "".join(c for c in text if _kept(c))
