"""JSON and SSE endpoints of the web pages (under ``/api/v1``, next to the workflow API they complement).

* ``GET /api/v1/web/config`` — what every page needs: city, map, categories, departments, labels;
* ``GET /api/v1/screen/summary`` — the big screen's tiles, trend, category mix, rankings, ticker;
* ``GET /api/v1/screen/cases`` — open cases in view with their lights (points, or clusters zoomed out);
* ``GET /api/v1/stream`` — server-sent events: new events, fresh counts, ticks;
* ``GET /api/v1/geo/areas``, ``GET /api/v1/geo/grids`` — map layers (GeoJSON);
* ``GET /api/v1/locate``, ``GET /api/v1/suggest`` — where a point is; the category a text suggests;
* ``GET /api/v1/review`` — the intake review queue with the triage suggestions (受理 / 立案 审核);
* ``GET /api/v1/web/cases/{id}/extra`` — cluster, triage, step clocks, dispatch suggestion of a case.

Every case-level answer applies the caller's scope exactly as the workflow API does (404 outside it).
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from civicloop.accounts.service import AccountRole, User
from civicloop.cases.core import Actor
from civicloop.cases.scope import REVIEW_ROLES
from civicloop.http.auth import CurrentUser, current_user, require_role_in
from civicloop.http.context import ApiError, context_of, locale_of, web_state
from civicloop.http.render import JSON
from civicloop.http.workflow import queue_page
from civicloop.kernel.errors import InvalidField
from civicloop.kernel.i18n import Msg
from civicloop.web.geodata import convert_points, to_wgs84
from civicloop.web.lights import LIGHT_NAMES
from civicloop.web.live import sse_lines

router = APIRouter(prefix="/api/v1", tags=["web"])


def _bbox(value: str | None) -> tuple[float, float, float, float] | None:
    if not value:
        return None
    try:
        parts = [float(v) for v in value.split(",")]
    except ValueError:
        raise InvalidField("bbox", Msg("http.bbox_shape")) from None
    if len(parts) != 4 or not all(math.isfinite(p) for p in parts):
        raise InvalidField("bbox", Msg("http.bbox_shape"))
    w, s, e, n = parts
    return (min(w, e), min(s, n), max(w, e), max(s, n))


def _crs(value: str | None) -> str:
    v = (value or "wgs84").strip().lower()
    if v in ("wgs84", "cgcs2000", "epsg:4326"):
        return "wgs84"
    if v == "gcj02":
        return "gcj02"
    raise InvalidField("crs", Msg("http.crs_choice"))


def _bbox_to_wgs84(
    bbox: tuple[float, float, float, float] | None, crs: str
) -> tuple[float, float, float, float] | None:
    if bbox is None or crs == "wgs84":
        return bbox
    w, s = to_wgs84(bbox[0], bbox[1], crs)
    e, n = to_wgs84(bbox[2], bbox[3], crs)
    return (w, s, e, n)


def _viewer(user: User) -> Actor:
    """The actor whose scope limits what the screen shows (a viewer sees what a leader sees)."""
    return user.actor()


async def optional_user(request: Request) -> User | None:
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    try:
        from fastapi.security import HTTPAuthorizationCredentials

        creds = HTTPAuthorizationCredentials(scheme="Bearer", credentials=header.split(" ", 1)[1].strip())
        return await current_user(request, creds)
    except ApiError:
        return None


# ---- config -------------------------------------------------------------------------------------------


@router.get("/web/config")
def web_config(request: Request) -> Response:
    """页面配置 / What the pages need: city, map, categories, departments, districts and labels — of the
    city named by ``X-Civicloop-City`` or ``?city=`` (public data; no login needed; app.AnonymousCity)."""
    ws = web_state(request)
    return Response(ws.config_json(), media_type="application/json")


@router.get("/web/status")
def web_status(request: Request, user: CurrentUser) -> dict[str, Any]:
    """实时通道状态 / The live poller's state (index size, polls, subscribers); logged-in users only."""
    ws = web_state(request)
    return {"live": ws.hub.status(), "kpi": {"status": ws.kpis.snapshot.status}}


# ---- big screen ---------------------------------------------------------------------------------------


