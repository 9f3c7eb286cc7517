"""One error shape per API, whatever went wrong.

Workflow API (``/api/v1``): ``{"error": {"code", "field", "message", "message_zh", "message_en"}}``.
Open311 (``/open311/v2``): the spec's ``errors`` list in the format the path asked for, body code equal
to the HTTP status. Domain errors map to statuses here, in one table.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import Response

from civicloop.accounts.service import AccountError
from civicloop.http.context import ApiError, locale_of
from civicloop.http.render import JSON, open311_errors
from civicloop.kernel.errors import (
    AlreadyRated,
    CaseNotFound,
    ConcurrentChange,
    DomainError,
    IllegalAction,
    InvalidField,
    MissingField,
    OutOfScope,
    RoleNotAllowed,
    TimeRunsBackwards,
    field_label,
)
from civicloop.kernel.i18n import Msg, messages, t
from civicloop.open311.service import Open311Error

log = logging.getLogger("civicloop.http")
RETRY_AFTER_UNAVAILABLE = 2  # seconds: a restarting database is usually back within a few

#: Domain error → HTTP status. OutOfScope answers 404 like an unknown case: a user learns nothing about
#: cases outside their scope, not even that they exist.
DOMAIN_STATUS: dict[type[DomainError], int] = {
    IllegalAction: 409,
    AlreadyRated: 409,
    RoleNotAllowed: 403,
    MissingField: 422,
    InvalidField: 422,
    TimeRunsBackwards: 409,
    CaseNotFound: 404,
    OutOfScope: 404,
    ConcurrentChange: 409,
}
ACCOUNT_STATUS = {
    "invalid_credentials": 401,
    "username_taken": 409,
    "not_found": 404,
    "missing_field": 422,
    "invalid_field": 422,
    "account_locked": 423,  # too many wrong passwords for this username from this address (LoginGuard)
    "login_delayed": 429,  # many recent failures for this username from unknown addresses (LoginGuard)
    "too_many_attempts": 429,  # too many wrong passwords from this address (LoginGuard)
}

#: Status → the stable code of its generic answer; the texts are ``http.status.<code>``.
_GENERIC: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "too_many_requests",
    500: "internal_error",
    503: "unavailable",
}


#: Pydantic's error types → catalogue keys of the reason; ``{name}`` fields come from the error's ctx.
_REASONS: dict[str, str] = {
    "missing": "http.reason.missing",
    "extra_forbidden": "http.reason.extra_forbidden",
    "string_type": "http.reason.must_be_text",
    "string_too_short": "http.reason.string_too_short",
    "string_too_long": "http.reason.string_too_long",
    "string_pattern_mismatch": "http.reason.string_pattern_mismatch",
    "too_short": "http.reason.too_short",
    "too_long": "http.reason.too_long",
    "int_type": "http.reason.must_be_whole_number",
    "int_parsing": "http.reason.must_be_whole_number",
    "int_from_float": "http.reason.must_be_whole_number",
    "float_type": "http.reason.must_be_number",
    "float_parsing": "http.reason.must_be_number",
    "finite_number": "http.reason.finite_number",
    "bool_type": "http.reason.must_be_bool",
    "bool_parsing": "http.reason.must_be_bool",
    "greater_than": "http.reason.greater_than",
    "greater_than_equal": "http.reason.greater_than_equal",
    "less_than": "http.reason.less_than",
    "less_than_equal": "http.reason.less_than_equal",
    "literal_error": "http.reason.one_of",
    "enum": "http.reason.one_of",
    "list_type": "http.reason.list_type",
    "dict_type": "http.reason.must_be_object",
    "model_type": "http.reason.must_be_object",
    "model_attributes_type": "http.reason.must_be_object",
    "nul_character": "http.reason.nul_character",
}


_OPEN_BRACKET = re.compile(r"[\s\uff08]+$")


def _both(key: str, /, **fields: object) -> tuple[str, str]:
    """The catalogue's *key* in Chinese and in English (an error carries both)."""
    return t(key, "zh-CN", **fields), t(key, "en", **fields)


def _generic(status: int) -> tuple[str, str, str]:
    """(code, Chinese, English) of the generic answer for *status*."""
    code = _GENERIC.get(status, "http_error")
    return (code, *_both(f"http.status.{code}"))


