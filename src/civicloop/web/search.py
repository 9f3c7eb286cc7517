"""The case search's read model (案卷查询): one row per case, with names in the reader's language, and the
export of a whole result as CSV or XLSX with localized headers.

The selection itself is :meth:`civicloop.cases.service.CaseService.find`; this module only shapes rows.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from civicloop.cases.core import CaseState, due_at
from civicloop.city.service import City
from civicloop.kernel.i18n import t

#: The columns of a row, in the export's order (header = ``search.col.<key>``).
COLUMNS = (
    "case_id", "stage", "light", "overdue", "category", "department", "district", "street", "community",
    "grid", "channel", "urgency", "description", "address", "created_at", "deadline", "due_at",
    "updated_at", "closed_at", "rework_count",
)  # fmt: skip

LIGHTS = ("green", "yellow", "red")
SORTS = ("created", "deadline", "updated", "light")


class Names:
    """Department, district and category names of a city in one language (looked up once per export)."""

    def __init__(self, city: City, locale: str) -> None:
        en = locale == "en"
        p = city.profile
        self.departments = {d.id: (d.name_en if en and d.name_en else d.name) for d in p.departments}
        self.districts = {d.code: (d.name_en if en and d.name_en else d.name) for d in p.districts}
        self.categories = {c.code: (c.name_en if en and c.name_en else c.name) for c in p.categories}

    def category(self, code: str | None) -> str | None:
        return None if code is None else self.categories.get(code, code)

    def department(self, dept: str | None) -> str | None:
        return None if dept is None else self.departments.get(dept, dept)

    def district(self, code: str | None) -> str | None:
        return None if code is None else self.districts.get(code, code)


def row(city: City, s: CaseState, now: datetime, names: Names) -> dict[str, Any]:
    """One search result: the codes (for links and filters) and their names."""
    verdict = s.verdict(city.calendar, now)
    return {
        "case_id": s.case_id,
        "stage": s.stage.value,
        "light": verdict.light.value if verdict else None,
        "overdue": bool(verdict and verdict.overdue),
        "category_code": s.category_code,
        "category_name": names.category(s.category_code),
        "department_id": s.department_id,
        "department_name": names.department(s.department_id),
        "district_code": s.district_code,
        "district_name": names.district(s.district_code),
        "street_code": s.street_code,
        "community_code": s.community_code,
        "grid_code": s.grid_code,
        "channel": s.channel.value,
        "urgency": s.urgency.value,
        "description": s.description,
        "address": s.address,
        "created_at": s.created_at,
        "deadline": s.deadline,
        "due_at": due_at(s),
        "updated_at": s.updated_at,
        "closed_at": s.closed_at,
        "rework_count": s.rework_count,
    }


def _cells(r: dict[str, Any], locale: str, tz: ZoneInfo) -> list[Any]:
    """A row as the export shows it: labels in *locale*, times in the city's time zone."""

    def when(value: datetime | None) -> str:
        return value.astimezone(tz).strftime("%Y-%m-%d %H:%M") if value else ""

    yes, no = t("search.yes", locale), t("search.no", locale)
    return [
        r["case_id"],
        t(f"vocabulary.{r['stage']}", locale),
        t(f"search.light.{r['light']}", locale) if r["light"] else "",
        yes if r["overdue"] else no,
        " ".join(v for v in (r["category_code"], r["category_name"]) if v),
        r["department_name"] or "",
        r["district_name"] or "",
        r["street_code"] or "",
        r["community_code"] or "",
        r["grid_code"] or "",
        t(f"vocabulary.{r['channel']}", locale),
        t(f"vocabulary.{r['urgency']}", locale),
        r["description"] or "",
        r["address"] or "",
        when(r["created_at"]),
        when(r["deadline"]),
        when(r["due_at"]),
        when(r["updated_at"]),
        when(r["closed_at"]),
        r["rework_count"],
    ]


#: A cell starting with one of these is a formula to a spreadsheet program (CSV/formula injection): a
#: reporter's text must never run in the office that exports it.
_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def _text_cell(value: Any) -> Any:
    """CSV: a leading apostrophe makes a formula-looking text inert (OWASP's advice)."""
    return "'" + value if isinstance(value, str) and value.startswith(_FORMULA) else value


def headers(locale: str) -> list[str]:
    return [t(f"search.col.{c}", locale) for c in COLUMNS]


def to_csv(rows: Iterable[dict[str, Any]], locale: str, tz: ZoneInfo) -> bytes:
    """UTF-8 with a byte-order mark, so that spreadsheet programs read the Chinese text right."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(headers(locale))
    for r in rows:
        writer.writerow([_text_cell(v) for v in _cells(r, locale, tz)])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def to_xlsx(rows: Iterable[dict[str, Any]], locale: str, tz: ZoneInfo) -> bytes:
    from openpyxl import Workbook  # type: ignore[import-untyped]
    from openpyxl.cell import WriteOnlyCell  # type: ignore[import-untyped]
    from openpyxl.styles import Font  # type: ignore[import-untyped]

    wb = Workbook(write_only=True)
    ws = wb.create_sheet(t("search.sheet", locale))
    ws.freeze_panes = "B2"
    bold = Font(bold=True)
    head = []
    for text in headers(locale):
        cell = WriteOnlyCell(ws, value=text)
        cell.font = bold
        head.append(cell)
    ws.append(head)
    for r in rows:
        cells = []
        for value in _cells(r, locale, tz):
            cell = WriteOnlyCell(ws, value=value)
            if isinstance(value, str) and value.startswith("="):
                cell.data_type = "s"  # openpyxl would write it as a formula
            cells.append(cell)
        ws.append(cells)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
