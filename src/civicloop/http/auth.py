"""Bearer authentication for the workflow API. Open311 POSTs use API keys instead (see open311.py)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends
from fastapi.concurrency import run_in_threadpool
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.requests import Request

from civicloop.accounts.service import AccountRole, User
from civicloop.http.context import CITY_HEADER, TOKEN_CITY_SEPARATOR, ApiError, AppContext
from civicloop.kernel.i18n import both, t
from civicloop.kernel.vocabulary import Role

bearer = HTTPBearer(auto_error=False, description=both("http.bearer_description"))


async def current_user(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]
) -> User:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise ApiError.of(401, "unauthorized", "http.login_required")
    ctx: AppContext = request.app.state.civicloop
    home, token = ctx.main, credentials.credentials
    if TOKEN_CITY_SEPARATOR in token:  # <city_id>~<token>: a server of several cities
        city_id, token = token.split(TOKEN_CITY_SEPARATOR, 1)
        found = ctx.cities.get(city_id)
        if found is None:
            raise ApiError.of(401, "unauthorized", "http.token_invalid")
        home = found
    user = await run_in_threadpool(home.accounts.authenticate, token)
    if user is None:
        raise ApiError.of(401, "unauthorized", "http.token_invalid")
    wanted = request.headers.get(CITY_HEADER, "").strip() or home.city.id
    if wanted != home.city.id:
        if wanted not in ctx.cities:
            raise ApiError.of(404, "unknown_jurisdiction", "open311.unknown_jurisdiction", "jurisdiction_id",
                              jurisdiction=wanted)  # fmt: skip
        member = await run_in_threadpool(home.accounts.as_member, user, wanted)
        if member is None:
            raise ApiError.of(403, "forbidden", "http.not_a_member", "jurisdiction_id", city=wanted)
        user = member
    request.state.city_id = wanted  # every later context_of(request) answers for this city
    request.state.home_city_id = home.city.id
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
