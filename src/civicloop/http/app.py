"""The FastAPI application: ``create_app(city)`` builds it in-process (tests) or for ``civicloop serve``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs

from fastapi import APIRouter, FastAPI
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from civicloop import __version__
from civicloop.accounts.service import AccountService, accounts_for
from civicloop.city.service import City
from civicloop.followup.service import Courier, courier_enabled
from civicloop.geo.places import Places
from civicloop.http import (
    accounts,
    docs,
    errors,
    health,
    open311,
    pages,
    public,
    security,
    web_api,
    workflow,
)
from civicloop.http import geocode as geocode_search
from civicloop.http import search as case_search
from civicloop.http.context import CITY_HEADER, ApiSettings, AppContext, CityContext
from civicloop.http.render import JSON, open311_errors
from civicloop.http.schemas import field_limits
from civicloop.intake.service import IntakeService
from civicloop.kernel.i18n import t
from civicloop.open311.group_commit import ReportWriter
from civicloop.photos.store import LocalPhotoStore, PhotoStore
from civicloop.web import WebSettings, WebState

DESCRIPTION = t("http.api_description", "zh-CN").format()  # braces are doubled in the catalogue


#: Every route of the app, grouped by capability; each path and method is defined in exactly one of them.
ROUTERS: tuple[APIRouter, ...] = (
    open311.router,  # /open311/v2/...: Open311 GeoReport v2
    accounts.router,  # /api/v1/auth/login, /api/v1/auth/logout, /api/v1/me
    case_search.router,  # /api/v1/cases/search, export.xlsx, export.csv (before /cases/{case_id})
    workflow.router,  # /api/v1/cases, queues, reporters, photos: the loop's cases and actions
    health.router,  # GET /healthz
    web_api.router,  # /api/v1/web, screen, stream, geo, locate, suggest, review: the web's workspace data
    public.router,  # /api/v1/public/...: the citizen page's reports and tracking
    geocode_search.router,  # /api/v1/public/geocode, /reverse: the citizen page's address search
    pages.router,  # the HTML pages (/, /login, /screen, /workspace, /cases/{id}, /m/, /public)
)


_TOO_BIG = {
    "error": {
        "code": "payload_too_large",
        "field": None,
        "message": t("http.status.payload_too_large", "en"),
        "message_zh": t("http.status.payload_too_large", "zh-CN"),
        "message_en": t("http.status.payload_too_large", "en"),
    }
}


def _has_nul(scope: Scope) -> bool:
    query = scope.get("query_string", b"").lower()
    return "\x00" in scope.get("path", "") or b"%00" in query or b"\x00" in query


def _too_big(scope: Scope) -> Any:
    path: str = scope.get("path", "")
    if path.startswith("/open311/"):
        fmt = "json" if path.endswith(".json") else "xml"
        zh, en = t("http.status.payload_too_large", "zh-CN"), t("http.status.payload_too_large", "en")
        return open311_errors(fmt, 413, [f"{zh} ({en})"])
    return JSON(_TOO_BIG, status_code=413)


def _nul_response(scope: Scope) -> Any:
    path: str = scope.get("path", "")
    zh, en = t("http.nul_in_request", "zh-CN"), t("http.nul_in_request", "en")
    if path.startswith("/open311/"):
        return open311_errors("json" if path.endswith(".json") else "xml", 400, [f"{zh} ({en})"])
    body = {
        "error": {
            "code": "invalid_characters",
            "field": None,
            "message": zh,
            "message_zh": zh,
            "message_en": en,
        }
    }
    return JSON(body, status_code=422)


class AnonymousCity:
    """An anonymous caller (the citizen page, its tracking view, the pages' start-up) names its city with
    ``X-Civicloop-City`` or ``?city=``: later ``context_of(request)`` answers for that city. A signed-in
    caller's city comes from the token and memberships (``auth.current_user``); Open311 keeps its own
    ``jurisdiction_id``. An unknown city is refused (404), never silently replaced by the default one."""

    def __init__(self, app: ASGIApp, cities: Sequence[str]) -> None:
        self.app = app
        self.cities = frozenset(cities)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("path", "").startswith("/open311/"):
            wanted = _anonymous_city(scope)
            if wanted is not None:
                if wanted not in self.cities:
                    zh = t("open311.unknown_jurisdiction", "zh-CN", jurisdiction=wanted)
                    en = t("open311.unknown_jurisdiction", "en", jurisdiction=wanted)
                    error = {"code": "unknown_jurisdiction", "field": "city", "message": zh,
                             "message_zh": zh, "message_en": en}  # fmt: skip
                    await JSON({"error": error}, status_code=404)(scope, receive, send)
                    return
                scope.setdefault("state", {})["city_id"] = wanted
        await self.app(scope, receive, send)


def _anonymous_city(scope: Scope) -> str | None:
    named = None
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            return None
        if name == CITY_HEADER.encode():
            named = value.decode("latin-1").strip() or None
    if named is None:
        query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
        named = (query.get("city") or [""])[0].strip() or None
    return named


class BodyLimit:
    """Refuse a body larger than the limit before reading it (413), whatever the route."""

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and _has_nul(scope):
            # No store keeps a NUL character (PostgreSQL refuses it in text): say so instead of failing.
            await _nul_response(scope)(scope, receive, send)
            return
        if scope["type"] == "http":
            declared = False
            for name, value in scope.get("headers", ()):
                if name == b"content-length":
                    declared = True
                    try:
                        too_big = int(value) > self.limit
                    except ValueError:
                        too_big = True
                    if too_big:
                        response = _too_big(scope)
                        await response(scope, receive, send)
                        return
            if not declared and scope.get("method") in ("POST", "PUT", "PATCH"):
                # A chunked body declares no length: read it (up to the limit) before the app sees it.
                chunks: list[bytes] = []
                size = 0
                while True:
                    message = await receive()
                    if message["type"] != "http.request":
                        return  # the client went away
                    chunk = message.get("body", b"")
                    size += len(chunk)
                    if size > self.limit:
                        await _too_big(scope)(scope, receive, send)
                        return
                    chunks.append(chunk)
                    if not message.get("more_body", False):
                        break
                body = b"".join(chunks)
                sent = False

                async def replay() -> Message:
                    nonlocal sent
                    if not sent:
                        sent = True
                        return {"type": "http.request", "body": body, "more_body": False}
                    return await receive()

                await self.app(scope, replay, send)
                return
        await self.app(scope, receive, send)


def _city_context(city: City, accounts: AccountService | None, settings: ApiSettings) -> CityContext:
    city.cases.cache.size = settings.state_cache
    return CityContext(
        city=city,
        accounts=accounts or accounts_for(city),
        writer=ReportWriter(city.cases, intake=IntakeService(city) if settings.triage else None),
        places=Places.for_profile(city.profile),
    )


def create_app(
    city: City,
    *,
    accounts: AccountService | None = None,
    photos: PhotoStore | None = None,
    settings: ApiSettings | None = None,
    more_cities: Sequence[City] = (),
) -> FastAPI:
    """The HTTP app for *city* (and, for Open311's ``jurisdiction_id``, any ``more_cities``).

    ``accounts`` and ``photos`` are injectable (tests pass a cheap password hasher and a temporary photo
    directory); by default accounts use argon2id and photos ``./var/photos``.
    """
    settings = settings or ApiSettings()
    contexts = {city.id: _city_context(city, accounts, settings)}
    for other in more_cities:
        contexts[other.id] = _city_context(other, None, settings)
    ctx = AppContext(cities=contexts, default=city.id, photos=photos or LocalPhotoStore(), settings=settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # progress updates to reporters (followup/): sent from the outbox when a gateway is configured
        couriers = [Courier.from_env(cc.city) for cc in ctx.cities.values()] if courier_enabled() else []
        for courier in couriers:
            courier.start()
        yield
        for courier in couriers:
            courier.close()
        for cc in ctx.cities.values():
            cc.writer.close()

    app = FastAPI(
        title="civicloop API",
        version=__version__,
        description=DESCRIPTION,
        default_response_class=JSON,
        lifespan=lifespan,
        docs_url=None,  # docs.install serves /docs and /redoc from local assets (no CDN)
        redoc_url=None,
    )
    app.state.civicloop = ctx
    errors.install(app)
    for router in ROUTERS:  # the one place where routes join the app
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="web-static")
    docs.install(app)
    app.add_middleware(AnonymousCity, cities=list(contexts))
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    security.install(app, settings.security)  # outermost: every answer gets the headers
    install_web(app)  # the web command center's read models: live hub, KPI cache, map layers
    return app


def install_web(app: FastAPI, settings: WebSettings | None = None) -> WebState:
    """Give *app* (the HTTP app of the main city) the web's read models, started and closed with it."""
    ctx: AppContext = app.state.civicloop
    state = WebState(ctx.main.city, settings or WebSettings.from_env(), pages.asset_version())
    state.photo_limits = ctx.settings.photo_limits
    state.config_extra["field_limits"] = field_limits()  # the pages' inputs carry the API's limits
    app.state.civicloop_web = state
    app.state.civicloop_webs = {}  # the other cities' read models, built on first use (context.web_state)

    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(a: Any) -> AsyncIterator[Any]:
        if state.settings.eager:
            state.start()
        try:
            async with inner(a) as value:
                yield value
        finally:
            state.close()
            for other in list(app.state.civicloop_webs.values()):
                other.close()

    app.router.lifespan_context = lifespan
    return state
