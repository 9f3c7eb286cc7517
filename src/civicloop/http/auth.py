"""Bearer authentication for the workflow API. Open311 POSTs use API keys instead (see open311.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import Request

from civicloop.accounts.service import AccountRole, User
from civicloop.http.context import ApiError, context_of
from civicloop.kernel.vocabulary import Role

bearer = HTTPBearer(auto_error=False, description="登录后获得的令牌 / the token from POST /api/v1/auth/login")


async def current_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError(
            401, "unauthorized", "需要登录（Bearer 令牌）", "authentication required (Bearer token)"
        )
    user = await run_in_threadpool(context_of(request).main.accounts.authenticate, credentials.credentials)
    if user is None:
        raise ApiError(401, "unauthorized", "令牌无效或已过期", "the token is invalid or has expired")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_roles(user: User, *roles: AccountRole) -> None:
    if user.role not in roles:
        allowed_zh = "、".join(r.zh for r in roles)
        allowed_en = ", ".join(r.en for r in roles)
        raise ApiError(
            403,
            "forbidden",
            f"角色「{user.role.zh}」无权执行此操作（允许：{allowed_zh}）",
            f"role {user.role.en} may not do this (allowed: {allowed_en})",
        )


def require_role_in(user: User, roles: frozenset[Role]) -> None:
    """403 unless *user* acts in one of *roles* (a policy of :mod:`civicloop.cases.scope`); the message
    names the account roles that may."""
    require_roles(user, *(r for r in AccountRole if r.domain_role in roles))


def require_actor(user: User) -> None:
    """A viewer (观察员) reads but never acts."""
    if not user.may_act:
        raise ApiError(403, "role_not_allowed", "观察员只能查看，不能操作", "a viewer may look but not act")
