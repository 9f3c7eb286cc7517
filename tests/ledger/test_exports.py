"""Exports round-trip: what a ledger exports (CSV or XLSX) reads back with openpyxl and re-imports as is."""

from __future__ import annotations

import csv
import re
from pathlib import Path

from openpyxl import load_workbook
from sqlalchemy import Engine

from civicloop.kernel.i18n import use_locale
from civicloop.ledger.models import TargetKey
from civicloop.ledger.service import LedgerService

from .helpers import a_city, with_units, write_csv

CJK = re.compile(r"[\u3400-\u9fff\uff01-\uff5e]")


def filled(service: LedgerService) -> None:
    service.add(
        "projects",
        {
            "name": "迎泽大街提质改造工程",
            "project_type": "roads_bridges",
            "district_code": "140106",
            "unit_id": "u-bureau",
            "planned_investment": "3.2亿",
            "completed_investment": "1.5亿",
            "start_date": "2026-03-01",
            "status": "started",
        },
        by="c",
    )
    service.add(
        "projects",
        {
            "name": "城区公厕提标改造工程",
            "project_type": "sanitation",
            "unit_id": "u-bureau",
            "planned_investment": "4500万",
            "completed_investment": "4500万",
            "start_date": "2026-02-01",
            "finish_date": "2026-06-30",
            "status": "completed",
            "note": "含 12 座公厕",
        },
        by="c",
    )
    service.add(
        "campaigns",
        {
            "held_on": "2026-03-05",
            "theme": "垃圾分类",
            "place": "坞城街道",
            "target_group": "community",
            "district_code": "140105",
            "unit_id": "u-xiaodian-squad",
            "events": 3,
            "participants": 120,
            "handbooks": 500,
            "leaflets": 1200,
        },
        by="c",
    )
    service.add(
        "documents",
        {
            "number": "并城管发〔2015〕3号",
            "title": "关于加强门头牌匾管理的通知",
            "issue_date": "2015-04-01",
            "unit_id": "u-bureau",
        },
        by="c",
    )
    service.add(
        "reviews",
        {
            "number": "并城管发〔2015〕3号",
            "reviewed_on": "2026-05-01",
            "outcome": "reissued",
            "new_number": "并城管发〔2026〕101号",
            "reviewer": "法规处",
        },
        by="c",
    )
    service.set_target(
        TargetKey("2026", "u-roads", "on_time_closure_rate"), target_value="95%", weight=40, by="a"
    )


KINDS = ("units", "targets", "projects", "campaigns", "documents", "reviews")


def test_exports_read_back_with_openpyxl_and_reimport_unchanged(
    backend: tuple[str, Engine], city_id: str, tmp_path: Path
) -> None:
    city = a_city(backend[1], city_id)
    service = with_units(city)
    filled(service)
    for fmt in ("xlsx", "csv"):
        copy = LedgerService(a_city(backend[1], f"{city_id}{fmt}"))
        for kind in KINDS:
            path = tmp_path / f"{kind}.{fmt}"
            assert service.export(kind, fmt, path) == len(service.rows(kind))
            if fmt == "xlsx":
                wb = load_workbook(path, read_only=True)
                sheet = list(wb.worksheets[0].iter_rows(values_only=True))
                summary = list(wb.worksheets[1].iter_rows(values_only=True))
                wb.close()
                assert len(sheet) == 1 + len(service.rows(kind))
                if kind == "projects":
                    assert sheet[0][0] == "项目名称 (name)"
                    by_name = {r[0]: r for r in sheet[1:]}
                    assert by_name["城区公厕提标改造工程"][4] == 45_000_000  # a number, not text
                    assert ("完成投资 / investment completed", "1.95 亿元") in summary
            else:
                with path.open(encoding="utf-8-sig", newline="") as f:
                    assert len(list(csv.reader(f))) == 1 + len(service.rows(kind))
            copy.import_file(kind, path, by="importer")
        for kind in KINDS:
            assert copy.rows(kind) == service.rows(kind), (fmt, kind)


def test_an_english_export_has_english_headings_and_reads_back_like_the_chinese_one(
    backend: tuple[str, Engine], city_id: str, tmp_path: Path
) -> None:
    city = a_city(backend[1], city_id)
    service = with_units(city)
    filled(service)
    copy = LedgerService(a_city(backend[1], f"{city_id}en"))
    for kind in KINDS:
        path = tmp_path / f"{kind}-en.csv"
        with use_locale("en"):
            service.export(kind, "csv", path)
        with path.open(encoding="utf-8-sig", newline="") as f:
            header = next(csv.reader(f))
        assert not any(CJK.search(h) for h in header), header
        copy.import_file(kind, path, by="importer")
        assert copy.rows(kind) == service.rows(kind), kind
    with use_locale("en"):
        assert service.export("projects", "csv", tmp_path / "p.csv") and (tmp_path / "p.csv").read_text(
            encoding="utf-8-sig"
        ).startswith("project name (name),project type (project_type)")
    # plain labels in either language are recognised too
    plain = write_csv(
        tmp_path / "mixed.csv",
        ["project name", "项目类型", "responsible unit", "planned investment (yuan)", "状态"],
        [["English-headed project", "sewage", "u-bureau", "1亿", "planned"]],
    )
    service.import_file("projects", plain, by="clerk")
    assert any(r["name"] == "English-headed project" for r in service.rows("projects"))
