"""Fixtures of the HTTP API tests: a city on each store, accounts with a cheap hasher, the app, tokens."""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from civicloop.accounts.secrets import fast_hasher
from civicloop.accounts.service import AccountService, accounts_for, seed_demo_users
from civicloop.bootstrap import init_city
from civicloop.city.service import City
from civicloop.http import ApiSettings, create_app
from civicloop.photos.store import LocalPhotoStore
from tests.api.helpers import login_headers


@pytest.fixture(autouse=True)
def _no_automatic_triage(monkeypatch: pytest.MonkeyPatch) -> None:
    """These tests drive each step by hand; automatic triage is tested in tests/api/test_triage.py."""
    monkeypatch.setenv("CIVICLOOP_TRIAGE", "0")


@pytest.fixture
def city(backend: tuple[str, Engine], city_id: str) -> City:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the calendar's "next year not published yet" notice
        return init_city("taiyuan", engine=backend[1], city_id=city_id)


@pytest.fixture
def accounts(city: City) -> AccountService:
    return accounts_for(city, hasher=fast_hasher())


@pytest.fixture
def photos(tmp_path: Path) -> LocalPhotoStore:
    return LocalPhotoStore(tmp_path / "photos")


@pytest.fixture
def api_key(accounts: AccountService) -> str:
    return accounts.create_api_key("tests")[1]


@pytest.fixture
def settings() -> ApiSettings:
    return ApiSettings()


@pytest.fixture
def client(
    city: City, accounts: AccountService, photos: LocalPhotoStore, settings: ApiSettings
) -> Iterator[TestClient]:
    app = create_app(city, accounts=accounts, photos=photos, settings=settings)
    with TestClient(app) as c:
        yield c


@pytest.fixture
def demo_users(city: City, accounts: AccountService) -> dict[str, tuple[str, str]]:
    """role → (username, password) for one demo user of every role."""
    return {role: (user, password) for user, password, role in seed_demo_users(city, accounts=accounts)}


@pytest.fixture
def headers(client: TestClient, demo_users: dict[str, tuple[str, str]]) -> dict[str, dict[str, str]]:
    """role → Authorization headers of a logged-in demo user."""
    return login_headers(client, demo_users)
