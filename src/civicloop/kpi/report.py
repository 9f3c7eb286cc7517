"""The monthly evaluation report (综合评价通报): KPI tables, rankings, charts — as xlsx, PDF or HTML.

One :class:`ReportData` (tables and charts, both languages' labels) is built from the KPI engine, the
asset rates and the analysis, then rendered three ways:

* **xlsx** (openpyxl): one sheet per table, the charts on their own sheet;
* **PDF** (ReportLab): the same tables and charts, Chinese or English, with an *embedded* CJK font. The
  font is Noto Sans CJK from Debian's ``fonts-noto-cjk`` (found with ``fc-match`` or at the usual
  paths, or named by ``CIVICLOOP_CJK_FONT``). Its outlines are PostScript (CFF), which ReportLab cannot
  embed, so the glyphs the report uses are subset and converted to TrueType outlines with fontTools first;
* **HTML**: one self-contained page, charts inlined as PNG.

Charts are drawn with Matplotlib (Agg) to PNG: the daily trend, the category mix, the on-time closure
rate by department and a hotspot map of the period's reports.
"""

from __future__ import annotations

import base64
import html
import io
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

from civicloop.kernel.i18n import Localized, Msg, both, t
from civicloop.kpi.analysis import Analyst
from civicloop.kpi.assets import asset_summary
from civicloop.kpi.core import CATALOGUE, Period
from civicloop.kpi.engine import GROUPINGS, Evaluation, GroupRow, KpiEngine
from civicloop.kpi.fonts import FontMissing as FontMissing
from civicloop.kpi.fonts import find_chart_font, find_cjk_font, register_cjk_font

FORMATS = ("xlsx", "pdf", "html")


# ---- data --------------------------------------------------------------------------------------


@dataclass
class Column:
    key: str
    heading: str  # its catalogue key
    kind: str = "text"  # text | int | rate | float

    def label(self, locale: str) -> str:
        return t(self.heading, locale)


@dataclass
class ReportTable:
    sheet: str  # sheet name (≤ 31 characters)
    heading: Msg
    columns: list[Column]
    rows: list[dict[str, Any]]
    remark: Msg | None = None

    def title(self, locale: str) -> str:
        return self.heading.render(locale)

    def note(self, locale: str) -> str:
        return "" if self.remark is None else self.remark.render(locale)


@dataclass
class Chart:
    key: str  # its title is the catalogue's kpi.report.charts.<key>
    png: bytes

    def title(self, locale: str) -> str:
        return t(f"kpi.report.charts.{self.key}", locale)


@dataclass
class ReportData:
    city_name: str
    city_name_en: str
    period: Period
    locale: str
    tables: list[ReportTable] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)
    generated_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    source: str = ""

    @property
    def title(self) -> str:
        city = Localized(self.city_name, self.city_name_en)
        return Msg("kpi.report.title", city=city, period=self.period.label).render(self.locale)

    def table(self, sheet: str) -> ReportTable:
        return next(t for t in self.tables if t.sheet == sheet)


def sheet_name(name: str) -> str:
    """A sheet's name, the same in every locale: ``概览 Summary`` (kpi.report.sheets.<name>)."""
    key = f"kpi.report.sheets.{name}"
    return f"{t(key, 'zh-CN')} {t(key, 'en')}"


def _col(key: str, kind: str = "text") -> Column:
    return Column(key, f"kpi.report.columns.{key}", kind)


def _kpi_col(key: str, kind: str | None = None) -> Column:
    d = CATALOGUE[key]
    return Column(
        key,
        f"kpi.names.{key}",
        kind or ("rate" if d.kind == "rate" else "float" if d.kind == "average" else "int"),
    )


_RANK_COLS = [_col("rank", "int"), _col("previous_rank", "int"), _col("rank_change", "int")]
_NAME = _col("name")
_SCORE = [_kpi_col("score", "float"), _kpi_col("grade", "text")]

