"""No one where they don't belong: login throttling and lockout, token expiry, API key revocation, an
authorization table that must name every endpoint, no cookie authentication (so no CSRF), security
headers, and rate limits on the public surfaces.

The per-action role × scope matrix of the workflow API is tests/api/test_authorization.py; this file
adds the guard that keeps it complete — every operation of the OpenAPI document, the web command
center's included, must be listed in ``POLICY`` below with who may call it, and each listed rule is
exercised.
"""

from __future__ import annotations

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from defusedxml import ElementTree as SafeET
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from civicloop.accounts.secrets import fast_hasher
from civicloop.accounts.service import AccountService, LoginGuard, seed_demo_users
from civicloop.city.service import City
from civicloop.http import ApiSettings, create_app, pages
from civicloop.http.security import Limiter, RateLimit, SecurityMiddleware, SecuritySettings
from civicloop.photos.store import LocalPhotoStore
from tests.reliability.conftest import make_client
from tests.support.images import JPEG

XIAODIAN = {"lat": "37.723", "long": "112.593"}


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


def open311_body(api_key: str, city: City, text: str = "坞城路口东侧垃圾成堆") -> dict[str, str]:
    return {
        "api_key": api_key,
        "jurisdiction_id": city.id,
        "service_code": "06010",
        "attribute[condition]": "1",
        "description": text,
        **XIAODIAN,
    }


# ---- the authorization table --------------------------------------------------------------------------

PUBLIC = "public"  # anyone (Open311 POST needs an api_key instead; the citizen page is rate-limited)
BEARER = "bearer"  # any logged-in user; the answer is limited to the caller's scope
ACTORS = "actors"  # logged-in and allowed to act: a viewer gets 403
#: Every operation of /openapi.json → who may call it (roles: those roles only).
POLICY: dict[tuple[str, str], str | frozenset[str]] = {
    ("GET", "/open311/v2/discovery.{fmt}"): PUBLIC,
    ("GET", "/open311/v2/services.{fmt}"): PUBLIC,
    ("GET", "/open311/v2/services/{service_code}.{fmt}"): PUBLIC,
    ("POST", "/open311/v2/requests.{fmt}"): PUBLIC,
    ("GET", "/open311/v2/requests.{fmt}"): PUBLIC,
    ("GET", "/open311/v2/requests/{service_request_id}.{fmt}"): PUBLIC,
    ("GET", "/open311/v2/tokens/{token}.{fmt}"): PUBLIC,
    ("POST", "/api/v1/auth/login"): PUBLIC,
    ("POST", "/api/v1/auth/logout"): BEARER,
    ("GET", "/api/v1/me"): BEARER,
    ("GET", "/api/v1/cities"): PUBLIC,
    ("POST", "/api/v1/cases"): frozenset({"inspector", "operator"}),
    ("GET", "/api/v1/cases"): BEARER,
    ("GET", "/api/v1/cases/{case_id}"): BEARER,
    ("POST", "/api/v1/cases/{case_id}/actions/{action}"): ACTORS,  # + the domain's action table
    ("POST", "/api/v1/cases/batch/{action}"): ACTORS,  # each case: the domain's table and the scope
    ("GET", "/api/v1/queues/mine"): BEARER,
    ("GET", "/api/v1/queues/unlocated"): frozenset({"operator", "shift_leader", "admin"}),
    ("GET", "/api/v1/cases/{case_id}/reporter"): frozenset({"operator", "admin"}),
    ("POST", "/api/v1/reporters/{reporter_id}/anonymise"): frozenset({"operator", "admin"}),
    ("POST", "/api/v1/photos"): ACTORS,
    ("GET", "/api/v1/photos/{ref}"): PUBLIC,  # by unguessable reference, as Open311's media_url
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/api/v1/web/config"): PUBLIC,
    ("GET", "/api/v1/web/status"): BEARER,
    ("GET", "/api/v1/screen/summary"): BEARER,
    ("GET", "/api/v1/screen/cases"): BEARER,
    ("GET", "/api/v1/stream"): BEARER,
    ("GET", "/api/v1/geo/areas"): PUBLIC,
    ("GET", "/api/v1/geo/grids"): PUBLIC,
    ("GET", "/api/v1/locate"): PUBLIC,
    ("GET", "/api/v1/suggest"): PUBLIC,
    ("GET", "/api/v1/review"): frozenset({"operator", "shift_leader", "leader", "viewer", "admin"}),
    ("GET", "/api/v1/web/cases/{case_id}/extra"): BEARER,
    ("GET", "/api/v1/web/queue"): BEARER,
    ("GET", "/api/v1/web/cases/{case_id}/inspectors"): BEARER,
    ("POST", "/api/v1/public/track/{case_id}/feedback"): PUBLIC,  # a tracking token or an operator
    ("GET", "/api/v1/public/nearby"): PUBLIC,
    ("GET", "/api/v1/public/geocode"): PUBLIC,  # the citizen page's address search (no reporter data)
    ("GET", "/api/v1/public/reverse"): PUBLIC,
    ("GET", "/api/v1/cases/search"): BEARER,  # the case search and its exports, within the caller's scope
    ("GET", "/api/v1/cases/export.xlsx"): BEARER,
    ("GET", "/api/v1/cases/export.csv"): BEARER,
    ("POST", "/api/v1/public/reports/{case_id}/join"): PUBLIC,
    ("POST", "/api/v1/public/photos"): PUBLIC,
    ("POST", "/api/v1/public/reports"): PUBLIC,
    ("GET", "/api/v1/public/track/{case_id}"): PUBLIC,
}
ROLES = ("inspector", "operator", "shift_leader", "dispatcher", "department", "leader", "viewer", "admin")


