"""The citizen page's address search and reverse geocoding: the contract another page is built on."""

from __future__ import annotations

from fastapi.testclient import TestClient

from civicloop.cases.core import Actor
from civicloop.city.service import City
from civicloop.geo.geocoding import invalidate_gazetteer
from civicloop.kernel.vocabulary import Role

KEYS = {"lon", "lat", "label", "district", "street", "community", "grid", "matched", "confidence", "kind"}


def test_geocode_ranks_candidates_and_answers_an_empty_list(client: TestClient) -> None:
    r = client.get("/api/v1/public/geocode", params={"q": "太原市小店区并州路十二号", "limit": 3})
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert 1 <= len(results) <= 3 and set(results[0]) >= KEYS
    best = results[0]
    assert best["matched"].startswith("并州路") and best["district"] == "140105"
    assert best["grid"] and 0.8 <= best["confidence"] <= 1.0
    assert [x["confidence"] for x in results] == sorted((x["confidence"] for x in results), reverse=True)
    r = client.get("/api/v1/public/geocode", params={"q": "今天天气很好"})
    assert r.status_code == 200 and r.json() == {"results": []}


def test_geocode_refuses_an_empty_or_too_long_query_naming_q(client: TestClient) -> None:
    for params in ({}, {"q": "  "}, {"q": "路" * 201}):
        r = client.get("/api/v1/public/geocode", params=params)
        assert r.status_code == 422, params
        assert r.json()["error"]["field"] == "q"


def test_reverse_names_the_areas_and_the_nearest_place(client: TestClient) -> None:
    r = client.get("/api/v1/public/reverse", params={"lon": 112.567, "lat": 37.826})  # 长风街 x 并州路
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["district"] == "140105" and body["grid"] and body["street"] and body["community"]
    assert body["nearest_place"] and body["nearest_place"] in body["label"]
    assert body["label"].startswith("小店区")
    for params, field in (({"lon": 100.0, "lat": 30.0}, "lon"), ({"lon": "x", "lat": 37.8}, "lon"),
                          ({"lon": 112.56}, "lat")):  # fmt: skip
        r = client.get("/api/v1/public/reverse", params=params)
        assert r.status_code == 422, params
        assert r.json()["error"]["field"] == field, r.json()


def test_a_past_case_address_is_found_masked_and_without_the_case(client: TestClient, city: City) -> None:
    fields = {"channel": "inspector", "category_code": "06010", "lon": 112.5555, "lat": 37.8333,
              "address": "幸福里小卖部门前 电话13812345678"}  # fmt: skip
    case_id = city.cases.report(Actor("ins-1", Role.INSPECTOR), fields).case_id
    invalidate_gazetteer(city)
    r = client.get("/api/v1/public/geocode", params={"q": "幸福里小卖部门前 电话13812345678"})
    [hit] = [x for x in r.json()["results"] if x["kind"] == "address"]
    assert "13812345678" not in r.text and case_id not in r.text
    assert hit["matched"].startswith("幸福里小卖部门前") and abs(hit["lon"] - 112.5555) < 1e-6
