"""The case search (案卷查询) of every role, within its scope, and its export.

* ``GET /api/v1/cases/search`` — one page: ``items``, ``total``, ``page``, ``page_size``;
* ``GET /api/v1/cases/export.xlsx`` and ``GET /api/v1/cases/export.csv`` — the whole result (same filters).

Every filter is a query parameter (the web page keeps the same ones in its URL, so a view can be
bookmarked); lists are comma-separated; a bad value answers 422 naming the parameter.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Query
from fastapi.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from civicloop.accounts.service import User
from civicloop.cases.service import CaseQuery
from civicloop.city.service import City
from civicloop.http.auth import CurrentUser
from civicloop.http.context import context_of, locale_of
from civicloop.http.render import JSON
from civicloop.kernel.errors import InvalidField
from civicloop.kernel.i18n import Msg
from civicloop.kernel.vocabulary import Channel, Stage
from civicloop.web import search as rows

router = APIRouter(prefix="/api/v1", tags=["workflow"])

#: An export holds at most this many cases (a narrower search exports the rest).
EXPORT_MAX = 200_000
_CODE = re.compile(r"^[0-9A-Za-z._-]{1,32}$")


@dataclass(frozen=True, slots=True)
class Filters:
    """The parsed query parameters of a search."""

    query: CaseQuery
    light: str | None


def _list(field: str, value: str | None, valid: frozenset[str] | None = None) -> list[str] | None:
    if value is None or not value.strip():
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    for item in items:
        if valid is not None and item not in valid:
            options = ", ".join(sorted(valid))
            raise InvalidField(field, Msg("search.bad_choice", value=item[:40], options=options))
        if valid is None and not _CODE.match(item):
            raise InvalidField(field, Msg("search.bad_code", value=item[:40]))
    return items


def _moment(field: str, value: str | None, tz: ZoneInfo, *, end: bool) -> datetime | None:
    """A date (the whole day in the city's time zone: from its start, to its end) or an ISO time."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            moment = datetime.combine(day + timedelta(days=1) if end else day, time(), tz)
            return moment - timedelta(microseconds=1) if end else moment
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidField(field, Msg("search.bad_date", value=text[:40])) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=tz)


def _range(name: str, lo: datetime | None, hi: datetime | None) -> None:
    if lo is not None and hi is not None and lo > hi:
        raise InvalidField(f"{name}_to", Msg("search.bad_range"))


def parse_filters(
    city: City,
    *,
    case_no: str | None,
    text: str | None,
    category: str | None,
    department: str | None,
    district: str | None,
    street: str | None,
    community: str | None,
    grid: str | None,
    stage: str | None,
    status: str | None,
    light: str | None,
    channel: str | None,
    created_from: str | None,
    created_to: str | None,
    deadline_from: str | None,
    deadline_to: str | None,
    overdue: bool | None,
    rework: bool | None,
    sort: str,
    direction: str,
) -> CaseQuery:
    tz = city.cases.tz
    categories = _list("category", category)
    known = {c.code for c in city.profile.categories}
    for code in categories or ():
        if code not in known:
            raise InvalidField("category", Msg("search.unknown_category", value=code))
    if department:
        try:
            city.profile.department(department)
        except KeyError:
            raise InvalidField(
                "department", Msg("search.unknown_department", value=department[:64])
            ) from None
    c_from = _moment("created_from", created_from, tz, end=False)
    c_to = _moment("created_to", created_to, tz, end=True)
    d_from = _moment("deadline_from", deadline_from, tz, end=False)
    d_to = _moment("deadline_to", deadline_to, tz, end=True)
    _range("created", c_from, c_to)
    _range("deadline", d_from, d_to)
    order = f"{sort}_{direction}"
    number = case_no.strip().upper() if case_no and case_no.strip() else None
    ids = None
    if number and number.isdigit() and len(number) <= 7:  # a serial: that number of the last ten years
        year = datetime.now(tz).year
        ids = [f"{city.profile.case_prefix}-{y}-{int(number):07d}" for y in range(year - 9, year + 1)]
        number = None
    return CaseQuery(
        ids=ids,
        case_no=number,
        text=text.strip() if text and text.strip() else None,
        category_codes=categories,
        department_id=department or None,
        district_codes=_list("district", district),
        street_codes=_list("street", street),
        community_codes=_list("community", community),
        grid_codes=_list("grid", grid),
        stages=_list("stage", stage, frozenset(s.value for s in Stage)),
        public_status=status or None,
        channels=_list("channel", channel, frozenset(c.value for c in Channel)),
        created_from=c_from,
        created_to=c_to,
        deadline_from=d_from,
        deadline_to=d_to,
        due_before=datetime.now(UTC) if overdue else None,
        rework=rework,
        order=order,
    )


