"""Helpers that speak the bureau's language: a city with units, a closed road-damage case, a CSV file."""

from __future__ import annotations

import csv
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine

from civicloop.bootstrap import init_city
from civicloop.cases.core import Actor
from civicloop.city.service import City
from civicloop.kernel.vocabulary import Action, Role
from civicloop.ledger.service import LedgerService

BEIJING = ZoneInfo("Asia/Shanghai")
OPERATOR = Actor("op-1", Role.OPERATOR)
LEADER = Actor("sl-1", Role.SHIFT_LEADER)
DISPATCHER = Actor("dp-1", Role.DISPATCHER)
INSPECTOR = Actor("ins-1", Role.INSPECTOR)


def at(text: str) -> datetime:
    """A Beijing-time moment: at("2026-06-02 09:00")."""
    return datetime.fromisoformat(text).replace(tzinfo=BEIJING)


def a_city(engine: Engine, city_id: str) -> City:
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # calendar coverage of next year
        return init_city("taiyuan", engine=engine, city_id=city_id)


UNITS = [
    {"unit_id": "u-bureau", "name": "城乡管理局", "kind": "bureau", "kpi_scope": "city"},
    {
        "unit_id": "u-roads",
        "name": "市政设施管理中心",
        "kind": "department",
        "parent_id": "u-bureau",
        "department_id": "ty-roads",
    },
    {
        "unit_id": "u-xiaodian",
        "name": "小店区城乡管理局",
        "kind": "district",
        "parent_id": "u-bureau",
        "district_code": "140105",
    },
    {
        "unit_id": "u-xiaodian-squad",
        "name": "小店区执法中队",
        "kind": "squad",
        "parent_id": "u-xiaodian",
        "department_id": "ty-xiaodian-enforcement",
    },
]


def with_units(city: City, by: str = "admin") -> LedgerService:
    service = LedgerService(city)
    for row in UNITS:
        service.add("units", row, by=by)
    return service


def a_closed_case(city: City, category: str, department: str, when: datetime) -> str:
    """An inspector's report that travels the whole loop and is closed as fixed within the hour."""
    state = city.cases.report(
        INSPECTOR,
        {
            "channel": "inspector",
            "category_code": category,
            "lon": 112.56,
            "lat": 37.84,
            "description": "测试",
        },
        at=when,
    )
    case_id = state.case_id
    handler = Actor("h-1", Role.DEPARTMENT, department_id=department)
    minute = timedelta(minutes=1)
    city.cases.act(case_id, Action.ACCEPT, OPERATOR, {"verify": False}, at=when + minute)
    city.cases.act(case_id, Action.FILE, LEADER, at=when + 2 * minute)
    city.cases.act(case_id, Action.DISPATCH, DISPATCHER, {"department_id": department}, at=when + 3 * minute)
    city.cases.act(
        case_id, Action.HANDLE, handler, {"note": "已修补", "photos": ["p/after.jpg"]}, at=when + 30 * minute
    )
    city.cases.act(case_id, Action.SEND_CHECK, OPERATOR, at=when + 31 * minute)
    city.cases.act(
        case_id, Action.CHECK, INSPECTOR, {"passed": True, "photos": ["p/check.jpg"]}, at=when + 40 * minute
    )
    city.cases.act(case_id, Action.CLOSE, LEADER, at=when + 45 * minute)
    return case_id


def a_dispatched_case(city: City, category: str, department: str, when: datetime) -> str:
    state = city.cases.report(
        INSPECTOR,
        {
            "channel": "inspector",
            "category_code": category,
            "lon": 112.56,
            "lat": 37.84,
            "description": "测试",
        },
        at=when,
    )
    minute = timedelta(minutes=1)
    city.cases.act(state.case_id, Action.ACCEPT, OPERATOR, {"verify": False}, at=when + minute)
    city.cases.act(state.case_id, Action.FILE, LEADER, at=when + 2 * minute)
    city.cases.act(
        state.case_id, Action.DISPATCH, DISPATCHER, {"department_id": department}, at=when + 3 * minute
    )
    return state.case_id


def write_csv(path: Path, header: list[str], rows: list[list[Any]], encoding: str = "utf-8") -> Path:
    with path.open("w", encoding=encoding, newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)
    return path