@pytest.fixture
def world(
    client: TestClient, api_key: str, sqlite_city: City, headers: dict[str, dict[str, str]]
) -> dict[str, Any]:
    """A case in the demo inspector's district dispatched to another department, and a photo ref."""
    r = client.post("/open311/v2/requests.json", data=open311_body(api_key, sqlite_city))
    case_id = r.json()[0]["service_request_id"]
    other = next(d.id for d in sqlite_city.profile.departments if d.id != "ty-sanitation")
    for action, role, body in (
        ("accept", "operator", {"verify": False}),
        ("file", "shift_leader", {}),
        ("dispatch", "dispatcher", {"department_id": other}),
    ):
        assert (
            client.post(
                f"/api/v1/cases/{case_id}/actions/{action}", json=body, headers=headers[role]
            ).status_code
            == 200
        )
    ref = client.post(
        "/api/v1/photos", files={"file": ("a.jpg", JPEG, "image/jpeg")}, headers=headers["operator"]
    )
    reporter = sqlite_city.cases.get(case_id).reporter_id
    return {"case_id": case_id, "ref": ref.json()["ref"], "reporter_id": reporter or "r-none"}


def concrete(path: str, w: dict[str, Any]) -> str:
    values = {
        "fmt": "json",
        "service_code": "06010",
        "service_request_id": w["case_id"],
        "token": "tok",
        "case_id": w["case_id"],
        "action": "comment",
        "reporter_id": w["reporter_id"],
        "ref": w["ref"],
    }
    return re.sub(r"\{(\w+)\}", lambda m: str(values[m.group(1)]), path)


def call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> Any:
    if method == "GET":
        return client.get(path, headers=headers)
    if path.endswith("/photos"):
        return client.post(path, headers=headers, files={"file": ("a.jpg", JPEG, "image/jpeg")})
    body: dict[str, Any] = {"note": "x"}
    if path == "/api/v1/cases":
        body = {"category_code": "06010", "lon": 112.593, "lat": 37.723, "district_code": "140105"}
    return client.post(path, headers=headers, json=body)


