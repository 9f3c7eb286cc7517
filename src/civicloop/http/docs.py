"""The interactive API docs (``/docs`` Swagger UI, ``/redoc`` ReDoc) served with no internet.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, which a command centre's network often cannot
reach (a blank page). Here the same pages (FastAPI's ``get_swagger_ui_html`` / ``get_redoc_html``) load
their scripts and styles from ``/docs/assets/``, served from the files that the pinned ``fastapi-offline``
package ships; no request leaves the server.
"""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import FastAPI
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

#: Swagger UI's and ReDoc's files (swagger-ui-bundle.js, swagger-ui.css, redoc.standalone.js).
ASSETS = Path(fastapi_offline.__file__).parent / "static"
ASSETS_URL = "/docs/assets"
FAVICON = "/static/img/icon.svg"


def install(app: FastAPI, *, openapi_url: str = "/openapi.json") -> None:
    """Serve /docs, /docs/oauth2-redirect and /redoc on *app* from local assets (create the app with
    ``docs_url=None, redoc_url=None``)."""
    title = f"{app.title} · API"
    oauth2 = "/docs/oauth2-redirect"
    app.mount(ASSETS_URL, StaticFiles(directory=ASSETS), name="docs-assets")

    @app.get("/docs", include_in_schema=False)
    async def swagger_ui() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=openapi_url,
            title=title,
            oauth2_redirect_url=oauth2,
            swagger_js_url=f"{ASSETS_URL}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS_URL}/swagger-ui.css",
            swagger_favicon_url=FAVICON,
        )

    @app.get(oauth2, include_in_schema=False)
    async def swagger_ui_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/redoc", include_in_schema=False)
    async def redoc() -> HTMLResponse:
        return get_redoc_html(
            openapi_url=openapi_url,
            title=title,
            redoc_js_url=f"{ASSETS_URL}/redoc.standalone.js",
            redoc_favicon_url=FAVICON,
            with_google_fonts=False,
        )
