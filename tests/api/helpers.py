"""Helpers that speak Open311 and the duty room: report over Open311, move a case along, parse XML."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from xml.etree.ElementTree import Element

from defusedxml import ElementTree as SafeET
from fastapi.testclient import TestClient

from civicloop.cases.core import Actor, Command
from civicloop.cases.service import BatchItem
from civicloop.city.service import City
from civicloop.kernel.vocabulary import Action, Role

PIN = {"lat": "37.8412", "long": "112.5618"}  # 迎泽区
OPERATOR = Actor("op-test", Role.OPERATOR)
LEADER = Actor("sl-test", Role.SHIFT_LEADER)
DISPATCHER = Actor("dp-test", Role.DISPATCHER)
INSPECTOR = Actor("ins-test", Role.INSPECTOR)


def form(api_key: str, city: City, **extra: Any) -> dict[str, Any]:
    """A minimal valid Open311 POST body for 暴露垃圾 (06010)."""
    body: dict[str, Any] = {
        "api_key": api_key,
        "jurisdiction_id": city.id,
        "service_code": "06010",
        "attribute[condition]": "1",
        "description": "坞城路口东侧垃圾成堆",
        **PIN,
    }
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def post(client: TestClient, api_key: str, city: City, fmt: str = "json", **extra: Any) -> str:
    r = client.post(f"/open311/v2/requests.{fmt}", data=form(api_key, city, **extra))
    assert r.status_code == 200, r.text
    if fmt == "json":
        return str(r.json()[0]["service_request_id"])
    root = xml(r.text)
    return str(root.findtext("request/service_request_id"))


def xml(text: str) -> Element:
    """Parse an XML response safely (defusedxml) after checking the declaration."""
    assert text.startswith('<?xml version="1.0" encoding="UTF-8"?>'), text[:80]
    root: Element = SafeET.fromstring(text.encode())
    return root


def children(element: Element) -> list[str]:
    return [c.tag for c in element]


def report_many(
    city: City,
    count: int,
    *,
    start: datetime | None = None,
    step: timedelta = timedelta(minutes=1),
    category: str = "06010",
) -> list[str]:
    """*count* inspector reports at *start*, *start* + step, … (one transaction)."""
    first = start or datetime.now(UTC) - timedelta(days=1)
    items = [
        BatchItem(
            Command(
                Action.REPORT,
                "",
                {
                    "channel": "inspector",
                    "category_code": category,
                    "lon": 112.56,
                    "lat": 37.84,
                    "description": f"测试案卷 {i}",
                },
            ),
            INSPECTOR,
            first + i * step,
        )
        for i in range(count)
    ]
    result = city.cases.execute(items, strict=True)
    return [c for c in result.case_ids if c is not None]


def to_dispatched(city: City, case_id: str, department: str, verify: bool = False) -> None:
    """受理 → (核实) → 立案 → 派遣, now."""
    city.cases.act(case_id, Action.ACCEPT, OPERATOR, {"verify": verify})
    city.cases.act(case_id, Action.FILE, LEADER)
    city.cases.act(case_id, Action.DISPATCH, DISPATCHER, {"department_id": department})


def ids_of(items: Sequence[dict[str, Any]]) -> list[str]:
    return [str(i["service_request_id"]) for i in items]


def login_headers(client: TestClient, users: dict[str, tuple[str, str]]) -> dict[str, dict[str, str]]:
    """role → Authorization headers of a logged-in user, from role → (username, password)."""
    out: dict[str, dict[str, str]] = {}
    for role, (user, password) in users.items():
        r = client.post("/api/v1/auth/login", json={"username": user, "password": password})
        assert r.status_code == 200, r.text
        out[role] = {"Authorization": f"Bearer {r.json()['access_token']}"}
    return out
