"""The citizen page's endpoints (公众上报与查询): report a problem with a photo, track it by its number.

No account: a report is a citizen report (channel ``citizen``) that an inspector verifies on site like any
public report; the optional name and phone go to the private reporter record, never into the case.
``Idempotency-Key`` makes a retried submission return the same tracking number. The tracking view is the
Open311 public view of the case — status, outcome, masked description, photos — and nothing personal.
Each client address may send ``public_reports_per_hour`` reports (and three times as many photos) an hour.
"""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, File, Header, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field, model_validator
from starlette.requests import Request

from civicloop.cases.core import Actor, CaseState, Command
from civicloop.cases.privacy import mask
from civicloop.cases.service import BatchItem, BatchResult, CaseService, ReporterInfo
from civicloop.followup.service import updates
from civicloop.geo.service import nearby_open_cases
from civicloop.http.context import ApiError, base_url, context_of, locale_of, web_state
from civicloop.http.schemas import intake_strings
from civicloop.http.workflow import read_photo
from civicloop.kernel.errors import CaseNotFound, InvalidField
from civicloop.kernel.i18n import Msg, both
from civicloop.kernel.vocabulary import Action, ClosureReason, Role, Stage
from civicloop.open311.group_commit import ReportJob
from civicloop.open311.service import IDEMPOTENCY_TTL, PublicView, find_token, new_token, status_words
from civicloop.open311.store import Submitted, record_submissions
from civicloop.photos.store import is_ref
from civicloop.web.state import WebState

router = APIRouter(prefix="/api/v1/public", tags=["public"])
SYSTEM_ACTOR = Actor("system:feedback", Role.SYSTEM)

_PUBLIC_NOTES = frozenset(
    {
        Action.REPORT,
        Action.ACCEPT,
        Action.VERIFY,
        Action.FILE,
        Action.DISPATCH,
        Action.HANDLE,
        Action.CHECK,
        Action.CLOSE,
        Action.REJECT,
        Action.NOT_FILE,
        Action.VOID,
        Action.APPROVE_VOID,
        Action.REOPEN,
        Action.APPROVE_SELF_HANDLING,
        Action.APPROVE_EXTENSION,
        Action.APPROVE_SUSPENSION,
        Action.RESUME,
    }
)


class Contact(BaseModel):
    """The reporter's optional contact: private, never shown; phone or e-mail bring progress updates."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(None, max_length=64, description="private: never shown")
    phone: str | None = Field(None, max_length=32, description="private: never shown")
    email: str | None = Field(
        None, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$", description="private: progress updates"
    )

    @model_validator(mode="before")
    @classmethod
    def _clean(cls, data: Any) -> Any:
        return intake_strings(data)  # no NUL, terminal or bidi control characters (domain/text.py)

    def reporter(self) -> ReporterInfo:
        return ReporterInfo(self.name or None, self.phone or None, self.email or None)


class PublicReport(Contact):
    """公众上报 / a citizen's report."""

    category_code: str | None = Field(None, max_length=16)
    description: str = Field(min_length=2, max_length=2000)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)
    crs: Literal["wgs84", "gcj02"] = "wgs84"
    address: str | None = Field(None, max_length=256)
    photos: list[str] = Field(default_factory=list, max_length=12)  # the profile: public.max_photos


