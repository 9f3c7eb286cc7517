"""Security middleware: response headers on every answer, and rate limits for the public endpoints.

* **Headers.** Every response gets ``X-Content-Type-Options: nosniff``, ``X-Frame-Options: DENY``,
  ``Referrer-Policy: same-origin``, a ``Permissions-Policy`` and — when the route set none — a
  ``Content-Security-Policy``: ``default-src 'none'; frame-ancestors 'none'`` for data (JSON, XML,
  photos), the pages' own policy (``web/pages.py``: everything from ``'self'``, no inline script) for
  HTML. FastAPI's interactive API docs (``/docs``, ``/redoc``) are the one exception: Swagger UI and
  ReDoc are served from ``/docs/assets`` (``http/docs.py``) and start with an inline script.
  ``Strict-Transport-Security`` is sent on HTTPS requests (``hsts="auto"``: the scheme uvicorn saw, or
  ``X-Forwarded-Proto`` from a trusted proxy), always (``"always"``) or never (``"off"``).
* **No caching of private answers.** Every ``/api/v1/`` answer, every answer to a request with
  credentials and every Open311 submission's answer gets ``Cache-Control: no-store`` unless its route
  set a policy of its own (photos by unguessable reference are immutable). Every 429 carries
  ``Retry-After`` (60 s if its route named no wait). The ``server:`` banner is off
  (``civicloop.cli.serve.uvicorn_options``).
* **Rate limits.** A token bucket per client address over the public surfaces — Open311
  (``/open311/``), the citizen page's endpoints (``/api/v1/public/``) and the anonymous map helpers
  (``/api/v1/locate``, ``/api/v1/suggest``, ``/api/v1/geo/``) — and one per Open311 API key for
  submissions (:func:`limit_api_key`, called once the key is verified). A refusal is 429 with
  ``Retry-After`` in the surface's own error shape: Open311's ``errors`` list (JSON or XML), else the
  workflow API's ``{"error": {…}}``. Staff endpoints (bearer token) are not limited by address: a duty
  room shares one NAT address. Logins are throttled separately
  (:class:`civicloop.accounts.service.LoginGuard`).

Limits live in memory, per server process. Defaults are generous (a FixMyStreet bridge or a busy
citizen page never meets them); every number is configurable (``SecuritySettings`` or the environment,
see :meth:`SecuritySettings.from_env` and docs/reliability.md).
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from civicloop.http.render import JSON, open311_errors
from civicloop.kernel.i18n import t

Hsts = Literal["auto", "always", "off"]

#: The policy of data answers (JSON, XML, photos): nothing may load, nothing may frame it.
DATA_CSP = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
#: HTML without a policy of its own gets the pages' policy (web/pages.py sets it on every page).
PAGE_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
    "connect-src 'self'; worker-src 'self'; manifest-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'self'"
)
#: /docs and /redoc load Swagger UI / ReDoc from /docs/assets (http/docs.py) with an inline bootstrap script.
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "font-src 'self'; img-src 'self' data:; worker-src 'self' blob:; connect-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")
PERMISSIONS = "geolocation=(self), camera=(self), microphone=(), payment=(), usb=()"
#: Surfaces limited per client address (prefixes of the path).
PUBLIC_PREFIXES = ("/open311/", "/api/v1/public/", "/api/v1/locate", "/api/v1/suggest", "/api/v1/geo/")


@dataclass(frozen=True, slots=True)
class RateLimit:
    """``rate`` requests a second sustained, bursts up to ``burst``."""

    rate: float
    burst: int

    def __post_init__(self) -> None:
        if not (math.isfinite(self.rate) and self.rate > 0) or self.burst < 1:
            raise ValueError(f"a rate limit needs rate > 0 and burst ≥ 1, not {self.rate}/{self.burst}")


@dataclass(frozen=True)
class SecuritySettings:
    """Headers and rate limits of the HTTP app (docs/reliability.md). ``rate_limits=False`` turns the
    limiter off (e.g. behind a gateway that limits already)."""

    headers: bool = True
    hsts: Hsts = "auto"
    hsts_max_age: int = 31_536_000
    rate_limits: bool = True
    per_ip: RateLimit = field(default_factory=lambda: RateLimit(50.0, 300))
    per_key: RateLimit = field(default_factory=lambda: RateLimit(20.0, 200))
    max_clients: int = 100_000  # buckets kept before idle ones are forgotten
    #: Requests handled at once before new ones are turned away (503, ``Retry-After``); 0: no bound.
    max_in_flight: int = 256

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> SecuritySettings:
        """``CIVICLOOP_RATE_LIMIT`` (1/0), ``CIVICLOOP_RATE_IP`` and ``CIVICLOOP_RATE_IP_BURST``,
        ``CIVICLOOP_RATE_KEY`` and ``CIVICLOOP_RATE_KEY_BURST`` (requests a second / burst),
        ``CIVICLOOP_HSTS`` (auto, always, off), ``CIVICLOOP_HSTS_MAX_AGE`` (seconds),
        ``CIVICLOOP_MAX_IN_FLIGHT`` (requests handled at once; 0 turns the bound off)."""
        e = os.environ if env is None else env
        base = cls()

        def number(name: str, default: float) -> float:
            raw = e.get(name, "").strip()
            if not raw:
                return default
            try:
                return float(raw)
            except ValueError:
                raise ValueError(f"{name} must be a number, not {raw!r}") from None

        hsts = e.get("CIVICLOOP_HSTS", base.hsts).strip().lower() or base.hsts
        if hsts not in ("auto", "always", "off"):
            raise ValueError(f"CIVICLOOP_HSTS must be auto, always or off, not {hsts!r}")
        enabled = e.get("CIVICLOOP_RATE_LIMIT", "1").strip().lower() not in ("0", "false", "no", "off")
        in_flight = number("CIVICLOOP_MAX_IN_FLIGHT", base.max_in_flight)
        if in_flight < 0 or in_flight != int(in_flight):
            raise ValueError(f"CIVICLOOP_MAX_IN_FLIGHT must be a whole number ≥ 0, not {in_flight:g}")
        return cls(
            headers=base.headers,
            hsts=hsts,  # type: ignore[arg-type]
            hsts_max_age=int(number("CIVICLOOP_HSTS_MAX_AGE", base.hsts_max_age)),
            rate_limits=enabled,
            per_ip=RateLimit(
                number("CIVICLOOP_RATE_IP", base.per_ip.rate),
                int(number("CIVICLOOP_RATE_IP_BURST", base.per_ip.burst)),
            ),
            per_key=RateLimit(
                number("CIVICLOOP_RATE_KEY", base.per_key.rate),
                int(number("CIVICLOOP_RATE_KEY_BURST", base.per_key.burst)),
            ),
            max_in_flight=int(in_flight),
        )


class Buckets:
    """Token buckets by key. Used from the event loop only (middleware and async routes): no lock."""

    def __init__(
        self, limit: RateLimit, *, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000
    ) -> None:
        self.limit = limit
        self.clock = clock
        self.max_keys = max_keys
        self._state: dict[str, tuple[float, float]] = {}  # key → (tokens, when)
        self.refused = 0

    def take(self, key: str) -> float:
        """Spend one token of *key*: 0.0 when allowed, else the seconds until the next token."""
        now = self.clock()
        rate, burst = self.limit.rate, float(self.limit.burst)
        tokens, then = self._state.get(key, (burst, now))
        tokens = min(burst, tokens + (now - then) * rate)
        if tokens < 1.0:
            self._state[key] = (tokens, now)
            self.refused += 1
            return (1.0 - tokens) / rate
        self._state[key] = (tokens - 1.0, now)
        if len(self._state) > self.max_keys:
            self._forget(now)
        return 0.0

    def _forget(self, now: float) -> None:
        """Drop the buckets that have filled up again (their clients are idle)."""
        rate, burst = self.limit.rate, float(self.limit.burst)
        full = [k for k, (t, w) in self._state.items() if t + (now - w) * rate >= burst]
        for k in full:
            del self._state[k]
        if len(self._state) > self.max_keys:  # a flood of distinct keys: start over rather than grow
            self._state.clear()


def _is_open311(path: str) -> bool:
    return path.startswith("/open311/")


def too_many(path: str, wait: float, key: str) -> Response:
    """429 in the error shape of the surface *path* belongs to, with ``Retry-After``; *key* is the
    catalogue message naming whose requests (its field ``seconds`` is filled in)."""
    seconds = max(1, math.ceil(wait))
    zh, en = t(key, "zh-CN", seconds=seconds), t(key, "en", seconds=seconds)
    headers = {"Retry-After": str(seconds)}
    response: Response
    if _is_open311(path):
        response = open311_errors("json" if path.endswith(".json") else "xml", 429, [f"{zh} ({en})"])
    else:
        body = {
            "error": {
                "code": "too_many_requests",
                "field": None,
                "message": zh,
                "message_zh": zh,
                "message_en": en,
            }
        }
        response = JSON(body, status_code=429)
    response.headers.update(headers)
    return response


def overloaded(path: str) -> Response:
    """503 with ``Retry-After: 1`` in the error shape of the surface *path* belongs to."""
    zh, en = t("http.overloaded", "zh-CN"), t("http.overloaded", "en")
    response: Response
    if _is_open311(path):
        response = open311_errors("json" if path.endswith(".json") else "xml", 503, [f"{zh} ({en})"])
    else:
        body = {
            "error": {"code": "overloaded", "field": None, "message": zh, "message_zh": zh, "message_en": en}
        }
        response = JSON(body, status_code=503)
    response.headers["Retry-After"] = "1"
    return response


#: Long-lived or vital requests that never count against, nor wait for, the in-flight bound: the live
#: stream stays open for hours, and a load balancer's health check must see a busy server as alive.
UNBOUNDED_PATHS = ("/api/v1/stream", "/healthz")


class SecurityMiddleware:
    """Pure ASGI (no per-request task or copy): rate limits before anything is read, headers on every
    response start, and a bound on the requests handled at once.

    Past its capacity a server that takes every request falls behind without limit: each waits behind
    all the others, and at 1.2× its capacity answers took 10–30 s and clients timed out (the soak,
    docs/benchmarks.md). With the bound, the excess is refused at once — 503 with ``Retry-After``,
    costing microseconds — and the requests taken are answered in time. A request counts while the server
    works on it, not while it waits for the client's body or for the client to read the answer."""

    def __init__(self, app: ASGIApp, settings: SecuritySettings, limiter: Limiter) -> None:
        self.app = app
        self.settings = settings
        self.limiter = limiter
        base = [
            (b"x-content-type-options", b"nosniff"),
            (b"x-frame-options", b"DENY"),
            (b"referrer-policy", b"same-origin"),
            (b"permissions-policy", PERMISSIONS.encode()),
        ]
        self._base = base
        self._hsts = f"max-age={settings.hsts_max_age}; includeSubDomains".encode()
        #: requests under way (counted on the event loop only: no lock)
        self.in_flight = 0

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope.get("path", "")
        if self.settings.rate_limits and path.startswith(PUBLIC_PREFIXES):
            client = scope.get("client")
            address = client[0] if client else "unknown"
            wait = self.limiter.per_ip.take(address)
            if wait > 0:
                response = too_many(path, wait, "http.too_many_from_address")
                await response(scope, receive, self._decorate(scope, send))
                return
        bound = self.settings.max_in_flight
        if not bound or path in UNBOUNDED_PATHS:
            await self.app(scope, receive, self._decorate(scope, send))
            return
        if self.in_flight >= bound:
            await overloaded(path)(scope, receive, self._decorate(scope, send))
            return
        self.in_flight += 1
        try:
            await self.app(scope, self._uncounted(receive), self._uncounted(self._decorate(scope, send)))
        finally:
            self.in_flight -= 1

    def _uncounted(self, channel: Any) -> Any:
        """*channel* (receive or send) with the time spent waiting on the client not counted in flight:
        the bound measures the server's work, so clients that trickle a body or read slowly (slowloris)
        cannot hold its places and turn everyone else away."""

        async def waiting(*args: Any) -> Any:
            self.in_flight -= 1
            try:
                return await channel(*args)
            finally:
                self.in_flight += 1

        return waiting

    def _decorate(self, scope: Scope, send: Send) -> Send:
        path: str = scope.get("path", "")
        https = scope.get("scheme") == "https"
        hsts = self.settings.hsts == "always" or (self.settings.hsts == "auto" and https)
        private = _private(scope)
        policy = self.settings.headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers: list[tuple[bytes, bytes]] = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                if policy:
                    for name, value in self._base:
                        if name not in present:
                            headers.append((name, value))
                    if b"content-security-policy" not in present:
                        headers.append((b"content-security-policy", _csp_for(path, headers).encode()))
                    if hsts and b"strict-transport-security" not in present:
                        headers.append((b"strict-transport-security", self._hsts))
                if private and b"cache-control" not in present:
                    headers.append((b"cache-control", b"no-store"))
                if message.get("status") == 429 and b"retry-after" not in present:
                    headers.append((b"retry-after", RETRY_AFTER_DEFAULT))
                message = {**message, "headers": headers}
            await send(message)

        return send_with_headers


