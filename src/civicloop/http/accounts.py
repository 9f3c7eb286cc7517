"""Accounts over HTTP (``/api/v1/auth/*``, ``/api/v1/me``): log in, log out, who am I.

The bearer dependency itself is :mod:`civicloop.http.auth`; the accounts, sessions and login throttle are
:class:`civicloop.accounts.service.AccountService`.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request

from civicloop.accounts.service import User
from civicloop.http.auth import CurrentUser
from civicloop.http.context import context_of
from civicloop.http.schemas import ERRORS, Done, LoginBody, LoginResult, UserView

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
    session = context_of(request).main.accounts.login(body.username, body.password, client=client)
    return LoginResult(
        access_token=session.token, expires_at=session.expires_at, user=user_view(session.user)
    )


@router.post("/auth/logout", response_model=Done, tags=["auth"])
def logout(request: Request, user: CurrentUser) -> Done:
    """退出 / Revoke the token used for this call."""
    token = request.headers.get("authorization", "").split(" ", 1)[-1].strip()
    return Done(ok=context_of(request).main.accounts.logout(token))


@router.get("/me", response_model=UserView, tags=["workflow"])
def me(user: CurrentUser) -> UserView:
    """当前用户 / Who am I: role and scope."""
    return user_view(user)


__all__ = ["router", "user_view"]