def _shown(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _reason(error: Mapping[str, Any]) -> tuple[str, str]:
    kind = str(error.get("type", ""))
    ctx = {k: _shown(v) for k, v in (error.get("ctx") or {}).items()}
    key = _REASONS.get(kind)
    if key is None:
        msg = str(error.get("msg", "invalid"))
        return t("http.reason.other", "zh-CN", msg=msg), t(
            "http.reason.other", "en", msg=msg[:1].lower() + msg[1:]
        )
    zh, en = messages()[key]["zh-CN"], messages()[key]["en"]  # the templates (t() with no ctx would not fill)
    value = error.get("input")
    if kind == "string_too_long" and isinstance(value, str):  # the limit and what was sent
        zh += t("http.reason.now_length", "zh-CN", length=len(value))
        en += t("http.reason.now_length", "en", length=len(value))
    try:
        return zh.format(**ctx), en.format(**ctx)
    except (KeyError, IndexError):
        # A field the template names is missing from ctx: the text before it, without a dangling bracket.
        return _OPEN_BRACKET.sub("", zh.split("{", 1)[0]), en.split("{", 1)[0].rstrip()


def explain_validation(error: Mapping[str, Any], content_type: str | None) -> tuple[str, str, str, str]:
    """(code, field, Chinese, English) for a request validation error: always a field (``body`` for the
    body as a whole) and the problem, never "field None"."""
    raw_loc = tuple(error.get("loc", ()))
    loc = [str(p) for p in raw_loc if p not in ("body", "query", "path", "header")]
    kind = error.get("type")
    if kind == "json_invalid":  # loc is ("body", <character offset>): not a field
        at = loc[0] if loc else "?"
        return ("validation_error", "body", *_both("http.body_not_json_at", at=at))
    if kind == "nul_character":
        where = str((error.get("ctx") or {}).get("field") or "body")
        return ("invalid_characters", where, *_both("http.field_has_nul", field=where))
    if not loc and raw_loc[:1] == ("body",):
        ctype = (content_type or "").split(";", 1)[0].strip().lower()
        if kind == "missing":
            return ("validation_error", "body", *_both("http.body_missing"))
        if ctype and ctype != "application/json" and not ctype.endswith("+json"):
            return ("unsupported_body", "body", *_both("http.body_wrong_type", ctype=ctype[:80]))
        return ("validation_error", "body", *_both("http.body_not_object"))
    field = ".".join(loc) or "body"
    zh, en = _reason(error)
    label_zh, label_en = labels_of(field)
    return (
        "validation_error",
        field,
        t("http.field_invalid", "zh-CN", field=label_zh, reason=zh),
        t("http.field_invalid", "en", field=label_en, reason=en),
    )


def labels_of(field: str) -> tuple[str, str]:
    """The field's label in Chinese and English (its name when it has none)."""
    label = field_label(field)
    return (label.render("zh-CN"), label.render("en")) if isinstance(label, Msg) else (label, label)


def unparsable_body(cause: BaseException | None) -> tuple[str, str, str]:
    """(code, Chinese, English) for a body the JSON parser gave up on, naming why."""
    if isinstance(cause, UnicodeDecodeError):
        return ("invalid_encoding", *_both("http.body_not_utf8", at=cause.start))
    if isinstance(cause, RecursionError):
        return ("too_deep", *_both("http.body_too_deep"))
    if isinstance(cause, ValueError) and "digits" in str(cause):
        return ("number_too_long", *_both("http.body_number_too_long"))
    return ("invalid_body", *_both("http.body_unparsable"))


def is_open311(request: Request) -> bool:
    return request.url.path.startswith("/open311/")


def open311_format(request: Request) -> str:
    """The format the path asks for; XML (the required one) when it names none we serve."""
    return "json" if request.url.path.endswith(".json") else "xml"


def error_body(code: str, zh: str, en: str, locale: str, field: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "code": code,
        "field": field,
        "message": en if locale.startswith("en") else zh,
        "message_zh": zh,
        "message_en": en,
    }
    if field is not None and field != "body":  # the field's key stays; its label is what a person reads
        label_zh, label_en = labels_of(field)
        body.update(
            label=label_en if locale.startswith("en") else label_zh, label_zh=label_zh, label_en=label_en
        )
    return {"error": body}


def api_error_response(
    request: Request, status: int, code: str, zh: str, en: str, field: str | None = None
) -> Response:
    if is_open311(request):
        locale = locale_of(request)
        text = en if locale.startswith("en") else f"{zh} ({en})"
        return open311_errors(open311_format(request), status, [text])
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return JSON(error_body(code, zh, en, locale_of(request), field), status_code=status, headers=headers)


def domain_error_response(request: Request, exc: DomainError) -> Response:
    status = DOMAIN_STATUS.get(type(exc), 400)
    if isinstance(exc, OutOfScope):
        exc = CaseNotFound(exc.case)
    field = getattr(exc, "field", None)
    if is_open311(request):
        # Inside Open311 a refused report is a bad argument (400); the spec knows no 409/422.
        status = 404 if status == 404 else 400
    return api_error_response(request, status, exc.key, exc.render("zh-CN"), exc.render("en"), field)


def database_away(exc: BaseException) -> bool:
    """A database that cannot be reached or answer now (connection refused or lost, server shutting
    down, SQLite busy past its timeout) — not a wrong statement or a broken constraint."""
    if isinstance(exc, DBAPIError) and exc.connection_invalidated:
        return True
    return isinstance(exc, OperationalError | InterfaceError | SQLAlchemyTimeout)


def unavailable(request: Request, exc: BaseException) -> Response:
    """503 with ``Retry-After`` naming the database. Send the request again; a report retried with the
    same ``Idempotency-Key`` is stored once, even if the first attempt reached the database."""
    log.warning("database unavailable on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    zh, en = _both("http.database_unavailable")
    response = api_error_response(request, 503, "database_unavailable", zh, en)
    response.headers["Retry-After"] = str(RETRY_AFTER_UNAVAILABLE)
    return response


def install(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api(request: Request, exc: ApiError) -> Response:
        response = api_error_response(request, exc.status, exc.code, exc.zh, exc.en, exc.field)
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> Response:
        return domain_error_response(request, exc)

    @app.exception_handler(AccountError)
    async def _account(request: Request, exc: AccountError) -> Response:
        status = ACCOUNT_STATUS.get(exc.code, 400)
        response = api_error_response(request, status, exc.code, exc.message_zh, exc.message_en, exc.field)
        if exc.retry_after is not None:
            response.headers["Retry-After"] = str(exc.retry_after)
        return response

    @app.exception_handler(DBAPIError)
    async def _database(request: Request, exc: DBAPIError) -> Response:
        if not database_away(exc):
            return await _internal(request, exc)
        return unavailable(request, exc)

    @app.exception_handler(SQLAlchemyTimeout)
    async def _pool(request: Request, exc: SQLAlchemyTimeout) -> Response:
        return unavailable(request, exc)

    @app.exception_handler(Open311Error)
    async def _open311(request: Request, exc: Open311Error) -> Response:
        return open311_errors(open311_format(request), exc.status, exc.descriptions(locale_of(request)))

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> Response:
        errors = exc.errors()
        first = errors[0] if errors else {}
        if is_open311(request) and any(tuple(e.get("loc", ()))[:2] == ("path", "fmt") for e in errors):
            zh, en = _both("http.open311_format")
            return open311_errors("xml", 404, [f"{zh} ({en})"])
        code, field, zh, en = explain_validation(first, request.headers.get("content-type"))
        if is_open311(request):
            return open311_errors(open311_format(request), 400, [f"{zh} ({en})"])
        return api_error_response(request, 422, code, zh, en, field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code, zh, en = _generic(exc.status_code)
        field = None
        if exc.status_code == 400 and exc.detail == "There was an error parsing the body":
            code, zh, en = unparsable_body(exc.__cause__)
            field = "body"
        elif isinstance(exc.detail, str) and exc.detail and exc.status_code not in _GENERIC:
            en = exc.detail
        response = api_error_response(request, exc.status_code, code, zh, en, field)
        for key, value in (exc.headers or {}).items():
            response.headers[key] = value
        return response

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> Response:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        code, zh, en = _generic(500)
        return api_error_response(request, 500, code, zh, en)
