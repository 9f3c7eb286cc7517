"""Probe findings (issue 18, info): the citizen page's hourly limit answered 429 without ``Retry-After``;
the login token and ``/cases/{id}/reporter`` came without ``Cache-Control: no-store``; every answer said
``server: uvicorn``; ``/api/v1/web/status`` was readable without login; and without ``--public-url`` the
URLs in answers followed the ``Host`` header (``Host: evil.example`` → ``http://evil.example/api/v1/
photos/…``)."""

from __future__ import annotations

import threading
import time
import urllib.request
from typing import Any

import pytest
import uvicorn
from fastapi.testclient import TestClient

from civicloop.accounts.service import AccountService
from civicloop.city.service import City
from civicloop.cli.serve import uvicorn_options
from civicloop.http import ApiSettings
from civicloop.photos.store import LocalPhotoStore
from tests.reliability.conftest import make_client
from tests.reliability.harness import free_port
from tests.reliability.test_hostile import open311
from tests.support.images import JPEG


def test_the_citizen_hourly_limit_says_when_to_retry(client: TestClient) -> None:
    for _ in range(60):  # three photos per report an hour
        assert client.post("/api/v1/public/photos", files={"file": ("a.gif", b"GIF89a")}).status_code == 415
    r = client.post("/api/v1/public/photos", files={"file": ("a.jpg", JPEG)})
    assert r.status_code == 429, r.text
    wait = int(r.headers["retry-after"])
    assert 3500 <= wait <= 3600
    assert f"retry after {wait} s" in r.json()["error"]["message_en"]


def test_secrets_and_personal_data_are_never_cached(
    client: TestClient,
    headers: dict[str, dict[str, str]],
    demo_users: dict[str, tuple[str, str]],
    api_key: str,
) -> None:
    user, password = demo_users["operator"]
    login = client.post("/api/v1/auth/login", json={"username": user, "password": password})
    assert login.status_code == 200 and login.headers["cache-control"] == "no-store"
    body = {
        "category_code": "06010",
        "lon": 112.593,
        "lat": 37.723,
        "reporter_name": "王小明",
        "reporter_phone": "13912345678",
    }
    case_id = client.post("/api/v1/cases", json=body, headers=headers["operator"]).json()["case_id"]
    for path in (
        f"/api/v1/cases/{case_id}/reporter",
        f"/api/v1/cases/{case_id}",
        "/api/v1/me",
        "/api/v1/cases",
    ):
        r = client.get(path, headers=headers["operator"])
        assert r.status_code == 200 and r.headers["cache-control"] == "no-store", path
    assert client.get(f"/api/v1/public/track/{case_id}").headers["cache-control"] == "no-store"
    o = client.post("/open311/v2/requests.json", data=open311(api_key))
    assert o.status_code == 200 and o.headers["cache-control"] == "no-store"
    # What a route chose stays: photos by unguessable reference are immutable.
    ref = client.post("/api/v1/photos", headers=headers["inspector"], files={"file": ("a.jpg", JPEG)}).json()[
        "ref"
    ]
    assert "immutable" in client.get(f"/api/v1/photos/{ref}").headers["cache-control"]


def test_the_live_status_needs_a_login(client: TestClient, headers: dict[str, dict[str, str]]) -> None:
    assert client.get("/api/v1/web/status").status_code == 401
    assert client.get("/api/v1/web/status", headers=headers["viewer"]).status_code == 200


def test_urls_in_answers_never_follow_the_host_header(
    client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    evil = {"Host": "evil.example"}
    photo = client.post("/api/v1/public/photos", files={"file": ("a.jpg", JPEG)}, headers=evil)
    assert photo.status_code == 201 and photo.json()["url"].startswith("http://testserver/api/v1/photos/")
    staff = client.post(
        "/api/v1/photos", files={"file": ("a.jpg", JPEG)}, headers={**evil, **headers["inspector"]}
    ).json()
    assert staff["url"].startswith("http://testserver/")
    discovery = client.get("/open311/v2/discovery.json", headers=evil).json()
    assert discovery["endpoints"][0]["url"] == "http://testserver/open311/v2"
    assert "evil.example" not in client.get("/open311/v2/requests.json", headers=evil).text


def test_urls_follow_the_configured_public_url_or_a_trusted_proxy(
    sqlite_city: City, accounts: AccountService, photos: LocalPhotoStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = ApiSettings(public_base_url="https://city.example/cl/")
    with make_client(sqlite_city, accounts, photos, settings) as c:
        r = c.get("/open311/v2/discovery.json", headers={"Host": "evil.example"})
        assert r.json()["endpoints"][0]["url"] == "https://city.example/cl/open311/v2"
    monkeypatch.setenv("CIVICLOOP_TRUST_FORWARDED_HOST", "1")
    with make_client(sqlite_city, accounts, photos, ApiSettings()) as c:
        r = c.get("/open311/v2/discovery.json", headers={"X-Forwarded-Host": "city.example"})
        assert r.json()["endpoints"][0]["url"] == "http://city.example/open311/v2"
        bad = c.get("/open311/v2/discovery.json", headers={"X-Forwarded-Host": "a b/<x>"})
        assert bad.json()["endpoints"][0]["url"] == "http://testserver/open311/v2"


def test_the_server_names_no_software(client: TestClient) -> None:
    port = free_port()
    config = uvicorn.Config(
        client.app, **uvicorn_options("127.0.0.1", port, log_level="warning", lifespan="off")
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 20
        while not server.started and time.monotonic() < deadline:
            time.sleep(0.02)
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=10) as r:
            got: Any = r.headers
            assert r.status == 200
        assert got.get("server") is None, dict(got)
    finally:
        server.should_exit = True
        thread.join(10)
