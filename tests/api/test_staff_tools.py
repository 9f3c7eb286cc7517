"""The staff workspaces as command-centre tools (issue 15, part A), through the HTTP API.

Demo logins for every department unit that routing can send a case to; /docs and /redoc with no CDN;
field errors by their label with the limit and the value's length; people by name in timelines; the
approver's view of a request in full; rework visible; safeguards refused with nothing stored; batch
actions with one result line per case.
"""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from civicloop.accounts.service import AccountService, seed_demo_department_users
from civicloop.city.service import City
from civicloop.dispatch.service import explicit_rules, implicit_rules
from civicloop.kernel.errors import InvalidField, MissingField
from civicloop.kernel.vocabulary import Action
from civicloop.photos.simulated import KINDS, VARIANTS, simulated_image, simulated_ref, store_simulated_photos
from civicloop.photos.store import LocalPhotoStore
from tests.api.helpers import INSPECTOR, LEADER, OPERATOR, report_many, to_dispatched
from tests.support.domain import as_role


def _routable(city: City) -> set[str]:
    """Every department the demo's routing (category, filing condition, district unit, explicit rule,
    fallback) can send a case to, over every category × condition × district of the profile."""
    p = city.profile
    out = {r.department_id for r in explicit_rules(p)}
    for c in p.categories:
        for cond in c.conditions:
            for d in p.districts:
                out |= {r.department_id for r in implicit_rules(p, c.code, cond.no, d.code)}
    return out


def test_every_department_that_routing_can_send_a_case_to_has_a_demo_login(
    city: City, accounts: AccountService, client: TestClient
) -> None:
    logins = seed_demo_department_users(city, accounts=accounts)
    by_department = {d: (u, p) for u, p, d in logins}
    routable = _routable(city)
    assert "ty-xiaodian-sanitation" in routable  # the district unit of issue 15's finding 1
    assert routable <= set(by_department), routable - set(by_department)
    user, password = by_department["ty-xiaodian-sanitation"]
    r = client.post("/api/v1/auth/login", json={"username": user, "password": password})
    assert r.status_code == 200, r.text
    assert r.json()["user"]["department_id"] == "ty-xiaodian-sanitation"
    again = seed_demo_department_users(city, accounts=accounts)  # a new start: new passwords, same users
    assert {u for u, _, _ in again} == set(by_department) and again[0][1] != logins[0][1]


def test_api_docs_load_nothing_from_another_origin(client: TestClient) -> None:
    for path, asset in (
        ("/docs", "/docs/assets/swagger-ui-bundle.js"),
        ("/redoc", "/docs/assets/redoc.standalone.js"),
    ):
        page = client.get(path)
        assert page.status_code == 200
        assert asset in page.text and "cdn." not in page.text and "googleapis" not in page.text, page.text
        assert "http" not in page.headers["content-security-policy"]
        js = client.get(asset)
        assert js.status_code == 200 and len(js.content) > 100_000
    assert client.get("/docs/assets/swagger-ui.css").status_code == 200


