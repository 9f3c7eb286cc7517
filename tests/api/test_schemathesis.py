"""Property-based fuzzing of every operation in /openapi.json (schemathesis, in-process ASGI).

Bounded: ``CIVICLOOP_FUZZ_EXAMPLES`` (default 25) valid-shaped and as many invalid-shaped requests per
operation and store, about a minute in all. Two promises are checked on every answer: no 5xx, and every
4xx carries a body that names the problem (the workflow API's ``{"error": {code, message…}}`` or
Open311's ``errors`` list, JSON or XML, code equal to the status). Requests carry a valid operator token;
half of the Open311 POSTs carry a valid api_key, so validation is reached instead of stopping at 403.

schemathesis' own pytest plug-in (``from_fixture``) does not run under pytest 9, so the operations are
driven with their Hypothesis strategies directly.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from defusedxml import ElementTree as SafeET
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from civicloop.accounts.service import AccountService
from civicloop.city.service import City
from civicloop.http import accounts as account_routes
from civicloop.http import create_app, open311, workflow
from civicloop.http import search as case_search
from civicloop.photos.store import LocalPhotoStore

EXAMPLES = int(os.environ.get("CIVICLOOP_FUZZ_EXAMPLES", "25"))


def problem_is_named(ctx: Any, response: Any, case: Any) -> bool | None:
    status = response.status_code
    if not 400 <= status < 500:
        return None
    ctype = (response.headers.get("content-type") or [""])[0]
    body = response.content
    assert body, f"{status} without a body"
    if ctype.startswith("text/xml"):
        assert body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
        root = SafeET.fromstring(body)
        assert root.tag == "errors", root.tag
        for error in root.findall("error"):
            assert error.findtext("code") == str(status)
            assert (error.findtext("description") or "").strip()
        return None
    assert ctype.startswith("application/json"), ctype
    doc = response.json()
    if isinstance(doc, list):  # Open311 JSON errors
        assert doc and all(e["code"] == status and e["description"].strip() for e in doc), doc
    else:
        error = doc["error"]
        assert error["code"] and error["message_zh"].strip() and error["message_en"].strip(), doc
    return None


def test_no_server_errors_and_every_refusal_names_its_problem(
    city: City,
    accounts: AccountService,
    photos: LocalPhotoStore,
    headers: dict[str, dict[str, str]],
    api_key: str,
) -> None:
    app = create_app(city, accounts=accounts, photos=photos)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    auth = headers["operator"]
    seen: dict[str, set[int]] = {}

    def exercise(case: Any) -> None:
        open311_post = case.method == "POST" and case.path == "/open311/v2/requests.{fmt}"
        if open311_post and isinstance(case.body, dict) and len(repr(case.body)) % 2 == 0:
            case.body["api_key"] = api_key
        response = case.call(headers=auth)
        seen.setdefault(f"{case.method} {case.path}", set()).add(response.status_code)
        case.validate_response(response, checks=[not_a_server_error, problem_is_named])

    # The operations of the API itself (Open311, workflow, health); pages mounted on the same app by
    # other capabilities are fuzzed by their own tests.
    ours = {
        (method, route.path)
        for router in (open311.router, account_routes.router, case_search.router, workflow.router)
        for route in router.routes
        if isinstance(route, APIRoute)
        for method in route.methods
    } | {("GET", "/healthz")}
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())
        if (op.method.upper(), op.path) in ours
    ]
    assert len(operations) == len(ours) >= 18
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def run(case: Any) -> None:
                exercise(case)

            try:
                run()
            except Unsatisfiable:
                # Nothing of this operation can be made invalid (e.g. GET /healthz takes no input).
                if mode is not GenerationMode.NEGATIVE:
                    raise
    assert len(seen) == len(operations)
    assert any(s < 300 for statuses in seen.values() for s in statuses)  # not everything was refused
