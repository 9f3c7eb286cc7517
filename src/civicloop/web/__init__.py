"""The web command center (指挥中心): big screen, role workspaces, case page, inspector phone app and
citizen page, served by the same FastAPI app as the API (see docs/web.md).

``install_web(app)`` adds the pages, their JSON/SSE endpoints and the static assets to an app built by
:func:`civicloop.http.create_app`, and ties the live poller and the KPI refresh to the app's lifespan.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.staticfiles import StaticFiles

from civicloop.web.settings import TileLayer, WebSettings
from civicloop.web.state import WebState

__all__ = ["TileLayer", "WebSettings", "WebState", "install_web"]


def install_web(app: FastAPI, settings: WebSettings | None = None) -> WebState:
    """Mount the web pages on *app* (the HTTP app of the main city). Returns the web state."""
    from civicloop.http import pages, public
    from civicloop.http import web_api as api
    from civicloop.http.context import AppContext

    ctx: AppContext = app.state.civicloop
    state = WebState(ctx.main, settings or WebSettings.from_env(), pages.asset_version())
    app.state.civicloop_web = state
    app.include_router(api.router)
    app.include_router(public.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="web-static")

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

    app.router.lifespan_context = lifespan
    return state
