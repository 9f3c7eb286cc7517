"""What the HTTP layer holds per city, the errors it speaks, and how it picks the caller's language."""

from __future__ import annotations

import os
import re
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from starlette.requests import Request

from civicloop.accounts.service import AccountService
from civicloop.city.service import City
from civicloop.geo.places import Places
from civicloop.http.security import SecuritySettings
from civicloop.kernel.i18n import normalise_locale, t
from civicloop.open311.group_commit import ReportWriter
from civicloop.photos.check import DEFAULT_MAX_PIXELS, PhotoLimits
from civicloop.photos.store import DEFAULT_MAX_BYTES, PhotoStore
from civicloop.web.state import WebState

_HOST = re.compile(r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9-]{1,63}(?::\d{1,5})?")


def _whole_number(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be a whole number, not {raw!r}") from None
    if value < 0:
        raise ValueError(f"{name} must be 0 or more, not {value}")
    return value


@dataclass(frozen=True)
class ApiSettings:
    """Deployment choices of the HTTP app (docs/api.md)."""

    batch_services: bool = False  # Open311: declare services "batch" and answer POSTs with tokens
    max_photo_bytes: int = DEFAULT_MAX_BYTES
    # Most pixels an uploaded photo may have (adapters/images.py); CIVICLOOP_MAX_PHOTO_PIXELS.
    max_photo_pixels: int = field(
        default_factory=lambda: (
            _whole_number("CIVICLOOP_MAX_PHOTO_PIXELS", DEFAULT_MAX_PIXELS) or DEFAULT_MAX_PIXELS
        )
    )
    max_body_bytes: int = DEFAULT_MAX_BYTES + 2 * 1024 * 1024
    public_base_url: str | None = None  # absolute URLs in answers; default: this server's own address
    # Behind a reverse proxy that sets X-Forwarded-Host on every request (and no client reaches the
    # server directly): build URLs from it. Off by default: a client could set it.
    # CIVICLOOP_TRUST_FORWARDED_HOST=1
    trust_forwarded_host: bool = field(
        default_factory=lambda: os.environ.get("CIVICLOOP_TRUST_FORWARDED_HOST", "0").strip() in ("1", "true")
    )
    contact: str | None = None  # Open311 discovery contact
    key_service: str | None = None  # how to obtain an api_key
    endpoint_type: str = "production"  # Open311 discovery: production | test
    # Automatic triage of incoming reports (locate, classify, merge duplicates, file and dispatch above
    # the thresholds). CIVICLOOP_TRIAGE=0 turns it off: every report then waits for a person.
    triage: bool = field(default_factory=lambda: os.environ.get("CIVICLOOP_TRIAGE", "1") != "0")
    # How many recently written case states the server keeps in memory (StateCache), so that the next
    # step on a busy case skips re-reading it; ≈ 3.5 KiB each with its last projection row (≈ 70 MiB
    # full). CIVICLOOP_STATE_CACHE.
    state_cache: int = field(default_factory=lambda: _whole_number("CIVICLOOP_STATE_CACHE", 20_000))
    # Security headers and rate limits (http/security.py, docs/reliability.md); CIVICLOOP_RATE_* etc.
    security: SecuritySettings = field(default_factory=SecuritySettings.from_env)

    @property
    def photo_limits(self) -> PhotoLimits:
        return PhotoLimits(max_bytes=self.max_photo_bytes, max_pixels=self.max_photo_pixels)


@dataclass
class CityContext:
    city: City
    accounts: AccountService
    writer: ReportWriter
    places: Places


@dataclass
class AppContext:
    cities: dict[str, CityContext]
    default: str
    photos: PhotoStore
    settings: ApiSettings
    started_at: datetime = field(default_factory=lambda: datetime.now(UTC).replace(microsecond=0))

    @property
    def main(self) -> CityContext:
        return self.cities[self.default]


class ApiError(Exception):
    """A refusal of the workflow API: status, a stable code, both languages, the field if any."""

    def __init__(
        self,
        status: int,
        code: str,
        zh: str,
        en: str,
        field: str | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        self.status, self.code, self.zh, self.en, self.field = status, code, zh, en, field
        self.retry_after = retry_after  # seconds, sent as Retry-After (every 429 carries one)
        super().__init__(f"{zh} / {en}")

    @classmethod
    def of(
        cls,
        status: int,
        code: str,
        key: str,
        field: str | None = None,
        *,
        retry_after: int | None = None,
        **fields: object,
    ) -> ApiError:
        """The refusal whose two texts are the catalogue's *key* in Chinese and English."""
        zh, en = t(key, "zh-CN", **fields), t(key, "en", **fields)
        return cls(status, code, zh, en, field, retry_after=retry_after)


#: Header naming the city a request acts in, for a user who may act in several (a membership); the
#: bearer token names the user's home city (``<city_id>~<token>`` when the server serves several).
CITY_HEADER = "x-civicloop-city"
TOKEN_CITY_SEPARATOR = "~"


def context_of(request: Request) -> AppContext:
    """The app's context, its ``main`` being the caller's city: the city the authenticated request acts
    in (:func:`civicloop.http.auth.current_user` records it), else the server's default city."""
    ctx: AppContext = request.app.state.civicloop
    city_id = getattr(request.state, "city_id", None)
    if city_id is None or city_id == ctx.default:
        return ctx
    return replace(ctx, default=city_id)


def web_state(request: Request) -> WebState:
    """The web command center's read models (live hub, KPI cache, map layers) of the caller's city; a
    city other than the default gets its own, built on first use and closed with the app."""
    main: WebState = request.app.state.civicloop_web
    city_id = getattr(request.state, "city_id", None)
    if city_id is None or city_id == main.city.id:
        return main
    states: dict[str, WebState] = request.app.state.civicloop_webs
    with _WEB_LOCK:
        ws = states.get(city_id)
        if ws is None:
            ws = WebState(context_of(request).cities[city_id].city, main.settings, main.asset_version)
            # the same server, the same limits: photo check and input limits as the default city's
            ws.photo_limits = main.photo_limits
            ws.config_extra = dict(main.config_extra)
            if main.settings.eager:
                ws.start()
            states[city_id] = ws
    return ws


_WEB_LOCK = threading.Lock()


def locale_of(request: Request) -> str:
    """``?locale=en`` wins, then the first tag of Accept-Language; Chinese (zh-CN) by default."""
    explicit = request.query_params.get("locale")
    if explicit:
        return normalise_locale(explicit)
    header = request.headers.get("accept-language", "")
    first = header.split(",", 1)[0].split(";", 1)[0].strip()
    return normalise_locale(first or None)


def base_url(request: Request) -> str:
    """The base of absolute URLs in answers: the configured public URL (``--public-url``), else the
    scheme (from a trusted proxy's ``X-Forwarded-Proto`` when uvicorn trusts it, see
    ``--forwarded-allow-ips``) and the address this server was reached at on its own socket — never the
    ``Host`` header, which any client can set (``Host: evil.example`` must not put evil.example into
    photo URLs that others will open)."""
    configured = context_of(request).settings.public_base_url
    if configured:
        return configured.rstrip("/")
    scheme = request.scope.get("scheme", "http")
    root = str(request.scope.get("root_path", "")).rstrip("/")
    if context_of(request).settings.trust_forwarded_host:
        forwarded = request.headers.get("x-forwarded-host", "").split(",", 1)[0].strip()
        if _HOST.fullmatch(forwarded):
            return f"{scheme}://{forwarded}{root}"
    server = request.scope.get("server")
    if not server:
        return f"{scheme}://localhost"
    host, port = server[0], server[1]
    if ":" in str(host):  # IPv6
        host = f"[{host}]"
    default = {"http": 80, "https": 443}.get(scheme)
    return f"{scheme}://{host}{'' if port in (None, default) else f':{port}'}{root}"