#: grouping → its KPI columns (the sheet's name is kpi.report.sheets.<grouping>, its title
#: kpi.report.tables.<grouping>)
_TABLE_SPEC: dict[str, list[str]] = {
    "department": ["filed", "dispatches", "handled", "due_to_close", "closed", "closure_rate",
                   "on_time_closure_rate", "on_time_handling_rate", "rework_rate", "wrong_dispatches",
                   "extensions", "overdue_unhandled", "satisfaction_rate", "callback_rate"],
    "district": ["reports", "filed", "supervision_report_rate", "due_to_close", "closed", "closure_rate",
                 "on_time_closure_rate", "overdue_unhandled", "satisfaction_rate", "callback_rate"],
    "street": ["reports", "filed", "closure_rate", "on_time_closure_rate"],
    "inspector": ["reports", "valid_reports", "valid_report_rate", "missed_report_rate",
                  "on_time_verify_rate", "on_time_check_rate"],
    "operator": ["accepted", "on_time_verify_dispatch_rate", "on_time_check_dispatch_rate"],
    "shift_leader": ["filed", "on_time_filing_rate", "filing_accuracy_rate", "on_time_closing_rate"],
    "dispatcher": ["dispatches", "on_time_dispatch_rate", "accurate_dispatches", "dispatch_accuracy_rate",
                   "wrong_dispatches"],
    "category": ["reports", "filed", "handled", "closed", "closure_rate", "on_time_closure_rate",
                 "avg_handling_hours"],
}  # fmt: skip

SUMMARY_KPIS = [
    "reports", "valid_reports", "filed", "dispatches", "handled", "due_to_close", "closed", "closed_on_time",
    "closure_rate", "on_time_closure_rate", "handling_rate", "on_time_handling_rate", "problem_handling_rate",
    "rework", "rework_cases", "rework_rate", "wrong_dispatches", "accurate_dispatches",
    "dispatch_accuracy_rate", "extensions", "suspensions", "voided", "accurate_filings",
    "filing_accuracy_rate", "on_time_filing_rate", "on_time_verify_rate", "on_time_check_rate",
    "avg_handling_hours", "overdue_unhandled", "open_green", "open_yellow", "open_red",
    "rated_closures", "satisfied_closures", "contact_closures", "contact_callbacks", "satisfaction_rate",
    "callback_rate",
]  # fmt: skip


def _row_values(row: GroupRow, keys: Sequence[str], locale: str) -> dict[str, Any]:
    out: dict[str, Any] = {
        "group": row.key,
        "name": row.name or row.key or t("kpi.report.no_department", locale),
    }
    for k in keys:
        out[k] = row.rates[k] if k in row.rates else row.counters.get(k)
    if row.score is not None:
        out["score"] = row.score.score
        out["grade"] = row.score.grade
        out["rank"] = row.rank
        out["previous_rank"] = row.previous_rank
        out["rank_change"] = row.rank_change
    return out


def build_report(
    city: Any, period: Period, *, locale: str = "zh-CN", engine: KpiEngine | None = None, max_rows: int = 200
) -> ReportData:
    """Compute everything the report shows for *period* (all groupings, previous-period ranks)."""
    own = engine is None
    kpi = engine or KpiEngine.for_city(city)
    try:
        evaluation = kpi.evaluate(period, GROUPINGS, previous=True)
        analyst = Analyst(kpi.source, city.id, city.profile.timezone, city.engine)
        # one read of the report events for everything below: this period, the one before (hotspot
        # change) and the forecast's weeks
        analyst.cover(min(period.previous().start, period.end - timedelta(weeks=14)), period.end)
        data = _assemble(city, period, locale, evaluation, analyst, kpi, max_rows)
        data.source = kpi.source.description
        return data
    finally:
        if own:
            kpi.close()


