"""Accounts over HTTP (``/api/v1/auth/*``, ``/api/v1/me``): log in, log out, who am I.

The bearer dependency itself is :mod:`civicloop.http.auth`; the accounts, sessions and login throttle are
:class:`civicloop.accounts.service.AccountService`.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request

from civicloop.accounts.service import User
from civicloop.http.auth import CurrentUser
from civicloop.http.context import TOKEN_CITY_SEPARATOR, ApiError, AppContext, CityContext, context_of
from civicloop.http.schemas import ERRORS, CityInfo, CityRole, Done, LoginBody, LoginResult, UserView

router = APIRouter(prefix="/api/v1", responses=ERRORS)


def user_view(user: User) -> UserView:
    return UserView(
        user_id=user.user_id,
        username=user.username,
        display_name=user.display_name,
        role=user.role.value,
        role_label_zh=user.role.zh,
        role_label_en=user.role.en,
        department_id=user.department_id,
        district_codes=list(user.district_codes),
        grid_codes=list(user.grid_codes),
        may_act=user.may_act,
    )


@router.post("/auth/login", response_model=LoginResult, tags=["auth"])
def login(request: Request, body: LoginBody) -> LoginResult:
    """登录 / Log in: a bearer token with its expiry."""
    client = request.client.host if request.client else None  # for LoginGuard's address throttle
    ctx = context_of(request)
    home = login_city(ctx, body.jurisdiction_id)
    session = home.accounts.login(body.username, body.password, client=client)
    # With several cities the token names its city, so that each later call finds the right accounts.
    token = session.token if len(ctx.cities) == 1 else f"{home.city.id}{TOKEN_CITY_SEPARATOR}{session.token}"
    cities = [CityRole(jurisdiction_id=c, role=r) for c, r in home.accounts.cities_of(session.user)]
    return LoginResult(access_token=token, expires_at=session.expires_at, user=user_view(session.user),
                       jurisdiction_id=home.city.id, cities=cities)  # fmt: skip


def login_city(ctx: AppContext, jurisdiction_id: str | None) -> CityContext:
    """The city of a login: the one named (404 if unknown), the only one, or 400 naming the field."""
    if jurisdiction_id is None or not jurisdiction_id.strip():
        if len(ctx.cities) > 1:
            raise ApiError.of(400, "missing_field", "http.jurisdiction_required", "jurisdiction_id",
                              cities=", ".join(sorted(ctx.cities)))  # fmt: skip
        return ctx.main
    found = ctx.cities.get(jurisdiction_id.strip())
    if found is None:
        raise ApiError.of(404, "unknown_jurisdiction", "open311.unknown_jurisdiction", "jurisdiction_id",
                          jurisdiction=jurisdiction_id)  # fmt: skip
    return found


@router.post("/auth/logout", response_model=Done, tags=["auth"])
def logout(request: Request, user: CurrentUser) -> Done:
    """退出 / Revoke the token used for this call."""
    token = request.headers.get("authorization", "").split(" ", 1)[-1].strip()
    token = token.split(TOKEN_CITY_SEPARATOR, 1)[-1]
    home = context_of(request).cities[request.state.home_city_id]
    return Done(ok=home.accounts.logout(token))


@router.get("/cities", response_model=list[CityInfo], tags=["auth"])
def cities(request: Request) -> list[CityInfo]:
    """城市 / The cities this server serves (the login page offers a choice when there are several)."""
    ctx = context_of(request)
    return [CityInfo(jurisdiction_id=cid, name=cc.city.profile.name, name_en=cc.city.profile.name_en or cid)
            for cid, cc in sorted(ctx.cities.items())]  # fmt: skip


@router.get("/me", response_model=UserView, tags=["workflow"])
def me(user: CurrentUser) -> UserView:
    """当前用户 / Who am I: role and scope."""
    return user_view(user)


__all__ = ["router", "user_view"]
