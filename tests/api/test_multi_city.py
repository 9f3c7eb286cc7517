"""Several cities in one deployment (issue 19, item 6): one server, one database, two cities.

Open311's ``jurisdiction_id`` picks the city (required once there are two); a user and an API key belong
to one city, a membership lets a user act in another; and, on SQLite and PostgreSQL, every SQL statement
that a request of city A or city B runs against a city's table filters by that caller's city (logged with
SQLAlchemy's ``before_cursor_execute``), while every answer holds only the caller's rows.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event

from civicloop.accounts.secrets import fast_hasher
from civicloop.accounts.service import accounts_for, seed_demo_users
from civicloop.bootstrap import init_city
from civicloop.city.service import City
from civicloop.http import create_app
from civicloop.photos.store import LocalPhotoStore
from civicloop.store.tables import metadata
from tests.api.helpers import PIN

#: Every table that holds a city's rows (the registry of cities itself is the one global table).
CITY_TABLES = sorted(t.name for t in metadata.sorted_tables if "city_id" in t.c and t.name != "cities")


def _city(engine: Engine, city_id: str, prefix: str) -> City:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        city = init_city("taiyuan", engine=engine, city_id=city_id)
    # Another case prefix, so that a leaked row would show in an answer at once.
    return dataclasses.replace(city, profile=city.profile.model_copy(update={"case_prefix": prefix}))


@pytest.fixture
def two(backend: tuple[str, Engine], city_id: str, tmp_path: Path) -> Iterator[tuple[TestClient, City, City]]:
    a, b = _city(backend[1], f"{city_id}a", "AA"), _city(backend[1], f"{city_id}b", "BB")
    app = create_app(
        a, accounts=accounts_for(a, hasher=fast_hasher()), photos=LocalPhotoStore(tmp_path), more_cities=[b]
    )
    with TestClient(app) as client:
        yield client, a, b


class Statements:
    """The SQL statements an engine runs while recording, with their parameters."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seen: list[tuple[str, Any]] = []
        self.on = False

    def __call__(self, conn: Any, cursor: Any, statement: str, params: Any, context: Any, many: bool) -> None:
        if self.on:
            self.seen.append((statement, params))

    def __enter__(self) -> Statements:
        event.listen(self.engine, "before_cursor_execute", self)
        return self

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self)


def _values(params: Any) -> list[str]:
    if isinstance(params, dict):
        return [str(v) for v in params.values()]
    if isinstance(params, list | tuple):
        if params and isinstance(params[0], dict | list | tuple):  # executemany
            return [v for p in params for v in _values(p)]
        return [str(v) for v in params]
    return []


def _tables(statement: str) -> set[str]:
    low = statement.lower()
    words = set(low.replace('"', " ").replace(",", " ").replace("(", " ").replace(")", " ").split())
    return {t for t in CITY_TABLES if t in words}


