"""The case search (GET /api/v1/cases/search) and its export: every filter against an oracle that judges
the same cases in Python, the scope of a role, the sorts, paging, 422 naming the parameter, and the
export's rows (XLSX read back with openpyxl, CSV parsed) equal to the search's total."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook  # type: ignore[import-untyped]

from civicloop.cases.core import Actor, CaseState, Command
from civicloop.cases.service import BatchItem, CaseQuery
from civicloop.city.service import City
from civicloop.kernel.vocabulary import Action, Role
from tests.api.helpers import DISPATCHER, INSPECTOR, LEADER, OPERATOR

HOTLINE = Actor("op-hotline", Role.OPERATOR)


def _report(city: City, at: datetime, actor: Actor = INSPECTOR, **fields: Any) -> str:
    base = {"channel": "inspector", "category_code": "06010", "lon": 112.56, "lat": 37.84}
    item = BatchItem(Command(Action.REPORT, "", base | fields), actor, at)
    case_id = city.cases.execute([item], strict=True).case_ids[0]
    assert case_id is not None
    return case_id


@pytest.fixture
def cases(city: City, demo_users: dict[str, tuple[str, str]]) -> dict[str, str]:
    """Five cases that differ in every searched field; one reworked, one overdue."""
    now = datetime.now(UTC)
    dept = city.profile.departments[0].id
    worker = Actor("dept-test", Role.DEPARTMENT, department_id=dept)
    inspector = Actor("ins-check", Role.INSPECTOR)
    a = _report(
        city, now - timedelta(days=20), description="路口垃圾成堆 Rubbish", address="迎泽大街1号",
        district_code="140105", street_code="140105001", community_code="140105001001",
        grid_code="140105001001001",
    )  # fmt: skip
    city.cases.act(a, Action.ACCEPT, OPERATOR, {"verify": False}, at=now - timedelta(days=20))
    city.cases.act(a, Action.FILE, LEADER, at=now - timedelta(days=20))
    city.cases.act(a, Action.DISPATCH, DISPATCHER, {"department_id": dept}, at=now - timedelta(days=20))
    city.cases.act(
        a, Action.HANDLE, worker, {"note": "done", "photos": ["after-a.jpg"]}, at=now - timedelta(days=19)
    )
    city.cases.act(a, Action.SEND_CHECK, OPERATOR, at=now - timedelta(days=19))
    city.cases.act(
        a, Action.CHECK, inspector, {"passed": False, "note": "not clean"}, at=now - timedelta(days=19)
    )
    b = _report(
        city, now - timedelta(days=3), HOTLINE, channel="hotline", category_code="01001",
        description="井盖缺失", address="柳巷5号", district_code="140106", street_code="140106002",
    )  # fmt: skip
    c = _report(
        city, now - timedelta(days=2), urgency="urgent", description="占道经营",
        district_code="140105", street_code="140105001", community_code="140105001002",
        grid_code="140105001002003",
    )  # fmt: skip
    city.cases.act(c, Action.ACCEPT, OPERATOR, {"verify": False}, at=now - timedelta(days=2))
    city.cases.act(c, Action.FILE, LEADER, at=now - timedelta(days=2))
    city.cases.act(c, Action.DISPATCH, DISPATCHER, {"department_id": dept}, at=now - timedelta(hours=1))
    d = _report(city, now - timedelta(hours=5), description="=路灯不亮+1", district_code="140107")
    e = _report(city, now - timedelta(minutes=30), description="rubbish bin full", address="Wuyi Square")
    return {"a": a, "b": b, "c": c, "d": d, "e": e}


def _all(city: City) -> list[CaseState]:
    return city.cases.search(CaseQuery(limit=1000))


def _search(client: TestClient, headers: dict[str, str], **params: Any) -> dict[str, Any]:
    r = client.get("/api/v1/cases/search", params=params | {"page_size": 200}, headers=headers)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["total"] == len(body["items"])
    return body


def test_every_filter_matches_the_oracle(
    client: TestClient, headers: dict[str, dict[str, str]], city: City, cases: dict[str, str]
) -> None:
    now = datetime.now(UTC)
    cal = city.calendar
    dept = city.profile.departments[0].id
    tz = city.cases.tz
    today = now.astimezone(tz).date()
    week_ago = (today - timedelta(days=7)).isoformat()
    checks: list[tuple[dict[str, Any], Callable[[CaseState], bool]]] = [
        ({"case_no": cases["b"][-4:]}, lambda s: s.case_id == cases["b"]),  # the serial
        ({"case_no": cases["b"][:-1].lower()}, lambda s: s.case_id.startswith(cases["b"][:-1])),  # the start
        ({"case_no": cases["b"][-9:]}, lambda s: s.case_id.endswith(cases["b"][-9:])),  # any part
        ({"text": "rubbish"}, lambda s: "rubbish" in ((s.description or "") + (s.address or "")).lower()),
        ({"text": "柳巷"}, lambda s: s.case_id == cases["b"]),  # two characters: no trigram (a scan)
        ({"text": "井盖缺失"}, lambda s: s.case_id == cases["b"]),  # PostgreSQL: the trigram index (0016)
        ({"text": "迎泽大街1号"}, lambda s: s.case_id == cases["a"]),
        ({"text": "=路灯不亮+1"}, lambda s: s.case_id == cases["d"]),  # punctuation around a trigram run
        ({"text": "=路灯"}, lambda s: s.case_id == cases["d"]),  # … and around a run too short for one
        ({"category": "01001"}, lambda s: s.category_code == "01001"),
        ({"department": dept}, lambda s: s.department_id == dept),
        ({"district": "140105,140107"}, lambda s: s.district_code in ("140105", "140107")),
        ({"street": "140105001"}, lambda s: s.street_code == "140105001"),
        ({"community": "140105001002"}, lambda s: s.community_code == "140105001002"),
        ({"grid": "140105001001001"}, lambda s: s.grid_code == "140105001001001"),
        ({"stage": "reported"}, lambda s: s.stage.value == "reported"),
        ({"status": "open"}, lambda s: not s.stage.is_terminal),
        ({"channel": "hotline"}, lambda s: s.channel.value == "hotline"),
        ({"light": "red"}, lambda s: s.light(cal, now) is not None and s.light(cal, now).value == "red"),  # type: ignore[union-attr]
        ({"light": "green"}, lambda s: s.light(cal, now) is not None and s.light(cal, now).value == "green"),  # type: ignore[union-attr]
        ({"overdue": "true"}, lambda s: s.overdue(cal, now)),
        ({"rework": "true"}, lambda s: s.rework_count > 0),
        ({"rework": "false"}, lambda s: s.rework_count == 0),
        ({"created_from": week_ago}, lambda s: s.created_at.astimezone(tz).date().isoformat() >= week_ago),
        ({"created_to": week_ago}, lambda s: s.created_at.astimezone(tz).date().isoformat() <= week_ago),
        (
            {"deadline_from": today.isoformat(), "deadline_to": (today + timedelta(days=60)).isoformat()},
            lambda s: s.deadline is not None and s.deadline.astimezone(tz).date() >= today,
        ),
    ]
    states = _all(city)
    for params, keep in checks:
        expected = sorted(s.case_id for s in states if keep(s))
        got = sorted(i["case_id"] for i in _search(client, headers["admin"], **params)["items"])
        assert got == expected, params
        assert expected or params.get("light") == "red", f"the fixture gives {params} no case"
    # filters combine (AND)
    both = _search(client, headers["admin"], district="140105", rework="true")
    assert [i["case_id"] for i in both["items"]] == [cases["a"]]


def test_scope_sort_paging_and_refusals(
    client: TestClient, headers: dict[str, dict[str, str]], city: City, cases: dict[str, str]
) -> None:
    # sorts both ways
    asc = _search(client, headers["admin"], sort="created", dir="asc")["items"]
    assert [i["case_id"] for i in asc][:2] == [cases["a"], cases["b"]]
    desc = _search(client, headers["admin"], sort="created", dir="desc")["items"]
    assert [i["case_id"] for i in desc] == [i["case_id"] for i in asc][::-1]
    urgent = _search(client, headers["admin"], sort="light", dir="desc")["items"]
    dues = [i["due_at"] for i in urgent if i["due_at"]]
    assert dues == sorted(dues)
    updated = _search(client, headers["admin"], sort="updated", dir="desc")["items"]
    stamps = [i["updated_at"] for i in updated]
    assert stamps == sorted(stamps, reverse=True) and stamps != [i["updated_at"] for i in desc]
    green = _search(client, headers["admin"], light="green", sort="created", dir="asc")["items"]
    assert len(green) >= 2 and [i["created_at"] for i in green] == sorted(i["created_at"] for i in green)
    # paging with a total
    r = client.get("/api/v1/cases/search?page=2&page_size=2&sort=created&dir=asc", headers=headers["admin"])
    assert r.json()["total"] == 5 and [i["case_id"] for i in r.json()["items"]] == [cases["c"], cases["d"]]
    # a department sees only its own cases
    dept_user = client.get("/api/v1/me", headers=headers["department"]).json()["department_id"]
    mine = _search(client, headers["department"])["items"]
    assert all(i["department_id"] == dept_user for i in mine)
    # bad values: 422 naming the parameter, in the caller's language
    for params, field in (
        ({"stage": "nowhere"}, "stage"),
        ({"channel": "pigeon"}, "channel"),
        ({"category": "99999"}, "category"),
        ({"created_from": "2026-13-45"}, "created_from"),
        ({"created_from": "2026-12-01", "created_to": "2026-11-01"}, "created_to"),
        ({"light": "blue"}, "light"),
        ({"sort": "size"}, "sort"),
        ({"rework": "maybe"}, "rework"),
        ({"grid": "1;drop"}, "grid"),
    ):
        r = client.get(
            "/api/v1/cases/search", params=params, headers=headers["admin"] | {"accept-language": "zh-CN"}
        )
        assert r.status_code == 422, (params, r.text)
        assert r.json()["error"]["field"] == field, r.text
    assert client.get("/api/v1/cases/search").status_code == 401


def test_export_rows_equal_the_search_total(
    client: TestClient, headers: dict[str, dict[str, str]], cases: dict[str, str]
) -> None:
    params = {"district": "140105,140106,140107", "sort": "created", "dir": "asc"}
    found = _search(client, headers["admin"], **params)
    assert found["total"] == 4
    x = client.get(
        "/api/v1/cases/export.xlsx", params=params, headers=headers["admin"] | {"accept-language": "zh-CN"}
    )
    assert x.status_code == 200 and "spreadsheetml" in x.headers["content-type"]
    sheet = load_workbook(io.BytesIO(x.content), read_only=True).active
    table = list(sheet.iter_rows(values_only=True))
    assert table[0][0] == "案卷编号" and "返工次数" in table[0]
    assert [r[0] for r in table[1:]] == [i["case_id"] for i in found["items"]]
    assert table[1][table[0].index("返工次数")] == 1
    # a reporter's text is never a formula in the office that exports it
    assert table[4][table[0].index("问题描述")] == "=路灯不亮+1"
    raw = load_workbook(io.BytesIO(x.content)).active
    assert raw.cell(row=5, column=table[0].index("问题描述") + 1).data_type == "s"
    c = client.get("/api/v1/cases/export.csv", params=params | {"locale": "en"}, headers=headers["admin"])
    assert c.status_code == 200 and c.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(c.content.decode("utf-8-sig"))))
    assert rows[0][0] == "Case number" and len(rows) - 1 == found["total"]
    assert [r[0] for r in rows[1:]] == [i["case_id"] for i in found["items"]]
    assert rows[4][rows[0].index("Description")] == "'=路灯不亮+1"
    bad = client.get("/api/v1/cases/export.csv?stage=nowhere", headers=headers["admin"])
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "stage"
