"""Fixtures of the in-process reliability tests: the demo city on a store, accounts with a cheap hasher
(and, where a test needs it, an injected clock), the app, demo users and their tokens."""

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
from civicloop.store.database import make_engine
from tests.api.helpers import login_headers


@pytest.fixture(autouse=True)
def _no_automatic_triage(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each step is driven by hand here; automatic triage is tested in tests/api/test_triage.py."""
    monkeypatch.setenv("CIVICLOOP_TRIAGE", "0")


def _city(engine: Engine, city_id: str) -> City:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the calendar's "next year not published yet" notice
        return init_city("taiyuan", engine=engine, city_id=city_id)


@pytest.fixture
def city(backend: tuple[str, Engine], city_id: str) -> City:
    """The demo city on each store (SQLite, PostgreSQL)."""
    return _city(backend[1], city_id)


@pytest.fixture
def sqlite_city(tmp_path: Path, city_id: str) -> Iterator[City]:
    """The demo city on SQLite only, for rules that do not depend on the store."""
    engine = make_engine(f"sqlite:///{tmp_path / 'civicloop.db'}")
    yield _city(engine, city_id)
    engine.dispose()


@pytest.fixture
def photos(tmp_path: Path) -> LocalPhotoStore:
    return LocalPhotoStore(tmp_path / "photos")


def make_client(
    city: City, accounts: AccountService, photos: LocalPhotoStore, settings: ApiSettings | None = None
) -> TestClient:
    return TestClient(create_app(city, accounts=accounts, photos=photos, settings=settings or ApiSettings()))


@pytest.fixture
def accounts(sqlite_city: City) -> AccountService:
    return accounts_for(sqlite_city, hasher=fast_hasher())


@pytest.fixture
def demo_users(sqlite_city: City, accounts: AccountService) -> dict[str, tuple[str, str]]:
    """role → (username, password) for one demo user of every role."""
    return {role: (u, p) for u, p, role in seed_demo_users(sqlite_city, accounts=accounts)}


@pytest.fixture
def client(sqlite_city: City, accounts: AccountService, photos: LocalPhotoStore) -> Iterator[TestClient]:
    with make_client(sqlite_city, accounts, photos) as c:
        yield c


@pytest.fixture
def headers(client: TestClient, demo_users: dict[str, tuple[str, str]]) -> dict[str, dict[str, str]]:
    """role → Authorization headers of a logged-in demo user."""
    return login_headers(client, demo_users)


@pytest.fixture
def api_key(accounts: AccountService) -> str:
    return accounts.create_api_key("reliability")[1]
