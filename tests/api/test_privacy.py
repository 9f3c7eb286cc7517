"""Privacy: reporter identities never reach public output; numbers typed into text are masked; a reporter
can be anonymised (the case stays, the person goes) and that is logged."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text

from civicloop.accounts.service import AccountService
from civicloop.accounts.store import open311_requests
from civicloop.cases.privacy import mask_text
from civicloop.city.service import City
from tests.api.helpers import form

NAME_FIRST, NAME_LAST = "小明", "王"
EMAIL = "wang.xiaoming@example.org"
PHONE = "13812345678"
TYPED = "联系我 13987654321 或 0351-7654321，身份证 14010519900101123X，邮箱 typed@example.com"


@pytest.mark.parametrize(
    ("raw", "masked"),
    [
        ("13912345678", "139****5678"),
        ("+86 139-1234-5678", "139****5678"),
        ("电话：139 1234 5678。", "电话：139****5678。"),
        ("0351-7654321", "0351-****4321"),
        ("(010)87654321", "010-****4321"),
        ("14010519900101123X", "140105********123X"),
        ("140105199001011234", "140105********1234"),
        ("zhang@example.com", "z***@example.com"),
        ("部件 14010501037000123", "部件 14010501037000123"),  # 17-digit component ids stay
        ("2026-03-02 09:15 第 12 号", "2026-03-02 09:15 第 12 号"),
        ("坞城路 12 号", "坞城路 12 号"),
    ],
)
def test_masking(raw: str, masked: str) -> None:
    assert mask_text(raw) == masked


def _report_with_identity(client: TestClient, api_key: str, city: City) -> str:
    body = form(
        api_key,
        city,
        first_name=NAME_FIRST,
        last_name=NAME_LAST,
        email=EMAIL,
        phone=PHONE,
        description=TYPED,
        device_id="device-secret-42",
    )
    r = client.post("/open311/v2/requests.json", data=body)
    assert r.status_code == 200
    return str(r.json()[0]["service_request_id"])


def _public_bodies(client: TestClient, case_id: str) -> list[str]:
    out = []
    for fmt in ("json", "xml"):
        for params in ({}, {"extensions": "true"}):
            out.append(client.get(f"/open311/v2/requests.{fmt}", params=params).text)
            out.append(client.get(f"/open311/v2/requests/{case_id}.{fmt}", params=params).text)
    return out


def test_public_output_never_shows_who_reported_or_their_numbers(
    client: TestClient, api_key: str, city: City
) -> None:
    case_id = _report_with_identity(client, api_key, city)
    for body in _public_bodies(client, case_id):
        for secret in (NAME_FIRST, EMAIL, PHONE, "13987654321", "7654321", "19900101", "typed@example.com"):
            assert secret not in body
        assert "device-secret-42" not in body
        assert "139****4321" in body and "140105********123X" in body


def test_identity_lives_only_in_the_reporters_table(client: TestClient, api_key: str, city: City) -> None:
    case_id = _report_with_identity(client, api_key, city)
    state = city.cases.get(case_id)
    info = city.cases.reporter(state.reporter_id or "")
    assert info is not None and info.email == EMAIL and info.phone == PHONE
    assert info.name == f"{NAME_FIRST} {NAME_LAST}"
    with city.engine.connect() as conn:
        logged = " ".join(
            conn.execute(text("SELECT data FROM events WHERE city_id = :c"), {"c": city.id}).scalars().all()
        )
        projection = conn.execute(
            text("SELECT doc FROM cases WHERE city_id = :c"), {"c": city.id}
        ).scalar_one()
    for secret in (NAME_FIRST, EMAIL, PHONE):
        assert secret not in logged and secret not in projection


def test_staff_views_carry_no_reporter_contact_except_the_callback_endpoint(
    client: TestClient, api_key: str, city: City, headers: dict[str, dict[str, str]]
) -> None:
    case_id = _report_with_identity(client, api_key, city)
    for role in ("operator", "dispatcher", "shift_leader", "leader", "viewer", "admin"):
        body = client.get(f"/api/v1/cases/{case_id}", headers=headers[role]).text
        assert EMAIL not in body and PHONE not in body and NAME_FIRST not in body, role
    contact = client.get(f"/api/v1/cases/{case_id}/reporter", headers=headers["operator"])
    assert contact.status_code == 200 and contact.json()["phone"] == PHONE
    for role in ("dispatcher", "shift_leader", "leader", "viewer", "inspector", "department"):
        r = client.get(f"/api/v1/cases/{case_id}/reporter", headers=headers[role])
        assert r.status_code == 403, role
        assert PHONE not in r.text


def test_anonymising_a_reporter_erases_the_person_keeps_the_case_and_is_logged(
    client: TestClient, api_key: str, city: City, headers: dict[str, dict[str, str]], accounts: AccountService
) -> None:
    case_id = _report_with_identity(client, api_key, city)
    reporter_id = city.cases.get(case_id).reporter_id
    assert reporter_id
    refused = client.post(f"/api/v1/reporters/{reporter_id}/anonymise", headers=headers["dispatcher"])
    assert refused.status_code == 403
    r = client.post(f"/api/v1/reporters/{reporter_id}/anonymise", headers=headers["operator"])
    assert r.status_code == 200, r.text
    assert r.json()["records_erased"] == 1 and r.json()["submissions_erased"] == 1
    info = city.cases.reporter(reporter_id)
    assert info is not None and (info.name, info.phone, info.email) == (None, None, None)
    with city.engine.connect() as conn:
        row = conn.execute(
            select(open311_requests).where(
                open311_requests.c.city_id == city.id, open311_requests.c.case_id == case_id
            )
        ).one()
    assert row.device_id is None
    assert city.cases.get(case_id).case_id == case_id  # the case stays
    audit = accounts.audit_entries(reporter_id)
    assert len(audit) == 1
    assert audit[0]["action"] == "anonymise_reporter" and audit[0]["actor_role"] == "operator"
    assert audit[0]["detail"] == {"records": 1, "submissions": 1}
    contact = client.get(f"/api/v1/cases/{case_id}/reporter", headers=headers["admin"]).json()
    assert (contact["name"], contact["phone"], contact["email"]) == (None, None, None)
    assert client.post("/api/v1/reporters/r-nobody/anonymise", headers=headers["admin"]).status_code == 404
