"""Inputs no store can keep and bodies too large are refused with a named problem, never a 500."""

from __future__ import annotations

from fastapi.testclient import TestClient

from civicloop.accounts.service import AccountService
from civicloop.city.service import City
from civicloop.http import ApiSettings, create_app
from civicloop.kernel.vocabulary import Action
from civicloop.photos.store import LocalPhotoStore
from tests.api.helpers import DISPATCHER, form, post, to_dispatched, xml


def test_nul_characters_are_refused_everywhere(
    client: TestClient, api_key: str, city: City, headers: dict[str, dict[str, str]]
) -> None:
    r = client.get("/open311/v2/requests/TY%00x.json")
    assert r.status_code == 400 and r.json()[0]["code"] == 400
    r = client.get("/open311/v2/requests.xml", params={"service_code": "06010\x00"})
    assert r.status_code == 400 and xml(r.text).tag == "errors"
    r = client.post("/open311/v2/requests.json", data=form(api_key, city, description="a\x00b"))
    assert r.status_code == 400 and "NUL" in r.json()[0]["description"]
    r = client.post("/api/v1/auth/login", json={"username": "\x00", "password": "x"})
    assert r.status_code == 422
    r = client.post(
        "/api/v1/cases", json={"category_code": "06010", "address": "x\x00"}, headers=headers["inspector"]
    )
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_characters"
    assert r.json()["error"]["field"] == "address"
    r = client.get("/api/v1/cases/TY%00", headers=headers["operator"])
    assert r.status_code == 422 and r.json()["error"]["code"] == "invalid_characters"


def test_too_large_bodies_are_refused_in_the_callers_shape(
    city: City,
    accounts: AccountService,
    api_key: str,
    photos: LocalPhotoStore,
    headers: dict[str, dict[str, str]],
) -> None:
    app = create_app(city, accounts=accounts, photos=photos, settings=ApiSettings(max_body_bytes=2000))
    with TestClient(app) as client:
        r = client.post("/open311/v2/requests.xml", data=form(api_key, city, description="垃" * 1500))
        assert r.status_code == 413
        root = xml(r.text)
        assert root.findtext("error/code") == "413"
        r = client.post("/api/v1/cases", json={"description": "垃" * 1500}, headers=headers["inspector"])
        assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


def test_a_suspended_case_promises_no_date(client: TestClient, api_key: str, city: City) -> None:
    from civicloop.cases.core import Actor
    from civicloop.kernel.vocabulary import Role

    case_id = post(client, api_key, city)
    dept = city.profile.responsible_department("06010").id
    to_dispatched(city, case_id, dept)
    assert client.get(f"/open311/v2/requests/{case_id}.json").json()[0]["expected_datetime"]
    handler = Actor("h", Role.DEPARTMENT, department_id=dept)
    city.cases.act(case_id, Action.REQUEST_SUSPENSION, handler, {"note": "需协调产权单位 13912345678"})
    city.cases.act(case_id, Action.APPROVE_SUSPENSION, DISPATCHER)
    doc = client.get(f"/open311/v2/requests/{case_id}.json").json()[0]
    assert doc["status"] == "open" and doc["expected_datetime"] is None
    assert doc["status_notes"] == "挂账：需协调产权单位 139****5678 (suspended: 需协调产权单位 139****5678)"