def _assemble(
    city: Any,
    period: Period,
    locale: str,
    ev: Evaluation,
    analyst: Analyst,
    kpi: KpiEngine,
    max_rows: int,
) -> ReportData:
    profile = city.profile
    data = ReportData(profile.name, profile.name_en or profile.id, period, locale)
    city_row = ev["city"].row("city")
    summary_rows = []
    for k in SUMMARY_KPIS:
        d = CATALOGUE[k]
        v = city_row.rates[k] if k in city_row.rates else city_row.counters.get(k)
        summary_rows.append(
            {"kpi": k, "name": d.label(locale), "value": v, "formula": d.formula, "kind": d.kind}
        )
    data.tables.append(
        ReportTable(
            sheet_name("summary"),
            Msg("kpi.report.tables.summary"),
            [
                Column("name", "kpi.report.columns.kpi"),
                _col("value", "auto"),
                _col("formula"),
            ],
            summary_rows,
            Msg("kpi.report.notes.summary"),
        )
    )
    for grouping, keys in _TABLE_SPEC.items():
        g = ev[grouping]
        rows = [_row_values(r, keys, locale) for r in g.rows][:max_rows]
        cols = [_NAME] + [_kpi_col(k) for k in keys]
        if any(r.score is not None for r in g.rows):
            cols = _RANK_COLS[:1] + cols + _SCORE + _RANK_COLS[1:]
        data.tables.append(
            ReportTable(sheet_name(grouping), Msg(f"kpi.report.tables.{grouping}"), cols, rows)
        )
    assets = asset_summary(city.engine, city.id, period, profile.kpi.targets)
    asset_rows = []
    for kpi_key, rows in assets.items():
        name = "kpi.report.asset_kpis." + (
            "light_on_rate" if kpi_key == "light_on_rate" else "facility_intact_rate"
        )
        for r in rows:
            asset_rows.append(
                {
                    "kpi": t(name, "zh-CN"),
                    "kpi_en": t(name, "en"),
                    "district_code": r["district_code"] or t("kpi.report.whole_city", locale),
                    "road_class": r["road_class"] or "",
                    "rate": r["rate"],
                    "status": r["status"] if r["status"] != "no data" else t("kpi.report.no_data", locale),
                    "target": r["target"],
                }
            )
    data.tables.append(
        ReportTable(
            sheet_name("assets"),
            Msg("kpi.report.tables.assets"),
            [
                Column("kpi" if not locale.startswith("en") else "kpi_en", "kpi.report.columns.kpi"),
                Column("district_code", "kpi.report.columns.district"),
                _col("road_class"),
                _col("rate", "rate"),
                _col("target", "rate"),
                _col("status"),
            ],
            asset_rows,
            Msg("kpi.report.notes.assets"),
        )
    )
    level = _hotspot_level(analyst, period)
    hot = analyst.hotspots(period, level=level, top=20)
    cat_name = _category_names(profile)
    data.tables.append(
        ReportTable(
            sheet_name("hotspots"),
            Msg("kpi.report.tables.hotspots"),
            [
                _col("area"),
                _col("category"),
                _col("cases", "int"),
                _col("previous", "int"),
                _col("change", "int"),
                _col("per_km2", "float"),
            ],
            [{**h, "category": cat_name(h["category_code"])} for h in hot],
        )
    )
    fc = analyst.forecast(period.end, weeks=12, top=15)
    err = fc["errors"][fc["method"]]
    data.tables.append(
        ReportTable(
            sheet_name("forecast"),
            Msg("kpi.report.tables.forecast", week=fc["week_starting"]),
            [
                Column("district_code", "kpi.report.columns.district"),
                _col("category"),
                _col("last_week", "int"),
                _col("forecast", "float"),
            ],
            [
                {
                    "district_code": s["district_code"],
                    "category": cat_name(s["category_code"]),
                    "last_week": s["history"][-1] if s["history"] else 0,
                    "forecast": s["forecast"],
                }
                for s in fc["series"]
            ],
            Msg(
                "kpi.report.notes.forecast",
                method=Msg(f"kpi.report.forecast_methods.{fc['method']}"),
                mae=_fmt_float(err["mae"]),
                mape=_fmt_rate(err["mape"]),
                weeks=fc["history_weeks"],
            ),
        )
    )
    data.charts = charts(city, period, locale, ev, analyst)
    return data


def _hotspot_level(analyst: Analyst, period: Period) -> str:
    analyst._load(period.start, period.end)
    n = analyst.source.con.execute("SELECT count(grid_code) FROM an_reports").fetchone()
    return "grid" if n is not None and n[0] else "district"


def _category_names(profile: Any) -> Callable[[str | None], str]:
    def name(code: str | None) -> str:
        if code is None:
            return ""
        try:
            return f"{code} {profile.category(code).name}"
        except KeyError:
            return code

    return name


# ---- charts ------------------------------------------------------------------------------------


def _font_file() -> Path:
    """The charts' font: Noto Sans CJK (fonts-noto-cjk), CIVICLOOP_CJK_FONT, or any installed CJK font."""
    return find_chart_font()


