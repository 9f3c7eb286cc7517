"""One error shape per API, whatever went wrong.

Workflow API (``/api/v1``): ``{"error": {"code", "field", "message", "message_zh", "message_en"}}``.
Open311 (``/open311/v2``): the spec's ``errors`` list in the format the path asked for, body code equal
to the HTTP status. Domain errors map to statuses here, in one table.
"""

from __future__ import annotations

import logging
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
    CaseNotFound,
    ConcurrentChange,
    DomainError,
    IllegalAction,
    InvalidField,
    MissingField,
    OutOfScope,
    RoleNotAllowed,
    TimeRunsBackwards,
)
from civicloop.open311.service import Open311Error

log = logging.getLogger("civicloop.http")
RETRY_AFTER_UNAVAILABLE = 2  # seconds: a restarting database is usually back within a few

#: Domain error → HTTP status. OutOfScope answers 404 like an unknown case: a user learns nothing about
#: cases outside their scope, not even that they exist.
DOMAIN_STATUS: dict[type[DomainError], int] = {
    IllegalAction: 409,
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

_GENERIC: dict[int, tuple[str, str, str]] = {
    400: ("bad_request", "请求无效", "bad request"),
    401: ("unauthorized", "需要登录", "authentication required"),
    403: ("forbidden", "无权访问", "forbidden"),
    404: ("not_found", "资源不存在", "not found"),
    405: ("method_not_allowed", "不支持该请求方法", "method not allowed"),
    406: ("not_acceptable", "无法提供该格式", "not acceptable"),
    413: ("payload_too_large", "请求体过大", "request body too large"),
    415: ("unsupported_media_type", "不支持的内容类型", "unsupported media type"),
    422: ("validation_error", "请求参数无效", "invalid request"),
    429: ("too_many_requests", "请求过于频繁", "too many requests"),
    500: ("internal_error", "服务器内部错误", "internal server error"),
    503: ("unavailable", "服务暂不可用", "service unavailable"),
}


#: Pydantic's error types → (Chinese, English) reasons; ``{name}`` placeholders come from the error's ctx.
_REASONS: dict[str, tuple[str, str]] = {
    "missing": ("缺少此字段", "is required"),
    "extra_forbidden": ("不是允许的字段", "is not an accepted field"),
    "string_type": ("必须是文本", "must be text"),
    "string_too_short": ("至少 {min_length} 个字符", "must be at least {min_length} characters"),
    "string_too_long": ("不能超过 {max_length} 个字符", "must be at most {max_length} characters"),
    "string_pattern_mismatch": ("格式不符（{pattern}）", "does not match {pattern}"),
    "too_short": ("至少 {min_length} 项", "must have at least {min_length} items"),
    "too_long": ("最多 {max_length} 项", "must have at most {max_length} items"),
    "int_type": ("必须是整数", "must be a whole number"),
    "int_parsing": ("必须是整数", "must be a whole number"),
    "int_from_float": ("必须是整数", "must be a whole number"),
    "float_type": ("必须是数字", "must be a number"),
    "float_parsing": ("必须是数字", "must be a number"),
    "finite_number": ("必须是有限的数字", "must be a finite number"),
    "bool_type": ("必须是 true 或 false", "must be true or false"),
    "bool_parsing": ("必须是 true 或 false", "must be true or false"),
    "greater_than": ("必须大于 {gt}", "must be greater than {gt}"),
    "greater_than_equal": ("不能小于 {ge}", "must be at least {ge}"),
    "less_than": ("必须小于 {lt}", "must be less than {lt}"),
    "less_than_equal": ("不能大于 {le}", "must be at most {le}"),
    "literal_error": ("只能是 {expected}", "must be one of {expected}"),
    "enum": ("只能是 {expected}", "must be one of {expected}"),
    "list_type": ("必须是数组", "must be a list"),
    "dict_type": ("必须是对象", "must be an object"),
    "model_type": ("必须是对象", "must be an object"),
    "model_attributes_type": ("必须是对象", "must be an object"),
    "nul_character": ("不能含有 NUL 字符", "must not contain NUL characters"),
}


def _shown(value: Any) -> str:
    return str(int(value)) if isinstance(value, float) and value.is_integer() else str(value)


def _reason(error: Mapping[str, Any]) -> tuple[str, str]:
    kind = str(error.get("type", ""))
    ctx = {k: _shown(v) for k, v in (error.get("ctx") or {}).items()}
    found = _REASONS.get(kind)
    if found is None:
        msg = str(error.get("msg", "invalid"))
        return f"无效（{msg}）", msg[:1].lower() + msg[1:]
    try:
        return found[0].format(**ctx), found[1].format(**ctx)
    except (KeyError, IndexError):
        return found[0].split("{", 1)[0].rstrip("（ "), found[1].split("{", 1)[0].rstrip()


def explain_validation(error: Mapping[str, Any], content_type: str | None) -> tuple[str, str, str, str]:
    """(code, field, Chinese, English) for a request validation error: always a field (``body`` for the
    body as a whole) and the problem, never "field None"."""
    raw_loc = tuple(error.get("loc", ()))
    loc = [str(p) for p in raw_loc if p not in ("body", "query", "path", "header")]
    kind = error.get("type")
    if kind == "json_invalid":  # loc is ("body", <character offset>): not a field
        at = loc[0] if loc else "?"
        return (
            "validation_error",
            "body",
            f"请求体不是有效的 JSON（约第 {at} 个字符）",
            f"the body is not valid JSON (near character {at})",
        )
    if kind == "nul_character":
        where = str((error.get("ctx") or {}).get("field") or "body")
        return (
            "invalid_characters",
            where,
            f"{where} 不能含有 NUL 字符",
            f"{where} must not contain NUL characters",
        )
    if not loc and raw_loc[:1] == ("body",):
        ctype = (content_type or "").split(";", 1)[0].strip().lower()
        if kind == "missing":
            return (
                "validation_error",
                "body",
                "缺少请求体：须为 JSON 对象",
                "the body is missing: send a JSON object",
            )
        if ctype and ctype != "application/json" and not ctype.endswith("+json"):
            return (
                "unsupported_body",
                "body",
                f"请求体须为 JSON 对象（Content-Type: application/json），而不是 {ctype[:80]}",
                f"the body must be a JSON object (Content-Type: application/json), not {ctype[:80]}",
            )
        return "validation_error", "body", "请求体须为 JSON 对象", "the body must be a JSON object"
    field = ".".join(loc) or "body"
    zh, en = _reason(error)
    return "validation_error", field, f"字段 {field} 无效：{zh}", f"field {field} is invalid: {en}"


def unparsable_body(cause: BaseException | None) -> tuple[str, str, str]:
    """(code, Chinese, English) for a body the JSON parser gave up on, naming why."""
    if isinstance(cause, UnicodeDecodeError):
        return (
            "invalid_encoding",
            f"请求体不是有效的 UTF-8 编码（第 {cause.start} 字节）",
            f"the body is not valid UTF-8 (at byte {cause.start})",
        )
    if isinstance(cause, RecursionError):
        return "too_deep", "请求体的 JSON 嵌套层数过多", "the body's JSON is nested too deeply"
    if isinstance(cause, ValueError) and "digits" in str(cause):
        return (
            "number_too_long",
            "请求体中的整数位数过多（最多 4300 位）",
            "a number in the body has too many digits (at most 4300)",
        )
    return "invalid_body", "请求体无法解析为 JSON", "the body could not be parsed as JSON"


def is_open311(request: Request) -> bool:
    return request.url.path.startswith("/open311/")


def open311_format(request: Request) -> str:
    """The format the path asks for; XML (the required one) when it names none we serve."""
    return "json" if request.url.path.endswith(".json") else "xml"


def error_body(code: str, zh: str, en: str, locale: str, field: str | None = None) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "field": field,
            "message": en if locale.startswith("en") else zh,
            "message_zh": zh,
            "message_en": en,
        }
    }


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
    zh = "数据库暂时不可用，请稍后重试（带同一 Idempotency-Key 重试不会重复上报）"
    en = (
        "the database is unavailable at the moment; retry shortly "
        "(a retry with the same Idempotency-Key never stores a report twice)"
    )
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
            return open311_errors("xml", 404, ["格式只能是 json 或 xml (format must be json or xml)"])
        code, field, zh, en = explain_validation(first, request.headers.get("content-type"))
        if is_open311(request):
            return open311_errors(open311_format(request), 400, [f"{zh} ({en})"])
        return api_error_response(request, 422, code, zh, en, field)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        code, zh, en = _GENERIC.get(exc.status_code, ("http_error", "请求失败", "request failed"))
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
        code, zh, en = _GENERIC[500]
        return api_error_response(request, 500, code, zh, en)