Text = Annotated[str | None, Query(max_length=200)]
Codes = Annotated[str | None, Query(max_length=2000, description="comma-separated")]
Day = Annotated[str | None, Query(max_length=40, description="YYYY-MM-DD (the whole day) or an ISO time")]
Sort = Annotated[str, Query(pattern="^(created|deadline|updated|light)$")]
Direction = Annotated[str, Query(alias="dir", pattern="^(asc|desc)$")]


def _filters(
    request: Request,
    user: CurrentUser,  # first: authenticated, the request knows its city (a server may serve several)
    case_no: Text = None,
    text: Text = None,
    category: Codes = None,
    department: Annotated[str | None, Query(max_length=64)] = None,
    district: Codes = None,
    street: Codes = None,
    community: Codes = None,
    grid: Codes = None,
    stage: Codes = None,
    status: Annotated[str | None, Query(pattern="^(open|closed)$")] = None,
    light: Annotated[str | None, Query(pattern="^(green|yellow|red)$")] = None,
    channel: Codes = None,
    created_from: Day = None,
    created_to: Day = None,
    deadline_from: Day = None,
    deadline_to: Day = None,
    overdue: bool | None = None,
    rework: bool | None = None,
    sort: Sort = "created",
    direction: Direction = "desc",
) -> Filters:
    city = context_of(request).main.city
    query = parse_filters(
        city, case_no=case_no, text=text, category=category, department=department, district=district,
        street=street, community=community, grid=grid, stage=stage, status=status, light=light,
        channel=channel, created_from=created_from, created_to=created_to, deadline_from=deadline_from,
        deadline_to=deadline_to, overdue=overdue, rework=rework, sort=sort, direction=direction,
    )  # fmt: skip
    return Filters(query, light)


SearchFilters = Annotated[Filters, Depends(_filters)]


@router.get("/cases/search")
async def search_cases(
    request: Request,
    user: CurrentUser,
    f: SearchFilters,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> Response:
    """案卷查询 / The cases within the caller's scope that match every filter given, one page and the
    total. Sort by created, deadline, updated or light (``dir`` asc or desc; light desc = most urgent
    first)."""
    city = context_of(request).main.city
    names = rows.Names(city, locale_of(request))

    def run() -> dict[str, object]:
        now = datetime.now(UTC)
        query = _paged(f.query, user, page, page_size)
        states, total = city.cases.find(query, light=f.light, now=now)
        items = [rows.row(city, s, now, names) for s in states]
        return {"items": items, "total": total, "page": page, "page_size": page_size}

    return JSON(await run_in_threadpool(run))


@router.get("/cases/export.xlsx")
async def export_xlsx(request: Request, user: CurrentUser, f: SearchFilters) -> Response:
    """案卷导出 (XLSX) / The whole result of the search (same filters), headers in the caller's language."""
    return await _export(request, user, f, "xlsx")


@router.get("/cases/export.csv")
async def export_csv(request: Request, user: CurrentUser, f: SearchFilters) -> Response:
    """案卷导出 (CSV, UTF-8) / The whole result of the search (same filters), localized headers."""
    return await _export(request, user, f, "csv")


def _paged(query: CaseQuery, user: User, page: int, page_size: int) -> CaseQuery:
    return replace(query, scope=user.actor(), limit=page_size, offset=(page - 1) * page_size)


async def _export(request: Request, user: User, f: Filters, kind: str) -> Response:
    city = context_of(request).main.city
    locale = locale_of(request)
    names = rows.Names(city, locale)

    def run() -> bytes:
        now = datetime.now(UTC)
        query = _paged(f.query, user, 1, EXPORT_MAX)
        if f.light in (None, "red"):
            _, total = city.cases.find(query, light=f.light, now=now)
            if total > EXPORT_MAX:
                raise InvalidField("export", Msg("search.export_too_big", total=total, limit=EXPORT_MAX))
        found = (rows.row(city, s, now, names) for s in city.cases.find_all(query, light=f.light, now=now))
        if kind == "csv":
            return rows.to_csv(found, locale, city.cases.tz)
        return rows.to_xlsx(found, locale, city.cases.tz)

    body = await run_in_threadpool(run)
    stamp = datetime.now(city.cases.tz).strftime("%Y%m%d-%H%M")
    if kind == "csv":
        media = "text/csv; charset=utf-8"
    else:
        media = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    disposition = f'attachment; filename="cases-{stamp}.{kind}"'
    return Response(body, media_type=media, headers={"content-disposition": disposition})