def test_a_refused_field_is_named_by_its_label_with_the_limit(
    client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    body = {"category_code": "06010", "lon": 112.56, "lat": 37.84, "description": "垃圾" * 5000}
    zh = client.post("/api/v1/cases", json=body, headers=headers["operator"])
    assert zh.status_code == 422
    e = zh.json()["error"]
    assert e["field"] == "description" and e["label"] == "问题描述" and e["label_en"] == "description"
    assert "问题描述" in e["message"] and "4000" in e["message"] and "10000" in e["message"], e
    assert "String should" not in e["message_en"] and "(now 10000)" in e["message_en"], e
    en = client.post("/api/v1/cases", json=body, headers={**headers["operator"], "Accept-Language": "en"})
    assert en.json()["error"]["label"] == "description"
    config = client.get("/api/v1/web/config").json()
    assert config["field_limits"]["description"]["maxlength"] == 4000
    assert config["field_limits"]["condition_no"] == {"min": 1, "max": 999}
    assert config["categories"][0]["conditions"][0]["no"] == 1  # 立案 picks from the filing conditions


def _dept_headers(client: TestClient, city: City, accounts: AccountService, dept: str) -> dict[str, str]:
    user, password = next(
        (u, p) for u, p, d in seed_demo_department_users(city, accounts=accounts) if d == dept
    )
    token = client.post("/api/v1/auth/login", json={"username": user, "password": password}).json()
    return {"Authorization": f"Bearer {token['access_token']}"}


def test_timeline_names_people_and_the_approver_sees_the_request_in_full(
    client: TestClient, city: City, accounts: AccountService, headers: dict[str, dict[str, str]]
) -> None:
    dept = "ty-xiaodian-sanitation"
    (case_id,) = report_many(city, 1)
    to_dispatched(city, case_id, dept)
    mine = _dept_headers(client, city, accounts, dept)
    r = client.post(
        f"/api/v1/cases/{case_id}/actions/request_extension",
        json={"amount": 2, "unit": "work_day", "note": "需要协调吊车"},
        headers=mine,
    )
    assert r.status_code == 200, r.text
    detail = client.get(f"/api/v1/cases/{case_id}", headers=headers["dispatcher"]).json()
    last = detail["timeline"][-1]
    assert last["actor_name"] == city.profile.department(dept).name  # the login's display name, not an id
    queue = client.get("/api/v1/web/queue?page_size=100", headers=headers["dispatcher"]).json()
    item = next(i for i in queue["items"] if i["case_id"] == case_id)
    req = item["request"]
    assert req["kind"] == "extension" and req["amount"] == 2 and req["unit"] == "work_day"
    assert req["reason"] == "需要协调吊车" and req["requested_by_name"] == city.profile.department(dept).name
    assert req["current_deadline"] < req["new_deadline"]


def test_rework_is_counted_and_explained_on_the_case(
    client: TestClient, city: City, headers: dict[str, dict[str, str]]
) -> None:
    (case_id,) = report_many(city, 1)
    to_dispatched(city, case_id, "ty-sanitation")
    handler = city.cases.get(case_id)
    assert handler.department_id == "ty-sanitation"
    city.cases.act(case_id, Action.HANDLE, as_role("department", department="ty-sanitation"),
                   {"note": "已清运", "photos": ["p/after.jpg"]})  # fmt: skip
    city.cases.act(case_id, Action.SEND_CHECK, OPERATOR)
    city.cases.act(
        case_id, Action.CHECK, INSPECTOR, {"passed": False, "note": "仍有残留", "photos": ["p/x.jpg"]}
    )
    extra = client.get(f"/api/v1/web/cases/{case_id}/extra", headers=headers["dispatcher"]).json()
    assert extra["rework_count"] == 1
    assert extra["last_failed_check"]["note"] == "仍有残留" and extra["last_failed_check"]["photos"] == [
        "p/x.jpg"
    ]
    rows = client.get("/api/v1/cases?stage=filed", headers=headers["dispatcher"]).json()["items"]
    assert next(r for r in rows if r["case_id"] == case_id)["rework_count"] == 1


def test_safeguards_refuse_a_step_without_its_photo_or_reason_and_store_nothing(
    client: TestClient, city: City, accounts: AccountService, headers: dict[str, dict[str, str]]
) -> None:
    garbage, noise = report_many(city, 2)[0], report_many(city, 1, category="06028")[0]
    dept = "ty-sanitation"
    for case_id in (garbage, noise):
        to_dispatched(city, case_id, dept)
    mine = _dept_headers(client, city, accounts, dept)
    before = len(city.cases.timeline(garbage))
    r = client.post(f"/api/v1/cases/{garbage}/actions/handle", json={"note": "已清运"}, headers=mine)
    assert r.status_code == 422, r.text
    e = r.json()["error"]
    assert e["field"] == "photos" and "处置反馈" in e["message"] and "照片" in e["message"], e
    assert len(city.cases.timeline(garbage)) == before  # nothing stored
    ok = client.post(f"/api/v1/cases/{noise}/actions/handle", json={"note": "已劝离"}, headers=mine)
    assert ok.status_code == 200, ok.text  # noise has no visual evidence: no photo needed
    photo = "https://photos.example.org/after.jpg"
    done = client.post(f"/api/v1/cases/{garbage}/actions/handle", json={"note": "已清运", "photos": [photo]},
                       headers=mine)  # fmt: skip
    assert done.status_code == 200, done.text
    city.cases.act(garbage, Action.SEND_CHECK, OPERATOR)
    with pytest.raises(InvalidField) as no_photo:  # the domain refuses it, whatever the entry point
        city.cases.act(garbage, Action.CHECK, INSPECTOR, {"passed": True})
    assert no_photo.value.field == "photos" and "核查通过" in no_photo.value.render("zh-CN")
    with pytest.raises(MissingField) as no_reason:
        city.cases.act(garbage, Action.CHECK, INSPECTOR, {"passed": False, "photos": ["p/x.jpg"]})
    assert no_reason.value.field == "note"
    assert city.cases.get(garbage).stage.value == "checking"


def test_batch_dispatch_and_close_give_one_result_line_per_case(
    client: TestClient, city: City, headers: dict[str, dict[str, str]]
) -> None:
    a, b, c = report_many(city, 3)
    for case_id in (a, b):
        city.cases.act(case_id, Action.ACCEPT, OPERATOR, {"verify": False})
        city.cases.act(case_id, Action.FILE, LEADER)
    r = client.post(
        "/api/v1/cases/batch/dispatch",
        json={"case_ids": [a, b, c, "TY-2026-9999999"], "department_id": "ty-xiaodian-sanitation"},
        headers=headers["dispatcher"],
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["done"], body["failed"]) == (2, 2)
    lines = {line["case_id"]: line for line in body["results"]}
    assert lines[a]["ok"] and lines[a]["stage"] == "dispatched" and lines[b]["ok"]
    assert lines[c]["code"] == "illegal_action" and "message_zh" in lines[c]  # c is still 待受理
    assert lines["TY-2026-9999999"]["code"] == "case_not_found"
    assert city.cases.get(c).stage.value == "reported"  # nothing written for a refused line
    assert city.cases.get(a).department_id == "ty-xiaodian-sanitation"
    handler = as_role("department", department="ty-xiaodian-sanitation")
    city.cases.act(a, Action.HANDLE, handler, {"note": "ok", "photos": ["p/a.jpg"]})
    city.cases.act(a, Action.SEND_CHECK, OPERATOR)
    city.cases.act(a, Action.CHECK, INSPECTOR, {"passed": True, "photos": ["p/c.jpg"]})
    closed = client.post(
        "/api/v1/cases/batch/close", json={"case_ids": [a, b]}, headers=headers["shift_leader"]
    )
    assert [(x["case_id"], x["ok"]) for x in closed.json()["results"]] == [(a, True), (b, False)]
    assert city.cases.get(a).stage.value == "closed" and city.cases.get(b).stage.value == "dispatched"
    refused = client.post("/api/v1/cases/batch/handle", json={"case_ids": [a]}, headers=headers["dispatcher"])
    assert refused.status_code == 422 and refused.json()["error"]["field"] == "action"
    viewer = client.post("/api/v1/cases/batch/close", json={"case_ids": [a]}, headers=headers["viewer"])
    assert viewer.status_code == 403


def test_the_check_goes_to_an_inspector_picked_from_a_list_nearest_first(
    client: TestClient, city: City, demo_users: dict[str, tuple[str, str]], headers: dict[str, dict[str, str]]
) -> None:
    from civicloop.assets.patrols import store_duty_grids

    grid = "140105001001001"
    body = {
        "category_code": "06010",
        "lon": 112.593,
        "lat": 37.723,
        "district_code": "140105",
        "grid_code": grid,
    }
    made = client.post("/api/v1/cases", json=body, headers=headers["operator"])
    assert made.status_code == 201, made.text
    case_id = made.json()["case_id"]
    grid = city.cases.get(case_id).grid_code or grid
    store_duty_grids(city, {"ins-far": ["140199001001001"], "ins-here": [grid]})
    r = client.get(f"/api/v1/web/cases/{case_id}/inspectors", headers=headers["operator"])
    assert r.status_code == 200, r.text
    items = r.json()["items"]
    assert items[0]["id"] == "ins-here" and items[0]["why"] == "duty"
    assert [i["why"] for i in items][-1] == "other" and "ins-far" in [i["id"] for i in items]
    demo = next(i for i in items if i["id"].startswith("u-"))  # the demo inspector's login (小店区)
    assert demo["why"] == "district" and not demo["name"].startswith("u-")


def test_the_dispatch_suggestion_is_explained_in_words(
    client: TestClient, city: City, headers: dict[str, dict[str, str]]
) -> None:
    body = {"category_code": "06010", "lon": 112.593, "lat": 37.723, "district_code": "140105"}
    case_id = client.post("/api/v1/cases", json=body, headers=headers["operator"]).json()["case_id"]
    city.cases.act(case_id, Action.ACCEPT, OPERATOR, {"verify": False})
    city.cases.act(case_id, Action.FILE, LEADER)
    s = client.get(f"/api/v1/web/cases/{case_id}/extra", headers=headers["dispatcher"]).json()[
        "dispatch_suggestion"
    ]
    assert s["department_id"] == "ty-xiaodian-sanitation"
    assert s["words"].startswith("建议派往 小店区环境卫生服务中心") and "小店区" in s["words"], s["words"]
    assert (
        "categories[" not in s["words"] and "categories[" in s["explain"]
    )  # the rule paths stay in the details


def test_simulated_photos_are_stored_images_that_open(client: TestClient, photos: LocalPhotoStore) -> None:
    ref = simulated_ref("after", 12345)
    assert client.get(f"/api/v1/photos/{ref}").status_code == 404
    assert store_simulated_photos(photos) == len(KINDS) * VARIANTS
    assert store_simulated_photos(photos) == 0  # already there: nothing written twice
    r = client.get(f"/api/v1/photos/{ref}")
    assert r.status_code == 200 and r.headers["content-type"] == "image/jpeg"
    assert r.content == simulated_image("after", 12345 % VARIANTS)  # deterministic bytes
    assert simulated_image("before", 1) != simulated_image("after", 1)
