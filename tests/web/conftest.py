"""Fixtures of the web tests: a city with a small stored geography on each store; browsers when present."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from civicloop.accounts.secrets import fast_hasher
from civicloop.accounts.service import AccountService, accounts_for, seed_demo_users
from civicloop.city.service import City
from civicloop.http import create_app
from civicloop.photos.store import LocalPhotoStore
from tests.web.helpers import CHROMIUM, CHROMIUM_ARGS, a_city


@pytest.fixture(autouse=True)
def _no_automatic_triage(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests drive each step by hand; automatic triage is tested in tests/api/test_triage.py."""
    monkeypatch.setenv("CIVICLOOP_TRIAGE", "0")


@pytest.fixture
def city(backend: tuple[str, Engine], city_id: str) -> City:
    return a_city(backend[1], city_id)


@pytest.fixture
def accounts(city: City) -> AccountService:
    return accounts_for(city, hasher=fast_hasher())


@pytest.fixture
def users(city: City, accounts: AccountService) -> dict[str, tuple[str, str]]:
    out = {role: (u, p) for u, p, role in seed_demo_users(city, accounts=accounts)}
    accounts.create_user("roads", "roads-password-1", "department", department_id="ty-roads")
    out["roads"] = ("roads", "roads-password-1")
    return out


@pytest.fixture
def client(city: City, accounts: AccountService, tmp_path: Path) -> Iterator[TestClient]:
    app = create_app(city, accounts=accounts, photos=LocalPhotoStore(tmp_path / "photos"))
    with TestClient(app) as c:
        yield c


@pytest.fixture
def auth(client: TestClient, users: dict[str, tuple[str, str]]) -> dict[str, dict[str, str]]:
    """role → Authorization header of a logged-in user of that role (and "roads": another department)."""
    out = {}
    for role, (user, password) in users.items():
        r = client.post("/api/v1/auth/login", json={"username": user, "password": password})
        assert r.status_code == 200, r.text
        out[role] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return out


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Debian Chromium driven by Playwright (skips only when /usr/bin/chromium is absent)."""
    if not CHROMIUM.exists():
        pytest.skip(
            "Chromium is not installed (/usr/bin/chromium): `apt-get install -y chromium fonts-noto-cjk`"
        )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield b
        b.close()
