"""The app's router tree: every path and method is registered exactly once, by one router of ``ROUTERS``.

``http/app.py`` is the one place that includes routers; each capability's routes live in one module. A
second definition of a URL (two packages serving the same ``/api/v1`` path, as before issue 14) fails here.
"""

from __future__ import annotations

from collections import Counter

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.routing import Mount

from civicloop.accounts.service import AccountService
from civicloop.city.service import City
from civicloop.http import create_app
from civicloop.http.app import ROUTERS
from civicloop.photos.store import LocalPhotoStore

#: FastAPI's own documentation routes (not ours).
DOCS = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc"}

#: Every URL the app serves, by capability. Operators' scripts, the pages and the acceptance checks rely on
#: them: a change here is a change of the public interface.
PINNED = {
    # Open311 GeoReport v2
    ("GET", "/open311/v2/discovery.{fmt}"),
    ("GET", "/open311/v2/services.{fmt}"),
    ("GET", "/open311/v2/services/{service_code}.{fmt}"),
    ("POST", "/open311/v2/requests.{fmt}"),
    ("GET", "/open311/v2/requests.{fmt}"),
    ("GET", "/open311/v2/requests/{service_request_id}.{fmt}"),
    ("GET", "/open311/v2/tokens/{token}.{fmt}"),
    # accounts
    ("POST", "/api/v1/auth/login"),
    ("POST", "/api/v1/auth/logout"),
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/cities"),
    # cases and the loop's actions
    ("POST", "/api/v1/cases"),
    ("GET", "/api/v1/cases/{case_id}"),
    ("POST", "/api/v1/cases/{case_id}/actions/{action}"),
    ("POST", "/api/v1/cases/batch/{action}"),  # dispatch several to one department; close several
    ("GET", "/api/v1/cases"),
    ("GET", "/api/v1/cases/search"),
    ("GET", "/api/v1/cases/export.xlsx"),
    ("GET", "/api/v1/cases/export.csv"),
    ("GET", "/api/v1/queues/mine"),
    ("GET", "/api/v1/queues/unlocated"),
    ("GET", "/api/v1/cases/{case_id}/reporter"),
    ("POST", "/api/v1/reporters/{reporter_id}/anonymise"),
    ("POST", "/api/v1/photos"),
    ("GET", "/api/v1/photos/{ref}"),
    # health
    ("GET", "/healthz"),
    # the web's workspace data
    ("GET", "/api/v1/web/config"),
    ("GET", "/api/v1/web/status"),
    ("GET", "/api/v1/screen/summary"),
    ("GET", "/api/v1/screen/cases"),
    ("GET", "/api/v1/stream"),
    ("GET", "/api/v1/geo/areas"),
    ("GET", "/api/v1/geo/grids"),
    ("GET", "/api/v1/locate"),
    ("GET", "/api/v1/suggest"),
    ("GET", "/api/v1/review"),
    ("GET", "/api/v1/web/cases/{case_id}/extra"),
    ("GET", "/api/v1/web/queue"),
    ("GET", "/api/v1/web/cases/{case_id}/inspectors"),  # 派发核查: whom to send
    # the citizen page
    ("POST", "/api/v1/public/photos"),
    ("POST", "/api/v1/public/reports"),
    ("GET", "/api/v1/public/track/{case_id}"),
    ("POST", "/api/v1/public/track/{case_id}/feedback"),
    ("GET", "/api/v1/public/nearby"),
    ("POST", "/api/v1/public/reports/{case_id}/join"),
    ("GET", "/api/v1/public/geocode"),
    ("GET", "/api/v1/public/reverse"),
    # pages
    ("GET", "/"),
    ("GET", "/favicon.ico"),
    ("GET", "/login"),
    ("GET", "/screen"),
    ("GET", "/workspace"),
    ("GET", "/cases/{case_id}"),
    ("GET", "/m"),
    ("GET", "/m/"),
    ("GET", "/m/sw.js"),
    ("GET", "/m/manifest.webmanifest"),
    ("GET", "/public"),
    ("GET", "/public/"),
    ("GET", "/public/track/{case_id}"),
    ("GET", "/tiles/{z}/{x}/{y}.png"),
    # the word catalogue, for the pages and for any client
    ("GET", "/i18n/catalogue.js"),
    ("GET", "/api/v1/i18n/{locale}"),
    # static files
    ("*", "/static"),
    ("*", "/docs/assets"),  # Swagger UI and ReDoc files (http/docs.py)
}


def _registered(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route of *app*, nested routers flattened; a mount answers every method."""
    out: list[tuple[str, str]] = []
    for ctx in iter_route_contexts(app.routes):
        path = ctx.path
        assert path is not None
        if isinstance(ctx.original_route, Mount):
            out.append(("*", path))
        elif path not in DOCS:
            out.extend((method, path) for method in sorted(ctx.methods or ()) if method != "HEAD")
    return out


def _app(city: City, accounts: AccountService, photos: LocalPhotoStore) -> FastAPI:
    return create_app(city, accounts=accounts, photos=photos)


def test_every_path_and_method_is_registered_exactly_once(
    city: City, accounts: AccountService, photos: LocalPhotoStore
) -> None:
    routes = _registered(_app(city, accounts, photos))
    twice = sorted(key for key, n in Counter(routes).items() if n > 1)
    assert twice == []
    assert set(routes) == PINNED


def test_the_app_serves_exactly_the_routes_of_its_routers(
    city: City, accounts: AccountService, photos: LocalPhotoStore
) -> None:
    """No route joins the app outside ``ROUTERS`` (but the static mount), and no two routers share one."""
    owners: Counter[tuple[str, str]] = Counter()
    for router in ROUTERS:
        for route in router.routes:
            path = getattr(route, "path", None)
            assert path is not None
            for method in sorted(getattr(route, "methods", None) or ()):
                if method != "HEAD":
                    owners[(method, path)] += 1
    assert [key for key, n in owners.items() if n > 1] == []
    served = {key for key in _registered(_app(city, accounts, photos)) if key[0] != "*"}
    assert served == set(owners)
