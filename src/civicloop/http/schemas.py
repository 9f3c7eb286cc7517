"""Pydantic models of the workflow API's bodies and responses (they make /openapi.json exact)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from civicloop.kernel.i18n import both
from civicloop.kernel.text import clean_text


def _nul_at(value: Any, path: str = "") -> str | None:
    """The path of the first string (or key) carrying a NUL character, "body" for the body itself."""
    if isinstance(value, str):
        return (path or "body") if "\x00" in value else None
    if isinstance(value, dict):
        for k, v in value.items():
            name = f"{path}.{k}" if path else str(k)
            if isinstance(k, str) and "\x00" in k:
                return path or "body"
            found = _nul_at(v, name)
            if found is not None:
                return found
    elif isinstance(value, list):
        for i, v in enumerate(value):
            found = _nul_at(v, f"{path}.{i}" if path else str(i))
            if found is not None:
                return found
    return None


def _no_nul(value: Any) -> Any:
    """Refuse NUL characters anywhere in a body: no store keeps them (PostgreSQL refuses them in text).
    The refusal names the field (errors.py answers it as ``invalid_characters``)."""
    where = _nul_at(value)
    if where is not None:
        raise PydanticCustomError(
            "nul_character", "{field} must not contain NUL characters", {"field": where}
        )
    return value


class _Checked(BaseModel):
    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: Any) -> Any:
        return _no_nul(data)


class _Strict(_Checked):
    model_config = ConfigDict(extra="forbid")


def intake_strings(value: Any) -> Any:
    """NUL refused (naming the field), other control characters and bidi overrides removed."""
    return clean_strings(_no_nul(value))


def clean_strings(value: Any) -> Any:
    """Every string in a body without terminal and bidi control characters (domain/text.py); a NUL is
    left for :func:`_no_nul` to refuse."""
    if isinstance(value, str):
        return value if "\x00" in value else clean_text(value)
    if isinstance(value, dict):
        return {k: clean_strings(v) for k, v in value.items()}
    if isinstance(value, list):
        return [clean_strings(v) for v in value]
    return value


class _Cleaned(_Checked):
    """A body of people's text: cleaned at intake (passwords are not: they are compared as typed)."""

    @model_validator(mode="before")
    @classmethod
    def _clean(cls, data: Any) -> Any:
        return clean_strings(data)


class ErrorDetail(BaseModel):
    code: str = Field(description=both("http.doc.error_code"))
    field: str | None = Field(description=both("http.doc.error_field"))
    message: str = Field(description=both("http.doc.error_message"))
    message_zh: str
    message_en: str
    label: str | None = Field(None, description=both("http.doc.error_label"))
    label_zh: str | None = None
    label_en: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


class LoginBody(_Strict):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)
    # The city whose account this is; required only when the server serves several cities.
    jurisdiction_id: str | None = Field(default=None, max_length=32)


class UserView(BaseModel):
    user_id: str
    username: str
    display_name: str | None
    role: str
    role_label_zh: str
    role_label_en: str
    department_id: str | None
    district_codes: list[str]
    grid_codes: list[str]
    may_act: bool


class CityInfo(BaseModel):
    jurisdiction_id: str
    name: str
    name_en: str


class CityRole(BaseModel):
    jurisdiction_id: str
    role: str


