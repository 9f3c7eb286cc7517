"""Open311 GeoReport v2 over HTTP: ``/open311/v2/{resource}.{json|xml}``.

Thin: parse the request, call :mod:`civicloop.open311.service`, render JSON or XML. Every policy
(window, clamping, statuses, privacy) lives in the service module and docs/api.md.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Path, Query
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response

from civicloop.cases.service import CaseQuery
from civicloop.http.context import CityContext, base_url, context_of, locale_of
from civicloop.http.render import open311_response
from civicloop.http.security import limit_api_key
from civicloop.kernel.errors import DomainError
from civicloop.kernel.i18n import Localized, both, t
from civicloop.open311.group_commit import ReportJob
from civicloop.open311.service import (
    FINGERPRINT_WINDOW,
    IDEMPOTENCY_TTL,
    MAX_MEDIA,
    SPECIFICATION,
    Extra,
    Open311Error,
    PublicView,
    Submission,
    accept_submission,
    find_token,
    header_key,
    iso_z,
    limit_notice,
    load_extras,
    open311_actor,
    parse_request_filter,
    service_definition,
    service_list,
)
from civicloop.photos.check import PhotoLimits, PhotoRefused, check_photo, strip_metadata

router = APIRouter(prefix="/open311/v2", tags=["Open311 GeoReport v2"])

Fmt = Annotated[Literal["json", "xml"], Path(description=both("http.doc.response_format"))]
Jurisdiction = Annotated[str | None, Query(description=both("http.doc.jurisdiction"))]
Locale = Annotated[str | None, Query(description="zh-CN (default) or en")]


# ---- documentation models (the JSON shapes; XML carries the same fields under the spec's roots) -------


class _Doc(BaseModel):
    model_config = ConfigDict(extra="allow")


class O311Error(_Doc):
    code: int
    description: str


class O311Service(_Doc):
    service_code: str
    service_name: str
    description: str | None
    metadata: bool
    type: Literal["realtime", "batch", "blackbox"]
    keywords: str | None
    group: str | None


class O311Value(_Doc):
    key: str
    name: str


class O311Attribute(_Doc):
    variable: bool
    code: str
    datatype: Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]
    required: bool
    datatype_description: str | None
    order: int | None
    description: str | None
    values: list[O311Value] | None = None


class O311Definition(_Doc):
    service_code: str
    attributes: list[O311Attribute]


class O311Request(_Doc):
    service_request_id: str
    status: Literal["open", "closed"]
    status_notes: str | None
    service_name: str | None
    service_code: str
    description: str | None
    agency_responsible: str | None
    service_notice: str | None
    requested_datetime: str
    updated_datetime: str | None
    expected_datetime: str | None
    address: str
    address_id: str | None
    zipcode: str | None
    lat: float
    long: float
    media_url: str | None


class O311Created(_Doc):
    service_request_id: str | None = None
    token: str | None = None
    service_notice: str | None = None
    account_id: str | None = None


class O311Token(_Doc):
    service_request_id: str | None
    token: str


class O311Endpoint(_Doc):
    specification: str
    url: str
    changeset: str
    type: str
    formats: list[str]


class O311Discovery(_Doc):
    changeset: str
    contact: str
    key_service: str
    endpoints: list[O311Endpoint]


def _responses(model: Any, *errors: int) -> dict[int | str, dict[str, Any]]:
    out: dict[int | str, dict[str, Any]] = {
        200: {
            "model": model,
            "content": {"text/xml": {"schema": {"type": "string"}}},
            "description": "JSON (``.json``) or XML (``.xml``)",
        }
    }
    for status in errors:
        out[status] = {
            "model": list[O311Error],
            "content": {"text/xml": {"schema": {"type": "string"}}},
            "description": "Open311 errors",
        }
    return out


# ---- helpers ------------------------------------------------------------------------------------------


def _city(request: Request, jurisdiction_id: str | None) -> CityContext:
    ctx = context_of(request)
    if jurisdiction_id is None or not jurisdiction_id.strip():
        if len(ctx.cities) > 1:  # optional only while the server serves one city
            raise Open311Error.of(400, "open311.jurisdiction_required", cities=", ".join(sorted(ctx.cities)))
        return ctx.main
    found = ctx.cities.get(jurisdiction_id.strip())
    if found is None:
        raise Open311Error.of(404, "open311.unknown_jurisdiction", jurisdiction=jurisdiction_id)
    return found


def _view(request: Request, cc: CityContext) -> PublicView:
    return PublicView(cc.city.profile, cc.places, base_url(request), locale_of(request))


# ---- discovery and services --------------------------------------------------------------------------


@router.get("/discovery.{fmt}", response_model=None, responses=_responses(O311Discovery, 404))
def discovery(
    request: Request, fmt: Fmt, jurisdiction_id: Jurisdiction = None, locale: Locale = None
) -> Response:
    """服务发现 / Service discovery: where the endpoint is and which formats it serves."""
    ctx = context_of(request)
    cc = _city(request, jurisdiction_id)
    profile = cc.city.profile
    changeset = iso_z(ctx.started_at)
    loc = locale_of(request)
    city_name = Localized(profile.name, profile.name_en).render(loc)
    contact = ctx.settings.contact or t("open311.contact", loc, city=city_name)
    key_service = ctx.settings.key_service or t("open311.key_service", loc)
    body = {
        "changeset": changeset,
        "contact": contact,
        "key_service": key_service,
        "endpoints": [
            {
                "specification": SPECIFICATION,
                "url": f"{base_url(request)}/open311/v2",
                "changeset": changeset,
                "type": ctx.settings.endpoint_type,
                "formats": ["text/xml", "application/json"],
            }
        ],
    }
    return open311_response(fmt, "discovery", body)


@router.get("/services.{fmt}", response_model=None, responses=_responses(list[O311Service], 404))
def services(
    request: Request, fmt: Fmt, jurisdiction_id: Jurisdiction = None, locale: Locale = None
) -> Response:
    """服务列表 / Service list: one service per published category (小类)."""
    cc = _city(request, jurisdiction_id)
    body = service_list(
        cc.city.profile, batch=context_of(request).settings.batch_services, locale=locale_of(request)
    )
    return open311_response(fmt, "services", body, "service")


@router.get("/services/{service_code}.{fmt}", response_model=None, responses=_responses(O311Definition, 404))
def definition(
    request: Request, service_code: str, fmt: Fmt, jurisdiction_id: Jurisdiction = None, locale: Locale = None
) -> Response:
    """服务定义 / Service definition: the attributes a report of this service carries."""
    cc = _city(request, jurisdiction_id)
    body = service_definition(cc.city.profile, service_code, locale=locale_of(request))
    return open311_response(fmt, "service_definition", body)


# ---- POST requests ------------------------------------------------------------------------------------

_FORM_FIELDS: dict[str, Any] = {
    "api_key": {"type": "string", "description": both("http.doc.required")},
    "jurisdiction_id": {"type": "string"},
    "service_code": {"type": "string", "description": both("http.doc.required_service_code")},
    "lat": {"type": "number"},
    "long": {"type": "number"},
    "address_string": {"type": "string"},
    "address_id": {"type": "string", "description": "#NOTPINPOINTED# with address_string = no pin"},
    "email": {"type": "string"},
    "device_id": {"type": "string"},
    "deviceid": {"type": "string", "description": "alias of device_id (FixMyStreet)"},
    "account_id": {"type": "string"},
    "first_name": {"type": "string"},
    "last_name": {"type": "string"},
    "phone": {"type": "string"},
    "description": {"type": "string", "maxLength": 4000},
    "media_url": {"type": "array", "items": {"type": "string"}, "description": "repeatable"},
    "attribute[condition]": {"type": "string", "description": both("http.doc.condition")},
    "attribute[situation][]": {"type": "array", "items": {"type": "string"}},
    "attribute[component_id]": {"type": "string"},
    "attribute[landmark]": {"type": "string"},
    "attribute[quantity]": {"type": "number"},
    "attribute[observed_at]": {"type": "string"},
}
_POST_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/x-www-form-urlencoded": {
                "schema": {
                    "type": "object",
                    "properties": _FORM_FIELDS,
                    "required": ["api_key", "service_code"],
                }
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {**_FORM_FIELDS, "media": {"type": "string", "format": "binary"}},
                    "required": ["api_key", "service_code"],
                }
            },
        },
    },
    "parameters": [
        {
            "name": "Idempotency-Key",
            "in": "header",
            "required": False,
            "schema": {"type": "string", "maxLength": 200},
            "description": both("http.doc.idempotency_key"),
        }
    ],
}


async def _read_upload(upload: UploadFile, limits: PhotoLimits) -> tuple[bytes, str] | None:
    """An uploaded ``media`` part checked like every photo (adapters/images.py): refused 413 when too
    large (bytes or pixels), 400 when damaged; a part that is no JPEG, PNG or WebP is ignored, as
    FixMyStreet may send other files."""
    data = await upload.read(limits.max_bytes + 1)
    try:
        ctype = await run_in_threadpool(check_photo, data, limits)
    except PhotoRefused as exc:
        if exc.code == "unsupported_media_type":
            return None
        status = 413 if exc.status == 413 else 400
        why = (
            t("open311.media_refused", "zh-CN", reason=exc.zh),
            t("open311.media_refused", "en", reason=exc.en),
        )
        raise Open311Error(status, why) from None
    return await run_in_threadpool(strip_metadata, data, ctype), ctype


@router.post(
    "/requests.{fmt}",
    response_model=None,
    responses=_responses(list[O311Created], 400, 403, 404),
    openapi_extra=_POST_BODY,
)
async def post_request(request: Request, fmt: Fmt) -> Response:
    """提交服务请求 / Create a service request (form-encoded or multipart; ``api_key`` required).

    Repeated ``attribute[x]``, ``attribute[x][]``, repeated ``media_url``, ``deviceid`` and
    ``address_id=#NOTPINPOINTED#`` are accepted as FixMyStreet sends them; unknown fields are ignored;
    uploaded JPEG/PNG/WebP files are stored and attached, other file parts ignored.
    """
    ctx = context_of(request)
    ctype = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    pairs: list[tuple[str, str]] = []
    uploads: list[UploadFile] = []
    if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            form = await request.form(max_files=MAX_MEDIA, max_fields=2000)
        except Exception:
            raise Open311Error.of(400, "open311.body_unparsable") from None
        for key, value in form.multi_items():
            if isinstance(value, str):
                pairs.append((key, value))
            else:
                uploads.append(value)
    elif ctype:
        raise Open311Error.of(400, "open311.body_wrong_type")
    # The old open311 1.1 client sends api_key (and others) in the query string: body values win.
    pairs.extend(request.query_params.multi_items())
    sub = Submission.from_pairs(pairs)
    cc = _city(request, sub.get("jurisdiction_id"))
    api_key = sub.get("api_key")
    key_id = cc.accounts.cached_api_key(api_key) or await run_in_threadpool(
        cc.accounts.check_api_key, api_key
    )
    if key_id is None:
        raise Open311Error.of(403, "open311.api_key_invalid")
    limit_api_key(request, key_id)  # 429 with Retry-After past the key's rate (http/security.py)
    accepted = accept_submission(sub, cc.city.profile, cc.places)
    images = []
    for upload in uploads:
        got = await _read_upload(upload, ctx.settings.photo_limits)
        if got is not None:
            images.append(got)
    photos: list[str] = list(accepted.fields.get("photos") or [])
    if len(photos) + len(images) > MAX_MEDIA:
        raise Open311Error.of(400, "open311.too_many_media", most=MAX_MEDIA)
    for data, image_type in images:
        photos.append(await run_in_threadpool(ctx.photos.put, data, image_type))
    accepted.fields["photos"] = photos or None
    keys: list[tuple[str, timedelta]] = []
    header = request.headers.get("idempotency-key")
    if header and header.strip():
        keys.append((header_key(key_id, header.strip()[:200]), IDEMPOTENCY_TTL))
    if accepted.fingerprint is not None:
        keys.append((accepted.fingerprint, FINGERPRINT_WINDOW))
    job = ReportJob(
        actor=open311_actor(key_id),
        fields=accepted.fields,
        reporter=accepted.reporter,
        idempotency=keys,
        extras=accepted.extras,
        api_key_id=key_id,
        want_token=ctx.settings.batch_services,
    )
    try:
        outcome = await cc.writer.submit_async(job)
    except DomainError as exc:
        raise Open311Error(400, (exc.render("zh-CN"), exc.render("en"))) from None
    profile = cc.city.profile
    condition_no = _condition_no(accepted.extras.get("attributes"))
    notice = limit_notice(
        profile.handling_limit(accepted.category.code, condition_no, accepted.fields["urgency"]),
        locale_of(request),
    )
    item: dict[str, Any]
    if ctx.settings.batch_services:
        item = {"token": outcome.token, "service_notice": notice, "account_id": accepted.account_id}
    else:
        item = {
            "service_request_id": outcome.case_id,
            "service_notice": notice,
            "account_id": accepted.account_id,
        }
    return open311_response(fmt, "service_requests", [item], "request")


def _condition_no(attributes_json: Any) -> int:
    try:
        return int(orjson.loads(attributes_json)["condition"][0])
    except (KeyError, ValueError, TypeError, IndexError, orjson.JSONDecodeError):
        return 1


# ---- GET requests -------------------------------------------------------------------------------------


def _requests_body(
    request: Request, cc: CityContext, states: list[Any], extensions: bool
) -> list[dict[str, Any]]:
    cases = cc.city.cases
    ids = [s.case_id for s in states]
    need_events = [s.case_id for s in states if extensions or s.stage.value == "suspended"]
    timelines = cases.timelines(need_events) if need_events else {}
    extras: dict[str, Extra] = {}
    if extensions and ids:
        with cases.store.read() as conn:
            extras = load_extras(conn, cases.city_id, ids)
    view = _view(request, cc)
    return [
        view.request(s, extra=extras.get(s.case_id), events=timelines.get(s.case_id), extensions=extensions)
        for s in states
    ]


@router.get("/requests.{fmt}", response_model=None, responses=_responses(list[O311Request], 400, 404))
def get_requests(
    request: Request,
    fmt: Fmt,
    jurisdiction_id: Jurisdiction = None,
    service_request_id: Annotated[str | None, Query(description=both("http.doc.request_ids"))] = None,
    service_code: Annotated[str | None, Query(description=both("http.doc.comma_list"))] = None,
    start_date: Annotated[str | None, Query(description="W3C datetime with zone")] = None,
    end_date: Annotated[str | None, Query(description="W3C datetime with zone")] = None,
    status: Annotated[str | None, Query(description="open, closed or open,closed")] = None,
    page: Annotated[str | None, Query(description=both("http.doc.page"))] = None,
    page_size: Annotated[str | None, Query(description=both("http.doc.page_size"))] = None,
    extensions: Annotated[
        str | None, Query(description="true: attributes, extended_attributes, notes")
    ] = None,
    locale: Locale = None,
) -> Response:
    """查询服务请求 / Service requests: last 90 days and at most 1000 by default, newest first."""
    cc = _city(request, jurisdiction_id)
    filt = parse_request_filter(request.query_params, cc.city.profile, datetime.now(UTC))
    states = cc.city.cases.search(filt.query)
    body = _requests_body(request, cc, states, filt.extensions)
    return open311_response(fmt, "service_requests", body, "request")


@router.get(
    "/requests/{service_request_id}.{fmt}", response_model=None, responses=_responses(list[O311Request], 404)
)
def get_request(
    request: Request,
    service_request_id: str,
    fmt: Fmt,
    jurisdiction_id: Jurisdiction = None,
    extensions: Annotated[
        str | None, Query(description="true: attributes, extended_attributes, notes")
    ] = None,
    locale: Locale = None,
) -> Response:
    """单个服务请求 / One service request (an array of one)."""
    cc = _city(request, jurisdiction_id)
    states = cc.city.cases.search(CaseQuery(ids=[service_request_id], limit=1))
    if not states:
        raise Open311Error.of(404, "open311.no_such_request", request=service_request_id)
    ext = (extensions or "").strip().lower() in ("true", "1", "yes")
    body = _requests_body(request, cc, states, ext)
    return open311_response(fmt, "service_requests", body, "request")


@router.get("/tokens/{token}.{fmt}", response_model=None, responses=_responses(list[O311Token], 404))
def get_token(
    request: Request, token: str, fmt: Fmt, jurisdiction_id: Jurisdiction = None, locale: Locale = None
) -> Response:
    """令牌换取请求号 / The service_request_id behind a token (batch services)."""
    cc = _city(request, jurisdiction_id)
    with cc.city.cases.store.read() as conn:
        found = find_token(conn, cc.city.id, token)
    if found is None:
        raise Open311Error.of(404, "open311.no_such_token", token=token)
    return open311_response(
        fmt, "service_requests", [{"service_request_id": found[1], "token": found[0]}], "request"
    )
