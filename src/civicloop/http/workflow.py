"""The workflow API (``/api/v1``): login, the loop's actions, cases, queues, photos, privacy.

Authorization in three layers, each in one place: the bearer token says who (``auth.py``); the domain's
action table says what a role may do (403 ``role_not_allowed``, 409 ``illegal_action`` in the wrong
stage); the scope on the user record says where (:mod:`civicloop.cases.scope`). A case outside the
caller's scope answers 404 exactly like a case that does not exist.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, File, Header, Query, UploadFile
from fastapi.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from civicloop.accounts.service import AccountRole, User
from civicloop.accounts.store import open311_submission
from civicloop.cases.core import ACTIONS, CaseState, Event, allowed_actions, due_at
from civicloop.cases.scope import REPORTER_ROLES, can_act
from civicloop.cases.service import CaseQuery, ReporterInfo
from civicloop.http.auth import CurrentUser, require_actor, require_role_in, require_roles
from civicloop.http.context import ApiError, AppContext, base_url, context_of, locale_of
from civicloop.http.render import JSON
from civicloop.http.schemas import (
    ERRORS,
    ActionBody,
    ActionResult,
    AllowedAction,
    AnonymiseResult,
    BatchBody,
    BatchLine,
    BatchResult,
    CaseDetail,
    CasePage,
    CaseSummary,
    CaseView,
    CategoryView,
    ConditionView,
    Created,
    EventView,
    PhotoUploaded,
    ReportBody,
    ReporterContact,
    SubmissionView,
)
from civicloop.kernel.errors import CaseNotFound, DomainError, InvalidField, OutOfScope
from civicloop.kernel.i18n import Msg, both
from civicloop.kernel.vocabulary import Action, Role, Stage
from civicloop.open311.group_commit import ReportJob
from civicloop.open311.service import IDEMPOTENCY_TTL, erase_submission_identity
from civicloop.photos.check import PhotoRefused, check_photo, strip_metadata
from civicloop.photos.store import is_ref

router = APIRouter(prefix="/api/v1", tags=["workflow"], responses=ERRORS)


# ---- views --------------------------------------------------------------------------------------------


def case_view(ctx: AppContext, s: CaseState, now: datetime) -> CaseView:
    due = due_at(s)
    light = s.light(ctx.main.city.calendar, now)
    return CaseView(
        case_id=s.case_id,
        version=s.version,
        stage=s.stage.value,
        stage_label_zh=s.stage.zh,
        stage_label_en=s.stage.en,
        public_status="closed" if s.stage.is_terminal else "open",
        closure_reason=s.closure_reason.value if s.closure_reason else None,
        channel=s.channel.value,
        category_code=s.category_code,
        condition_no=s.condition_no,
        urgency=s.urgency.value,
        description=s.description,
        lon=s.lon,
        lat=s.lat,
        address=s.address,
        grid_code=s.grid_code,
        community_code=s.community_code,
        street_code=s.street_code,
        district_code=s.district_code,
        component_id=s.component_id,
        reporter_id=s.reporter_id,
        photos=list(s.photos),
        after_photos=list(s.after_photos),
        department_id=s.department_id,
        created_at=s.created_at,
        updated_at=s.updated_at,
        accepted_at=s.accepted_at,
        filed_at=s.filed_at,
        dispatched_at=s.dispatched_at,
        handled_at=s.handled_at,
        closed_at=s.closed_at,
        step=s.step.value if s.step else None,
        step_deadline=s.step_deadline,
        deadline=s.deadline,
        due_at=due,
        overdue=s.overdue(ctx.main.city.calendar, now),
        light=light.value if light else None,
        pending=s.pending,
        duplicate_of=s.duplicate_of,
        dispatch_count=s.dispatch_count,
        rework_count=s.rework_count,
        extension_count=s.extension_count,
        suspension_count=s.suspension_count,
        urge_count=s.urge_count,
        reopen_count=s.reopen_count,
    )


def event_view(e: Event, names: dict[str, str] | None = None) -> EventView:
    return EventView(
        actor_name=(names or {}).get(e.actor_id),
        seq=e.seq,
        action=e.action.value,
        action_label_zh=e.action.zh,
        action_label_en=e.action.en,
        at=e.at,
        actor_id=e.actor_id,
        actor_role=e.actor_role.value,
        stage_before=e.stage_before.value if e.stage_before else None,
        stage_after=e.stage_after.value,
        note=e.note,
        attachments=list(e.attachments),
        data=dict(e.data),
    )


def actions_for(user: User, s: CaseState) -> list[Action]:
    if not user.may_act or not can_act(user.actor(), s):
        return []
    return allowed_actions(s, user.actor().role)


def allowed_view(user: User, s: CaseState) -> list[AllowedAction]:
    return [
        AllowedAction(
            action=a.value,
            label_zh=a.zh,
            label_en=a.en,
            required=list(ACTIONS[a].required),
            optional=list(ACTIONS[a].optional),
        )
        for a in actions_for(user, s)
    ]


def category_view(ctx: AppContext, code: str | None) -> CategoryView | None:
    if code is None:
        return None
    try:
        c = ctx.main.city.profile.category(code)
    except KeyError:
        return None
    return CategoryView(
        code=c.code,
        name=c.name,
        name_en=c.name_en,
        major_code=c.major_code,
        major_name=c.major_name,
        department=c.department,
        conditions=[
            ConditionView(
                no=cond.no,
                filing=cond.filing,
                filing_en=cond.filing_en,
                closing=cond.closing,
                closing_en=cond.closing_en,
                limits={u: lim.label("zh-CN") for u, lim in cond.limits.items()},
                department=cond.department,
            )
            for cond in c.conditions
        ],
    )


def summary(ctx: AppContext, user: User, s: CaseState, now: datetime) -> CaseSummary:
    due = due_at(s)
    light = s.light(ctx.main.city.calendar, now)
    name = None
    if s.category_code:
        try:
            name = ctx.main.city.profile.category(s.category_code).name
        except KeyError:
            name = None
    return CaseSummary(
        case_id=s.case_id,
        stage=s.stage.value,
        stage_label_zh=s.stage.zh,
        stage_label_en=s.stage.en,
        public_status="closed" if s.stage.is_terminal else "open",
        category_code=s.category_code,
        category_name=name,
        department_id=s.department_id,
        district_code=s.district_code,
        grid_code=s.grid_code,
        urgency=s.urgency.value,
        created_at=s.created_at,
        due_at=due,
        overdue=s.overdue(ctx.main.city.calendar, now),
        light=light.value if light else None,
        allowed_actions=[a.value for a in actions_for(user, s)],
        rework_count=s.rework_count,
    )


def check_photos(ctx: AppContext, photos: Sequence[str] | None) -> None:
    """Every photo is an http(s) URL or a reference this server stored (POST /api/v1/photos)."""
    for ref in photos or ():
        if ref.startswith(("http://", "https://")) and len(ref) <= 2048:
            continue
        if not (is_ref(ref) and ctx.photos.exists(ref)):
            raise InvalidField("photos", Msg("http.unknown_photo_ref_named", ref=ref[:80]))


async def read_photo(request: Request, upload: UploadFile, field: str) -> tuple[bytes, str]:
    """Read an uploaded photo (at most the limit + 1 bytes) and check it (adapters/images.py): the
    bytes and their content type, or ApiError naming *field* (413 too large, 415 not an image, 422
    damaged)."""
    limits = context_of(request).settings.photo_limits
    data = await upload.read(limits.max_bytes + 1)
    try:
        ctype = await run_in_threadpool(check_photo, data, limits)
    except PhotoRefused as exc:
        raise ApiError(exc.status, exc.code, exc.zh, exc.en, field) from None
    data = await run_in_threadpool(strip_metadata, data, ctype)  # no GPS position or camera in the copy
    return data, ctype


# ---- cases --------------------------------------------------------------------------------------------


@router.post("/cases", status_code=201, response_model=Created)
async def report_case(
    request: Request,
    body: ReportBody,
    user: CurrentUser,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> Created:
    """上报 / Report a new case (inspectors, operators). ``Idempotency-Key`` makes retries safe."""
    require_actor(user)
    ctx = context_of(request)
    fields = body.model_dump(exclude_none=True, exclude={"reporter_name", "reporter_phone", "reporter_email"})
    default_channel = {AccountRole.INSPECTOR: "inspector", AccountRole.OPERATOR: "hotline"}.get(
        user.role, "hotline"
    )
    fields.setdefault("channel", default_channel)
    await run_in_threadpool(check_photos, ctx, body.photos)
    reporter = ReporterInfo(body.reporter_name, body.reporter_phone, body.reporter_email)
    keys: list[tuple[str, timedelta]] = []
    if idempotency_key and idempotency_key.strip():
        digest = hashlib.sha256(f"{user.user_id}\x1f{idempotency_key.strip()}".encode()).hexdigest()[:48]
        keys.append(("u:" + digest, IDEMPOTENCY_TTL))
    job = ReportJob(
        actor=user.actor(),
        fields=fields,
        reporter=None if reporter.is_empty() else reporter,
        idempotency=keys,
    )
    outcome = await ctx.main.writer.submit_async(job)
    state = outcome.state
    if state is None:
        state = await run_in_threadpool(ctx.main.city.cases.get, outcome.case_id)
    return Created(
        case_id=outcome.case_id, replayed=outcome.replayed, case=case_view(ctx, state, datetime.now(UTC))
    )


@router.get("/cases/{case_id}", response_model=CaseDetail)
def get_case(request: Request, case_id: str, user: CurrentUser) -> CaseDetail:
    """案卷详情 / A case, its timeline, the caller's allowed actions and its category's conditions."""
    ctx = context_of(request)
    cases = ctx.main.city.cases
    state = cases.get(case_id, user.actor())
    timeline = cases.timeline(case_id, user.actor())
    names = ctx.main.accounts.display_names()  # timelines show people by name and role, not ids
    with cases.store.read() as conn:
        found = open311_submission(conn, cases.city_id, case_id)
    submission = None
    if found is not None:
        submission = SubmissionView(attributes=found[0], location_approximate=found[1])
    return CaseDetail(
        case=case_view(ctx, state, datetime.now(UTC)),
        category=category_view(ctx, state.category_code),
        timeline=[event_view(e, names) for e in timeline],
        allowed_actions=allowed_view(user, state),
        open311=submission,
    )


@router.post("/cases/{case_id}/actions/{action}", response_model=ActionResult)
def act(
    request: Request, case_id: str, action: str, user: CurrentUser, body: ActionBody | None = None
) -> ActionResult:
    """执行动作 / Take one step of the loop: accept, file, dispatch, handle, check, close, and the branches.

    403 ``role_not_allowed`` when the role can never take this action, 409 ``illegal_action`` when the
    case is in a stage that does not allow it, 422 naming the field that is missing or invalid.
    """
    ctx = context_of(request)
    try:
        chosen = Action(action)
    except ValueError:
        names = ", ".join(a.value for a in Action if a is not Action.REPORT)
        raise InvalidField("action", Msg("http.unknown_action", names=names)) from None
    if chosen is Action.REPORT:
        raise InvalidField("action", Msg("http.report_through_cases"))
    cases = ctx.main.city.cases
    actor = user.actor()
    if not user.may_act:
        cases.get(case_id, actor)  # 404 first when out of scope: nothing about the case leaks
        require_actor(user)
    fields = (body or ActionBody()).model_dump(exclude_none=True)
    check_photos(ctx, fields.get("photos"))
    if chosen is Action.LOCATE:  # 定位: the grid and areas of the new position, as for a report
        from civicloop.intake.locating import with_area_codes

        fields = with_area_codes(ctx.main.city, fields)
    state = cases.act(case_id, chosen, actor, fields)
    last = cases.timeline(case_id)[-1]
    return ActionResult(
        case=case_view(ctx, state, datetime.now(UTC)),
        event=event_view(last),
        allowed_actions=allowed_view(user, state),
    )


#: Actions the loop allows on several cases at once: dispatch to one department; close checked cases.
BATCH_ACTIONS = (Action.DISPATCH, Action.CLOSE)


def _acting(user: CurrentUser) -> User:
    require_actor(user)  # before the body is read: a viewer learns 403, not what the body lacks
    return user


@router.post("/cases/batch/{action}", response_model=BatchResult)
def act_on_many(
    request: Request, action: str, body: BatchBody, user: Annotated[User, Depends(_acting)]
) -> BatchResult:
    """批量操作 / Dispatch several cases to one department, or close several cases whose checks passed.

    Each case is its own step (its own transaction, scope and stage checks), so one refused case does not
    stop the others: every case gets its result line — done with the new stage, or the reason it was
    refused (nothing written for it).
    """
    ctx = context_of(request)
    try:
        chosen = Action(action)
    except ValueError:
        chosen = None
    if chosen not in BATCH_ACTIONS:
        names = ", ".join(a.value for a in BATCH_ACTIONS)
        raise InvalidField("action", Msg("reasons.must_be_one_of", names=names))
    assert chosen is not None
    cases = ctx.main.city.cases
    fields = body.model_dump(exclude_none=True, exclude={"case_ids"})
    lines: list[BatchLine] = []
    for case_id in dict.fromkeys(body.case_ids):  # each case once, in the order given
        try:
            state = cases.act(case_id, chosen, user.actor(), fields)
        except DomainError as exc:
            if isinstance(exc, OutOfScope):
                exc = CaseNotFound(case_id)  # like a missing case: nothing leaks
            zh, en = exc.render("zh-CN"), exc.render("en")
            shown = en if locale_of(request).startswith("en") else zh
            lines.append(
                BatchLine(case_id=case_id, ok=False, code=exc.key, field=getattr(exc, "field", None),
                          message=shown, message_zh=zh, message_en=en)
            )  # fmt: skip
            continue
        lines.append(BatchLine(case_id=case_id, ok=True, stage=state.stage.value))
    done = sum(1 for line in lines if line.ok)
    return BatchResult(action=chosen.value, done=done, failed=len(lines) - done, results=lines)


def _stage_list(value: str | None) -> list[str] | None:
    if value is None or not value.strip():
        return None
    names = [v.strip() for v in value.split(",") if v.strip()]
    valid = {s.value for s in Stage}
    bad = [n for n in names if n not in valid]
    if bad:
        options = ", ".join(sorted(valid))
        raise InvalidField("stage", Msg("http.unknown_stage", stage=bad[0], options=options))
    return names


@router.get("/cases", response_model=CasePage)
def list_cases(
    request: Request,
    user: CurrentUser,
    stage: Annotated[str | None, Query(description=both("http.doc.stages"))] = None,
    department: Annotated[str | None, Query(max_length=64)] = None,
    category: Annotated[str | None, Query(max_length=16)] = None,
    district: Annotated[str | None, Query(max_length=16)] = None,
    status: Annotated[str | None, Query(pattern="^(open|closed)$")] = None,
    overdue: Annotated[
        bool | None, Query(description="true: handling deadline passed, still with a department")
    ] = None,
    order: Annotated[str, Query(pattern="^(newest|due)$", description="newest (default) or due")] = "newest",
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CasePage:
    """案卷列表 / Cases within the caller's scope, filtered and paged."""
    ctx = context_of(request)
    now = datetime.now(UTC)
    query = CaseQuery(
        stages=_stage_list(stage),
        department_id=department,
        category_codes=[category] if category else None,
        district_codes=[district] if district else None,
        public_status=status,
        overdue_at=now if overdue else None,
        scope=user.actor(),
        order="deadline_asc" if order == "due" else "created_desc",
        limit=page_size,
        offset=(page - 1) * page_size,
    )
    cases = ctx.main.city.cases
    items = [summary(ctx, user, s, now) for s in cases.search(query)]
    return CasePage(items=items, page=page, page_size=page_size, total=cases.count(query))


