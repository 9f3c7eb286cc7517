"""待定位 over HTTP: operators list the cases without coordinates and locate them with the locate action."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from civicloop.cases.core import Actor, Command
from civicloop.cases.service import BatchItem
from civicloop.city.service import City
from civicloop.kernel.vocabulary import Action, Role

SYSTEM = Actor("import", Role.SYSTEM)


def _imported_without_location(city: City, n: int) -> list[str]:
    at = datetime.now(UTC) - timedelta(days=3)
    items = [
        BatchItem(
            Command(Action.REPORT, "", {"channel": "import", "category_code": "06010", "note": str(i)}),
            SYSTEM,
            at + timedelta(minutes=i),
        )
        for i in range(n)
    ]
    result = city.cases.execute(items)
    assert not result.errors
    return [c for c in result.case_ids if c is not None]


def test_a_live_report_still_needs_a_location(city: City) -> None:
    item = BatchItem(
        Command(Action.REPORT, "", {"channel": "import", "category_code": "06010"}),
        Actor("op-x", Role.OPERATOR),
        datetime.now(UTC),
    )
    result = city.cases.execute([item])
    assert result.errors and result.errors[0][1].field == "location"


def test_operators_see_the_unlocated_queue_and_locate_a_case(
    client: TestClient, city: City, headers: dict[str, dict[str, str]]
) -> None:
    ids = _imported_without_location(city, 3)
    r = client.get("/api/v1/queues/unlocated", headers=headers["operator"])
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["total"] == 3 and [i["case_id"] for i in body["items"]] == ids[::-1]  # newest first
    assert client.get("/api/v1/queues/unlocated", headers=headers["inspector"]).status_code == 403
    r = client.post(
        f"/api/v1/cases/{ids[0]}/actions/locate",
        headers=headers["operator"],
        json={"lon": 112.5618, "lat": 37.8412, "address": "迎泽大街 1 号"},
    )
    assert r.status_code == 200, r.text
    case = r.json()["case"]
    assert (case["lon"], case["lat"], case["address"]) == (112.5618, 37.8412, "迎泽大街 1 号")
    assert r.json()["event"]["action"] == "locate"
    moved = {"lon": 112.6, "lat": 37.9}
    again = client.post(f"/api/v1/cases/{ids[0]}/actions/locate", headers=headers["operator"], json=moved)
    assert again.status_code == 422 and "lon" in again.text  # a pin is never moved this way
    r = client.get("/api/v1/queues/unlocated", headers=headers["operator"])
    assert r.json()["total"] == 2 and ids[0] not in {i["case_id"] for i in r.json()["items"]}