def _login(client: TestClient, city: City, username: str, password: str) -> dict[str, str]:
    r = client.post(
        "/api/v1/auth/login", json={"username": username, "password": password, "jurisdiction_id": city.id}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


def _workload(client: TestClient, city: City, key: str, h: dict[str, str]) -> set[str]:
    """A mixed round as one city's callers: Open311 reads and writes, the workflow API's reads and an
    action. Returns every case id the answers contained."""
    j = {"jurisdiction_id": city.id}
    seen: set[str] = set()
    body = {
        "api_key": key,
        "service_code": "06010",
        "attribute[condition]": "1",
        "description": "垃圾",
        **PIN,
        **j,
    }
    r = client.post("/open311/v2/requests.json", data=body)
    assert r.status_code == 200, r.text
    new = r.json()[0]["service_request_id"]
    assert client.get("/open311/v2/services.json", params=j).status_code == 200
    listed = client.get("/open311/v2/requests.json", params=j)
    assert listed.status_code == 200
    seen |= {x["service_request_id"] for x in listed.json()}
    one = client.get(f"/open311/v2/requests/{new}.json", params=j)
    assert one.status_code == 200
    seen |= {x["service_request_id"] for x in one.json()}
    page = client.get("/api/v1/cases", headers=h)
    assert page.status_code == 200, page.text
    seen |= {x["case_id"] for x in page.json()["items"]}
    assert client.get(f"/api/v1/cases/{new}", headers=h).status_code == 200
    acted = client.post(f"/api/v1/cases/{new}/actions/comment", json={"note": "ok"}, headers=h)
    assert acted.status_code == 200, acted.text
    queue = client.get("/api/v1/queues/mine", headers=h)
    assert queue.status_code == 200
    seen |= {x["case_id"] for x in queue.json()["items"]}
    return seen


def test_two_cities_one_server_every_statement_filters_by_the_callers_city(
    two: tuple[TestClient, City, City], backend: tuple[str, Engine]
) -> None:
    client, a, b = two
    keys = {c.id: accounts_for(c).create_api_key("t")[1] for c in (a, b)}
    seeded = {c.id: seed_demo_users(c, accounts=accounts_for(c, hasher=fast_hasher())) for c in (a, b)}
    users = {cid: {r: (u, p) for u, p, r in rows} for cid, rows in seeded.items()}
    heads = {c.id: _login(client, c, *users[c.id]["shift_leader"]) for c in (a, b)}
    for c in (a, b):  # a case of each city to begin with
        _workload(client, c, keys[c.id], heads[c.id])

    with Statements(backend[1]) as log:
        for caller, other in ((a, b), (b, a)):
            log.seen.clear()
            log.on = True
            ids = _workload(client, caller, keys[caller.id], heads[caller.id])
            log.on = False
            prefix = caller.profile.case_prefix
            assert ids and all(i.startswith(prefix + "-") for i in ids), ids  # only the caller's rows
            scoped = [(s, p) for s, p in log.seen if _tables(s)]
            assert len(scoped) >= 10, len(scoped)
            # Nothing else ran but transaction control: no statement escaped the check above.
            rest = {s.split()[0].upper() for s, _ in log.seen if not _tables(s)}
            assert rest <= {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"}, rest
            for statement, params in scoped:
                values = _values(params)
                assert caller.id in values, (caller.id, statement, params)
                assert other.id not in values, (other.id, statement, params)


def test_jurisdiction_is_required_once_there_are_two_and_keys_and_users_stay_home(
    two: tuple[TestClient, City, City],
) -> None:
    client, a, b = two
    r = client.get("/open311/v2/requests.json")
    assert r.status_code == 400 and "jurisdiction_id" in r.text
    r = client.get("/open311/v2/services.json", params={"jurisdiction_id": "atlantis"})
    assert r.status_code == 404 and "atlantis" in r.text
    key_a = accounts_for(a).create_api_key("t")[1]
    body = {"api_key": key_a, "service_code": "06010", "attribute[condition]": "1", **PIN}
    assert client.post("/open311/v2/requests.json", data={**body, "jurisdiction_id": b.id}).status_code == 403
    assert client.post("/open311/v2/requests.json", data=body).status_code == 400  # which city?

    fast = accounts_for(a, hasher=fast_hasher())
    fast.create_user("prov.admin", "long-enough-pw", "admin")
    r = client.post("/api/v1/auth/login", json={"username": "prov.admin", "password": "long-enough-pw"})
    assert r.status_code == 400 and r.json()["error"]["field"] == "jurisdiction_id"
    r = client.post(
        "/api/v1/auth/login",
        json={"username": "prov.admin", "password": "long-enough-pw", "jurisdiction_id": b.id},
    )
    assert r.status_code == 401  # an account of city A is no account of city B
    h = _login(client, a, "prov.admin", "long-enough-pw")
    as_b = {**h, "X-Civicloop-City": b.id}
    r = client.get("/api/v1/cases", headers=as_b)
    assert r.status_code == 403 and r.json()["error"]["field"] == "jurisdiction_id"
    fast.grant_city("prov.admin", b.id, "leader")  # the membership: a provincial leader also sees city B
    login = client.post(
        "/api/v1/auth/login",
        json={"username": "prov.admin", "password": "long-enough-pw", "jurisdiction_id": a.id},
    )
    assert [c["jurisdiction_id"] for c in login.json()["cities"]] == [a.id, b.id]
    key_b = accounts_for(b).create_api_key("t")[1]
    made = client.post("/open311/v2/requests.json", data={**body, "api_key": key_b, "jurisdiction_id": b.id})
    case_b = made.json()[0]["service_request_id"]
    assert client.get("/api/v1/me", headers=as_b).json()["role"] == "leader"
    listed = client.get("/api/v1/cases", headers=as_b).json()["items"]
    assert case_b in {c["case_id"] for c in listed}
    assert all(c["case_id"].startswith("BB-") for c in listed)
    assert client.get(f"/api/v1/cases/{case_b}", headers=h).status_code == 404  # at home in A: not there
    # The login page's choice, and each city's page configuration (public: no login needed).
    assert [c["jurisdiction_id"] for c in client.get("/api/v1/cities").json()] == sorted([a.id, b.id])
    config = client.get("/api/v1/web/config", headers={"X-Civicloop-City": b.id}).json()
    assert config["city"]["id"] == b.id
    assert client.get("/api/v1/web/config").json()["city"]["id"] == a.id
    # The big screen's figures are the selected city's.
    screen_b = client.get("/api/v1/screen/summary", headers=as_b)
    screen_a = client.get("/api/v1/screen/summary", headers=h)
    assert screen_b.status_code == 200 and screen_a.status_code == 200
    assert screen_b.json() != screen_a.json()
    # Logging out revokes the token (its city prefix included) in its home city.
    assert client.post("/api/v1/auth/logout", headers=h).json()["ok"] is True
    assert client.get("/api/v1/me", headers=h).status_code == 401


def test_the_citizen_pages_name_their_city_and_keep_it_in_their_links(
    two: tuple[TestClient, City, City],
) -> None:
    """An anonymous caller picks the city with X-Civicloop-City or ?city= (the citizen page of city B, its
    tracking view, the e-mailed link); an unknown city is refused, never replaced by the default."""
    client, a, b = two
    assert client.get("/api/v1/web/config", params={"city": b.id}).json()["city"]["jurisdiction_id"] == b.id
    assert client.get("/api/v1/web/config").json()["city"]["jurisdiction_id"] == a.id
    for refused in (
        client.get("/api/v1/web/config", params={"city": "atlantis"}),
        client.get("/api/v1/public/track/BB-2026-0000001", headers={"X-Civicloop-City": "atlantis"}),
    ):
        assert refused.status_code == 404, refused.text
        error = refused.json()["error"]
        assert error["field"] == "city" and "atlantis" in error["message_en"]
    lon, lat = float(PIN["long"]), float(PIN["lat"])
    made = client.post(
        "/api/v1/public/reports",
        json={"description": "路边垃圾成堆", "lon": lon, "lat": lat},
        headers={"X-Civicloop-City": b.id},
    )
    assert made.status_code == 201, made.text
    receipt = made.json()
    number = receipt["tracking_number"]
    assert number.startswith("BB-") and b.cases.get(number).channel == "citizen"
    assert receipt["track_url"].startswith(f"/public/track/{number}?city={b.id}")
    assert client.get(f"/api/v1/public/track/{number}", params={"city": b.id}).status_code == 200
    assert client.get(f"/api/v1/public/track/{number}").status_code == 404  # city A has no such case
    page = client.get(f"/public/track/{number}", params={"city": b.id})
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    # A signed-in caller's city is the token's: ?city= does not move it.
    fast = accounts_for(a, hasher=fast_hasher())
    fast.create_user("a.leader", "long-enough-pw", "leader")
    h = _login(client, a, "a.leader", "long-enough-pw")
    listed = client.get("/api/v1/cases", params={"city": b.id}, headers=h)
    assert listed.status_code == 200 and all(c["case_id"].startswith("AA-") for c in listed.json()["items"])