def check_fonts(fmt_name: str) -> None:
    """FontMissing (with the package to install) unless the fonts *fmt_name* needs are there.

    Every format draws charts with Chinese labels (any CJK font does); the PDF also embeds Noto Sans CJK.
    Called before any work, so a missing font costs nothing but the message.
    """
    if fmt_name == "pdf":
        find_cjk_font()  # which the charts take too
    else:
        _font_file()


def _matplotlib(font: Path) -> Any:
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import font_manager
    from matplotlib import pyplot as plt

    font_manager.fontManager.addfont(str(font))
    names = [f.name for f in font_manager.fontManager.ttflist if f.fname == str(font)]
    preferred = [n for n in names if n.endswith("SC")] or names
    plt.rcParams["font.family"] = "sans-serif"
    plt.rcParams["font.sans-serif"] = [*preferred, "DejaVu Sans"]
    plt.rcParams["axes.unicode_minus"] = False
    return plt


def _png(fig: Any) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return buf.getvalue()


def charts(city: Any, period: Period, locale: str, ev: Evaluation, analyst: Analyst) -> list[Chart]:
    plt = _matplotlib(_font_file())
    out: list[Chart] = []
    con = analyst.source.con
    # 1. daily trend: reports, filed, closed per local day
    start = period.start.astimezone(UTC).replace(tzinfo=None)
    end = period.end.astimezone(UTC).replace(tzinfo=None)
    rows = con.execute(
        'SELECT CAST(timezone($tz, CAST("at" AS TIMESTAMPTZ)) AS DATE) AS d, action, count(*) '
        'FROM raw_events WHERE city_id = $city AND "at" >= $start AND "at" < $end '
        "AND action IN ('report', 'file', 'close') "
        "GROUP BY ALL ORDER BY 1",
        {"tz": period.timezone, "city": city.id, "start": start, "end": end},
    ).fetchall()
    series: dict[str, dict[Any, int]] = {"report": {}, "file": {}, "close": {}}
    for d, action, n in rows:
        series[action][d] = n
    days = sorted({d for s in series.values() for d in s})
    fig, ax = plt.subplots(figsize=(8, 3.2))
    for action, values in series.items():
        name = t(f"kpi.report.charts.series.{action}", locale)
        ax.plot(days, [values.get(d, 0) for d in days], label=name, linewidth=1.6)
    ax.set_ylabel(t("kpi.report.charts.axis_cases", locale))
    ax.legend(loc="upper left", fontsize=8)
    ax.grid(alpha=0.3)
    fig.autofmt_xdate()
    out.append(Chart("trend", _png(fig)))
    # 2. category mix
    cats = sorted(
        (r for r in ev["category"].rows if r.key is not None), key=lambda r: -r.counters.get("reports", 0)
    )[:10]
    fig, ax = plt.subplots(figsize=(8, 3.6))
    labels = [f"{r.key} {r.name or ''}"[:14] for r in cats][::-1]
    ax.barh(labels, [r.counters.get("reports", 0) for r in cats][::-1], color="#3b7dd8")
    ax.set_xlabel(t("kpi.report.charts.axis_reports", locale))
    out.append(Chart("categories", _png(fig)))
    # 3. on-time closure rate by department
    deps = [
        r
        for r in ev["department"].rows
        if r.key is not None and r.rates.get("on_time_closure_rate") is not None
    ]
    deps = sorted(deps, key=lambda r: r.rates["on_time_closure_rate"] or 0.0)[-15:]
    fig, ax = plt.subplots(figsize=(8, max(2.5, 0.32 * len(deps) + 1)))
    ax.barh([(r.name or str(r.key))[:16] for r in deps],
            [100 * (r.rates["on_time_closure_rate"] or 0) for r in deps],
            color="#2e9d5b")  # fmt: skip
    target = float(city.profile.kpi.targets.on_time_close_rate) * 100
    ax.axvline(target, color="#c0392b", linestyle="--", linewidth=1)
    ax.set_xlim(0, 100)
    ax.set_xlabel(t("kpi.report.charts.axis_on_time_closure", locale))
    out.append(Chart("on_time_by_department", _png(fig)))
    # 4. hotspot map
    analyst._load(period.start, period.end)
    pts = con.execute("SELECT lon, lat FROM an_reports WHERE lon IS NOT NULL AND lat IS NOT NULL").fetchall()
    fig, ax = plt.subplots(figsize=(6.5, 6))
    for ring in _district_rings(city):
        xs, ys = zip(*ring, strict=True)
        ax.plot(xs, ys, color="#777777", linewidth=0.6)
    if pts:
        xs2, ys2 = zip(*pts, strict=True)
        hb = ax.hexbin(xs2, ys2, gridsize=45, mincnt=1, cmap="YlOrRd", linewidths=0.1)
        fig.colorbar(hb, ax=ax, shrink=0.7, label=t("kpi.report.charts.axis_cases", locale))
        ax.set_xlim(min(xs2) - 0.02, max(xs2) + 0.02)
        ax.set_ylim(min(ys2) - 0.02, max(ys2) + 0.02)
    ax.set_aspect(1.25)
    ax.set_xlabel("lon")
    ax.set_ylabel("lat")
    out.append(Chart("hotspot_map", _png(fig)))
    return out


