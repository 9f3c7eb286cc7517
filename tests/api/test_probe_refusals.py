"""Probe finding (issue 18, low): refusals that did not name the problem. A JSON array, a form or XML
body, or a NUL in JSON sent to ``/api/v1/cases`` or ``/api/v1/auth/login`` answered 422 "field None is
invalid"; invalid UTF-8, an integer of 4,300+ digits and deep nesting answered 400 "bad request". Every
4xx now names the field (``body`` for the body as a whole) and the problem, in the client's language."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

JSON = {"content-type": "application/json"}
BODIES: list[tuple[str, bytes, dict[str, str], int, str, str, str]] = [
    # name, body, headers, status, code, field, words of the English message
    ("array", b"[1, 2]", JSON, 422, "validation_error", "body", "must be a JSON object"),
    (
        "form",
        b"a=b",
        {"content-type": "application/x-www-form-urlencoded"},
        422,
        "unsupported_body",
        "body",
        "application/x-www-form-urlencoded",
    ),
    ("xml", b"<a/>", {"content-type": "application/xml"}, 422, "unsupported_body", "body", "application/xml"),
    (
        "nul",
        b'{"description": "a\\u0000b", "username": "a\\u0000"}',
        JSON,
        422,
        "invalid_characters",
        None,
        "NUL",
    ),
    ("utf8", b'{"description": "\xff\xfe"}', JSON, 400, "invalid_encoding", "body", "not valid UTF-8"),
    ("digits", b'{"lon": ' + b"9" * 4400 + b"}", JSON, 400, "number_too_long", "body", "too many digits"),
    (
        "deep",
        b'{"a": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        JSON,
        400,
        "too_deep",
        "body",
        "nested too deeply",
    ),
    ("empty", b"", JSON, 422, "validation_error", "body", "body is missing"),
]


def _error(r: Any) -> dict[str, Any]:
    body = r.json()
    assert set(body) == {"error"}, body
    error: dict[str, Any] = body["error"]
    return error


def _check(
    client: TestClient,
    auth: dict[str, str],
    path: str,
    case: tuple[str, bytes, dict[str, str], int, str, str, str],
) -> None:
    name, body, headers, status, code, field, words = case
    en = client.post(path, content=body, headers={**headers, **auth, "Accept-Language": "en"})
    assert en.status_code == status, (name, en.text)
    error = _error(en)
    assert error["code"] == code, (name, error)
    assert error["field"] is not None and "None" not in error["message_en"]
    if field is not None:
        assert error["field"] == field, (name, error)
    else:  # the NUL: the field that carries it
        assert error["field"] in ("description", "username"), error
    assert words in error["message_en"] and error["message"] == error["message_en"], (name, error)
    zh = client.post(path, content=body, headers={**headers, **auth})
    assert zh.status_code == status and _error(zh)["message"] == _error(zh)["message_zh"]
    assert any("\u4e00" <= c <= "\u9fff" for c in _error(zh)["message_zh"]), _error(zh)


@pytest.mark.parametrize("path", ["/api/v1/cases", "/api/v1/auth/login", "/api/v1/public/reports"])
@pytest.mark.parametrize("case", BODIES, ids=[b[0] for b in BODIES])
def test_every_bad_body_is_refused_naming_the_problem(
    client: TestClient, headers: dict[str, dict[str, str]], path: str, case: Any
) -> None:
    _check(client, headers["inspector"] if path == "/api/v1/cases" else {}, path, case)


def test_field_errors_name_the_field_and_the_reason_in_both_languages(
    client: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    r = client.post(
        "/api/v1/cases",
        json={"category_code": "06010", "lon": 500, "lat": 37.7},
        headers={**headers["inspector"], "Accept-Language": "en"},
    )
    assert r.status_code == 422
    error = _error(r)
    assert (
        error["field"] == "lon" and error["message_en"] == "field longitude is invalid: must be at most 180"
    )
    assert error["message_zh"] == "字段 经度 无效：不能大于 180" and error["label_zh"] == "经度"
    r = client.post("/api/v1/auth/login", json={"username": "x", "password": "y", "extra": 1})
    assert _error(r)["field"] == "extra" and "不是允许的字段" in _error(r)["message"]
    r = client.get("/api/v1/cases", params={"page": "x"}, headers=headers["operator"])
    assert _error(r)["field"] == "page" and "整数" in _error(r)["message"]
