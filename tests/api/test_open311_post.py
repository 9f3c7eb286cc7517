"""POST requests shaped the way real clients send them (docs/open311.md §4.3): FixMyStreet's repeated
``attribute[x]`` keys and ``media_url``, ``deviceid``, ``#NOTPINPOINTED#``, multipart with file parts,
``api_key`` in the query string, unknown fields."""

from __future__ import annotations

import json
from typing import Any

import orjson
from fastapi.testclient import TestClient
from sqlalchemy import select

from civicloop.accounts.service import AccountService
from civicloop.accounts.store import open311_requests
from civicloop.city.service import City
from tests.api.helpers import PIN, form, xml
from tests.support.images import JPEG


def fixmystreet_body(api_key: str, city: City) -> dict[str, Any]:
    """What FixMyStreet's Open311.pm posts: credentials in the body, arrays as repeated plain keys."""
    return {
        "api_key": api_key,
        "jurisdiction_id": city.id,
        "service_code": "06010",
        "lat": PIN["lat"],
        "long": PIN["long"],
        "address_string": "迎泽大街 1 号",
        "email": "reporter@example.org",
        "first_name": "三",
        "last_name": "张",
        "phone": "13912345678",
        "description": "路口东侧垃圾成堆\n已经两天了",
        "media_url": ["https://fms.example.org/photo/1.jpeg", "https://fms.example.org/photo/2.jpeg"],
        "attribute[condition]": "1",
        "attribute[situation]": ["blocking", "smell"],  # repeated key, no []
        "attribute[fixmystreet_id]": "4711",  # a server-set attribute we do not define: ignored
        "deviceid": "fms-device-7",
        "account_id": "",
        "report_title": "垃圾",  # unknown field: ignored
    }


def submission(city: City, case_id: str) -> Any:
    with city.engine.connect() as conn:
        return conn.execute(
            select(open311_requests).where(
                open311_requests.c.city_id == city.id, open311_requests.c.case_id == case_id
            )
        ).one()


def test_a_fixmystreet_post_is_accepted_whole(client: TestClient, api_key: str, city: City) -> None:
    r = client.post("/open311/v2/requests.xml", data=fixmystreet_body(api_key, city))
    assert r.status_code == 200, r.text
    case_id = xml(r.text).findtext("request/service_request_id")
    assert case_id
    state = city.cases.get(case_id)
    assert state.channel.value == "open311"
    assert state.photos == ("https://fms.example.org/photo/1.jpeg", "https://fms.example.org/photo/2.jpeg")
    assert state.description == "路口东侧垃圾成堆\n已经两天了"
    row = submission(city, case_id)
    assert orjson.loads(row.attributes) == {"condition": ["1"], "situation": ["blocking", "smell"]}
    assert row.device_id == "fms-device-7"
    assert row.account_id is None
    assert city.cases.reporter(state.reporter_id or "") is not None
    doc = client.get(f"/open311/v2/requests/{case_id}.json", params={"extensions": "true"}).json()[0]
    assert doc["media_url"] == "https://fms.example.org/photo/1.jpeg"
    assert doc["extended_attributes"]["photos"] == list(state.photos)


def test_list_attributes_may_use_brackets_or_repeat_keys(
    client: TestClient, api_key: str, city: City
) -> None:
    answers = []
    for key in ("attribute[situation]", "attribute[situation][]"):
        body = form(api_key, city, **{key: ["night", "recurring"]})
        case_id = client.post("/open311/v2/requests.json", data=body).json()[0]["service_request_id"]
        answers.append(orjson.loads(submission(city, case_id).attributes)["situation"])
    assert answers == [["night", "recurring"], ["night", "recurring"]]


def test_multipart_with_files_stores_images_and_ignores_other_parts(
    client: TestClient, api_key: str, city: City
) -> None:
    files = [
        ("media", ("photo.jpg", JPEG, "image/jpeg")),
        ("attachment", ("notes.txt", b"not an image", "text/plain")),
    ]
    body = {k: v for k, v in form(api_key, city).items()}
    r = client.post("/open311/v2/requests.json", data=body, files=files)
    assert r.status_code == 200, r.text
    state = city.cases.get(r.json()[0]["service_request_id"])
    assert len(state.photos) == 1 and state.photos[0].endswith(".jpg")
    photo = client.get(f"/api/v1/photos/{state.photos[0]}")
    assert photo.status_code == 200 and photo.content == JPEG
    assert photo.headers["content-type"] == "image/jpeg"
    doc = client.get(f"/open311/v2/requests/{state.case_id}.json").json()[0]
    assert doc["media_url"].endswith(f"/api/v1/photos/{state.photos[0]}")
    assert doc["media_url"].startswith("http://")