#: A 429 whose route named no wait (none should) still says when to retry.
RETRY_AFTER_DEFAULT = b"60"
#: Answers under these prefixes may carry secrets or personal data (tokens, reporter contacts, scoped case
#: data, tracking numbers): no cache anywhere keeps them, unless the route chose otherwise (photos by
#: unguessable reference are immutable; map outlines are public).
PRIVATE_PREFIXES = ("/api/v1/",)


def _private(scope: Scope) -> bool:
    """True when the answer must not be stored by any cache: every ``/api/v1/`` answer, every answer
    to a request with credentials, and Open311 submissions (their answers name the new request)."""
    path: str = scope.get("path", "")
    if path.startswith(PRIVATE_PREFIXES):
        return True
    if scope.get("method") == "POST" and path.startswith("/open311/"):
        return True
    return any(name == b"authorization" for name, _ in scope.get("headers", ()))


def _csp_for(path: str, headers: list[tuple[bytes, bytes]]) -> str:
    if path in DOCS_PATHS or path.startswith("/docs/"):
        return DOCS_CSP
    ctype = next((v for n, v in headers if n.lower() == b"content-type"), b"").lower()
    if ctype.startswith(b"text/html"):
        return PAGE_CSP
    if b"javascript" in ctype:
        # A service worker's policy is the one sent with its script: it must reach its own origin.
        return "default-src 'self'; frame-ancestors 'none'"
    return DATA_CSP


