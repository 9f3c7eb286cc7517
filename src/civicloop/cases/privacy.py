"""Privacy in public output (公开信息脱敏).

Reporter names, phones and e-mails never leave the ``reporters`` table in public responses; this module
masks what people type into free text: Chinese mobile numbers (1[3-9]x xxxx xxxx → 139****5678),
landlines with an area code (0351-****5678), resident ID-card numbers (18 digits, last may be X →
140105********123X) and e-mail addresses (z***@example.com).
"""

from __future__ import annotations

import re

_ID_CARD = re.compile(r"(?<![0-9A-Za-z])(\d{6})(\d{8})(\d{3}[0-9Xx])(?![0-9A-Za-z])")
_MOBILE = re.compile(r"(?<!\d)(?:(\+?86)[\s-]?)?(1[3-9]\d)[\s-]?(\d{4})[\s-]?(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<![\d*])\(?(0\d{2,3})\)?([\s-]?)(\d{3,4})[\s-]?(\d{4})(?![\d*])")
_EMAIL = re.compile(r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9.-]+\.[A-Za-z]{2,})")


def mask_text(text: str) -> str:
    """The text with every phone number, ID-card number and e-mail address masked."""
    text = _ID_CARD.sub(lambda m: f"{m.group(1)}********{m.group(3)}", text)
    text = _MOBILE.sub(lambda m: f"{m.group(2)}****{m.group(4)}", text)
    text = _LANDLINE.sub(lambda m: f"{m.group(1)}-****{m.group(4)}", text)
    return _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)


def mask(text: str | None) -> str | None:
    return None if text is None else mask_text(text)
