"""The assessment as an XLSX workbook (openpyxl) or PDF (ReportLab, Noto Sans CJK embedded), in the reader's
locale (``ledger.report.*`` in the catalogue; default Chinese, as the bureau files it).

**The font.** Debian's ``fonts-noto-cjk`` ships Noto Sans CJK as OpenType collections with CFF outlines,
which ReportLab cannot embed. So the characters the document uses are subset from the collection with
fontTools and their outlines converted to TrueType (quadratic) curves in memory; ReportLab embeds that
subset. ``CIVICLOOP_CJK_FONT`` may name another font file (a .ttc/.otf/.ttf with Chinese glyphs). Without
a font the export fails with a message saying what to install; it never writes boxes instead of text.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from civicloop.kernel.i18n import current_locale, normalise_locale, t
from civicloop.kpi import fonts as cjk_font
from civicloop.ledger.assessment import Assessment, UnitResult
from civicloop.ledger.models import UNIT_KINDS, LedgerError
from civicloop.ledger.scoring import STATUS_LABELS


class FontMissing(LedgerError):
    pass


def find_cjk_font() -> Path:
    try:
        return cjk_font.find_cjk_font()
    except cjk_font.FontMissing as exc:
        raise FontMissing(str(exc)) from exc


def register_cjk_font(text: str) -> str:
    try:
        return cjk_font.register_cjk_font(text)
    except cjk_font.FontMissing as exc:
        raise FontMissing(str(exc)) from exc


# ---------------------------------------------------------------------------------------------------
# Table content shared by both formats
# ---------------------------------------------------------------------------------------------------

_RANK = ("unit_kind", "rank", "unit", "score", "grade", "deduction", "coverage", "with_data")
_DETAIL = ("unit", "indicator", "source", "target", "actual", "status", "weight", "score", "evidence")
_NOTE = ("unit", "inspected_on", "inspector", "indicator", "note", "deduction")


def _loc(locale: str | None) -> str:
    return current_locale() if locale is None else normalise_locale(locale)


def _header(columns: tuple[str, ...], locale: str | None) -> list[str]:
    return [t(f"ledger.report.columns.{c}", _loc(locale)) for c in columns]


def rank_header(locale: str | None = None) -> list[str]:
    return _header(_RANK, locale)


def detail_header(locale: str | None = None) -> list[str]:
    return _header(_DETAIL, locale)


def note_header(locale: str | None = None) -> list[str]:
    return _header(_NOTE, locale)


#: The headings in Chinese (as the bureau files the report); ``rank_header(locale)`` for another locale.
RANK_HEADER = rank_header("zh-CN")
DETAIL_HEADER = detail_header("zh-CN")
NOTE_HEADER = note_header("zh-CN")


def _fmt(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _pick(labels: tuple[str, str], locale: str) -> str:
    """The (Chinese, English) label in *locale*."""
    return labels[1] if locale == "en" else labels[0]


def rank_rows(a: Assessment, locale: str | None = None) -> list[list[str]]:
    loc = _loc(locale)
    rows = []
    for u in a.units:
        s = u.score
        with_data = sum(1 for r in u.targets if r.score.status != "no_data")
        rows.append(
            [
                _pick(UNIT_KINDS.get(u.unit.kind, (u.unit.kind, u.unit.kind)), loc),
                "—" if u.rank is None else f"{u.rank}/{u.ranked}",
                u.unit.name,
                _pick(STATUS_LABELS["no_data"], loc) if s.score is None else _fmt(s.score),
                u.grade or "—",
                _fmt(s.deductions, 1) if s.deductions else "",
                "—" if s.coverage is None else f"{s.coverage * 100:.0f}%",
                f"{with_data}/{len(u.targets)}",
            ]
        )
    return rows


def detail_rows(u: UnitResult, records: int = 10, locale: str | None = None) -> list[list[str]]:
    loc = _loc(locale)
    rows = []
    for r in u.targets:
        s = r.score
        rows.append(
            [
                u.unit.name,
                r.label(loc),
                r.source.label(loc),
                r.target_text(loc),
                r.actual_text(loc),
                _pick(STATUS_LABELS[s.status], loc),
                f"{r.weight:g}",
                "—" if s.points is None else f"{s.points:.2f}",
                r.evidence_text(records, loc),
            ]
        )
    return rows


def note_rows(a: Assessment) -> list[list[str]]:
    rows = []
    for u in a.units:
        for n in u.inspections:
            rows.append(
                [
                    u.unit.name,
                    n.inspected_on.isoformat(),
                    n.inspector,
                    n.indicator or "",
                    n.note,
                    f"{n.deduction:g}",
                ]
            )
    return rows


def title(a: Assessment, locale: str | None = None) -> str:
    return t("ledger.report.title", _loc(locale), city=a.city_name, period=a.period.label)


def _period_line(a: Assessment, loc: str, key: str = "period_line") -> str:
    at = f"{a.generated_at:%Y-%m-%d %H:%M}"
    return t(f"ledger.report.{key}", loc, first=a.period.first_day, last=a.period.last_day, at=at)


# ---------------------------------------------------------------------------------------------------
# XLSX
# ---------------------------------------------------------------------------------------------------


def write_xlsx(a: Assessment, path: Path, locale: str | None = None) -> None:
    """排名 (ranking), 指标明细 (every target with its evidence), 检查记录, 计分规则."""
    loc = _loc(locale)
    from openpyxl import Workbook  # type: ignore[import-untyped, unused-ignore]
    from openpyxl.styles import Alignment, Font  # type: ignore[import-untyped, unused-ignore]

    path.parent.mkdir(parents=True, exist_ok=True)
    wb = Workbook()
    bold = Font(bold=True)

    def sheet(
        name: str, header: list[str], rows: Iterable[list[Any]], widths: list[int], first: bool = False
    ) -> None:
        ws = wb.active if first else wb.create_sheet()
        assert ws is not None
        ws.title = name
        ws.append(header)
        for c in ws[1]:
            c.font = bold
        for r in rows:
            ws.append(r)
        for i, w in enumerate(widths, start=1):
            ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = w
        ws.freeze_panes = "A2"

    ws0 = wb.active
    assert ws0 is not None
    sheet(
        t("ledger.report.sheet_ranking", loc), rank_header(loc), [], [12, 8, 36, 8, 6, 6, 10, 14], first=True
    )
    ws0.insert_rows(1, 2)
    ws0["A1"] = title(a, loc)
    ws0["A1"].font = Font(bold=True, size=14)
    ws0["A2"] = _period_line(a, loc)
    ws0.freeze_panes = "A4"
    for r in rank_rows(a, loc):
        ws0.append([_number(v) for v in r])
    details = [row for u in a.units for row in detail_rows(u, locale=loc)]
    sheet(
        t("ledger.report.sheet_details", loc),
        detail_header(loc),
        ([_number(v) for v in r] for r in details),
        [30, 26, 10, 16, 16, 10, 6, 8, 90],
    )
    detail_ws = wb[t("ledger.report.sheet_details", loc)]
    for (c,) in detail_ws.iter_rows(min_row=2, min_col=9, max_col=9):
        c.alignment = Alignment(wrap_text=True, vertical="top")
    sheet(t("ledger.report.sheet_notes", loc), note_header(loc), note_rows(a), [30, 12, 12, 20, 60, 6])
    rules_header = [t("ledger.report.rule", loc), t("ledger.report.explanation", loc)]
    sheet(t("ledger.report.sheet_rules", loc), rules_header, ([k, v] for k, v in a.rules.items()), [14, 140])
    wb.save(path)


def _number(value: str) -> Any:
    """Scores and weights as numbers in the workbook, everything else as text."""
    try:
        return float(value) if value and value[0].isdigit() and value.replace(".", "", 1).isdigit() else value
    except ValueError:
        return value


# ---------------------------------------------------------------------------------------------------
# PDF
# ---------------------------------------------------------------------------------------------------


def write_pdf(a: Assessment, path: Path, locale: str | None = None) -> None:
    """A4 landscape: title, ranking, each unit's targets with evidence, inspection notes, the rules."""
    loc = _loc(locale)
    from reportlab.lib import colors  # type: ignore[import-untyped, unused-ignore]
    from reportlab.lib.pagesizes import A4, landscape  # type: ignore[import-untyped, unused-ignore]
    from reportlab.lib.styles import ParagraphStyle  # type: ignore[import-untyped, unused-ignore]
    from reportlab.lib.units import mm  # type: ignore[import-untyped, unused-ignore]
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle  # type: ignore[import-untyped, unused-ignore]

    ranks = rank_rows(a, loc)
    notes = note_rows(a)
    per_unit = [(u, detail_rows(u, records=5, locale=loc)) for u in a.units]
    heading = title(a, loc)
    subtitle = _period_line(a, loc, "period_line_pdf")
    sections = [t(f"ledger.report.section_{s}", loc) for s in ("ranking", "details", "notes", "rules")]
    none = t("ledger.report.none", loc)
    rank_head, detail_head, note_head = rank_header(loc), detail_header(loc), note_header(loc)
    unit_headings = {}
    for u in a.units:
        s = u.score
        unit_headings[u.unit.unit_id] = t(
            "ledger.report.unit_heading",
            loc,
            unit=u.unit.name,
            kind=u.unit.kind_label(loc),
            score=_pick(STATUS_LABELS["no_data"], loc) if s.score is None else f"{s.score:.2f}",
            grade=u.grade or "—",
            coverage="—" if s.coverage is None else f"{s.coverage * 100:.0f}%",
        )
    texts = [heading, subtitle, *sections, none, t("ledger.report.page", loc, page="0123456789")]
    texts += [c for r in ranks for c in r] + rank_head + detail_head + note_head
    texts += [c for _, rows in per_unit for r in rows for c in r] + [c for r in notes for c in r]
    texts += list(unit_headings.values()) + list(a.rules.values())
    font = register_cjk_font("".join(texts))

    base = ParagraphStyle("base", fontName=font, fontSize=8, leading=10.5, wordWrap="CJK")
    h1 = ParagraphStyle("h1", parent=base, fontSize=16, leading=22, spaceAfter=4)
    h2 = ParagraphStyle("h2", parent=base, fontSize=12, leading=16, spaceBefore=8, spaceAfter=4)
    h3 = ParagraphStyle("h3", parent=base, fontSize=10, leading=13, spaceBefore=6, spaceAfter=2)
    small = ParagraphStyle("small", parent=base, fontSize=7, leading=9)

    def table(header: list[str], rows: list[list[str]], widths: list[float], style: ParagraphStyle) -> Table:
        data = [[Paragraph(_escape(h), style) for h in header]]
        data += [[Paragraph(_escape(c), style) for c in r] for r in rows]
        t = Table(data, colWidths=[w * mm for w in widths], repeatRows=1)
        t.setStyle(
            TableStyle(
                [
                    ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
                    ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8eef5")),
                    ("VALIGN", (0, 0), (-1, -1), "TOP"),
                    ("LEFTPADDING", (0, 0), (-1, -1), 2),
                    ("RIGHTPADDING", (0, 0), (-1, -1), 2),
                ]
            )
        )
        return t

    story: list[Any] = [
        Paragraph(_escape(heading), h1),
        Paragraph(_escape(subtitle), base),
        Spacer(1, 4 * mm),
    ]
    story.append(Paragraph(_escape(sections[0]), h2))
    story.append(table(rank_head, ranks, [26, 16, 90, 18, 12, 12, 22, 26], base))
    story.append(Paragraph(_escape(sections[1]), h2))
    for u, rows in per_unit:
        story.append(Paragraph(_escape(unit_headings[u.unit.unit_id]), h3))
        story.append(table(detail_head[1:], [r[1:] for r in rows], [38, 16, 24, 24, 16, 10, 12, 127], small))
    story.append(Paragraph(_escape(sections[2]), h2))
    if notes:
        story.append(table(note_head, notes, [60, 20, 20, 30, 125, 12], base))
    else:
        story.append(Paragraph(_escape(none), base))
    story.append(Paragraph(_escape(sections[3]), h2))
    for text in a.rules.values():
        story.append(Paragraph(_escape(text), base))

    def footer(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(font, 7)
        canvas.drawRightString(doc.pagesize[0] - 12 * mm, 8 * mm, t("ledger.report.page", loc, page=doc.page))
        canvas.restoreState()

    path.parent.mkdir(parents=True, exist_ok=True)
    doc = SimpleDocTemplate(
        str(path),
        pagesize=landscape(A4),
        leftMargin=12 * mm,
        rightMargin=12 * mm,
        topMargin=12 * mm,
        bottomMargin=14 * mm,
        title=heading,
        author="civicloop",
    )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
