"""Privacy in public output (公开信息脱敏).

Reporter names, phones and e-mails never leave the ``reporters`` table in public responses; this module
masks what people type into free text: Chinese mobile numbers (1[3-9]x xxxx xxxx → 139****5678),
landlines with an area code (0351-****5678), resident ID-card numbers (18 digits, last may be X →
140105********123X) and e-mail addresses (z***@example.com).

The patterns are matched on the text's Unicode NFKC form, so full-width digits and letters (``１３９…``,
``ａｂ＠ｅｘ．ｏｒｇ``, as Chinese input methods often type them) are found like ASCII ones, and a number
may carry separators anywhere inside it (``139 8765 4326``, ``1398-765-4326``, an ID number split by a
space). Only the matched stretches are replaced; the rest of the text keeps its own characters (NFKC
would also turn the Chinese comma ``，`` into ``,``).
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable

#: Up to three separator characters between two digits of one number (after NFKC: the ideographic
#: space is a space, the full-width hyphen a hyphen).
_S = r"[ \t\-\u2010\u2011\u2012\u2013\u2014\u2212.\u00b7_/]{0,3}"
_ID_CARD = re.compile(rf"(?<![0-9A-Za-z])\d(?:{_S}\d){{16}}{_S}[0-9Xx](?![0-9A-Za-z])")
_MOBILE = re.compile(rf"(?<!\d)(?:(?:\+|00)?86{_S})?1{_S}[3-9](?:{_S}\d){{9}}(?!\d)")
_LANDLINE = re.compile(
    rf"(?<![\d*])\(?(0\d{{2,3}})\)?{_S}(\d(?:{_S}\d){{2,3}}){_S}(\d(?:{_S}\d){{3}})(?![\d*])"
)
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")


def _digits(text: str) -> str:
    return "".join(c for c in text if c.isascii() and (c.isdigit() or c in "Xx"))


def _id_card(m: re.Match[str]) -> str:
    d = _digits(m.group(0))
    return f"{d[:6]}********{d[-4:]}"


def _mobile(m: re.Match[str]) -> str:
    d = _digits(m.group(0))[-11:]
    return f"{d[:3]}****{d[-4:]}"


def _landline(m: re.Match[str]) -> str:
    return f"{m.group(1)}-****{_digits(m.group(3))}"


def _email(m: re.Match[str]) -> str:
    return f"{m.group(1)}***@{m.group(2)}"


_RULES: tuple[tuple[re.Pattern[str], Callable[[re.Match[str]], str]], ...] = (
    (_ID_CARD, _id_card),
    (_MOBILE, _mobile),
    (_LANDLINE, _landline),
    (_EMAIL, _email),
)


def _normalised(text: str) -> tuple[str, list[int]]:
    """NFKC of *text* character by character, and for each character of it the index it came from."""
    out: list[str] = []
    origin: list[int] = []
    for i, c in enumerate(text):
        n = unicodedata.normalize("NFKC", c) if not c.isascii() else c
        out.append(n)
        origin.extend([i] * len(n))
    return "".join(out), origin


def mask_text(text: str) -> str:
    """The text with every phone number, ID-card number and e-mail address masked."""
    norm, origin = _normalised(text)
    spans: list[tuple[int, int, str]] = []  # (start, end) in *text*, replacement
    for pattern, render in _RULES:
        for m in pattern.finditer(norm):
            spans.append((origin[m.start()], origin[m.end() - 1] + 1, render(m)))
        # What one rule masked is out of reach of the next (a mobile inside an ID number, say).
        norm = pattern.sub(lambda m: "\x00" * (m.end() - m.start()), norm)
    if not spans:
        return text
    spans.sort()
    parts: list[str] = []
    at = 0
    for start, end, replacement in spans:
        if start < at:  # one original character expanded into two matches: keep the first
            continue
        parts.append(text[at:start])
        parts.append(replacement)
        at = end
    parts.append(text[at:])
    return "".join(parts)


def mask(text: str | None) -> str | None:
    return None if text is None else mask_text(text)
