"""Bearer authentication for the workflow API. Open311 POSTs use API keys instead (see open311.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import Request

from civicloop.accounts.service import AccountRole, User
from civicloop.http.context import ApiError, context_of
from civicloop.kernel.i18n import both, t
from civicloop.kernel.vocabulary import Role

bearer = HTTPBearer(auto_error=False, description=both("http.bearer_description"))


async def current_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError.of(401, "unauthorized", "http.login_required")
    user = await run_in_threadpool(context_of(request).main.accounts.authenticate, credentials.credentials)
    if user is None:
        raise ApiError.of(401, "unauthorized", "http.token_invalid")
    return user


CurrentUser = Annotated[User, Depends(current_user)]


def require_roles(user: User, *roles: AccountRole) -> None:
    if user.role not in roles:
        allowed_zh = t("http.list_separator", "zh-CN").join(r.zh for r in roles)
        allowed_en = t("http.list_separator", "en").join(r.en for r in roles)
        raise ApiError(
            403,
            "forbidden",
            t("http.role_forbidden", "zh-CN", role=user.role.zh, allowed=allowed_zh),
            t("http.role_forbidden", "en", role=user.role.en, allowed=allowed_en),
        )


def require_role_in(user: User, roles: frozenset[Role]) -> None:
    """403 unless *user* acts in one of *roles* (a policy of :mod:`civicloop.cases.scope`); the message
    names the account roles that may."""
    require_roles(user, *(r for r in AccountRole if r.domain_role in roles))


def require_actor(user: User) -> None:
    """A viewer (观察员) reads but never acts."""
    if not user.may_act:
        raise ApiError.of(403, "role_not_allowed", "http.viewer_cannot_act")