def test_the_table_names_every_operation_and_no_page_mutates(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    operations = {(m.upper(), p) for p, ops in schema["paths"].items() for m in ops}
    assert operations == set(POLICY), {
        "unlisted": operations - set(POLICY),
        "gone": set(POLICY) - operations,
    }
    # What is not in the schema (pages, service worker, manifest) only answers GET.
    for route in pages.router.routes:
        assert isinstance(route, APIRoute) and (route.methods or set()) <= {"GET", "HEAD"}, route


def test_every_bearer_operation_refuses_no_forged_or_expired_tokens(
    sqlite_city: City, photos: LocalPhotoStore, world: dict[str, Any], demo_users: dict[str, tuple[str, str]]
) -> None:
    clock = Clock()
    accounts = AccountService(sqlite_city.engine, sqlite_city.id, hasher=fast_hasher(), clock=clock)
    with make_client(sqlite_city, accounts, photos) as c:
        user, password = demo_users["leader"]
        token = c.post("/api/v1/auth/login", json={"username": user, "password": password}).json()
        expired = {"Authorization": f"Bearer {token['access_token']}"}
        clock.advance(hours=12)  # the token's lifetime
        for (method, path), rule in POLICY.items():
            if rule == PUBLIC:
                continue
            url = concrete(path, world)
            for h in ({}, {"Authorization": "Bearer clt_forged"}, {"Authorization": "Basic YTpi"}, expired):
                r = call(c, method, url, h)
                assert r.status_code == 401, (method, path, h, r.text)
                assert r.json()["error"]["code"] == "unauthorized"
                assert r.headers["www-authenticate"] == "Bearer"


def test_roles_are_checked_on_every_operation_reserved_to_some(
    client: TestClient, world: dict[str, Any], headers: dict[str, dict[str, str]]
) -> None:
    for (method, path), rule in POLICY.items():
        if rule in (PUBLIC, BEARER):
            continue
        allowed = {r for r in ROLES if r != "viewer"} if rule == ACTORS else set(rule)
        # Which role may take which step of the loop is the domain's action table, checked action by
        # action in tests/api/test_authorization.py; here: a viewer acts on nothing.
        checked = ("viewer",) if "/actions/" in path else ROLES
        for role in checked:
            r = call(client, method, concrete(path, world), headers[role])
            if role in allowed:
                assert r.status_code not in (401, 403), (method, path, role, r.text)
            else:
                assert r.status_code == 403, (method, path, role, r.text)
                assert r.json()["error"]["code"] in ("forbidden", "role_not_allowed")


def test_scope_holds_on_the_web_endpoints(
    client: TestClient, world: dict[str, Any], headers: dict[str, dict[str, str]]
) -> None:
    """The case was dispatched to another department: the demo department handler sees nothing of it."""
    case_id = world["case_id"]
    dept = headers["department"]
    assert client.get(f"/api/v1/web/cases/{case_id}/extra", headers=dept).status_code == 404
    assert client.get(f"/api/v1/cases/{case_id}", headers=dept).status_code == 404
    queue = client.get("/api/v1/web/queue", headers=dept).json()
    assert case_id not in str(queue)
    summary = client.get("/api/v1/screen/summary", headers=dept)
    assert summary.status_code == 200 and case_id not in summary.text
    assert client.get(f"/api/v1/web/cases/{case_id}/extra", headers=headers["dispatcher"]).status_code == 200


# ---- login throttling and lockout, tokens, API keys -------------------------------------------------------


@pytest.fixture
def clocked(
    sqlite_city: City, photos: LocalPhotoStore
) -> tuple[TestClient, AccountService, Clock, dict[str, str]]:
    clock = Clock()
    accounts = AccountService(sqlite_city.engine, sqlite_city.id, hasher=fast_hasher(), clock=clock)
    passwords = {role: p for _, p, role in seed_demo_users(sqlite_city, accounts=accounts)}
    return make_client(sqlite_city, accounts, photos), accounts, clock, passwords


def login(c: TestClient, user: str, password: str) -> Any:
    return c.post("/api/v1/auth/login", json={"username": user, "password": password})


def test_a_username_is_locked_after_repeated_wrong_passwords(clocked: Any) -> None:
    c, _, clock, passwords = clocked
    for _ in range(5):
        assert login(c, "dispatcher", "wrong-password").status_code == 401
    locked = login(c, "dispatcher", passwords["dispatcher"])  # even the right password: locked
    assert locked.status_code == 423, locked.text
    error = locked.json()["error"]
    assert error["code"] == "account_locked" and error["field"] == "username"
    assert "locked" in error["message_en"] and "锁定" in error["message_zh"]
    assert locked.headers["retry-after"] == "60"
    clock.advance(seconds=30)
    assert login(c, "dispatcher", passwords["dispatcher"]).headers["retry-after"] == "30"
    clock.advance(seconds=31)
    assert login(c, "dispatcher", passwords["dispatcher"]).status_code == 200  # resets the count
    for _ in range(5):
        login(c, "dispatcher", "wrong-password")
    clock.advance(seconds=61)
    assert login(c, "dispatcher", "still-wrong").status_code == 401  # the 6th failure in a row …
    assert login(c, "dispatcher", passwords["dispatcher"]).headers["retry-after"] == "120"  # … doubles
    # Unknown names are counted the same way: the lock reveals nothing about which names exist.
    for _ in range(5):
        assert login(c, "nobody-here", "x" * 8).status_code == 401
    assert login(c, "nobody-here", "x" * 8).status_code == 423
    # Other users are not affected.
    assert login(c, "operator", passwords["operator"]).status_code == 200


def test_an_address_is_throttled_after_many_failures(clocked: Any) -> None:
    c, _, clock, passwords = clocked
    for i in range(20):  # password spraying: one attempt per name
        assert login(c, f"guess{i}", "Passw0rd!").status_code == 401
    r = login(c, "operator", passwords["operator"])
    assert r.status_code == 429, r.text
    assert r.json()["error"]["code"] == "too_many_attempts"
    assert 1 <= int(r.headers["retry-after"]) <= 600
    clock.advance(minutes=10, seconds=1)
    assert login(c, "operator", passwords["operator"]).status_code == 200


def test_the_guard_counts_addresses_separately(sqlite_city: City) -> None:
    clock = Clock()
    guard = LoginGuard(ip_failures=3)
    accounts = AccountService(
        sqlite_city.engine, sqlite_city.id, hasher=fast_hasher(), clock=clock, guard=guard
    )
    for i in range(3):
        with pytest.raises(Exception, match="wrong username or password"):
            accounts.login(f"x{i}", "y" * 8, client="10.0.0.1")
    with pytest.raises(Exception, match="too many failed logins"):
        accounts.login("x9", "y" * 8, client="10.0.0.1")
    with pytest.raises(Exception, match="wrong username or password"):
        accounts.login("x9", "y" * 8, client="10.0.0.2")


def test_tokens_expire(clocked: Any) -> None:
    c, _, clock, passwords = clocked
    r = login(c, "leader", passwords["leader"])
    h = {"Authorization": f"Bearer {r.json()['access_token']}"}
    assert datetime.fromisoformat(r.json()["expires_at"]) == clock.now + timedelta(hours=12)
    clock.advance(hours=11, minutes=59, seconds=59)
    assert c.get("/api/v1/me", headers=h).status_code == 200
    clock.advance(seconds=1)
    assert c.get("/api/v1/me", headers=h).status_code == 401


def test_a_revoked_api_key_is_refused_at_once(
    sqlite_city: City, accounts: AccountService, photos: LocalPhotoStore
) -> None:
    with make_client(sqlite_city, accounts, photos) as c:
        _, key = accounts.create_api_key("bridge")
        body = open311_body(key, sqlite_city)
        assert c.post("/open311/v2/requests.json", data=body).status_code == 200  # now cached
        assert accounts.revoke_api_key(key)
        r = c.post("/open311/v2/requests.json", data=body)
        assert r.status_code == 403 and r.json()[0]["code"] == 403, r.text
        assert accounts.audit_entries(subject=key.split(".")[1])[0]["action"] == "revoke_api_key"


def test_a_key_revoked_by_another_process_is_refused_within_the_cache_time(
    sqlite_city: City, photos: LocalPhotoStore
) -> None:
    now = [1000.0]  # the cache's monotonic clock, moved by hand: no sleeping

    def clock() -> float:
        return now[0]

    accounts = AccountService(
        sqlite_city.engine, sqlite_city.id, hasher=fast_hasher(), key_cache_seconds=5, monotonic=clock
    )
    elsewhere = AccountService(sqlite_city.engine, sqlite_city.id, hasher=fast_hasher())  # e.g. the CLI
    with make_client(sqlite_city, accounts, photos) as c:
        info, key = accounts.create_api_key("bridge")
        body = open311_body(key, sqlite_city)
        assert c.post("/open311/v2/requests.json", data=body).status_code == 200  # verified and cached
        assert elsewhere.revoke_api_key(info.key_id)
        now[0] += 4.9  # within the cache time this process has not heard of it yet
        assert accounts.cached_api_key(key) == info.key_id
        assert c.post("/open311/v2/requests.json", data=body).status_code == 200
        now[0] += 0.2  # 5.1 s after the check: the cache entry has expired, the database says revoked
        assert accounts.cached_api_key(key) is None
        assert c.post("/open311/v2/requests.json", data=body).status_code == 403


# ---- no cookie authentication: nothing for a cross-site request to ride on ---------------------------


def test_no_cookie_is_ever_set_and_cookies_authenticate_nothing(
    client: TestClient,
    world: dict[str, Any],
    headers: dict[str, dict[str, str]],
    demo_users: Any,
    api_key: str,
    sqlite_city: City,
) -> None:
    user, password = demo_users["operator"]
    responses = [client.get(p) for p in ("/", "/login", "/workspace", "/screen", "/m/", "/public/")]
    responses.append(client.post("/api/v1/auth/login", json={"username": user, "password": password}))
    responses.append(client.get("/api/v1/me", headers=headers["operator"]))
    responses.append(client.post("/open311/v2/requests.json", data=open311_body(api_key, sqlite_city)))
    for r in responses:
        assert "set-cookie" not in r.headers, (r.request.url, r.headers)
    token = headers["operator"]["Authorization"].split(" ", 1)[1]
    case_id = world["case_id"]
    # A cross-site HTML form can send cookies and a form body, never an Authorization header.
    evil = {"Origin": "https://evil.example", "Referer": "https://evil.example/x"}
    client.cookies.update({"access_token": token, "Authorization": f"Bearer {token}", "token": token})
    try:
        for path, body in (
            (f"/api/v1/cases/{case_id}/actions/comment", {"note": "csrf"}),
            ("/api/v1/cases", {"category_code": "06010", "description": "csrf"}),
            ("/api/v1/auth/logout", {}),
            ("/api/v1/reporters/r-x/anonymise", {}),
        ):
            r = client.post(path, data=body, headers=evil)
            assert r.status_code == 401, (path, r.text)
        # A text/plain form body that looks like JSON is not taken as JSON (no login by form either).
        r = client.post(
            "/api/v1/auth/login",
            content=f'{{"username": "{user}", "password": "{password}"}}',
            headers={**evil, "Content-Type": "text/plain"},
        )
        assert r.status_code == 422, r.text
    finally:
        client.cookies.clear()
    # No CORS grant: another origin's script cannot read any answer.
    pre = client.options(
        "/api/v1/me",
        headers={
            **evil,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert "access-control-allow-origin" not in pre.headers
    assert "access-control-allow-origin" not in client.get("/api/v1/web/config", headers=evil).headers
    assert len(client.get(f"/api/v1/cases/{case_id}", headers=headers["operator"]).json()["timeline"]) == 4


# ---- security headers --------------------------------------------------------------------------------------


def test_every_answer_carries_the_security_headers(
    client: TestClient, api_key: str, sqlite_city: City
) -> None:
    answers = {
        "page": client.get("/"),
        "json": client.get("/api/v1/web/config"),
        "xml": client.get("/open311/v2/services.xml"),
        "error": client.get("/api/v1/me"),
        "open311 error": client.post("/open311/v2/requests.json", data={"api_key": "nope"}),
        "static": client.get("/static/img/icon.svg"),
        "too big": client.post("/api/v1/auth/login", content=b"x", headers={"Content-Length": str(1 << 30)}),
    }
    assert answers["too big"].status_code == 413 and answers["error"].status_code == 401
    for what, r in answers.items():
        assert r.headers["x-content-type-options"] == "nosniff", what
        assert r.headers["x-frame-options"] == "DENY", what
        assert r.headers["referrer-policy"] == "same-origin", what
        assert "frame-ancestors 'none'" in r.headers["content-security-policy"], what
        assert "strict-transport-security" not in r.headers, what  # plain HTTP: no HSTS
    page = answers["page"].headers["content-security-policy"]
    directives = dict(d.strip().split(" ", 1) for d in page.split(";"))
    assert directives["default-src"] == "'self'" and directives["script-src"] == "'self'", page
    assert "http" not in page, page  # no CDN, no other origin: the libraries are vendored
    assert answers["json"].headers["content-security-policy"].startswith("default-src 'none'")
    docs = client.get("/docs").headers["content-security-policy"]
    assert "http" not in docs and "frame-ancestors 'none'" in docs  # Swagger UI and ReDoc served locally


def test_pages_load_nothing_from_another_origin() -> None:
    for template in sorted(pages.TEMPLATES.glob("*.html")):
        text = template.read_text(encoding="utf-8")
        external = re.findall(r"""(?:src|href)\s*=\s*["'](?:https?:)?//[^"']+""", text)
        assert not external, (template.name, external)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), f"inline script in {template.name}"


HSTS_CASES = [("auto", True, True), ("auto", False, False), ("always", False, True), ("off", True, False)]


@pytest.mark.parametrize(("mode", "https", "sent"), HSTS_CASES)
def test_hsts_follows_the_setting_and_the_scheme(
    sqlite_city: City, accounts: AccountService, photos: LocalPhotoStore, mode: str, https: bool, sent: bool
) -> None:
    settings = ApiSettings(security=SecuritySettings(hsts=mode))  # type: ignore[arg-type]
    app = create_app(sqlite_city, accounts=accounts, photos=photos, settings=settings)
    with TestClient(app, base_url="https://testserver" if https else "http://testserver") as c:
        r = c.get("/healthz")
    assert ("strict-transport-security" in r.headers) is sent
    if sent:
        assert r.headers["strict-transport-security"] == "max-age=31536000; includeSubDomains"


# ---- rate limits -------------------------------------------------------------------------------------


def limited_client(
    city: City, accounts: AccountService, photos: LocalPhotoStore, **limits: RateLimit
) -> TestClient:
    settings = ApiSettings(security=SecuritySettings(**limits))  # type: ignore[arg-type]
    return make_client(city, accounts, photos, settings)


def test_public_endpoints_are_limited_per_address_in_their_own_error_shape(
    sqlite_city: City, accounts: AccountService, photos: LocalPhotoStore, demo_users: Any
) -> None:
    with limited_client(sqlite_city, accounts, photos, per_ip=RateLimit(1.0, 3)) as c:
        for _ in range(3):
            assert c.get("/open311/v2/services.json").status_code == 200
        r = c.get("/open311/v2/services.json")
        assert r.status_code == 429 and r.headers["retry-after"] == "1"
        body = r.json()
        assert body[0]["code"] == 429 and "too many requests" in body[0]["description"], body
        xml = c.get("/open311/v2/services.xml")
        root = SafeET.fromstring(xml.content)
        assert xml.status_code == 429 and root.tag == "errors" and root.findtext("error/code") == "429"
        public = c.get("/api/v1/public/track/TY-2026-0000001")
        assert public.status_code == 429 and public.json()["error"]["code"] == "too_many_requests"
        # Staff endpoints are not limited by address (a duty room shares one NAT address).
        user, password = demo_users["leader"]
        token = c.post("/api/v1/auth/login", json={"username": user, "password": password}).json()[
            "access_token"
        ]
        for _ in range(10):
            assert c.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        limiter = c.app.state.civicloop_limiter  # type: ignore[attr-defined]
        now = limiter.per_ip.clock()
        limiter.per_ip.clock = lambda: now + 1.01  # a second later one request may pass again
        assert c.get("/open311/v2/services.json").status_code == 200
        assert c.get("/open311/v2/services.json").status_code == 429


def test_open311_submissions_are_limited_per_api_key(
    sqlite_city: City, accounts: AccountService, photos: LocalPhotoStore
) -> None:
    _, first = accounts.create_api_key("one")
    _, second = accounts.create_api_key("two")
    with limited_client(sqlite_city, accounts, photos, per_key=RateLimit(0.5, 2)) as c:
        for i in range(2):
            assert (
                c.post(
                    "/open311/v2/requests.json", data=open311_body(first, sqlite_city, f"垃圾 {i}")
                ).status_code
                == 200
            )
        r = c.post("/open311/v2/requests.json", data=open311_body(first, sqlite_city, "垃圾 x"))
        assert r.status_code == 429 and r.headers["retry-after"] == "2", r.text
        assert "api_key" in r.json()[0]["description"]
        assert c.post("/open311/v2/requests.json", data=open311_body(second, sqlite_city)).status_code == 200


def test_limits_are_configurable_and_generous_by_default() -> None:
    default = SecuritySettings()
    assert default.rate_limits and default.per_ip.rate >= 50 and default.per_ip.burst >= 300
    assert default.per_key.rate >= 20 and default.per_key.burst >= 200
    env = {
        "CIVICLOOP_RATE_IP": "500",
        "CIVICLOOP_RATE_IP_BURST": "2000",
        "CIVICLOOP_RATE_KEY": "7.5",
        "CIVICLOOP_HSTS": "always",
    }
    s = SecuritySettings.from_env(env)
    assert s.per_ip == RateLimit(500.0, 2000) and s.per_key == RateLimit(7.5, 200) and s.hsts == "always"
    assert not SecuritySettings.from_env({"CIVICLOOP_RATE_LIMIT": "0"}).rate_limits
    with pytest.raises(ValueError, match="CIVICLOOP_RATE_IP"):
        SecuritySettings.from_env({"CIVICLOOP_RATE_IP": "lots"})
    with pytest.raises(ValueError, match="rate > 0"):
        SecuritySettings.from_env({"CIVICLOOP_RATE_KEY": "0"})
    with pytest.raises(ValueError, match="CIVICLOOP_HSTS"):
        SecuritySettings.from_env({"CIVICLOOP_HSTS": "sometimes"})


def test_limits_can_be_switched_off(sqlite_city: City, accounts: AccountService, tmp_path: Path) -> None:
    settings = ApiSettings(security=SecuritySettings(rate_limits=False, per_ip=RateLimit(1.0, 1)))
    app = create_app(
        sqlite_city, accounts=accounts, photos=LocalPhotoStore(tmp_path / "p"), settings=settings
    )
    with TestClient(app) as c:
        assert all(c.get("/open311/v2/services.json").status_code == 200 for _ in range(5))


def test_past_the_in_flight_bound_requests_are_refused_at_once_and_the_taken_ones_finish() -> None:
    """A server past its capacity refuses the excess (503, Retry-After, each surface's error shape)
    instead of queueing it; the live stream and the health check are never bound, and a client that
    trickles its body (slowloris) holds no place while the server waits for it."""
    release = asyncio.Event()
    body_arrives = asyncio.Event()

    async def slow_app(scope: Any, receive: Any, send: Any) -> None:
        if scope["path"] == "/upload":
            await receive()  # waits on the client
        elif scope["path"] != "/healthz":
            await release.wait()  # the server's own work
        if scope["path"] == "/boom":
            raise RuntimeError("handler failed")
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    settings = SecuritySettings(max_in_flight=2, rate_limits=False)
    middleware = SecurityMiddleware(slow_app, settings, Limiter(settings))

    async def call(path: str) -> tuple[int, dict[bytes, bytes], bytes]:
        sent: list[dict[str, Any]] = []

        async def receive() -> dict[str, Any]:
            if path == "/upload":
                await body_arrives.wait()
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)

        scope = {"type": "http", "method": "GET", "path": path, "query_string": b"", "headers": []}
        try:
            await middleware(scope, receive, send)
        except RuntimeError:
            return 500, {}, b""
        start = sent[0]
        body = b"".join(m.get("body", b"") for m in sent[1:])
        return start["status"], dict(start["headers"]), body

    async def scenario() -> None:
        slow_clients = [asyncio.create_task(call("/upload")) for _ in range(3)]
        for _ in range(10):
            await asyncio.sleep(0)
        assert middleware.in_flight == 0  # all three wait for their bodies: no place held
        taken = [asyncio.create_task(call("/api/v1/cases")), asyncio.create_task(call("/boom"))]
        for _ in range(10):  # let both enter the app
            await asyncio.sleep(0)
        assert middleware.in_flight == 2
        status, headers, body = await call("/open311/v2/requests.json")
        assert status == 503 and headers[b"retry-after"] == b"1"
        assert json.loads(body)[0]["code"] == 503  # Open311's error shape
        status, headers, body = await call("/api/v1/cases")
        assert status == 503 and json.loads(body)["error"]["code"] == "overloaded"
        assert (await call("/healthz"))[0] == 200  # never bound
        release.set()
        done = [await t for t in taken]
        assert [status for status, _, _ in done] == [200, 500]
        assert middleware.in_flight == 0  # a failing handler gives its place back too
        assert (await call("/api/v1/cases"))[0] == 200
        body_arrives.set()
        assert [(await t)[0] for t in slow_clients] == [200, 200, 200]
        assert middleware.in_flight == 0

    asyncio.run(scenario())
    assert SecuritySettings().max_in_flight >= 128
    assert SecuritySettings.from_env({"CIVICLOOP_MAX_IN_FLIGHT": "0"}).max_in_flight == 0
    with pytest.raises(ValueError, match="CIVICLOOP_MAX_IN_FLIGHT"):
        SecuritySettings.from_env({"CIVICLOOP_MAX_IN_FLIGHT": "-3"})