@dataclass
class Limiter:
    """The app's buckets: per client address (middleware) and per Open311 API key (route)."""

    settings: SecuritySettings
    clock: Callable[[], float] = time.monotonic
    per_ip: Buckets = field(init=False)
    per_key: Buckets = field(init=False)

    def __post_init__(self) -> None:
        s = self.settings
        self.per_ip = Buckets(s.per_ip, clock=self.clock, max_keys=s.max_clients)
        self.per_key = Buckets(s.per_key, clock=self.clock, max_keys=s.max_clients)


def install(
    app: FastAPI, settings: SecuritySettings, *, clock: Callable[[], float] = time.monotonic
) -> Limiter:
    """Add the middleware to *app* (outermost, so every answer gets the headers) and keep the limiter
    on ``app.state.civicloop_limiter`` for :func:`limit_api_key`."""
    limiter = Limiter(settings, clock)
    app.state.civicloop_limiter = limiter
    app.add_middleware(SecurityMiddleware, settings=settings, limiter=limiter)

    @app.exception_handler(RateLimited)
    async def _limited(request: Request, exc: RateLimited) -> Response:
        return too_many(request.url.path, exc.wait, "http.too_many_with_api_key")

    return limiter


class RateLimited(Exception):
    """Raised by :func:`limit_api_key`; answered 429 (``Retry-After``) by the handler of :func:`install`."""

    def __init__(self, wait: float) -> None:
        self.wait = wait
        super().__init__(f"rate limited for {wait:.1f} s")


def limit_api_key(request: Request, key_id: str) -> None:
    """Spend one token of this Open311 API key's bucket; raise :class:`RateLimited` when empty."""
    limiter: Limiter | None = getattr(request.app.state, "civicloop_limiter", None)
    if limiter is None or not limiter.settings.rate_limits:
        return
    wait = limiter.per_key.take(key_id)
    if wait > 0:
        raise RateLimited(wait)
