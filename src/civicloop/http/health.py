"""The health check (``GET /healthz``): liveness and the database, for load balancers and operators."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.concurrency import run_in_threadpool
from starlette.requests import Request

from civicloop.http import errors
from civicloop.http.context import context_of
from civicloop.http.render import JSON
from civicloop.http.schemas import Health
from civicloop.store.database import city_registered

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    response_model=Health,
    responses={503: {"model": Health, "description": "the database is unreachable"}},
)
async def healthz(request: Request) -> Any:
    """健康检查 / Liveness and the database: 503 naming the problem when the database is away."""
    cc = context_of(request).main

    def probe() -> None:
        if not city_registered(cc.city.engine, cc.city.id):
            raise LookupError(f"city {cc.city.id} is not registered in the database")

    try:
        await run_in_threadpool(probe)
    except Exception as exc:
        problem = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"[:300]
        body = Health(status="unavailable", database="unreachable", city=cc.city.id, problem=problem)
        retry = str(errors.RETRY_AFTER_UNAVAILABLE)
        return JSON(body.model_dump(), status_code=503, headers={"Retry-After": retry})
    return Health(status="ok", database="ok", city=cc.city.id)


__all__ = ["router"]
