"""Imports refuse bad rows with the line and the reason, and change nothing unless told to skip them."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Engine

from civicloop.ledger.models import LedgerError
from civicloop.ledger.tabular import ImportRejected

from .helpers import a_city, with_units, write_csv

PROJECT_HEADER = [
    "项目名称",
    "项目类型",
    "所在区县",
    "责任单位",
    "计划投资（元）",
    "完成投资（元）",
    "开工日期",
    "状态",
]


def projects_file(tmp_path: Path) -> Path:
    return write_csv(
        tmp_path / "projects.csv",
        PROJECT_HEADER,
        [
            [
                "迎泽大街提质改造工程",
                "道桥",
                "迎泽区",
                "u-bureau",
                "3.2亿",
                "1.5亿",
                "2026-03-01",
                "在建",
            ],  # line 2 ok
            [
                "北营污水处理厂提标改造",
                "sewage",
                "火星区",
                "u-bureau",
                "8000万",
                "0",
                "2026-04-01",
                "started",
            ],
            [
                "长风街排水防涝工程",
                "flood_control",
                "140105",
                "u-bureau",
                "很多",
                "0",
                "2026-05-01",
                "started",
            ],
            [
                "迎泽大街提质改造工程",
                "roads_bridges",
                "140106",
                "u-bureau",
                "1亿",
                "0",
                "2026-06-01",
                "started",
            ],
            ["并州路供热管网改造", "heating", "140105", "u-nobody", "5000万", "100万", "", "在建"],
            [
                "晋阳街供水管网改造",
                "water",
                "小店区",
                "u-roads",
                "6000万",
                "2000万",
                "2026/7/9",
                "started",
            ],  # ok
        ],
    )


def test_a_bad_file_is_refused_with_line_and_reason_and_nothing_is_written(
    backend: tuple[str, Engine], city_id: str, tmp_path: Path
) -> None:
    city = a_city(backend[1], city_id)
    service = with_units(city)
    with pytest.raises(ImportRejected) as refused:
        service.import_file("projects", projects_file(tmp_path), by="clerk")
    by_line = {i.line: i.reason for i in refused.value.issues if i.line != 6}
    assert sorted({i.line for i in refused.value.issues}) == [3, 4, 5, 6]
    assert by_line[3].startswith("district_code") and "火星区" in by_line[3]
    assert by_line[4].startswith("planned_investment") and "很多" in by_line[4]
    assert "line 2" in by_line[5]  # duplicate of the natural key on line 2
    line6 = [i.reason for i in refused.value.issues if i.line == 6]
    assert any(r.startswith("unit_id") and "u-nobody" in r for r in line6)
    assert "第 3 行 / line 3" in str(refused.value)
    assert service.rows("projects") == []  # one transaction: nothing of the good lines either


def test_skip_bad_writes_the_good_rows_and_reports_the_others(
    backend: tuple[str, Engine], city_id: str, tmp_path: Path
) -> None:
    city = a_city(backend[1], city_id)
    service = with_units(city)
    result = service.import_file("projects", projects_file(tmp_path), by="clerk", skip_bad=True)
    assert (result.rows, result.inserted, result.updated) == (6, 2, 0)
    assert [i.line for i in result.rejected] == [3, 4, 5, 6]
    rows = {r["name"]: r for r in service.rows("projects")}
    assert rows["迎泽大街提质改造工程"]["planned_investment"] == 320_000_000
    assert rows["迎泽大街提质改造工程"]["district_code"] == "140106"
    assert rows["晋阳街供水管网改造"]["district_code"] == "140105"

    again = write_csv(
        tmp_path / "again.csv",
        PROJECT_HEADER,
        [
            ["迎泽大街提质改造工程", "道桥", "迎泽区", "u-bureau", "3.2亿", "2.0亿", "2026-03-01", "在建"],
        ],
    )
    with pytest.raises(ImportRejected, match="already in the ledger"):
        service.import_file("projects", again, by="clerk")
    updated = service.import_file("projects", again, by="clerk", update_existing=True)
    assert (updated.inserted, updated.updated) == (0, 1)
    assert {r["name"]: r for r in service.rows("projects")}["迎泽大街提质改造工程"][
        "completed_investment"
    ] == 200_000_000


def test_a_wrong_header_refuses_the_whole_file(
    backend: tuple[str, Engine], city_id: str, tmp_path: Path
) -> None:
    city = a_city(backend[1], city_id)
    service = with_units(city)
    bad = write_csv(
        tmp_path / "v.csv",
        ["日期", "主题", "地点", "参与人数", "服务时长", "颜色"],
        [["2026-03-05", "x", "y", 1, 1, "红"]],
    )
    with pytest.raises(ImportRejected) as refused:
        service.import_file("volunteering", bad, by="clerk")
    reasons = " ".join(i.reason for i in refused.value.issues)
    assert "颜色" in reasons and "服务时长" in reasons  # unknown column, and the label is 服务时长（小时）
    assert "unit_id" in reasons  # a required column is missing
    assert {i.line for i in refused.value.issues} == {1}


def test_xlsx_and_gb18030_csv_are_read_and_rows_numbered_as_the_sheet_shows(
    backend: tuple[str, Engine], city_id: str, tmp_path: Path
) -> None:
    from openpyxl import Workbook

    city = a_city(backend[1], city_id)
    service = with_units(city)
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.append(
        [
            "日期 (held_on)",
            "主题 (theme)",
            "地点 (place)",
            "对象 (target_group)",
            "组织单位 (unit_id)",
            "活动次数 (events)",
        ]
    )
    ws.append(["2026-03-05", "垃圾分类", "坞城街道", "进社区", "u-xiaodian-squad", 3])
    ws.append([None, None, None, None, None, None])  # a blank row is skipped, not refused
    ws.append(["2026-02-30", "垃圾分类", "营盘街道", "community", "u-xiaodian-squad", 2])
    wb.save(tmp_path / "c.xlsx")
    with pytest.raises(ImportRejected) as refused:
        service.import_file("campaigns", tmp_path / "c.xlsx", by="clerk")
    assert [(i.line, i.reason.split(":")[0]) for i in refused.value.issues] == [(4, "held_on")]

    gbk = write_csv(
        tmp_path / "gbk.csv",
        ["日期", "主题", "地点", "组织单位", "参与人数", "服务时长（小时）"],
        [["2026年3月5日", "文明交通", "并州路口", "u-xiaodian-squad", "20", "60"]],
        encoding="gb18030",
    )
    result = service.import_file("volunteering", gbk, by="clerk")
    assert result.inserted == 1
    assert service.rows("volunteering")[0]["theme"] == "文明交通"


def test_reviews_need_their_document_and_set_its_status(backend: tuple[str, Engine], city_id: str) -> None:
    city = a_city(backend[1], city_id)
    service = with_units(city)
    service.add(
        "documents",
        {
            "number": "并城管发〔2015〕3号",
            "title": "关于加强门头牌匾管理的通知",
            "issue_date": "2015-04-01",
            "unit_id": "u-bureau",
        },
        by="clerk",
    )
    with pytest.raises(ImportRejected, match="no such document"):
        service.add(
            "reviews",
            {
                "number": "并城管发〔2015〕4号",
                "reviewed_on": "2026-05-01",
                "outcome": "废止",
                "reviewer": "法规处",
            },
            by="x",
        )
    service.add(
        "reviews",
        {
            "number": "并城管发〔2015〕3号",
            "reviewed_on": "2026-05-01",
            "outcome": "废止",
            "reviewer": "法规处",
        },
        by="x",
    )
    assert service.rows("documents")[0]["status"] == "abolished"
    with pytest.raises(ImportRejected, match="already abolished"):
        service.add(
            "reviews",
            {
                "number": "并城管发〔2015〕3号",
                "reviewed_on": "2026-06-01",
                "outcome": "kept",
                "reviewer": "法规处",
            },
            by="x",
        )


def test_units_need_their_parent_first_and_a_known_scope(backend: tuple[str, Engine], city_id: str) -> None:
    city = a_city(backend[1], city_id)
    service = with_units(city)
    with pytest.raises(ImportRejected, match="parent unit not registered"):
        service.add("units", {"unit_id": "u-x", "name": "X", "kind": "office", "parent_id": "u-none"}, by="a")
    with pytest.raises(ImportRejected, match="no department"):
        service.add(
            "units", {"unit_id": "u-y", "name": "Y", "kind": "department", "department_id": "nope"}, by="a"
        )
    with pytest.raises(LedgerError, match="unknown fields"):
        service.add("units", {"unit_id": "u-z", "colour": "red"}, by="a")
    scopes = {u.unit_id: u.kpi_scope for u in service.units()}
    assert scopes == {
        "u-bureau": "city",
        "u-roads": "department:ty-roads",
        "u-xiaodian": "district:140105",
        "u-xiaodian-squad": "department:ty-xiaodian-enforcement",
    }
