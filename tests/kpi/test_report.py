"""The evaluation report: an xlsx that openpyxl reads back, a PDF whose text is Chinese, an HTML page."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from openpyxl import load_workbook

from civicloop.kpi.core import parse_period
from civicloop.kpi.report import FontMissing, build_report, make_report, write_html, write_pdf, write_xlsx
from tests.kpi.history import History

NOV = parse_period("2026-11")
CJK = re.compile(r"[\u3400-\u9fff\uff01-\uff5e\u3001-\u3011]")


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


def test_the_report_speaks_the_readers_language(data) -> None:  # type: ignore[no-untyped-def]
    """Titles, headings and notes come from the catalogue in the report's locale; sheets keep both names."""
    english = dataclasses.replace(data, locale="en")
    words = [english.title] + [w for tbl in english.tables for w in (tbl.title("en"), tbl.note("en"))]
    words += [c.label("en") for tbl in english.tables for c in tbl.columns]
    words += [ch.title("en") for ch in english.charts]
    assert not [w for w in words if CJK.search(w)]
    assert english.title.startswith("Taiyuan") and "evaluation report 2026-11" in english.title
    forecast = english.table("预测 Forecast")
    assert forecast.note("en").startswith("Method: ") and forecast.note("zh-CN").startswith("方法：")
    assert data.table("概览 Summary").columns[0].label("zh-CN") == "指标"


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


# ---- fonts: the charts take any CJK font; a missing font stops the report before any work --------------


def _fontconfig(tmp_path: Path, fonts: Path) -> Path:
    """A fontconfig file whose only font folder is *fonts* (so fc-match sees nothing else)."""
    conf = tmp_path / "fonts.conf"
    conf.write_text(
        '<?xml version="1.0"?><!DOCTYPE fontconfig SYSTEM "fonts.dtd"><fontconfig>'
        f"<dir>{fonts}</dir><cachedir>{tmp_path / 'fc-cache'}</cachedir></fontconfig>",
        encoding="utf-8",
    )
    return conf


def _another_cjk_font(path: Path) -> Path:
    """A CJK font that is not Noto Sans CJK: ASCII and the Chinese of the profile and the report, renamed."""
    from fontTools import subset
    from fontTools.ttLib import TTFont

    import civicloop.kpi.report as report
    from civicloop.kpi import fonts as cjk_font

    try:
        noto = cjk_font.find_cjk_font()
    except FontMissing:
        pytest.skip("needs Noto Sans CJK to make the stand-in font from (Debian fonts-noto-cjk)")
    package = Path(cjk_font.__file__).parents[1]
    sources = [Path(report.__file__), package / "profiles/taiyuan/profile.toml"]
    sources += [package / "kernel/messages/kpi.toml"]  # the report's words
    text = "".join(sorted({ch for p in sources for ch in p.read_text(encoding="utf-8") if ch > "\u2e7f"}))
    font = TTFont(str(noto), fontNumber=cjk_font._face_index(noto))
    subsetter = subset.Subsetter(subset.Options())
    subsetter.populate(text=text + "".join(map(chr, range(0x20, 0x7F))))
    subsetter.subset(font)
    for record in font["name"].names:
        if record.nameID in (1, 3, 4, 6, 16, 17):
            record.string = "CivicloopTestHan" if record.nameID == 6 else "Civicloop Test Han"
    font.save(str(path))
    return path


def test_the_xlsx_charts_fall_back_to_any_installed_cjk_font(
    sqlite_month: tuple[History, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No Noto Sans CJK (so no PDF), but another Chinese font is installed: the XLSX report is written."""
    import matplotlib.pyplot as plt

    import civicloop.kpi.report as report
    from civicloop.kpi import fonts as cjk_font

    fonts = tmp_path / "fonts"
    fonts.mkdir()
    other = _another_cjk_font(fonts / "fallback-han.otf")
    monkeypatch.delenv("CIVICLOOP_CJK_FONT", raising=False)
    monkeypatch.setenv("FONTCONFIG_FILE", str(_fontconfig(tmp_path, fonts)))
    monkeypatch.setattr(cjk_font, "FONT_CANDIDATES", ())
    with pytest.raises(FontMissing, match="fonts-noto-cjk"):
        report.check_fonts("pdf")  # the PDF embeds Noto Sans CJK: still said at once
    assert cjk_font.find_chart_font() == other
    path = make_report(sqlite_month[0].city, NOV, "xlsx", tmp_path / "report.xlsx")
    assert plt.rcParams["font.sans-serif"][0] == "Civicloop Test Han"  # the charts were drawn with it
    assert len(load_workbook(path)["图表 Charts"]._images) == 4


def test_a_font_that_has_no_chinese_is_not_taken_for_the_charts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from civicloop.kpi import fonts as cjk_font

    fonts = tmp_path / "fonts"
    fonts.mkdir()
    dejavu = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
    if not dejavu.is_file():
        pytest.skip("needs DejaVu Sans (Debian fonts-dejavu-core) as the Latin-only font")
    (fonts / "DejaVuSans.ttf").write_bytes(dejavu.read_bytes())
    monkeypatch.delenv("CIVICLOOP_CJK_FONT", raising=False)
    monkeypatch.setenv("FONTCONFIG_FILE", str(_fontconfig(tmp_path, fonts)))
    monkeypatch.setattr(cjk_font, "FONT_CANDIDATES", ())
    assert not cjk_font.covers_cjk(fonts / "DejaVuSans.ttf")
    with pytest.raises(FontMissing, match="apt-get install fonts-noto-cjk"):
        cjk_font.find_chart_font()  # fc-match's best guess for Chinese is DejaVu here: boxes, refused
    monkeypatch.setenv("CIVICLOOP_CJK_FONT", str(fonts))  # a folder of fonts: none of them Chinese
    with pytest.raises(FontMissing, match="apt-get install fonts-noto-cjk"):
        cjk_font.find_chart_font()


@pytest.mark.parametrize("fmt", ["xlsx", "pdf", "html"])
def test_without_a_cjk_font_every_format_stops_before_any_work(
    sqlite_month: tuple[History, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    import civicloop.kpi.report as report

    empty = tmp_path / "no-fonts"
    empty.mkdir()
    monkeypatch.setenv("CIVICLOOP_CJK_FONT", str(empty))
    monkeypatch.setenv("FONTCONFIG_FILE", str(_fontconfig(tmp_path, empty)))

    def no_work(*args: object, **kwargs: object) -> None:
        raise AssertionError("the report was computed before the font was checked")

    monkeypatch.setattr(report, "build_report", no_work)
    with pytest.raises(FontMissing, match="apt-get install fonts-noto-cjk"):
        make_report(sqlite_month[0].city, NOV, fmt, tmp_path / f"r.{fmt}")
    assert not (tmp_path / f"r.{fmt}").exists()


def test_a_folder_named_by_the_variable_is_searched_for_a_cjk_font(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from civicloop.kpi import fonts as cjk_font

    fonts = tmp_path / "fonts"
    fonts.mkdir()
    other = _another_cjk_font(fonts / "b-han.otf")
    (fonts / "a-notes.txt").write_text("not a font", encoding="utf-8")
    (fonts / "a-broken.ttf").write_bytes(b"\x00\x01\x00\x00 not really")
    monkeypatch.setenv("CIVICLOOP_CJK_FONT", str(fonts))
    assert cjk_font.find_cjk_font() == other and cjk_font.find_chart_font() == other
