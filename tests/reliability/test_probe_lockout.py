"""Probe finding (issue 18, low–medium): anyone could keep a real user locked out. Five wrong passwords
locked the account for every address, and afterwards one wrong try re-locked it (120 s doubling to
15 min), so one request per 15 min kept a victim out; one address could lock about 30 accounts.

Now (services/accounts.py ``LoginGuard``, docs/reliability.md "Logins"): the lock is keyed by account
**and** source, and unknown sources meet a progressive delay (at most 30 s after the last failure)
instead of a hard lock; a source the user has logged in from is never delayed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from civicloop.accounts.secrets import fast_hasher
from civicloop.accounts.service import AccountError, AccountService, LoginGuard, seed_demo_users
from civicloop.city.service import City
from civicloop.http import ApiSettings, create_app
from tests.reliability.test_access import Clock


def _world(sqlite_city: City, photos: Any) -> tuple[Any, Clock, dict[str, str]]:
    clock = Clock()
    accounts = AccountService(sqlite_city.engine, sqlite_city.id, hasher=fast_hasher(), clock=clock)
    passwords = {user: p for user, p, _ in seed_demo_users(sqlite_city, accounts=accounts)}
    app = create_app(sqlite_city, accounts=accounts, photos=photos, settings=ApiSettings())

    def at(address: str) -> TestClient:
        return TestClient(app, client=(address, 40000))

    return at, clock, passwords


def login(c: TestClient, user: str, password: str) -> Any:
    return c.post("/api/v1/auth/login", json={"username": user, "password": password})


def test_a_guesser_locks_only_their_own_address(sqlite_city: City, photos: Any) -> None:
    at, clock, passwords = _world(sqlite_city, photos)
    victim, attacker = at("10.0.0.7"), at("203.0.113.9")
    assert login(victim, "dispatcher", passwords["dispatcher"]).status_code == 200  # a known source
    for _ in range(5):
        assert login(attacker, "dispatcher", "wrong-password").status_code == 401
    locked = login(attacker, "dispatcher", passwords["dispatcher"])
    assert locked.status_code == 423 and locked.json()["error"]["code"] == "account_locked"
    assert locked.headers["retry-after"] == "60"
    # The probe's attack: afterwards one wrong try per 15 minutes, for hours.
    for _ in range(8):
        clock.advance(minutes=15)
        assert login(attacker, "dispatcher", "wrong-password").status_code in (401, 423)
        assert login(victim, "dispatcher", passwords["dispatcher"]).status_code == 200
        # Even from an address never seen before the user waits at most the delay, never 15 minutes.
        fresh = login(at(f"198.51.100.{clock.now.hour}"), "dispatcher", passwords["dispatcher"])
        assert fresh.status_code == 200, fresh.text


def test_one_address_cannot_lock_many_accounts(sqlite_city: City, photos: Any) -> None:
    at, clock, passwords = _world(sqlite_city, photos)
    attacker = at("203.0.113.9")
    victims = ["operator", "leader", "dispatcher", "viewer"]
    for name in victims:
        for _ in range(5):
            assert login(attacker, name, "wrong-password").status_code == 401
        # Locked for this account, or (after 20 failures) the whole address is throttled.
        assert login(attacker, name, passwords[name]).status_code in (423, 429)
    clock.advance(seconds=31)  # past the longest delay an unknown source can meet
    for i, name in enumerate(victims):
        r = login(at(f"10.0.1.{i}"), name, passwords[name])
        assert r.status_code == 200, (name, r.text)


def test_unknown_sources_meet_a_progressive_delay(sqlite_city: City, photos: Any) -> None:
    at, clock, passwords = _world(sqlite_city, photos)
    assert login(at("10.0.0.7"), "leader", passwords["leader"]).status_code == 200  # home
    # A distributed guesser: every try from another address, none of them locked by itself.
    for i in range(5):
        assert login(at(f"203.0.113.{i}"), "leader", "guess").status_code == 401
    delays = []
    for i in range(5, 12):
        r = login(at(f"203.0.113.{i}"), "leader", "guess")
        assert r.status_code == 429, r.text
        error = r.json()["error"]
        assert error["code"] == "login_delayed" and error["field"] == "username"
        assert "retry after" in error["message_en"] and "秒" in error["message_zh"]
        wait = int(r.headers["retry-after"])
        delays.append(wait)
        clock.advance(seconds=wait)
        assert login(at(f"203.0.113.{i}"), "leader", "guess").status_code == 401
    assert delays == [1, 2, 4, 8, 16, 30, 30]  # doubling, capped at 30 s
    # The user at home is not delayed at all; someone new waits, then gets in.
    assert login(at("10.0.0.7"), "leader", passwords["leader"]).status_code == 200
    new = login(at("192.0.2.1"), "leader", passwords["leader"])
    assert new.status_code == 429 and int(new.headers["retry-after"]) <= 30
    clock.advance(seconds=30)
    assert login(at("192.0.2.1"), "leader", passwords["leader"]).status_code == 200
    # Failures age out: a quiet quarter of an hour later nobody waits.
    clock.advance(minutes=15)
    assert login(at("203.0.113.99"), "leader", "guess").status_code == 401


def test_unknown_names_are_treated_like_real_ones() -> None:
    clock = Clock()
    guard = LoginGuard()
    for name in ("dispatcher", "no-such-user"):
        for i in range(5):
            guard.failed(name, f"203.0.113.{i}", clock.now)
        with pytest.raises(AccountError) as delayed:
            guard.check(name, "192.0.2.1", clock.now)
        assert delayed.value.code == "login_delayed" and delayed.value.retry_after == 1
        clock.advance(seconds=1)
        guard.check(name, "192.0.2.1", clock.now)
        clock.now -= timedelta(seconds=1)