QUEUE_SCAN = 1000
#: The steps that are someone's duty in a stage (待办). Actions possible almost anywhere (comment, urge,
#: void requests, reopening, linking duplicates) are not work waiting for anyone, so they fill no queue.
DUTIES = frozenset(
    {
        Action.ACCEPT,
        Action.VERIFY,
        Action.FILE,
        Action.NOT_FILE,
        Action.DISPATCH,
        Action.APPROVE_RETURN,
        Action.DENY_RETURN,
        Action.APPROVE_EXTENSION,
        Action.DENY_EXTENSION,
        Action.APPROVE_SUSPENSION,
        Action.DENY_SUSPENSION,
        Action.RESUME,
        Action.HANDLE,
        Action.SEND_CHECK,
        Action.CHECK,
        Action.CLOSE,
        Action.APPROVE_VOID,
        Action.DENY_VOID,
        Action.APPROVE_SELF_HANDLING,
        Action.REJECT_SELF_HANDLING,
    }
)


@router.get("/queues/mine", response_model=CasePage)
def my_queue(
    request: Request,
    user: CurrentUser,
    page: Annotated[int, Query(ge=1, le=1000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CasePage:
    """我的待办 / What my role can act on now, in my scope: overdue first, then by due time."""
    return queue_page(context_of(request), user, page, page_size)


def queue_page(ctx: AppContext, user: User, page: int, page_size: int) -> CasePage:
    """One page of *user*'s queue (``GET /api/v1/queues/mine``; the web workspace shows the same)."""
    now = datetime.now(UTC)
    role = user.actor().role
    empty = CasePage(items=[], page=page, page_size=page_size, total=0)
    if not user.may_act:
        return empty
    if role is Role.LEADER:  # a leader's work is urging (督办) what is late
        query = CaseQuery(overdue_at=now, scope=user.actor(), order="deadline_asc", limit=QUEUE_SCAN)
    else:
        stages = sorted(
            {
                s.value
                for a, spec in ACTIONS.items()
                if role in spec.roles and a in DUTIES
                for s in spec.from_stages
                if s is not None
            }
        )
        if not stages:
            return empty
        query = CaseQuery(stages=stages, scope=user.actor(), order="deadline_asc", limit=QUEUE_SCAN)
    cases = ctx.main.city.cases
    found = cases.search(query)
    if role is Role.SHIFT_LEADER:  # 回访复核: a 不满意 rating waits for the shift leader (reopen or confirm)
        found += cases.search(CaseQuery(feedback_review=True, scope=user.actor(), limit=QUEUE_SCAN))
    rows = [summary(ctx, user, s, now) for s in found]
    rows = [r for r in rows if r.allowed_actions]
    far = datetime.max.replace(tzinfo=UTC)
    rows.sort(key=lambda r: (not r.overdue, r.due_at or far, r.created_at))
    start = (page - 1) * page_size
    return CasePage(items=rows[start : start + page_size], page=page, page_size=page_size, total=len(rows))


@router.get("/queues/unlocated", response_model=CasePage)
def unlocated_queue(
    request: Request,
    user: CurrentUser,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CasePage:
    """待定位 / Cases without coordinates (e.g. imported records that had no location), newest first:
    operators locate them with the ``locate`` action (lon, lat)."""
    from civicloop.intake.locating import geocode_hint, unlocated_cases

    require_roles(user, AccountRole.OPERATOR, AccountRole.SHIFT_LEADER, AccountRole.ADMIN)
    ctx = context_of(request)
    now = datetime.now(UTC)
    states, total = unlocated_cases(
        ctx.main.city, actor=user.actor(), limit=page_size, offset=(page - 1) * page_size
    )
    items = [
        summary(ctx, user, s, now).model_copy(update={"geocode_hint": geocode_hint(ctx.main.city, s)})
        for s in states
    ]
    return CasePage(items=items, page=page, page_size=page_size, total=total)


# ---- reporters and privacy ----------------------------------------------------------------------------


@router.get("/cases/{case_id}/reporter", response_model=ReporterContact)
def case_reporter(request: Request, case_id: str, user: CurrentUser) -> ReporterContact:
    """诉求人联系方式 / The reporter's contact, for a call back (operators and admins only)."""
    require_role_in(user, REPORTER_ROLES)
    cases = context_of(request).main.city.cases
    state = cases.get(case_id, user.actor())
    info = cases.reporter(state.reporter_id) if state.reporter_id else None
    if info is None or state.reporter_id is None:
        raise ApiError.of(404, "reporter_not_found", "http.case_has_no_reporter")
    return ReporterContact(reporter_id=state.reporter_id, name=info.name, phone=info.phone, email=info.email)


@router.post("/reporters/{reporter_id}/anonymise", response_model=AnonymiseResult)
def anonymise(request: Request, reporter_id: str, user: CurrentUser) -> AnonymiseResult:
    """匿名化诉求人 / Erase a reporter's name, phone and e-mail (the cases stay). Logged in the audit log."""
    require_role_in(user, REPORTER_ROLES)
    cc = context_of(request).main
    cases = cc.city.cases
    if cases.reporter(reporter_id) is None:
        raise ApiError.of(404, "reporter_not_found", "http.no_such_reporter", reporter=reporter_id)
    now = datetime.now(UTC)
    records = cases.anonymise_reporter(reporter_id, user.actor(), at=now)
    with cases.store.write() as conn:
        submissions = erase_submission_identity(conn, cases.city_id, reporter_id)
        cc.accounts.record_audit(
            conn,
            user.actor(),
            "anonymise_reporter",
            reporter_id,
            {"records": records, "submissions": submissions},
            at=now,
        )
    return AnonymiseResult(
        reporter_id=reporter_id, records_erased=records, submissions_erased=submissions, at=now
    )


# ---- photos -------------------------------------------------------------------------------------------


@router.post("/photos", status_code=201, response_model=PhotoUploaded)
async def upload_photo(
    request: Request, user: CurrentUser, file: Annotated[UploadFile, File()]
) -> PhotoUploaded:
    """上传照片 / Upload a JPEG, PNG or WebP photo; the answer's ``ref`` goes into ``photos`` fields."""
    require_actor(user)
    ctx = context_of(request)
    data, ctype = await read_photo(request, file, "file")
    ref = await run_in_threadpool(ctx.photos.put, data, ctype)
    return PhotoUploaded(
        ref=ref,
        url=f"{base_url(request)}/api/v1/photos/{ref}",
        content_type=ctype,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
    )


@router.get(
    "/photos/{ref}",
    response_class=Response,
    responses={
        200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}, "description": "the photo"}
    },
)
def get_photo(request: Request, ref: str) -> Response:
    """照片 / A stored photo. Public by unguessable reference (as Open311's media_url must be)."""
    photo = context_of(request).photos.get(ref) if is_ref(ref) else None
    if photo is None:
        raise ApiError.of(404, "not_found", "http.no_such_photo")
    return Response(
        photo.data,
        media_type=photo.content_type,
        headers={"Cache-Control": "public, max-age=31536000, immutable", "X-Content-Type-Options": "nosniff"},
    )


__all__ = ["JSON", "router"]