def _district_rings(city: Any) -> list[list[tuple[float, float]]]:
    """District outlines: the bundled GeoJSON features whose code is one of the profile's districts."""
    codes = {d.code for d in city.profile.districts}
    rings: list[list[tuple[float, float]]] = []
    try:
        folder = resources.files("civicloop.geo") / "data"
        for entry in folder.iterdir():
            if not entry.name.endswith(".geojson"):
                continue
            doc = json.loads(entry.read_text(encoding="utf-8"))
            for f in doc.get("features", []):
                props = f.get("properties") or {}
                if str(props.get("adcode") or props.get("code") or "") not in codes:
                    continue
                geom = f.get("geometry") or {}
                polys = (
                    [geom["coordinates"]] if geom.get("type") == "Polygon" else geom.get("coordinates", [])
                )
                for poly in polys:
                    if poly:
                        rings.append([(float(x), float(y)) for x, y, *_ in poly[0]])
    except (OSError, ValueError, KeyError, TypeError):
        return []
    return rings


# ---- formatting --------------------------------------------------------------------------------


def _fmt_rate(v: Any) -> str:
    return "—" if v is None else f"{100 * float(v):.2f}%"


def _fmt_float(v: Any) -> str:
    return "—" if v is None else f"{float(v):,.2f}"


