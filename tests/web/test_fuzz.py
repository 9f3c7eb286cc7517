"""Property-based fuzzing of the web endpoints in /openapi.json (schemathesis, in-process ASGI): no 5xx,
and every refusal names its problem — the same two promises as the API's own fuzz test
(tests/api/test_schemathesis.py), for the operations this capability adds. The SSE stream is left out
(an endless response); the browser tests cover it."""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error

from civicloop.accounts.secrets import fast_hasher
from civicloop.accounts.service import accounts_for, seed_demo_users
from civicloop.city.service import City
from civicloop.http import create_app, public
from civicloop.http import web_api as api
from civicloop.photos.store import LocalPhotoStore

EXAMPLES = int(os.environ.get("CIVICLOOP_FUZZ_EXAMPLES", "25")) // 2 or 1


def problem_is_named(ctx: Any, response: Any, case: Any) -> bool | None:
    """A 4xx answer says what is wrong, in both languages (the workflow API's error body)."""
    status = response.status_code
    if not 400 <= status < 500:
        return None
    ctype = (response.headers.get("content-type") or [""])[0]
    assert response.content, f"{status} without a body"
    assert ctype.startswith("application/json"), ctype
    error = response.json()["error"]
    assert error["code"] and error["message_zh"].strip() and error["message_en"].strip(), error
    return None


def test_no_server_errors_and_every_refusal_names_its_problem(city: City, tmp_path: Any) -> None:
    accounts = accounts_for(city, hasher=fast_hasher())
    user, password, _ = next(u for u in seed_demo_users(city, accounts=accounts) if u[2] == "operator")
    token = accounts.login(user, password).token
    app = create_app(city, accounts=accounts, photos=LocalPhotoStore(tmp_path / "photos"))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    ours = {
        (method, route.path)
        for router in (api.router, public.router)
        for route in router.routes
        if isinstance(route, APIRoute) and route.path != "/api/v1/stream"
        for method in route.methods
    }
    operations = [
        op
        for op in (result.ok() for result in schema.get_all_operations())
        if (op.method.upper(), op.path) in ours
    ]
    assert len(operations) == len(ours) >= 14
    seen: dict[str, set[int]] = {}
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
                response = case.call(headers={"Authorization": f"Bearer {token}"})
                seen.setdefault(f"{case.method} {case.path}", set()).add(response.status_code)
                case.validate_response(response, checks=[not_a_server_error, problem_is_named])

            try:
                run()
            except Unsatisfiable:
                if mode is not GenerationMode.NEGATIVE:
                    raise
    assert len(seen) == len(operations)
