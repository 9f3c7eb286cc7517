"""The intake's queries: cases closed as fixed near a new report (recurrence). The open side of the
duplicate search is :func:`civicloop.geo.store.nearby_open_rows`; the tables are the core ``cases``."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, bindparam, select

from civicloop.store.tables import cases

# Built once (asked for every report; building it cost more than running it).
_RECENTLY_CLOSED = select(cases.c.case_id, cases.c.lon, cases.c.lat, cases.c.closure_reason).where(
    cases.c.city_id == bindparam("city"),
    cases.c.category_code == bindparam("category"),
    cases.c.public_status == "closed",
    cases.c.lat.between(bindparam("s"), bindparam("n")),
    cases.c.lon.between(bindparam("w"), bindparam("e")),
    cases.c.closed_at >= bindparam("since"),
)


def recently_closed(
    conn: Connection,
    city_id: str,
    category: str,
    box: tuple[float, float, float, float],
    since: datetime,
) -> Sequence[Any]:
    """Closed cases of *category* in the box ``(west, south, east, north)`` closed at or after *since*:
    rows of (case_id, lon, lat, closure_reason). Answered by the partial index on closed cases."""
    w, s, e, n = box
    return conn.execute(
        _RECENTLY_CLOSED,
        {"city": city_id, "category": category, "s": s, "n": n, "w": w, "e": e, "since": since},
    ).all()
