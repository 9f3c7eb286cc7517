"""The evaluation report: an xlsx that openpyxl reads back, a PDF whose text is Chinese, an HTML page."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook

from civicloop.kpi.core import parse_period
from civicloop.kpi.report import FontMissing, build_report, make_report, write_html, write_pdf, write_xlsx
from tests.kpi.history import History

NOV = parse_period("2026-11")


@pytest.fixture(scope="module")
def data(sqlite_month: tuple[History, str]):  # type: ignore[no-untyped-def]
    return build_report(sqlite_month[0].city, NOV)


def test_xlsx_has_one_sheet_per_table_and_the_figures(data, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_xlsx(data, tmp_path / "report.xlsx")
    wb = load_workbook(path)
    sheets = ["概览 Summary", "部门评价 Departments", "区域评价 Districts", "监督员 Inspectors"]
    sheets += ["派遣员 Dispatchers", "设施 Assets", "热点 Hotspots", "预测 Forecast", "图表 Charts"]
    for sheet in sheets:
        assert sheet in wb.sheetnames
    summary = wb["概览 Summary"]
    values = {row[0]: row[1] for row in summary.iter_rows(min_row=3, values_only=True) if row[0]}
    assert values["上报数"] == 12 and values["应结案数"] == 6
    assert values["按期结案率"] == pytest.approx(0.5)
    deps = wb["部门评价 Departments"]
    header = [c.value for c in deps[2]]
    first = [c.value for c in deps[3]]
    assert header[0] == "排名" and first[header.index("名称")] == "太原市环境卫生管理中心"
    assert first[header.index("综合指标值")] == pytest.approx(74.0)
    assets = wb["设施 Assets"]
    assert "无数据" in [c.value for c in assets[3]]  # no patrols in this history: no data, not 0
    assert len(wb["图表 Charts"]._images) == 4


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs pdftotext (Debian poppler-utils)")
def test_pdf_text_is_chinese_with_an_embedded_font(data, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = write_pdf(data, tmp_path / "report.pdf")
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    headings = ["综合评价通报", "全市主要指标", "专业部门综合评价", "监督员岗位评价"]
    headings += ["着灯率与设施完好率", "问题热点分布图", "按期结案率"]
    for heading in headings:
        assert heading in text
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True, check=True).stdout
    assert "NotoSansCJK" in fonts and " yes yes " in fonts


@pytest.mark.skipif(shutil.which("pdftotext") is None, reason="needs pdftotext (Debian poppler-utils)")
def test_english_pdf(sqlite_month: tuple[History, str], tmp_path: Path) -> None:
    path = make_report(sqlite_month[0].city, NOV, "pdf", tmp_path / "en.pdf", locale="en")
    text = subprocess.run(["pdftotext", str(path), "-"], capture_output=True, text=True, check=True).stdout
    assert "evaluation report" in text and "On-time closure rate by department" in text
    assert "太原市环境卫生管理中心" in text  # names stay as they are


def test_html_report(data, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    page = write_html(data, tmp_path / "r.html").read_text(encoding="utf-8")
    assert "<h1>太原市数字化城市管理综合评价通报（2026-11）</h1>" in page and "data:image/png;base64," in page


def test_a_missing_font_fails_with_the_fix(
    sqlite_month: tuple[History, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CIVICLOOP_CJK_FONT", str(tmp_path / "nope.ttc"))
    with pytest.raises(FontMissing):
        make_report(sqlite_month[0].city, NOV, "pdf", tmp_path / "x.pdf")
    monkeypatch.delenv("CIVICLOOP_CJK_FONT")
    monkeypatch.setenv("PATH", "")
    import civicloop.kpi.fonts as cjk_font
    import civicloop.kpi.report as report

    monkeypatch.setattr(cjk_font, "Path", _NoFonts)
    with pytest.raises(FontMissing, match="fonts-noto-cjk"):
        report._font_file()


class _NoFonts(type(Path())):  # type: ignore[misc]
    def is_file(self) -> bool:  # every candidate is absent
        return False
