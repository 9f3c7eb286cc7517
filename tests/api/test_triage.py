"""Automatic triage on the HTTP intake: every channel goes through the same pipeline.

The report is stored and acknowledged first; locating (with its refusal for points outside the city),
classification, duplicate merging and automatic filing/dispatch happen in the intake pipeline."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from civicloop.city.service import City
from civicloop.kernel.vocabulary import ClosureReason, Stage
from tests.api.helpers import PIN, form


@pytest.fixture(autouse=True)
def _automatic_triage(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CIVICLOOP_TRIAGE", "1")  # the default; the other API tests switch it off


def _post(client: TestClient, api_key: str, city: City, **overrides: object) -> str:
    r = client.post("/open311/v2/requests.json", data=form(api_key, city, **overrides))
    assert r.status_code == 200, r.text
    return str(r.json()[0]["service_request_id"])


def test_a_second_report_of_the_same_problem_is_merged_and_says_so(
    client: TestClient, api_key: str, city: City
) -> None:
    first = _post(client, api_key, city, description="路口东侧垃圾成堆两平方米")
    second = _post(client, api_key, city, description="路口东侧垃圾成堆两平方米，没人管")
    merged = city.cases.get(second)
    assert merged.closure_reason is ClosureReason.DUPLICATE and merged.duplicate_of == first
    assert second in city.cases.get(first).cluster_members
    [public] = client.get(f"/open311/v2/requests/{second}.json").json()
    assert public["status"] == "closed"
    assert first in (public["status_notes"] or "")


def test_a_report_outside_the_city_is_refused_naming_the_coordinates(
    client: TestClient, api_key: str, city: City
) -> None:
    from civicloop.demo.geography import load_demo_geography

    load_demo_geography(city, with_components=False, with_duty_grids=False)
    body = form(api_key, city, lat="31.23", long="121.47", description="上海的垃圾")
    r = client.post("/open311/v2/requests.json", data=body)
    assert r.status_code == 400, r.text
    [error] = r.json()
    assert "lon" in error["description"] or "long" in error["description"]


def test_an_inspector_report_with_a_category_is_dispatched_automatically(
    client: TestClient, headers: dict[str, dict[str, str]], city: City
) -> None:
    body = {
        "category_code": "09006",
        "lon": float(PIN["long"]) + 0.01,
        "lat": float(PIN["lat"]),
        "description": "占道经营",
    }
    r = client.post("/api/v1/cases", json=body, headers=headers["inspector"])
    assert r.status_code == 201, r.text
    state = city.cases.get(r.json()["case_id"])
    assert state.stage is Stage.DISPATCHED
    assert state.triage is not None and state.triage["auto"] is True