def _client(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _limit(ws: WebState, request: Request, kind: str, per_hour: int) -> None:
    now = time.monotonic()
    key = f"{kind}:{_client(request)}"
    hits = [t for t in ws.public_hits.get(key, []) if now - t < 3600]
    if len(hits) >= per_hour:
        wait = max(1, math.ceil(hits[0] + 3600 - now))  # until the oldest submission of the hour ages out
        raise ApiError.of(
            429, "too_many_requests", "http.too_many_submissions", retry_after=wait, seconds=wait
        )
    hits.append(now)
    ws.public_hits[key] = hits
    if len(ws.public_hits) > 10_000:  # forget idle clients
        for k in [k for k, v in ws.public_hits.items() if not v or now - v[-1] > 3600]:
            ws.public_hits.pop(k, None)


@router.post("/photos", status_code=201)
async def public_photo(request: Request, file: Annotated[UploadFile, File()]) -> dict[str, Any]:
    """上传照片 / A photo for a citizen report (JPEG, PNG or WebP)."""
    ws = web_state(request)
    _limit(ws, request, "photo", 3 * ws.settings.public_reports_per_hour)
    ctx = context_of(request)
    data, ctype = await read_photo(request, file, "file")
    ref = await run_in_threadpool(ctx.photos.put, data, ctype)
    return {"ref": ref, "url": f"{base_url(request)}/api/v1/photos/{ref}", "size": len(data)}


@router.post("/reports", status_code=201)
async def public_report(
    request: Request,
    body: PublicReport,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict[str, Any]:
    """公众上报 / Report a problem: returns the tracking number (the case number)."""
    ws = web_state(request)
    ctx = context_of(request)
    profile = ws.city.profile
    if body.category_code is not None:
        try:
            profile.category(body.category_code)
        except KeyError:
            raise InvalidField("category_code", Msg("http.unknown_category")) from None
    if len(body.photos) > profile.public.max_photos:
        raise InvalidField("photos", Msg("http.too_many_photos", max=profile.public.max_photos))
    for ref in body.photos:
        if not (is_ref(ref) and await run_in_threadpool(ctx.photos.exists, ref)):
            raise InvalidField("photos", Msg("http.unknown_photo_ref"))
    _limit(ws, request, "report", ws.settings.public_reports_per_hour)
    located = await run_in_threadpool(ws.locate, body.lon, body.lat, body.crs)
    fields: dict[str, Any] = {
        "channel": "citizen",
        "description": body.description,
        "lon": located["lon"],
        "lat": located["lat"],
        "photos": body.photos or None,
    }
    for key in ("grid_code", "community_code", "street_code", "district_code"):
        if located.get(key):
            fields[key] = located[key]
    if body.address:
        fields["address"] = body.address
    category = body.category_code
    if category is None:
        guess = await run_in_threadpool(ws.suggest, body.description, None, None, None, None)
        category = guess.get("category_code")
    if category:
        fields["category_code"] = category
    fields = {k: v for k, v in fields.items() if v is not None}
    keys: list[tuple[str, timedelta]] = []
    if idempotency_key and idempotency_key.strip():
        digest = hashlib.sha256(f"public\x1f{idempotency_key.strip()}".encode()).hexdigest()[:48]
        keys.append(("p:" + digest, IDEMPOTENCY_TTL))
    reporter = body.reporter()
    job = ReportJob(
        actor=Actor(f"web:{secrets.token_hex(8)}", Role.CITIZEN),
        fields=fields,
        reporter=None if reporter.is_empty() else reporter,
        idempotency=keys,
        want_token=True,
    )
    outcome = await ctx.main.writer.submit_async(job)
    return _receipt(outcome.case_id, outcome.token, outcome.replayed, _city_query(request))


def _city_query(request: Request) -> str:
    """``?city=…`` for the pages' links when the server holds several cities (the tracking page must ask
    the same city); nothing on a server of one."""
    ctx = context_of(request)
    return f"?{urlencode({'city': ctx.main.city.id})}" if len(ctx.cities) > 1 else ""


def _receipt(case_id: str, token: str | None, replayed: bool, city_query: str = "") -> dict[str, Any]:
    """What a reporter keeps: the tracking number and the tracking token (回访 and updates need it)."""
    return {
        "tracking_number": case_id,
        "tracking_token": token,
        "replayed": replayed,
        "track_url": f"/public/track/{case_id}{city_query}" + (f"#t={token}" if token else ""),
        "received_at": datetime.now(UTC).isoformat(),
    }


@router.get("/track/{case_id}")
async def public_track(request: Request, case_id: str) -> dict[str, Any]:
    """查询进度 / The public status and outcome of a report (no personal data)."""
    ws = web_state(request)
    locale = locale_of(request)
    return await run_in_threadpool(_track, ws, request, case_id, locale)


def _track(ws: WebState, request: Request, case_id: str, locale: str) -> dict[str, Any]:
    cases = ws.city.cases
    try:
        state = cases.get(case_id)
    except CaseNotFound:
        raise ApiError.of(404, "not_found", "http.no_such_report", case=case_id[:40]) from None
    timeline = cases.timeline(case_id)
    ctx = context_of(request)
    view = PublicView(ws.city.profile, ctx.main.places, base_url(request), locale).request(
        state, events=timeline, extensions=False
    )
    zh, en = status_words(state)
    photo = f"{base_url(request)}/api/v1/photos/"
    return {
        "tracking_number": state.case_id,
        "status": state.public_status,
        "status_zh": zh,
        "status_en": en,
        "closure_reason": state.closure_reason.value if state.closure_reason else None,
        "fixed": bool(state.closure_reason and state.closure_reason.is_fixed),
        "category": view.get("service_name"),
        "category_code": state.category_code,
        "description": mask(state.description),
        "agency": view.get("agency_responsible"),
        "requested_at": view.get("requested_datetime"),
        "updated_at": view.get("updated_datetime"),
        "expected_at": view.get("expected_datetime"),
        "lon": view.get("long"),
        "lat": view.get("lat"),
        "photos": [photo + p if is_ref(p) else p for p in state.photos],
        "result_photos": [photo + p if is_ref(p) else p for p in state.after_photos],
        "duplicate_of": state.duplicate_of,
        "rating_open": _rated_case(cases, state).stage is Stage.CLOSED,
        "updates": updates(ws.city, [state.case_id]),
        "notes": [
            {
                "at": e.at.isoformat(),
                "action": e.action.value,
                "action_zh": e.action.zh,
                "action_en": e.action.en,
                "stage_zh": e.stage_after.zh,
                "stage_en": e.stage_after.en,
            }
            for e in timeline
            if e.action in _PUBLIC_NOTES
        ],
    }


# ---- 回访 (satisfaction follow-up) -------------------------------------------------------------------


class Feedback(BaseModel):
    """回访评价 / a reporter's satisfaction with a closed case."""

    model_config = ConfigDict(extra="forbid")

    rating: Literal["satisfied", "basically_satisfied", "dissatisfied"]
    comment: str | None = Field(None, max_length=500)

    @model_validator(mode="before")
    @classmethod
    def _clean(cls, data: Any) -> Any:
        return intake_strings(data)


def _rated_case(cases: CaseService, state: CaseState) -> CaseState:
    """The case a report's 回访 rates: the case that was handled (the master of a merged duplicate)."""
    if not state.duplicate_of:
        return state
    try:
        return cases.get(state.duplicate_of)
    except CaseNotFound:
        return state


def _token_case(ws: WebState, token: str | None) -> str | None:
    """The case a tracking token was issued for, or None."""
    if not token or len(token) > 64:
        return None
    with ws.city.cases.store.read() as conn:
        found = find_token(conn, ws.city.id, token)
    return found[1] if found else None


async def _operator(request: Request) -> Actor | None:
    """The hotline operator behind a bearer token (entering a phone call's answer), if any."""
    header = request.headers.get("authorization", "")
    if not header.lower().startswith("bearer "):
        return None
    user = await run_in_threadpool(context_of(request).main.accounts.authenticate, header[7:].strip())
    if user is None or not user.may_act or user.actor().role is not Role.OPERATOR:
        return None
    return user.actor()


@router.post("/track/{case_id}/feedback", status_code=201)
async def public_feedback(
    request: Request,
    case_id: str,
    body: Feedback,
    x_tracking_token: Annotated[str | None, Header(max_length=64)] = None,
) -> dict[str, Any]:
    """回访评价 / Rate a closed case: 满意, 基本满意 or 不满意, with an optional comment.

    Authorised by the tracking token the reporter received (``X-Tracking-Token`` or ``?token=``), or an
    operator's login (a hotline operator entering the answer of a phone call). 409 before the case is
    closed and for a second rating of the same closure by the same reporter.
    """
    ws = web_state(request)
    token = x_tracking_token or request.query_params.get("token")
    operator = await _operator(request)
    token_case = await run_in_threadpool(_token_case, ws, token)
    if operator is None and token_case != case_id:
        raise ApiError.of(403, "forbidden", "http.tracking_token_required")
    return await run_in_threadpool(_rate, ws, case_id, body, operator)


def _rate(ws: WebState, case_id: str, body: Feedback, operator: Actor | None) -> dict[str, Any]:
    cases = ws.city.cases
    try:
        own = cases.get(case_id)
    except CaseNotFound:
        raise ApiError.of(404, "not_found", "http.no_such_report", case=case_id[:40]) from None
    target = _rated_case(cases, own)
    rater = own.reporter_id or own.case_id
    fields: dict[str, Any] = {"rating": body.rating, "rater": rater}
    if body.comment:
        fields["note"] = body.comment
    actor = operator or Actor(f"tracking:{own.case_id}", Role.SYSTEM)
    if target.stage is not Stage.CLOSED:
        raise ApiError.of(409, "not_closed", "http.rate_after_closure", case=target.case_id)
    items = [BatchItem(Command(Action.FEEDBACK, target.case_id, fields), actor, cases.clock())]
    reopen = (
        body.rating == "dissatisfied"
        and ws.city.profile.public.dissatisfied == "reopen"
        and target.closure_reason is ClosureReason.FIXED
    )
    if reopen:
        note = both("http.reopened_after_dissatisfied")
        items.append(
            BatchItem(Command(Action.REOPEN, target.case_id, {"note": note}), SYSTEM_ACTOR, cases.clock())
        )
    result = cases.execute(items, strict=True)
    state = result.states[target.case_id]
    return {
        "case": target.case_id,
        "rating": body.rating,
        "review": state.feedback_review,
        "reopened": reopen,
    }


# ---- "already reported?": open reports near the pin, and joining one of them --------------------------

NEARBY_RADIUS_M = 200.0
NEARBY_DAYS = 60


@router.get("/nearby")
async def public_nearby(
    request: Request,
    lon: Annotated[float, Query(ge=-180, le=180)],
    lat: Annotated[float, Query(ge=-90, le=90)],
    category: Annotated[str, Query(max_length=16)],
    crs: Annotated[Literal["wgs84", "gcj02"], Query()] = "wgs84",
) -> dict[str, Any]:
    """附近已上报 / Open reports of the chosen category near the pin: public-safe fields only."""
    ws = web_state(request)
    locale = locale_of(request)
    try:
        ws.city.profile.category(category)
    except KeyError:
        raise InvalidField("category", Msg("http.unknown_category")) from None
    return await run_in_threadpool(_nearby, ws, lon, lat, category, crs, locale)


def _nearby(ws: WebState, lon: float, lat: float, category: str, crs: str, locale: str) -> dict[str, Any]:
    located = ws.locate(lon, lat, crs)  # a pin outside the city: 422 naming lon/lat
    since = datetime.now(UTC) - timedelta(days=NEARBY_DAYS)
    found = nearby_open_cases(
        ws.city, category, float(located["lon"]), float(located["lat"]), NEARBY_RADIUS_M, since, limit=20
    )
    profile = ws.city.profile
    out = []
    for case_id, distance in found:
        state = ws.city.cases.get(case_id)
        if state.duplicate_of or not state.is_open:
            continue
        try:
            rule = profile.category(state.category_code or "")
            name = rule.name if locale == "zh-CN" else (rule.name_en or rule.name)
        except KeyError:
            name = None
        zh, en = status_words(state)
        out.append(
            {
                "tracking_number": state.case_id,
                "category_code": state.category_code,
                "category": name,
                "description": mask(state.description),
                "status_zh": zh,
                "status_en": en,
                "distance_m": round(distance, 1),
                "reported_at": state.created_at.isoformat(),
                "reporters": state.cluster_size,
                "lon": state.lon,
                "lat": state.lat,
            }
        )
    return {"radius_m": NEARBY_RADIUS_M, "results": out}


class Join(Contact):
    """我也遇到了 / add oneself to a report already made (its duplicate cluster), to hear its outcome."""

    description: str | None = Field(None, max_length=2000)


@router.post("/reports/{case_id}/join", status_code=201)
async def public_join(request: Request, case_id: str, body: Join) -> dict[str, Any]:
    """加入已有上报 / Join an open report: a report of one's own, merged into it at once (its cluster)."""
    ws = web_state(request)
    _limit(ws, request, "report", ws.settings.public_reports_per_hour)
    return await run_in_threadpool(_join, ws, case_id, body, _city_query(request))


def _join(ws: WebState, case_id: str, body: Join, city_query: str) -> dict[str, Any]:
    cases = ws.city.cases
    try:
        master = cases.get(case_id)
    except CaseNotFound:
        raise ApiError.of(404, "not_found", "http.no_such_report", case=case_id[:40]) from None
    if master.duplicate_of or not master.is_open:
        raise ApiError.of(409, "not_open", "http.join_open_reports_only", case=master.case_id)
    now = cases.clock()
    [member] = cases.reserve_case_ids(now, 1)
    fields: dict[str, Any] = {
        "channel": "citizen",
        "description": body.description or master.description or "",
        "lon": master.lon,
        "lat": master.lat,
        "category_code": master.category_code,
        "address": master.address,
        **{k: getattr(master, k) for k in ("grid_code", "community_code", "street_code", "district_code")},
    }
    fields = {k: v for k, v in fields.items() if v is not None}
    reporter = body.reporter()
    note = both("intake.merged_duplicate", case=master.case_id)
    token = new_token()
    items = [
        BatchItem(
            Command(Action.REPORT, member, fields),
            Actor(f"web:{secrets.token_hex(8)}", Role.CITIZEN),
            now,
            None if reporter.is_empty() else reporter,
        ),
        BatchItem(
            Command(
                Action.REJECT, member, {"reason": "duplicate", "duplicate_of": master.case_id, "note": note}
            ),
            SYSTEM_ACTOR,
            now,
        ),
        BatchItem(Command(Action.LINK_DUPLICATE, master.case_id, {"member_id": member}), SYSTEM_ACTOR, now),
    ]

    def within(conn: Any, result: BatchResult) -> None:
        record_submissions(conn, ws.city.id, [Submitted(result.states[member], token=token)], now)

    cases.execute(items, strict=True, within=within)
    return _receipt(member, token, False, city_query) | {"joined": master.case_id}
