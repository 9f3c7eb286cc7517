"""Where a page may send the browser next (``/login?next=…``): paths of this site only.

Browsers drop tabs and line breaks anywhere in a URL and read a backslash as a slash, so ``/\\evil.example``
and ``/<TAB>/evil.example`` both mean ``//evil.example`` — another site. The target is normalised the
way a browser would, refused if any other control character or a space remains, and kept only when it
is a path (one leading slash, no scheme, no host). The login page's script applies the same rule
(``static/js/login.js``, ``safeNext``); the server refuses such a ``next`` before the page is served.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_DROPPED = re.compile(r"[\t\n\r]")
_FORBIDDEN = re.compile(r"[\x00-\x20\x7f-\x9f\u2028\u2029]")
MAX_LENGTH = 2048


def safe_next(value: str | None) -> str | None:
    """*value* as a same-origin path (normalised), or None when it could lead anywhere else."""
    if not value or len(value) > MAX_LENGTH:
        return None
    path = _DROPPED.sub("", value).replace("\\", "/")
    if _FORBIDDEN.search(path) or not path.startswith("/") or path.startswith("//"):
        return None
    parts = urlsplit(path)
    if parts.scheme or parts.netloc:
        return None
    return path
