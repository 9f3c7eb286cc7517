"""The HTML pages: big screen, login, role workspaces, case page, inspector phone app, citizen page.

Pages are static shells (``templates/*.html``) filled in the browser from the JSON endpoints; the server
only stamps the asset version into them (cache busting) and sends a strict Content-Security-Policy: no
inline script, nothing from another origin except map tiles when tiles are configured.
"""

from __future__ import annotations

import hashlib
import re
from functools import lru_cache
from html import escape
from importlib import resources
from pathlib import Path
from urllib.parse import urlencode

import orjson
from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response

from civicloop.http.context import web_state
from civicloop.http.redirects import safe_next
from civicloop.kernel.i18n import DEFAULT_LOCALE, LOCALES, for_browser, normalise_locale, t

router = APIRouter(include_in_schema=False)

PACKAGE = Path(str(resources.files("civicloop.web")))
MESSAGES = Path(str(resources.files("civicloop.kernel"))) / "messages"
TEMPLATES = PACKAGE / "templates"
STATIC = PACKAGE / "static"


def asset_version() -> str:
    """A short hash of the static files' and the catalogue's names, sizes and times: changes whenever an
    asset or a message does."""
    h = hashlib.sha256()
    for folder in (STATIC, MESSAGES):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and "vendor" not in path.parts:
                st = path.stat()
                h.update(f"{path.relative_to(folder)}:{st.st_size}:{st.st_mtime_ns}".encode())
    return h.hexdigest()[:10]


_TEXT = re.compile(r"\{\{t:([\w.]+)\}\}")


@lru_cache(maxsize=64)
def _template(name: str, locale: str) -> str:
    """The page with its ``{{t:key}}`` texts from the catalogue (``web.`` is implied for a bare name); the
    browser switches language later with the same keys."""
    html = (TEMPLATES / name).read_text(encoding="utf-8")
    return _TEXT.sub(
        lambda m: escape(t(m.group(1) if "." in m.group(1) else f"web.{m.group(1)}", locale)), html
    )


def _csp(tiles: bool) -> str:
    img = "img-src 'self' data: blob:" + (" https: http:" if tiles else "")
    return "; ".join(
        [
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self' 'unsafe-inline'",
            img,
            "connect-src 'self'",
            "worker-src 'self'",
            "manifest-src 'self'",
            "frame-ancestors 'none'",
            "base-uri 'none'",
            "form-action 'self'",
        ]
    )


def page(request: Request, name: str) -> HTMLResponse:
    ws = web_state(request)
    # The city's own language first (an English-language city opens in English); the reader may switch.
    locale = normalise_locale(ws.city.profile.default_locale)
    html = _template(name, locale).replace("{{v}}", ws.asset_version)
    if locale != DEFAULT_LOCALE:
        html = html.replace(f'<html lang="{DEFAULT_LOCALE}">', f'<html lang="{locale}">', 1)
    return HTMLResponse(
        html,
        headers={
            "Content-Security-Policy": _csp(bool(ws.settings.tiles)),
            "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "same-origin",
            "Cache-Control": "no-cache",
        },
    )


@router.get("/i18n/catalogue.js")
def catalogue_script() -> Response:
    """The whole catalogue in every locale for ``CL.t`` (a file: the CSP forbids inline script)."""
    return Response(
        _catalogue_script(),
        media_type="text/javascript",
        headers={"Cache-Control": "public, max-age=3600", "X-Content-Type-Options": "nosniff"},
    )


@lru_cache(maxsize=1)
def _catalogue_script() -> str:
    texts = {locale: for_browser(locale) for locale in LOCALES}
    return "window.CL_TEXTS = " + orjson.dumps(texts).decode() + ";\n"


@router.get("/api/v1/i18n/{locale}", include_in_schema=True, tags=["i18n"])
def catalogue_json(locale: str) -> Response:
    """The catalogue in one locale (``zh-CN`` or ``en``; other tags fall back as Accept-Language would)."""
    return Response(
        orjson.dumps(for_browser(locale)),
        media_type="application/json",
        headers={"Cache-Control": "public, max-age=3600"},
    )


@router.get("/", response_class=HTMLResponse)
def home(request: Request) -> HTMLResponse:
    return page(request, "home.html")


@router.get("/favicon.ico")
def favicon() -> RedirectResponse:
    return RedirectResponse("/static/img/icon.svg", status_code=308)


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request) -> Response:
    """The login page. A ``next`` that is not a path of this site (web/redirects.py) is dropped with a
    redirect to the bare page, so no script ever sees it; a harmless one is served as asked."""
    nexts = request.query_params.getlist("next")
    if nexts and (len(nexts) > 1 or safe_next(nexts[0]) != nexts[0]):
        target = safe_next(nexts[0]) if len(nexts) == 1 else None
        location = "/login" if target is None else f"/login?{urlencode({'next': target})}"
        return RedirectResponse(location, status_code=303, headers={"Cache-Control": "no-store"})
    return page(request, "login.html")


@router.get("/screen", response_class=HTMLResponse)
def screen_page(request: Request) -> HTMLResponse:
    return page(request, "screen.html")


@router.get("/workspace", response_class=HTMLResponse)
def workspace_page(request: Request) -> HTMLResponse:
    return page(request, "workspace.html")


@router.get("/cases/{case_id}", response_class=HTMLResponse)
def case_page(request: Request, case_id: str) -> HTMLResponse:
    return page(request, "case.html")


@router.get("/m")
def mobile_redirect() -> RedirectResponse:
    return RedirectResponse("/m/", status_code=308)


@router.get("/m/", response_class=HTMLResponse)
def mobile_page(request: Request) -> HTMLResponse:
    return page(request, "mobile.html")


@router.get("/m/sw.js")
def service_worker(request: Request) -> Response:
    """The phone app's service worker, served from /m/ so that its scope is the app."""
    ws = web_state(request)
    body = (STATIC / "m" / "sw.js").read_text(encoding="utf-8").replace("{{v}}", ws.asset_version)
    return Response(
        body,
        media_type="text/javascript",
        headers={"Cache-Control": "no-cache", "Service-Worker-Allowed": "/m/"},
    )


@router.get("/m/manifest.webmanifest")
def manifest() -> FileResponse:
    return FileResponse(STATIC / "m" / "manifest.webmanifest", media_type="application/manifest+json")


@router.get("/public", response_class=HTMLResponse)
@router.get("/public/", response_class=HTMLResponse)
def public_page(request: Request) -> HTMLResponse:
    return page(request, "public.html")


@router.get("/public/track/{case_id}", response_class=HTMLResponse)
def track_page(request: Request, case_id: str) -> HTMLResponse:
    return page(request, "track.html")


@router.get("/tiles/{z}/{x}/{y}.png", include_in_schema=False)
def map_tile(request: Request, z: int, x: int, y: int) -> Response:
    """A tile of the local MBTiles base map (``CIVICLOOP_MAP_MBTILES``); 404 outside it or without one."""
    tiles = web_state(request).mbtiles
    data = tiles.tile(z, x, y) if tiles is not None else None
    if data is None or tiles is None:
        return Response(status_code=404, headers={"Cache-Control": "public, max-age=300"})
    return Response(data, media_type=tiles.content_type, headers={"Cache-Control": "public, max-age=86400"})