def test_api_key_may_come_in_the_query_string(client: TestClient, api_key: str, city: City) -> None:
    body = form(api_key, city)
    del body["api_key"]
    r = client.post("/open311/v2/requests.json", data=body, params={"api_key": api_key})
    assert r.status_code == 200
    r = client.post("/open311/v2/requests.json", data=body)
    assert r.status_code == 403


def test_not_pinpointed_means_no_pin(client: TestClient, api_key: str, city: City) -> None:
    body = form(api_key, city, address_id="#NOTPINPOINTED#", address_string="小店区坞城路与学府街交叉口")
    case_id = client.post("/open311/v2/requests.json", data=body).json()[0]["service_request_id"]
    state = city.cases.get(case_id)
    assert state.lat is None and state.lon is None
    assert state.address == "小店区坞城路与学府街交叉口"
    assert state.district_code == "140105"  # the district named in the address
    assert submission(city, case_id).location_approximate is True
    doc = client.get(f"/open311/v2/requests/{case_id}.json").json()[0]
    assert isinstance(doc["lat"], float) and isinstance(doc["long"], float)


def test_an_address_id_alone_is_a_location(client: TestClient, api_key: str, city: City) -> None:
    body = form(api_key, city, lat=None, long=None, address_id="ADDR-140105-0001")
    assert client.post("/open311/v2/requests.json", data=body).status_code == 200


def test_description_limit_is_4000_characters(client: TestClient, api_key: str, city: City) -> None:
    assert (
        client.post(
            "/open311/v2/requests.json", data=form(api_key, city, description="垃" * 4000)
        ).status_code
        == 200
    )
    r = client.post("/open311/v2/requests.json", data=form(api_key, city, description="垃" * 4001))
    assert r.status_code == 400 and "4000" in r.json()[0]["description"]


def test_attribute_values_are_checked_against_the_definition(
    client: TestClient, api_key: str, city: City
) -> None:
    bad = [
        {"attribute[condition]": "9"},
        {"attribute[condition]": ["1", "2"]},
        {"attribute[situation]": ["blocking", "aliens"]},
        {"attribute[component_id]": "12345"},
        {"attribute[quantity]": "lots"},
        {"attribute[observed_at]": "2026-03-02T09:15:00"},
        {"lat": "91", "long": "112"},
        {"lat": "37.8", "long": None},
        {"media_url": "javascript:alert(1)"},
        {"email": "not-an-address"},
    ]
    for extra in bad:
        r = client.post("/open311/v2/requests.json", data=form(api_key, city, **extra))
        assert r.status_code == 400, extra
    good = {
        "attribute[component_id]": "14010501037000123",
        "attribute[quantity]": "3.5",
        "attribute[observed_at]": "2026-03-02T09:15:00+08:00",
        "attribute[landmark]": "公交站旁\n红色垃圾桶",
    }
    r = client.post("/open311/v2/requests.json", data=form(api_key, city, **good))
    assert r.status_code == 200, r.text
    state = city.cases.get(r.json()[0]["service_request_id"])
    assert state.component_id == "14010501037000123"
    assert state.address is not None and "公交站旁" in state.address
    kept = orjson.loads(submission(city, state.case_id).attributes)
    assert kept["observed_at"] == ["2026-03-02T01:15:00Z"]


def test_danger_on_site_makes_the_case_urgent(client: TestClient, api_key: str, city: City) -> None:
    r = client.post(
        "/open311/v2/requests.json", data=form(api_key, city, **{"attribute[situation]": "danger"})
    )
    state = city.cases.get(r.json()[0]["service_request_id"])
    assert state.urgency.value == "urgent"
    assert r.json()[0]["service_notice"] == "处置时限 2 工作时"


def test_a_revoked_key_is_refused(client: TestClient, accounts: AccountService, city: City) -> None:
    info, key = accounts.create_api_key("to revoke")
    assert client.post("/open311/v2/requests.json", data=form(key, city)).status_code == 200
    assert accounts.revoke_api_key(info.key_id)
    r = client.post("/open311/v2/requests.json", data=form(key, city))
    assert r.status_code == 403
    assert [k.key_id for k in accounts.list_api_keys() if not k.active] == [info.key_id]
    assert accounts.audit_entries(info.key_id)[0]["action"] == "revoke_api_key"


def test_a_key_of_another_jurisdiction_is_refused(
    client: TestClient, api_key: str, city: City, accounts: AccountService
) -> None:
    other = AccountService(city.engine, "elsewhere")
    _, foreign = other.create_api_key()
    assert client.post("/open311/v2/requests.json", data=form(foreign, city)).status_code == 403


def test_other_body_types_are_a_clear_400(client: TestClient, api_key: str, city: City) -> None:
    r = client.post(
        "/open311/v2/requests.json",
        content=json.dumps(form(api_key, city)),
        headers={"content-type": "application/json"},
    )
    assert r.status_code == 400
    assert "x-www-form-urlencoded" in r.json()[0]["description"]
