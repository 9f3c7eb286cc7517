"""Dates that arrive as text (query parameters, form fields): one parser for the whole HTTP layer.

A W3C datetime with a mandatory zone (``Z``, ``±HH:MM``, or a ``+`` that arrived as a space in a query
string), in UTC afterwards, and inside :data:`EARLIEST` … :data:`LATEST`. The range is what keeps the
arithmetic on dates safe: Python's ``datetime`` ends at the years 1 and 9999, so a window of 90 days
added to ``9999-12-30`` or an offset taken from ``0001-01-01T00:00:00+01:00`` would raise
``OverflowError`` — a server error instead of a refusal. Nothing the city deals with is outside
1900–2199. Pure: no I/O.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from civicloop.kernel.i18n import t

#: The first and last moment accepted (UTC). Far from both ends of ``datetime`` (years 1 and 9999).
EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2199, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC)

_SPACE_FOR_PLUS = re.compile(r"^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$")
_SHAPE = re.compile(
    r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|z|[+-]\d{2}:?\d{2})?)?$", re.ASCII
)


class DateRefused(ValueError):
    """A date that is not a zoned W3C datetime within range; names the field, in both languages."""

    def __init__(self, field: str, zh: str, en: str) -> None:
        self.field, self.zh, self.en = field, zh, en
        super().__init__(f"{field}: {en}")

    @classmethod
    def of(cls, field: str, key: str, /, **fields: object) -> DateRefused:
        """The refusal whose texts are the catalogue's *key* (with ``field`` among its fields)."""
        return cls(field, t(key, "zh-CN", field=field, **fields), t(key, "en", field=field, **fields))


def parse_datetime(value: str, field: str) -> datetime:
    """*value* as an aware UTC datetime, or :class:`DateRefused` naming *field* and the reason."""
    text = value.strip()
    m = _SPACE_FOR_PLUS.match(text)
    if m is not None:
        text = f"{m.group(1)}+{m.group(2)}"
    if len(text) > 40 or _SHAPE.match(text) is None:
        raise DateRefused.of(field, "dates.not_w3c")
    try:
        moment = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise DateRefused.of(field, "dates.not_w3c") from None
    if moment.tzinfo is None:
        raise DateRefused.of(field, "dates.needs_zone")
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00+01:00 is before the year 1 in UTC
        utc = None
    if utc is None or not EARLIEST <= utc <= LATEST:
        raise DateRefused.of(field, "dates.out_of_range", first=EARLIEST.year, last=LATEST.year)
    return utc
