"""The citizen page's address search and reverse geocoding (地址搜索 / 逆地理编码).

``GET /api/v1/public/geocode?q=TEXT&limit=5`` → ``{"results": [...]}``: ranked candidates from the city's
gazetteer, each with ``lon``/``lat`` (WGS84), ``label``, the ``district``/``street``/``community``/
``grid`` codes (and their ``*_name``), the ``matched`` name, a ``confidence`` in [0, 1] and the ``kind``
of match; an empty list when nothing matches. ``GET /api/v1/public/reverse?lon=..&lat=..`` → words for
a point: ``label`` (区 街道 社区 …附近), the area codes and names, ``nearest_place``. Neither reads or
returns anything about reporters or cases beyond the place names a past address taught the gazetteer.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from starlette.requests import Request

from civicloop.cases.privacy import mask_text
from civicloop.geo.geocoding import geocode, match_json, reverse
from civicloop.http.context import locale_of, web_state
from civicloop.kernel.errors import InvalidField
from civicloop.kernel.i18n import Localized, Msg

router = APIRouter(prefix="/api/v1/public", tags=["public"])

#: The longest query text accepted (an address, not a description).
MAX_QUERY = 200


@router.get("/geocode")
async def public_geocode(
    request: Request,
    q: Annotated[str | None, Query(description="the address to look up")] = None,
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> dict[str, Any]:
    """地址搜索 / Ranked places for an address text (empty list when nothing matches)."""
    text = (q or "").strip()
    if not text:
        raise InvalidField("q", Msg("geocode.q_empty"))
    if len(text) > MAX_QUERY:
        raise InvalidField("q", Msg("reasons.must_be_at_most_characters", max_len=MAX_QUERY))
    city = web_state(request).city
    locale = locale_of(request)

    def run() -> list[dict[str, Any]]:
        # a past case's address is shown as an "address", masked like every public text (phones,
        # ID numbers, e-mails typed into it), with no link to the case
        out = []
        for m in geocode(city, text, limit):
            item = match_json(city, m, locale)
            if item["kind"] == "case":
                item["kind"] = "address"
                item["matched"] = mask_text(item["matched"])
                item["label"] = mask_text(item["label"])
            out.append(item)
        return out

    return {"results": await run_in_threadpool(run)}


def _coordinate(name: str, value: float | None, lo: float, hi: float) -> float:
    if value is None:
        raise InvalidField(name, Msg("geocode.coordinate_missing"))
    if not math.isfinite(value) or not lo <= value <= hi:
        raise InvalidField(name, Msg("reasons.must_be_between_and", lo=lo, hi=hi))
    return value


@router.get("/reverse")
async def public_reverse(
    request: Request,
    lon: Annotated[float | None, Query(description="longitude, WGS84")] = None,
    lat: Annotated[float | None, Query(description="latitude, WGS84")] = None,
) -> dict[str, Any]:
    """逆地理编码 / The district, street, community, grid and nearest named place of a point."""
    x = _coordinate("lon", lon, -180.0, 180.0)
    y = _coordinate("lat", lat, -90.0, 90.0)
    city = web_state(request).city
    locale = locale_of(request)
    answer = await run_in_threadpool(reverse, city, x, y, locale)
    if answer is None:
        raise InvalidField(
            "lon",
            Msg(
                "reasons.lon_lat_is_outside_no_district",
                where=f"({x:.6f}, {y:.6f})",
                city=Localized(city.profile.name, city.profile.name_en),
            ),
        )
    return answer
