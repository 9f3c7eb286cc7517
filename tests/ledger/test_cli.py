"""The command line contract: `ledger import|list|export|demo`, `target …`, `assess --period P [--json]`,
and the Chinese XLSX/PDF exports of the demo year."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook
from sqlalchemy import Engine
from typer.testing import CliRunner

from civicloop.cli.main import app

from .helpers import a_city, write_csv


@pytest.fixture
def cli(backend: tuple[str, Engine], city_id: str) -> tuple[CliRunner, list[str]]:
    a_city(backend[1], city_id)
    url = backend[1].url.render_as_string(hide_password=False)
    return CliRunner(), ["--database", url, "--city", city_id]


def run(
    cli: tuple[CliRunner, list[str]], *args: str, code: int = 0, env: dict[str, str] | None = None
) -> str:
    runner, opts = cli
    result = runner.invoke(app, [*args, *opts], env=env)
    assert result.exit_code == code, result.output
    return result.output


def test_the_demo_year_is_assessed_and_exported_in_chinese(
    cli: tuple[CliRunner, list[str]], tmp_path: Path
) -> None:
    demo = json.loads(run(cli, "ledger", "demo", "--json"))
    assert demo["projects"] == 46 and demo["reviews"] == 187 and demo["targets"] > 90

    listing = json.loads(run(cli, "ledger", "list", "reviews", "--year", "2026", "--json"))
    assert listing["summary"]["废止 / abolished"] == 103 and listing["summary"]["重新印发 / reissued"] == 84

    # the seed's figures: 41 projects and 45.26 亿元 by the end of November
    november = json.loads(run(cli, "assess", "--period", "2026-01-01..2026-11-30", "--json"))
    bureau = next(u for u in november["units"] if u["unit_id"] == "ty-bureau")
    figures = {t["indicator"]: t["actual"] for t in bureau["targets"]}
    assert figures["projects_started"] == 41 and figures["investment_completed"] == 4_526_000_000

    year = json.loads(run(cli, "assess", "--period", "2026", "--json"))
    bureau = next(u for u in year["units"] if u["unit_id"] == "ty-bureau")
    status = {t["indicator"]: t["status"] for t in bureau["targets"]}
    assert status["light_on_rate"] == "no_data" and status["documents_reviewed"] == "met"
    assert bureau["rank"] == 1 and bureau["score"] is not None
    offices = [u for u in year["units"] if u["kind"] == "office"]
    assert [u["rank"] for u in offices] == sorted(u["rank"] for u in offices)
    assert "no_data" in year["rules"]

    run(cli, "assess", "--period", "2026", "--export", "xlsx", "--output", str(tmp_path / "a.xlsx"))
    wb = load_workbook(tmp_path / "a.xlsx", read_only=True)
    assert wb.sheetnames == ["排名", "指标明细", "检查记录", "计分规则"]
    first = [r for r in wb["排名"].iter_rows(values_only=True)]
    wb.close()
    assert "目标责任考核结果" in str(first[0][0]) and first[3][2] == "太原市城乡管理局"

    run(cli, "assess", "--period", "2026", "--export", "pdf", "--output", str(tmp_path / "a.pdf"))
    assert (tmp_path / "a.pdf").read_bytes().startswith(b"%PDF")
    if shutil.which("pdftotext"):
        text = subprocess.run(
            ["pdftotext", str(tmp_path / "a.pdf"), "-"], capture_output=True, text=True
        ).stdout
        assert "目标责任考核结果" in text and "无数据" in text and "政策法规处" in text

    missing = run(
        cli,
        "assess",
        "--period",
        "2026",
        "--export",
        "pdf",
        "--output",
        str(tmp_path / "b.pdf"),
        code=2,
        env={"CIVICLOOP_CJK_FONT": str(tmp_path / "no-font.ttc")},
    )
    assert "CIVICLOOP_CJK_FONT" in missing and not (tmp_path / "b.pdf").exists()


def test_import_list_export_and_the_target_commands(cli: tuple[CliRunner, list[str]], tmp_path: Path) -> None:
    write_csv(
        tmp_path / "units.csv",
        ["单位编号", "单位名称", "单位类型", "上级单位", "对应部门"],
        [
            ["u-bureau", "城乡管理局", "局机关", "", ""],
            ["u-roads", "市政设施管理中心", "直属单位", "u-bureau", "ty-roads"],
        ],
    )
    assert "inserted 2" in run(cli, "ledger", "import", "units", str(tmp_path / "units.csv"))
    bad = write_csv(
        tmp_path / "v.csv",
        ["日期", "主题", "地点", "组织单位", "参与人数", "服务时长（小时）"],
        [
            ["2026-03-05", "学雷锋", "太原站", "u-roads", "20", "60"],
            ["2026-03-06", "学雷锋", "太原站", "u-nobody", "20", "-1"],
        ],
    )
    refused = run(cli, "ledger", "import", "volunteering", str(bad), code=2)
    assert "line 3" in refused and "u-nobody" in refused and "hours" in refused
    assert json.loads(run(cli, "ledger", "list", "volunteering", "--json"))["rows"] == []
    skipped = json.loads(run(cli, "ledger", "import", "volunteering", str(bad), "--skip-bad", "--json"))
    assert skipped["inserted"] == 1 and {r["line"] for r in skipped["rejected"]} == {3}
    run(
        cli,
        "ledger",
        "add",
        "volunteering",
        "-f",
        "held_on=2026-04-01",
        "-f",
        "theme=文明交通",
        "-f",
        "place=并州路",
        "-f",
        "unit_id=u-roads",
        "-f",
        "participants=8",
        "-f",
        "hours=16",
    )
    run(cli, "ledger", "export", "volunteering", "--format", "csv", "--output", str(tmp_path / "out.csv"))
    assert (tmp_path / "out.csv").read_text(encoding="utf-8-sig").count("\n") == 3

    ref = "2026/u-roads/cadre_appointments"
    run(cli, "target", "set", ref, "--value", "400", "--weight", "30")
    run(cli, "target", "set", "2026/u-roads/volunteer_hours", "--value", "100", "--weight", "70")
    run(
        cli,
        "target",
        "enter",
        ref,
        "--value",
        "428",
        "--evidence",
        "https://oa.example/ganbu.pdf",
        "--by",
        "clerk",
    )
    assert "cannot also approve" in run(cli, "target", "approve", ref, "--by", "clerk", code=2)
    run(cli, "target", "approve", ref, "--by", "assessor")
    run(
        cli,
        "target",
        "inspect",
        "--period",
        "2026",
        "--unit",
        "u-roads",
        "--note",
        "台账齐全",
        "--by",
        "assessor",
    )
    unit = json.loads(run(cli, "assess", "--period", "2026", "--json"))["units"][0]
    # 428 ≥ 400 → 30; 76 h of 100, floor 80 → 0: 100 × 30 / 100
    assert unit["unit_id"] == "u-roads" and unit["score"] == 30.0 and len(unit["inspections"]) == 1
    targets = json.loads(run(cli, "target", "list", "--period", "2026", "--json"))
    assert [(t["indicator"], t["target_value"], t["set_by"].startswith("cli:")) for t in targets] == [
        ("cadre_appointments", 400, True),
        ("volunteer_hours", 100, True),
    ]