def fmt(value: Any, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "rate":
        return _fmt_rate(value)
    if kind == "int":
        return f"{round(float(value)):,}" if isinstance(value, int | float) else str(value)
    if kind == "float":
        return _fmt_float(value)
    return str(value)


def _cell(row: dict[str, Any], col: Column) -> Any:
    if col.kind == "auto":
        kind = row.get("kind")
        return fmt(row.get(col.key), "rate" if kind == "rate" else "float" if kind == "average" else "int")
    return fmt(row.get(col.key), col.kind)


# ---- xlsx ---------------------------------------------------------------------------------------


def write_xlsx(data: ReportData, path: Path) -> Path:
    from openpyxl import Workbook  # type: ignore[import-untyped]
    from openpyxl.drawing.image import Image as XlImage  # type: ignore[import-untyped]
    from openpyxl.styles import Alignment, Font, PatternFill  # type: ignore[import-untyped]
    from openpyxl.utils import get_column_letter  # type: ignore[import-untyped]

    wb = Workbook()
    first = wb.active
    assert first is not None
    wb.remove(first)
    loc = data.locale
    bold = Font(bold=True)
    head_fill = PatternFill("solid", fgColor="DDE8F5")
    for table in data.tables:
        ws = wb.create_sheet(table.sheet[:31])
        ws.append([table.title(loc) + f" — {data.period.label}"])
        ws["A1"].font = Font(bold=True, size=13)
        ws.append([c.label(loc) for c in table.columns])
        for i in range(1, len(table.columns) + 1):
            cell = ws.cell(row=2, column=i)
            cell.font = bold
            cell.fill = head_fill
            cell.alignment = Alignment(wrap_text=True)
        for row in table.rows:
            values = []
            for c in table.columns:
                v = row.get(c.key)
                kind = c.kind
                if kind == "auto":
                    kind = "rate" if row.get("kind") == "rate" else "float"
                if isinstance(v, float) and kind == "int" and v.is_integer():
                    v = int(v)
                values.append(v)
            ws.append(values)
            r = ws.max_row
            for i, c in enumerate(table.columns, start=1):
                kind = c.kind if c.kind != "auto" else ("rate" if row.get("kind") == "rate" else "float")
                if kind == "rate":
                    ws.cell(row=r, column=i).number_format = "0.00%"
                elif kind == "float":
                    ws.cell(row=r, column=i).number_format = "0.00"
        if table.note(loc):
            ws.append([])
            ws.append([table.note(loc)])
        for i, c in enumerate(table.columns, start=1):
            width = max(10, min(40, len(c.label(loc)) * 2 + 2))
            ws.column_dimensions[get_column_letter(i)].width = width
        ws.freeze_panes = "A3"
    if data.charts:
        ws = wb.create_sheet(sheet_name("charts"))
        at_row = 1
        for ch in data.charts:
            ws.cell(row=at_row, column=1, value=ch.title(loc)).font = bold
            img = XlImage(io.BytesIO(ch.png))
            ws.add_image(img, f"A{at_row + 1}")
            at_row += int(img.height / 20) + 4
    meta = wb.create_sheet(sheet_name("about"))
    meta.append(["title", data.title])
    meta.append(["period", data.period.label])
    meta.append(["from", data.period.first_day.isoformat()])
    meta.append(["to", data.period.last_day.isoformat()])
    meta.append(["generated_at", data.generated_at.isoformat(timespec="seconds")])
    meta.append(["source", data.source])
    path.parent.mkdir(parents=True, exist_ok=True)
    wb.save(path)
    return path


# ---- PDF ------------------------------------------------------------------------------------------


def write_pdf(data: ReportData, path: Path) -> Path:
    from reportlab.lib import colors  # type: ignore[import-untyped]
    from reportlab.lib.pagesizes import A4, landscape  # type: ignore[import-untyped]
    from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped]
    from reportlab.lib.units import mm  # type: ignore[import-untyped]
    from reportlab.platypus import (  # type: ignore[import-untyped]
        Image,
        KeepTogether,
        PageBreak,
        Paragraph,
        SimpleDocTemplate,
        Spacer,
        Table,
        TableStyle,
    )

    loc = data.locale
    pdf_rows = 40
    generated = t("kpi.report.generated", loc)
    header = (
        f"{data.period.first_day} – {data.period.last_day} · {generated} "
        f"{data.generated_at.isoformat(timespec='minutes')} · {data.source}"
    )
    first_rows = t("kpi.report.notes.first_rows", loc)
    page = t("kpi.report.page", loc, page="0123456789")
    texts: list[str] = [data.title, header, page, "0123456789.,%—–·-:/()"]
    for table in data.tables:
        texts += [table.title(loc), table.note(loc), *(c.label(loc) for c in table.columns)]
        texts += [_cell(r, c) for r in table.rows[:pdf_rows] for c in table.columns]
    texts += [c.title(loc) for c in data.charts]
    texts.append(first_rows)
    text = "".join(texts) + "".join(chr(c) for c in range(32, 127))
    font_name = register_cjk_font(text)
    h1 = ParagraphStyle("h1", fontName=font_name, fontSize=16, leading=22, spaceAfter=6)
    h2 = ParagraphStyle("h2", fontName=font_name, fontSize=12, leading=16, spaceBefore=8, spaceAfter=4)
    body = ParagraphStyle("body", fontName=font_name, fontSize=8, leading=11)
    cell = ParagraphStyle("cell", fontName=font_name, fontSize=7, leading=9)
    story: list[Any] = [Paragraph(html.escape(data.title), h1)]
    story.append(Paragraph(html.escape(header), body))
    page_w = landscape(A4)[0] - 24 * mm
    for table in data.tables:
        story.append(Paragraph(html.escape(table.title(loc)), h2))
        head = [Paragraph(html.escape(c.label(loc)), cell) for c in table.columns]
        body_rows = [
            [Paragraph(html.escape(_cell(r, c)), cell) for c in table.columns] for r in table.rows[:pdf_rows]
        ]
        if not body_rows:
            body_rows = [[Paragraph("—", cell) for _ in table.columns]]
        widths = _widths(table.columns, page_w)
        tbl = Table([head, *body_rows], colWidths=widths, repeatRows=1)
        tbl.setStyle(
            TableStyle(
                [
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#DDE8F5")),
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.HexColor("#999999")),
                    ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                    ("ROWBACKGROUNDS", (0, 1), (-1, -1), [colors.white, colors.HexColor("#F6F8FB")]),
                ]
            )
        )
        story.append(tbl)
        notes = [table.note(loc)] if table.note(loc) else []
        if len(table.rows) > pdf_rows:
            notes.append(first_rows)
        for n in notes:
            story.append(Spacer(1, 2))
            story.append(Paragraph(html.escape(n), body))
    story.append(PageBreak())
    for ch in data.charts:
        img = Image(io.BytesIO(ch.png))
        scale = min(1.0, (page_w * 0.8) / img.drawWidth, (150 * mm) / img.drawHeight)
        img.drawWidth *= scale
        img.drawHeight *= scale
        story.append(KeepTogether([Paragraph(html.escape(ch.title(loc)), h2), img]))

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(font_name, 7)
        label = t("kpi.report.page", loc, page=doc.page)
        canvas.drawRightString(landscape(A4)[0] - 12 * mm, 8 * mm, label)
        canvas.restoreState()

    path.parent.mkdir(parents=True, exist_ok=True)
    doc = SimpleDocTemplate(
        str(path),
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=14 * mm,
        title=data.title,
        author="civicloop",
    )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return path