class LoginResult(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_at: datetime
    user: UserView
    jurisdiction_id: str | None = None  # the user's (home) city
    # Every city the user may act in, with the role there (send X-Civicloop-City to act in another).
    cities: list[CityRole] = Field(default_factory=list)


class Done(BaseModel):
    ok: bool


class ReportBody(_Cleaned):
    """上报 / a new report. Reporter contact details are stored privately, never in the case record."""

    model_config = ConfigDict(extra="forbid")

    category_code: str | None = Field(None, max_length=16, description=both("http.doc.category_code"))
    description: str | None = Field(None, max_length=4000)
    lon: float | None = Field(None, ge=-180, le=180, description="WGS84")
    lat: float | None = Field(None, ge=-90, le=90, description="WGS84")
    address: str | None = Field(None, max_length=256)
    grid_code: str | None = Field(None, max_length=16)
    community_code: str | None = Field(None, max_length=64)
    street_code: str | None = Field(None, max_length=64)
    district_code: str | None = Field(None, max_length=16)
    component_id: str | None = Field(None, max_length=64)
    urgency: Literal["normal", "urgent"] | None = None
    photos: list[str] | None = Field(None, max_length=20, description="photo references or http(s) URLs")
    channel: Literal["inspector", "citizen", "hotline", "video", "assigned", "media", "patrol"] | None = (
        Field(None, description="default: inspector for inspectors, hotline for operators")
    )
    self_handled: bool | None = None
    note: str | None = Field(None, max_length=4000)
    reporter_name: str | None = Field(None, max_length=128, description=both("http.doc.reporter_name"))
    reporter_phone: str | None = Field(None, max_length=64, description=both("http.doc.reporter_phone"))
    reporter_email: str | None = Field(None, max_length=256, description=both("http.doc.reporter_email"))


class ActionBody(_Cleaned):
    """Fields of an action; which are required depends on the action (see ``allowed_actions``).

    The common fields are typed here; any other field is passed to the domain, which names a field it
    refuses (422) and ignores one no action uses.
    """

    model_config = ConfigDict(extra="allow")

    note: str | None = Field(None, max_length=4000)
    photos: list[str] | None = Field(None, max_length=20)
    department_id: str | None = Field(None, max_length=64)
    suggested_department_id: str | None = Field(None, max_length=64)
    inspector_id: str | None = Field(None, max_length=64)
    reason: str | None = Field(None, max_length=32, description="closure reason for reject/void")
    duplicate_of: str | None = Field(None, max_length=64)
    confirmed: bool | None = None
    passed: bool | None = None
    verify: bool | None = None
    amount: float | None = Field(None, description="extension amount")
    unit: Literal["work_hour", "work_day", "natural_hour"] | None = None
    category_code: str | None = Field(None, max_length=16)
    condition_no: int | None = Field(None, ge=1, le=999)
    urgency: Literal["normal", "urgent"] | None = None
    member_id: str | None = Field(None, max_length=64, description=both("http.doc.member_id"))


class AllowedAction(BaseModel):
    action: str
    label_zh: str
    label_en: str
    required: list[str]
    optional: list[str]


class EventView(BaseModel):
    seq: int
    action: str
    action_label_zh: str
    action_label_en: str
    at: datetime
    actor_id: str
    actor_name: str | None = Field(None, description=both("http.doc.actor_name"))
    actor_role: str
    stage_before: str | None
    stage_after: str
    note: str | None
    attachments: list[str]
    data: dict[str, Any]


class ConditionView(BaseModel):
    no: int
    filing: str
    filing_en: str | None
    closing: str
    closing_en: str | None
    limits: dict[str, str] = Field(description=both("http.doc.limits"))
    department: str | None


class CategoryView(BaseModel):
    code: str
    name: str
    name_en: str | None
    major_code: str
    major_name: str
    department: str
    conditions: list[ConditionView]


class CaseView(BaseModel):
    case_id: str
    version: int
    stage: str
    stage_label_zh: str
    stage_label_en: str
    public_status: Literal["open", "closed"]
    closure_reason: str | None
    channel: str
    category_code: str | None
    condition_no: int | None
    urgency: str
    description: str | None
    lon: float | None
    lat: float | None
    address: str | None
    grid_code: str | None
    community_code: str | None
    street_code: str | None
    district_code: str | None
    component_id: str | None
    reporter_id: str | None
    photos: list[str]
    after_photos: list[str]
    department_id: str | None
    created_at: datetime
    updated_at: datetime
    accepted_at: datetime | None
    filed_at: datetime | None
    dispatched_at: datetime | None
    handled_at: datetime | None
    closed_at: datetime | None
    step: str | None
    step_deadline: datetime | None
    deadline: datetime | None = Field(description=both("http.doc.deadline"))
    due_at: datetime | None = Field(description="the deadline of the current step")
    overdue: bool
    light: Literal["green", "yellow", "red"] | None
    pending: dict[str, Any] | None
    duplicate_of: str | None
    dispatch_count: int
    rework_count: int
    extension_count: int
    suspension_count: int
    urge_count: int
    reopen_count: int


class SubmissionView(BaseModel):
    """What an Open311 client sent beyond the case fields (attribute answers, media URLs)."""

    attributes: dict[str, list[str]]
    location_approximate: bool


class CaseDetail(BaseModel):
    case: CaseView
    category: CategoryView | None
    timeline: list[EventView]
    allowed_actions: list[AllowedAction]
    open311: SubmissionView | None


class BatchBody(_Cleaned):
    """批量操作 / One action on several cases: the case numbers and the action's fields (the department)."""

    model_config = ConfigDict(extra="forbid")

    case_ids: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(min_length=1, max_length=100)
    department_id: str | None = Field(None, max_length=64)
    note: str | None = Field(None, max_length=4000)


class BatchLine(BaseModel):
    """One case's result: done with its new stage, or refused with the reason (nothing written for it)."""

    case_id: str
    ok: bool
    stage: str | None = None
    code: str | None = None
    field: str | None = None
    message: str | None = None
    message_zh: str | None = None
    message_en: str | None = None


class BatchResult(BaseModel):
    action: str
    done: int
    failed: int
    results: list[BatchLine]


class ActionResult(BaseModel):
    case: CaseView
    event: EventView
    allowed_actions: list[AllowedAction]


class CaseSummary(BaseModel):
    case_id: str
    stage: str
    stage_label_zh: str
    stage_label_en: str
    public_status: Literal["open", "closed"]
    category_code: str | None
    category_name: str | None
    department_id: str | None
    district_code: str | None
    grid_code: str | None
    urgency: str
    created_at: datetime
    due_at: datetime | None
    overdue: bool
    light: Literal["green", "yellow", "red"] | None
    allowed_actions: list[str]
    rework_count: int = Field(0, description=both("http.doc.rework_count"))
    geocode_hint: dict[str, Any] | None = Field(
        None, description="unlocated queue only: the geocoder's best guess (lon, lat, matched, confidence, …)"
    )


class CasePage(BaseModel):
    items: list[CaseSummary]
    page: int
    page_size: int
    total: int


class Created(BaseModel):
    case_id: str
    replayed: bool = Field(description="true when an Idempotency-Key retry found the first attempt's case")
    case: CaseView | None


class PhotoUploaded(BaseModel):
    ref: str = Field(description="use this in `photos` fields")
    url: str
    content_type: str
    size: int
    sha256: str


class AnonymiseResult(BaseModel):
    reporter_id: str
    records_erased: int
    submissions_erased: int
    at: datetime


class ReporterContact(BaseModel):
    reporter_id: str
    name: str | None
    phone: str | None
    email: str | None


class Health(BaseModel):
    status: Literal["ok", "unavailable"]
    database: Literal["ok", "unreachable"]
    city: str
    problem: str | None = None


#: The refusals every ``/api/v1`` router documents (the body is :class:`ErrorBody`).
ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": ErrorBody, "description": d}
    for s, d in (
        (401, both("http.doc.refused_401")),
        (403, both("http.doc.refused_403")),
        (404, both("http.doc.refused_404")),
        (409, both("http.doc.refused_409")),
        (422, both("http.doc.refused_422")),
    )
}


def field_limits() -> dict[str, dict[str, float | int]]:
    """Each input field's limits as the API checks them (maxlength, min, max, maxitems), so that the pages'
    inputs carry the same ones (``/api/v1/web/config`` → ``field_limits``) and the browser stops a value
    before the API has to refuse it."""
    out: dict[str, dict[str, float | int]] = {}
    for model in (ReportBody, ActionBody):
        for name, prop in model.model_json_schema().get("properties", {}).items():
            kinds = prop.get("anyOf", [prop])
            limits: dict[str, float | int] = {}
            for kind in kinds:
                for key, attr in (("maxLength", "maxlength"), ("minimum", "min"), ("maximum", "max"),
                                  ("maxItems", "maxitems"), ("minLength", "minlength")):  # fmt: skip
                    if key in kind:
                        limits[attr] = kind[key]
            if limits:
                out.setdefault(name, {}).update(limits)
    out.setdefault("amount", {}).update({"min": 0.01, "max": 10_000})  # the domain's range (cases/core.py)
    return out
