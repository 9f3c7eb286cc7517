"""The authorization matrix: every workflow endpoint × every role × a case in scope and one outside.

Expected answers come from three rules, each enforced in one place: the token (401), the domain's action
table (403 role, 409 stage, 422 field) and the scope on the user record (404, exactly like a case that
does not exist). Every answer is also checked for personal data: none may leak.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from civicloop.cases.core import ACTIONS
from civicloop.city.service import City
from civicloop.kernel.vocabulary import Action, Role, Stage
from tests.api.helpers import form, to_dispatched
from tests.support.images import JPEG

ROLES = ["inspector", "operator", "shift_leader", "dispatcher", "department", "leader", "viewer", "admin"]
XIAODIAN = {"lat": "37.723", "long": "112.593"}  # 小店区: the demo inspector's district
YINGZE = {"lat": "37.8412", "long": "112.5618"}  # 迎泽区
PII = ("李四光", "13700001111", "li.siguang@example.org")


@pytest.fixture
def world(
    client: TestClient, api_key: str, city: City, demo_users: dict[str, tuple[str, str]], accounts: Any
) -> dict[str, Any]:
    """Two dispatched cases: `inside` (小店区, the demo department), `outside` (迎泽区, another one)."""
    mine = accounts.find_user(demo_users["department"][0]).department_id
    other = next(d.id for d in city.profile.departments if d.id != mine)
    ids = {}
    for name, where, dept in (("inside", XIAODIAN, mine), ("outside", YINGZE, other)):
        body = form(api_key, city, first_name=PII[0], phone=PII[1], email=PII[2], **where)
        case_id = client.post("/open311/v2/requests.json", data=body).json()[0]["service_request_id"]
        to_dispatched(city, case_id, dept)
        ids[name] = case_id
    assert city.cases.get(ids["inside"]).district_code == "140105"
    assert city.cases.get(ids["outside"]).district_code == "140106"
    return {"ids": ids, "department": mine}


def visible(role: str, where: str) -> bool:
    return where == "inside" or role not in ("inspector", "department")


def no_pii(text: str) -> None:
    for secret in PII:
        assert secret not in text


def expected_action(role: str, action: Action, where: str) -> int:
    if not visible(role, where):
        return 404
    if role == "viewer":
        return 403
    spec = ACTIONS[action]
    if Role(role) not in spec.roles:
        return 403
    if Stage.DISPATCHED not in spec.from_stages:
        return 409
    return 422 if spec.required else 200  # an empty body misses the required fields


ACTION_CODES = {
    403: {"role_not_allowed"},
    404: {"case_not_found"},
    409: {"illegal_action"},
    422: {"missing_field"},
}


def test_every_action_for_every_role_in_and_out_of_scope(
    client: TestClient, world: dict[str, Any], headers: dict[str, dict[str, str]], city: City
) -> None:
    actions = [a for a in Action if a is not Action.REPORT]
    for where, case_id in world["ids"].items():
        for role in ROLES:
            for action in actions:
                want = expected_action(role, action, where)
                assert want != 200, (role, action)  # no action here succeeds with an empty body
                r = client.post(
                    f"/api/v1/cases/{case_id}/actions/{action.value}", json={}, headers=headers[role]
                )
                assert r.status_code == want, (where, role, action.value, r.text)
                assert r.json()["error"]["code"] in ACTION_CODES[want], (role, action.value, r.text)
                no_pii(r.text)
    for case_id in world["ids"].values():  # nothing was written by all that
        assert city.cases.get(case_id).stage is Stage.DISPATCHED


def test_an_out_of_scope_case_looks_exactly_like_a_missing_one(
    client: TestClient, world: dict[str, Any], headers: dict[str, dict[str, str]]
) -> None:
    outside = world["ids"]["outside"]
    ghost = outside[:-1] + ("9" if outside[-1] != "9" else "8")
    for role in ("inspector", "department"):
        for method, suffix in (("get", ""), ("post", "/actions/comment")):
            kwargs: dict[str, Any] = {"headers": headers[role]}
            if method == "post":
                kwargs["json"] = {"note": "x"}
            real = getattr(client, method)(f"/api/v1/cases/{outside}{suffix}", **kwargs)
            missing = getattr(client, method)(f"/api/v1/cases/{ghost}{suffix}", **kwargs)
            assert real.status_code == missing.status_code == 404
            assert real.text.replace(outside, "ID") == missing.text.replace(ghost, "ID")


def test_reading_cases_respects_scope(
    client: TestClient, world: dict[str, Any], headers: dict[str, dict[str, str]]
) -> None:
    for role in ROLES:
        for where, case_id in world["ids"].items():
            r = client.get(f"/api/v1/cases/{case_id}", headers=headers[role])
            assert r.status_code == (200 if visible(role, where) else 404), (role, where)
            no_pii(r.text)
            if r.status_code == 200:
                doc = r.json()
                assert [e["action"] for e in doc["timeline"]] == ["report", "accept", "file", "dispatch"]
                allowed = {a["action"] for a in doc["allowed_actions"]}
                if role == "viewer":
                    assert allowed == set()
                if role == "department" and where == "inside":
                    assert {"handle", "request_return", "request_extension"} <= allowed
                assert doc["category"]["conditions"][0]["closing"]
        listed = client.get("/api/v1/cases", headers=headers[role])
        assert listed.status_code == 200
        got = {i["case_id"] for i in listed.json()["items"]}
        assert got == {c for w, c in world["ids"].items() if visible(role, w)}, role
        assert listed.json()["total"] == len(got)
        no_pii(listed.text)
        queue = client.get("/api/v1/queues/mine", headers=headers[role])
        assert queue.status_code == 200
        queued = {i["case_id"] for i in queue.json()["items"]}
        assert queued <= got, role
        no_pii(queue.text)


def test_queues_hold_what_the_role_can_do_now(
    client: TestClient, world: dict[str, Any], headers: dict[str, dict[str, str]]
) -> None:
    ids = world["ids"]

    def queue(role: str) -> set[str]:
        return {
            i["case_id"] for i in client.get("/api/v1/queues/mine", headers=headers[role]).json()["items"]
        }

    assert queue("department") == {ids["inside"]}  # dispatched to it, in its scope
    assert queue("dispatcher") == set()  # nothing awaits dispatch or approval
    assert queue("viewer") == set() and queue("admin") == set()
    r = client.post(
        f"/api/v1/cases/{ids['inside']}/actions/request_extension",
        json={"amount": 2, "unit": "work_hour", "note": "需要吊车"},
        headers=headers["department"],
    )
    assert r.status_code == 200, r.text
    assert queue("dispatcher") == {ids["inside"]}  # an extension to approve
    assert queue("department") == set()


def test_callback_contact_and_anonymisation_are_for_operators_and_admins(
    client: TestClient, world: dict[str, Any], headers: dict[str, dict[str, str]], city: City
) -> None:
    inside = world["ids"]["inside"]
    reporter = city.cases.get(inside).reporter_id
    for role in ROLES:
        r = client.get(f"/api/v1/cases/{inside}/reporter", headers=headers[role])
        if role in ("operator", "admin"):
            assert r.status_code == 200 and r.json()["phone"] == PII[1]
        else:
            assert r.status_code == 403, role
            no_pii(r.text)
            r = client.post(f"/api/v1/reporters/{reporter}/anonymise", headers=headers[role])
            assert r.status_code == 403, role
            assert r.json()["error"]["code"] == "forbidden"


def test_reporting_and_uploading(client: TestClient, headers: dict[str, dict[str, str]]) -> None:
    body = {"category_code": "06010", "lon": 112.56, "lat": 37.84, "description": "垃圾"}
    for role in ROLES:
        r = client.post("/api/v1/cases", json=body, headers=headers[role])
        assert r.status_code == (201 if role in ("inspector", "operator") else 403), (role, r.text)
        up = client.post(
            "/api/v1/photos", headers=headers[role], files={"file": ("a.jpg", JPEG, "image/jpeg")}
        )
        assert up.status_code == (403 if role == "viewer" else 201), role
        me = client.get("/api/v1/me", headers=headers[role])
        assert me.status_code == 200 and me.json()["role"] == role


def test_without_a_valid_token_everything_is_401(client: TestClient, world: dict[str, Any]) -> None:
    case_id = world["ids"]["inside"]
    calls = [
        ("get", "/api/v1/me", None),
        ("get", "/api/v1/cases", None),
        ("post", "/api/v1/cases", {"category_code": "06010"}),
        ("get", f"/api/v1/cases/{case_id}", None),
        ("post", f"/api/v1/cases/{case_id}/actions/comment", {"note": "x"}),
        ("get", "/api/v1/queues/mine", None),
        ("get", f"/api/v1/cases/{case_id}/reporter", None),
        ("post", "/api/v1/reporters/r-x/anonymise", None),
        ("post", "/api/v1/auth/logout", None),
    ]
    for token in (None, "clt_forged", "Basic abc"):
        h = (
            {}
            if token is None
            else {"Authorization": token if token.startswith("Basic") else f"Bearer {token}"}
        )
        for method, path, body in calls:
            kwargs: dict[str, Any] = {"headers": h}
            if body is not None:
                kwargs["json"] = body
            r = getattr(client, method)(path, **kwargs)
            assert r.status_code == 401, (token, path, r.text)
            assert r.json()["error"]["code"] == "unauthorized"
            assert r.headers["www-authenticate"] == "Bearer"
            no_pii(r.text)


def test_tokens_expire_and_can_be_revoked(
    client: TestClient, demo_users: dict[str, tuple[str, str]], accounts: Any
) -> None:
    user, password = demo_users["dispatcher"]
    assert client.post("/api/v1/auth/login", json={"username": user, "password": "wrong"}).status_code == 401
    assert client.post("/api/v1/auth/login", json={"username": "nobody", "password": "x"}).status_code == 401
    token = client.post("/api/v1/auth/login", json={"username": user, "password": password}).json()[
        "access_token"
    ]
    h = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/v1/me", headers=h).status_code == 200
    assert client.post("/api/v1/auth/logout", headers=h).json() == {"ok": True}
    assert client.get("/api/v1/me", headers=h).status_code == 401
    token = client.post("/api/v1/auth/login", json={"username": user, "password": password}).json()[
        "access_token"
    ]
    accounts.set_active(user, False)
    assert client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    assert client.post("/api/v1/auth/login", json={"username": user, "password": password}).status_code == 401


def test_expired_tokens_are_refused(city: City, demo_users: dict[str, tuple[str, str]]) -> None:
    from datetime import timedelta

    from civicloop.accounts.secrets import fast_hasher
    from civicloop.accounts.service import AccountService

    short = AccountService(city.engine, city.id, hasher=fast_hasher(), token_ttl=timedelta(seconds=-1))
    user, password = demo_users["leader"]
    session = short.login(user, password)
    assert short.authenticate(session.token) is None
    assert AccountService(city.engine, city.id, hasher=fast_hasher()).authenticate(session.token) is None


def test_errors_speak_the_callers_language(
    client: TestClient, world: dict[str, Any], headers: dict[str, dict[str, str]]
) -> None:
    path = f"/api/v1/cases/{world['ids']['inside']}/actions/close"
    zh = client.post(path, json={}, headers=headers["dispatcher"]).json()["error"]
    en = client.post(
        path, json={}, headers={**headers["dispatcher"], "Accept-Language": "en-US,en;q=0.9"}
    ).json()
    assert zh["message"] == zh["message_zh"] and "结案" in zh["message"]
    assert en["error"]["message"] == en["error"]["message_en"] and "close" in en["error"]["message"]
    q = client.post(path + "?locale=en", json={}, headers=headers["dispatcher"]).json()["error"]
    assert q["message"] == q["message_en"]
    bad = client.post(
        f"/api/v1/cases/{world['ids']['inside']}/actions/request_extension",
        json={"amount": 2, "unit": "work_hour"},
        headers=headers["department"],
    ).json()["error"]
    assert bad["code"] == "missing_field" and bad["field"] == "note"