@router.get("/screen/summary")
async def screen_summary(request: Request, user: CurrentUser) -> Response:
    """大屏数据 / Tiles, trend, category mix, department ranking and the latest reports."""
    ws = web_state(request)
    await run_in_threadpool(ws.hub.wait_ready, 30.0)
    body = await run_in_threadpool(ws.summary, _viewer(user), locale_of(request))
    return JSON(body)


@router.get("/screen/cases")
async def screen_cases(
    request: Request,
    user: CurrentUser,
    bbox: Annotated[str | None, Query(description="west,south,east,north in the map's crs")] = None,
    zoom: Annotated[int, Query(ge=0, le=22)] = 12,
    crs: Annotated[str | None, Query(description="wgs84 (default) or gcj02")] = None,
) -> Response:
    """地图案卷 / Open cases in view with their lights: each case, or clusters when there are many."""
    ws = web_state(request)
    system = _crs(crs)
    box = _bbox_to_wgs84(_bbox(bbox), system)
    await run_in_threadpool(ws.hub.wait_ready, 30.0)
    view = await run_in_threadpool(
        ws.hub.index.map_view, _viewer(user), time.time(), box, zoom, max_points=ws.settings.max_points
    )
    if system != "wgs84":
        if view["mode"] == "points" and view["points"]:
            import numpy as np

            lon = np.asarray([p[1] for p in view["points"]], dtype=np.float64)
            lat = np.asarray([p[2] for p in view["points"]], dtype=np.float64)
            x, y = convert_points(lon, lat, system)
            for p, a, b in zip(view["points"], x, y, strict=True):
                p[1], p[2] = round(float(a), 6), round(float(b), 6)
        elif view["mode"] == "clusters" and view["clusters"]:
            import numpy as np

            lon = np.asarray([c[0] for c in view["clusters"]], dtype=np.float64)
            lat = np.asarray([c[1] for c in view["clusters"]], dtype=np.float64)
            x, y = convert_points(lon, lat, system)
            for c, a, b in zip(view["clusters"], x, y, strict=True):
                c[0], c[1] = round(float(a), 6), round(float(b), 6)
    view["lights"] = list(LIGHT_NAMES[:3])
    view["crs"] = system
    return JSON(view)


@router.get("/stream")
async def stream(request: Request, user: CurrentUser) -> StreamingResponse:
    """实时推送 / Server-sent events: ``events`` (new events in scope, with counts), ``tick``, ``resync``.

    Read with ``fetch`` and the ``Authorization`` header (the pages do), or any SSE client that sends it.
    """
    ws = web_state(request)
    actor = _viewer(user)
    hub = ws.hub
    loop = asyncio.get_running_loop()
    sub = hub.subscribe(actor, loop)
    keepalive = ws.settings.keepalive

    async def body() -> AsyncIterator[bytes]:
        try:
            yield b"retry: 2000\n\n"
            ready = await run_in_threadpool(hub.wait_ready, 30.0)
            hello = {
                "type": "hello",
                "at": datetime.now(UTC).isoformat(),
                "ready": ready,
                "stats": await run_in_threadpool(hub.stats, actor),
            }
            yield sse_lines(hello)
            while True:
                try:
                    message = await asyncio.wait_for(sub.queue.get(), timeout=keepalive)
                except TimeoutError:
                    if await request.is_disconnected():
                        return
                    yield b": keepalive\n\n"
                    continue
                yield sse_lines(message, message.get("seq"))
        finally:
            hub.unsubscribe(sub)

    headers = {"Cache-Control": "no-cache, no-transform", "X-Accel-Buffering": "no"}
    return StreamingResponse(body(), media_type="text/event-stream", headers=headers)


# ---- geography ----------------------------------------------------------------------------------------


@router.get("/geo/areas")
async def geo_areas(
    request: Request,
    level: Annotated[str, Query(pattern="^(district|street|community)$")] = "district",
    crs: Annotated[str | None, Query()] = None,
) -> Response:
    """区域边界 / District, street or community outlines (simplified GeoJSON)."""
    ws = web_state(request)
    body = await run_in_threadpool(ws.layers.areas, level, _crs(crs))
    return Response(body, media_type="application/geo+json", headers={"Cache-Control": "max-age=300"})