def _widths(columns: Sequence[Column], total: float) -> list[float]:
    weights = [3.0 if c.key in ("name", "formula", "category", "kpi", "kpi_en") else 1.0 for c in columns]
    s = sum(weights)
    return [total * w / s for w in weights]


# ---- HTML -----------------------------------------------------------------------------------------


def write_html(data: ReportData, path: Path) -> Path:
    loc = data.locale
    e = html.escape
    parts = [
        "<!doctype html>",
        f'<html lang="{e(loc)}"><head><meta charset="utf-8"><title>{e(data.title)}</title>',
        "<style>body{font-family:'Noto Sans CJK SC','Noto Sans',sans-serif;margin:2em;color:#222}"
        "table{border-collapse:collapse;margin:0.5em 0 1.5em;font-size:13px}"
        "th,td{border:1px solid #bbb;padding:3px 8px;text-align:right}th{background:#dde8f5}"
        "td:first-child,th:first-child{text-align:left}.note{color:#555;font-size:12px}</style></head><body>",
        f"<h1>{e(data.title)}</h1>",
        f'<p class="note">{e(str(data.period.first_day))} – {e(str(data.period.last_day))} · '
        f"{e(data.source)}</p>",
    ]
    for table in data.tables:
        parts.append(f"<h2>{e(table.title(loc))}</h2><table><thead><tr>")
        parts += [f"<th>{e(c.label(loc))}</th>" for c in table.columns]
        parts.append("</tr></thead><tbody>")
        for r in table.rows:
            parts.append("<tr>" + "".join(f"<td>{e(_cell(r, c))}</td>" for c in table.columns) + "</tr>")
        parts.append("</tbody></table>")
        if table.note(loc):
            parts.append(f'<p class="note">{e(table.note(loc))}</p>')
    for ch in data.charts:
        b64 = base64.b64encode(ch.png).decode()
        parts.append(f'<h2>{e(ch.title(loc))}</h2><img alt="{e(ch.key)}" src="data:image/png;base64,{b64}">')
    parts.append("</body></html>")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(parts), encoding="utf-8")
    return path


WRITERS: dict[str, Callable[[ReportData, Path], Path]] = {
    "xlsx": write_xlsx,
    "pdf": write_pdf,
    "html": write_html,
}


def make_report(
    city: Any,
    period: Period,
    fmt_name: str,
    output: Path,
    *,
    locale: str = "zh-CN",
    engine: KpiEngine | None = None,
) -> Path:
    """Build and write the report in one format (xlsx | pdf | html)."""
    if fmt_name not in WRITERS:
        raise ValueError(both("kpi.report.unknown_format", format=repr(fmt_name), formats=", ".join(FORMATS)))
    check_fonts(fmt_name)  # fail before the computation when a font is missing
    data = build_report(city, period, locale=locale, engine=engine)
    return WRITERS[fmt_name](data, output)