@router.get("/geo/grids")
async def geo_grids(
    request: Request,
    bbox: Annotated[str, Query(description="west,south,east,north")],
    crs: Annotated[str | None, Query()] = None,
) -> Response:
    """单元网格 / Unit grids in a bounding box (at most 4,000; ``truncated`` says when more exist)."""
    ws = web_state(request)
    system = _crs(crs)
    box = _bbox_to_wgs84(_bbox(bbox), system)
    if box is None:
        raise InvalidField("bbox", Msg("http.bbox_shape"))
    body = await run_in_threadpool(ws.layers.grids, box, system)
    return Response(body, media_type="application/geo+json")


@router.get("/locate")
async def locate(
    request: Request,
    lon: Annotated[float, Query(ge=-180, le=180)],
    lat: Annotated[float, Query(ge=-90, le=90)],
    crs: Annotated[str | None, Query()] = None,
) -> dict[str, Any]:
    """定位 / Point → grid, community, street, district (and the WGS84 position to store)."""
    ws = web_state(request)
    return await run_in_threadpool(ws.locate, lon, lat, _crs(crs))


@router.get("/suggest")
async def suggest(
    request: Request,
    text: Annotated[str, Query(max_length=2000)] = "",
    lon: Annotated[float | None, Query(ge=-180, le=180)] = None,
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    category: Annotated[str | None, Query(max_length=16)] = None,
) -> dict[str, Any]:
    """类别建议 / Categories a short description suggests (scores, reasons); staff also see nearby
    open cases that may be the same problem (duplicate candidates). Positions are WGS84."""
    ws = web_state(request)
    user = await optional_user(request)
    viewer = user.actor() if user is not None else None
    return await run_in_threadpool(ws.suggest, text, lon, lat, category, viewer)


# ---- workspaces -----------------------------------------------------------------------------------------


@router.get("/review")
async def review(
    request: Request,
    user: CurrentUser,
    stage: Annotated[str, Query(pattern="^(reported|accepted|verifying)$")] = "reported",
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    """受理/立案审核队列 / Reports waiting for intake (or filing), each with the triage suggestion:
    category and score, department, urgency rule, duplicate candidates with scores and reasons.
    Urgent and clustered reports first, then the longest waiting."""
    require_role_in(user, REVIEW_ROLES)
    ws = web_state(request)
    body = await run_in_threadpool(ws.review, user.actor(), stage, limit)
    return JSON(body)


@router.get("/web/cases/{case_id}/extra")
async def case_extra(request: Request, case_id: str, user: CurrentUser) -> Response:
    """案卷补充 / Cluster (duplicates), triage, the clock of every step and the dispatch suggestion."""
    ws = web_state(request)
    names = await run_in_threadpool(context_of(request).main.accounts.display_names)
    body = await run_in_threadpool(ws.case_extra, case_id, user.actor(), locale_of(request), names)
    return JSON(body)


@router.get("/web/cases/{case_id}/inspectors")
async def case_inspectors(request: Request, case_id: str, user: CurrentUser) -> Response:
    """派发核查 / The inspectors to send the check to, the grid's duty inspector first, then the nearest."""
    ws = web_state(request)
    accounts = [
        (u.user_id, u.display_name or u.username, u.district_codes, u.grid_codes)
        for u in await run_in_threadpool(context_of(request).main.accounts.list_users)
        if u.role is AccountRole.INSPECTOR and u.active
    ]
    return JSON(await run_in_threadpool(ws.inspectors_for, case_id, user.actor(), accounts))


@router.get("/web/queue")
async def web_queue(
    request: Request,
    user: CurrentUser,
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=100)] = 30,
) -> Response:
    """我的待办（工作台）/ The caller's queue (``GET /api/v1/queues/mine``, same order and scope) with what
    a worklist shows besides: description, photos before and after, the pending request, position."""
    ws = web_state(request)
    queue = await run_in_threadpool(queue_page, context_of(request), user, page, page_size)
    names = await run_in_threadpool(context_of(request).main.accounts.display_names)
    body = await run_in_threadpool(ws.enrich_queue, queue.model_dump(mode="json"), user.actor(), names)
    return JSON(body)


__all__ = ["router"]
