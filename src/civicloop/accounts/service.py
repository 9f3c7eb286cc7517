"""Accounts (账号): staff users with a role and a scope, bearer sessions, Open311 API keys, audit log.

Roles say *what* a user may do (the domain's action table decides per action); the scope on the user
record (department, district codes, grid codes) says *where* (:mod:`civicloop.cases.scope`). A
``viewer`` (观察员) sees what a leader sees and acts on nothing; an ``admin`` manages accounts and keys and
may anonymise reporters but takes no step of the loop.
"""

from __future__ import annotations

import math
import re
import secrets as pysecrets
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any

import orjson
from argon2 import PasswordHasher
from sqlalchemy import Connection, Engine

from civicloop.accounts import secrets, store
from civicloop.cases.core import Actor
from civicloop.kernel.i18n import t
from civicloop.kernel.vocabulary import Role

if TYPE_CHECKING:
    from civicloop.city.service import City


def utcnow() -> datetime:
    return datetime.now(UTC)


class AccountRole(StrEnum):
    """The role on a staff account (岗位)."""

    INSPECTOR = "inspector"  # 监督员
    OPERATOR = "operator"  # 受理员
    SHIFT_LEADER = "shift_leader"  # 值班长
    DISPATCHER = "dispatcher"  # 派遣员
    DEPARTMENT = "department"  # 专业部门处置人员 (scoped to one department)
    LEADER = "leader"  # 领导 / 指挥长: sees everything, may urge (督办)
    VIEWER = "viewer"  # 观察员: read-only
    ADMIN = "admin"  # 系统管理员

    @property
    def domain_role(self) -> Role:
        """The role the domain sees. A viewer looks like a leader but the API lets it take no action."""
        return Role.LEADER if self is AccountRole.VIEWER else Role(self.value)

    @property
    def zh(self) -> str:
        return t("accounts.role_viewer", "zh-CN") if self is AccountRole.VIEWER else Role(self.value).zh

    @property
    def en(self) -> str:
        return "viewer" if self is AccountRole.VIEWER else Role(self.value).en


class AccountError(Exception):
    """A refused account operation, in both languages, naming the field when there is one.
    ``retry_after``: seconds until trying again makes sense (a locked or throttled login)."""

    def __init__(
        self,
        code: str,
        message_zh: str,
        message_en: str,
        field: str | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        self.code, self.message_zh, self.message_en, self.field = code, message_zh, message_en, field
        self.retry_after = retry_after
        super().__init__(f"{message_zh} / {message_en}")

    @classmethod
    def of(
        cls,
        code: str,
        key: str,
        field: str | None = None,
        /,
        *,
        retry_after: int | None = None,
        **fields: object,
    ) -> AccountError:
        """The error whose texts are the catalogue's ``accounts.<key>``."""
        zh, en = t(f"accounts.{key}", "zh-CN", **fields), t(f"accounts.{key}", "en", **fields)
        return cls(code, zh, en, field, retry_after=retry_after)

    def render(self, locale: str = "zh-CN") -> str:
        return self.message_en if locale.startswith("en") else self.message_zh


class LoginGuard:
    """Failed logins, counted per account **and** source (client address), in memory, per process.

    The policy (docs/reliability.md, "Logins"):

    * **Account + source lock (423 ``account_locked``).** After ``max_failures`` wrong passwords in a row
      for one name *from one address*, that name is locked *for that address* for ``lock_base``; each
      further failure after a lock doubles it, up to ``lock_max``. While locked even the right password
      is refused from there. Someone guessing from elsewhere cannot lock the real user out: the lock
      stops the guesser, not the account.
    * **Progressive delay for unknown sources (429 ``login_delayed``).** An address from which this name
      has logged in successfully (one of its last ``known_sources``) is *known*; every other is
      unknown. When ``delay_after`` or more failures from unknown sources happened within
      ``delay_window``, a login from an unknown source has to wait ``delay_base`` × 2^(failures −
      ``delay_after``), at most ``delay_max``, after the last such failure. Attempts during the wait are
      refused without checking the password and are not counted. Distributed guessing is slowed to one
      try per ``delay_max`` for the whole account, while the user never waits at a known address and
      at most ``delay_max`` at a new one. Nothing is ever a hard lock for the account as a whole.
    * **Address throttle (429 ``too_many_attempts``).** ``ip_failures`` wrong passwords from one address
      within ``ip_window`` refuse every login from it until the oldest failure ages out; a success does
      not reset it (one valid account must not launder a password-spraying run).

    Unknown names are counted like real ones, so no refusal reveals which names exist. A success resets
    the count of its own address. Every refusal carries ``retry_after`` (seconds), sent as
    ``Retry-After``. ``client=None`` (no address known) counts as one unknown source.
    """

    def __init__(
        self,
        *,
        max_failures: int = 5,
        lock_base: timedelta = timedelta(minutes=1),
        lock_max: timedelta = timedelta(minutes=15),
        ip_failures: int = 20,
        ip_window: timedelta = timedelta(minutes=10),
        delay_after: int = 5,
        delay_base: timedelta = timedelta(seconds=1),
        delay_max: timedelta = timedelta(seconds=30),
        delay_window: timedelta = timedelta(minutes=15),
        known_sources: int = 8,
        max_entries: int = 100_000,
    ) -> None:
        self.max_failures = max_failures
        self.lock_base = lock_base
        self.lock_max = lock_max
        self.ip_failures = ip_failures
        self.ip_window = ip_window
        self.delay_after = delay_after
        self.delay_base = delay_base
        self.delay_max = delay_max
        self.delay_window = delay_window
        self.known_sources = known_sources
        self.max_entries = max_entries
        self._lock = threading.Lock()
        # (name, source) → (failures in a row, locked until)
        self._pairs: dict[tuple[str, str], tuple[int, datetime | None]] = {}
        self._known: dict[str, dict[str, datetime]] = {}  # name → source → last success
        self._unknown: dict[str, list[datetime]] = {}  # name → recent failures from unknown sources
        self._addresses: dict[str, list[datetime]] = {}  # address → times of recent failures

    @staticmethod
    def _source(client: str | None) -> str:
        return client if client is not None else "?"

    def _is_known(self, name: str, client: str | None) -> bool:
        return client is not None and client in self._known.get(name, {})

    def _delay(self, name: str, now: datetime) -> datetime | None:
        """When a login from an unknown source may next be tried, if that is later than *now*."""
        recent = [t for t in self._unknown.get(name, ()) if now - t < self.delay_window]
        if recent:
            self._unknown[name] = recent
        else:
            self._unknown.pop(name, None)
        if len(recent) < self.delay_after:
            return None
        doublings = min(len(recent) - self.delay_after, 16)
        ready = recent[-1] + min(self.delay_base * (2**doublings), self.delay_max)
        return ready if now < ready else None

    def check(self, username: str, client: str | None, now: datetime) -> None:
        """Raise AccountError when this address is throttled, this name locked for it, or an unknown
        source has to wait; else return."""
        name = username.strip().lower()
        with self._lock:
            if client is not None:
                recent = [t for t in self._addresses.get(client, ()) if now - t < self.ip_window]
                self._addresses[client] = recent
                if len(recent) >= self.ip_failures:
                    wait = _seconds(recent[0] + self.ip_window - now)
                    raise AccountError.of(
                        "too_many_attempts", "too_many_attempts", retry_after=wait, wait=wait
                    )
            _, until = self._pairs.get((name, self._source(client)), (0, None))
            if until is not None and now < until:
                wait = _seconds(until - now)
                raise AccountError.of(
                    "account_locked", "account_locked", "username", retry_after=wait, wait=wait
                )
            if not self._is_known(name, client):
                ready = self._delay(name, now)
                if ready is not None:
                    wait = _seconds(ready - now)
                    raise AccountError.of(
                        "login_delayed", "login_delayed", "username", retry_after=wait, wait=wait
                    )

    def failed(self, username: str, client: str | None, now: datetime) -> None:
        name = username.strip().lower()
        with self._lock:
            if len(self._pairs) + len(self._addresses) + len(self._unknown) > self.max_entries:
                self._forget(now)
            key = (name, self._source(client))
            count, _ = self._pairs.get(key, (0, None))
            count += 1
            until = None
            if count >= self.max_failures:
                doublings = min(count - self.max_failures, 16)
                until = now + min(self.lock_base * (2**doublings), self.lock_max)
            self._pairs[key] = (count, until)
            if not self._is_known(name, client):
                unknown = self._unknown.setdefault(name, [])
                unknown.append(now)
                del unknown[: -(self.delay_after + 32)]  # enough to reach delay_max, bounded
            if client is not None:
                recent = self._addresses.setdefault(client, [])
                recent.append(now)
                del recent[: -self.ip_failures]

    def succeeded(self, username: str, now: datetime, client: str | None = None) -> None:
        name = username.strip().lower()
        with self._lock:
            self._pairs.pop((name, self._source(client)), None)
            if client is not None:
                known = self._known.setdefault(name, {})
                known.pop(client, None)
                known[client] = now  # the most recent last
                while len(known) > self.known_sources:
                    del known[next(iter(known))]

    def _forget(self, now: datetime) -> None:
        self._pairs = {
            k: v for k, v in self._pairs.items() if v[1] is not None and now < v[1] + self.lock_max
        }
        self._unknown = {k: v for k, v in self._unknown.items() if v and now - v[-1] < self.delay_window}
        self._addresses = {k: v for k, v in self._addresses.items() if v and now - v[-1] < self.ip_window}
        if len(self._known) > self.max_entries:  # names that logged in: bounded by the user table
            self._known.clear()


def _seconds(delta: timedelta) -> int:
    return max(1, math.ceil(delta.total_seconds()))


@dataclass(frozen=True, slots=True)
class User:
    user_id: str
    username: str
    display_name: str | None
    role: AccountRole
    department_id: str | None
    district_codes: tuple[str, ...]
    grid_codes: tuple[str, ...]
    active: bool
    created_at: datetime

    def actor(self) -> Actor:
        return Actor(
            id=self.user_id,
            role=self.role.domain_role,
            name=self.display_name,
            department_id=self.department_id,
            district_codes=self.district_codes,
            grid_codes=self.grid_codes,
        )

    @property
    def may_act(self) -> bool:
        return self.role is not AccountRole.VIEWER


@dataclass(frozen=True, slots=True)
class Session:
    token: str
    expires_at: datetime
    user: User


@dataclass(frozen=True, slots=True)
class ApiKeyInfo:
    key_id: str
    jurisdiction: str
    label: str | None
    created_at: datetime
    revoked_at: datetime | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


_USERNAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{1,63}$")
_CODE = re.compile(r"^[0-9A-Za-z_-]{1,32}$")
MIN_PASSWORD = 8


def _account_role(role: str | AccountRole) -> AccountRole:
    """The role named, or the refusal listing the roles there are."""
    try:
        return AccountRole(role)
    except ValueError:
        options = ", ".join(r.value for r in AccountRole)
        raise AccountError.of("invalid_field", "unknown_role", "role", options=options) from None


def _user(row: Any) -> User:
    return User(
        user_id=row.user_id,
        username=row.username,
        display_name=row.display_name,
        role=AccountRole(row.role),
        department_id=row.department_id,
        district_codes=tuple(orjson.loads(row.district_codes)),
        grid_codes=tuple(orjson.loads(row.grid_codes)),
        active=bool(row.active),
        created_at=row.created_at,
    )


class AccountService:
    """Users, sessions, API keys and the audit log of one city (jurisdiction)."""

    def __init__(
        self,
        engine: Engine,
        city_id: str,
        *,
        departments: Iterable[str] | None = None,
        hasher: PasswordHasher | None = None,
        clock: Callable[[], datetime] = utcnow,
        token_ttl: timedelta = timedelta(hours=12),
        key_cache_seconds: float = 5.0,
        guard: LoginGuard | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.engine = engine
        self.city_id = city_id
        self.departments = frozenset(departments) if departments is not None else None
        self.hasher = hasher or secrets.default_hasher()
        self.clock = clock
        self.token_ttl = token_ttl
        self.guard = guard or LoginGuard()
        self._dummy_hash: str | None = None
        # Valid API keys seen recently: every Open311 POST checks its key, and this spares the database
        # that read. A revocation here clears the entry at once; one made elsewhere (the CLI, another
        # process) takes effect within ``key_cache_seconds`` (measured on ``monotonic``, a test's to move).
        self.key_cache_seconds = key_cache_seconds
        self.monotonic = monotonic
        self._key_cache: dict[str, tuple[str, float]] = {}

    # ---- users ------------------------------------------------------------------------------

    def create_user(
        self,
        username: str,
        password: str,
        role: str | AccountRole,
        *,
        department_id: str | None = None,
        district_codes: Sequence[str] = (),
        grid_codes: Sequence[str] = (),
        display_name: str | None = None,
    ) -> User:
        user, row = self.new_user_row(
            username,
            role,
            "",  # hashed below, once every field is known to be valid
            department_id=department_id,
            district_codes=district_codes,
            grid_codes=grid_codes,
            display_name=display_name,
        )
        self._check_password(password)
        row["password_hash"] = secrets.hash_password(self.hasher, password)
        if not store.insert_user(self.engine, row):
            raise AccountError.of("username_taken", "username_taken", "username", name=user.username)
        return user

    def new_user_row(
        self,
        username: str,
        role: str | AccountRole,
        password_hash: str,
        *,
        department_id: str | None = None,
        district_codes: Sequence[str] = (),
        grid_codes: Sequence[str] = (),
        display_name: str | None = None,
    ) -> tuple[User, dict[str, Any]]:
        """A checked new user and its row (not written): the one validation of a user's fields, shared by
        :meth:`create_user` and the CSV import (:mod:`civicloop.accounts.importer`)."""
        name = username.strip().lower()
        if not _USERNAME.fullmatch(name):
            raise AccountError.of("invalid_field", "bad_username", "username")
        account_role = _account_role(role)
        if account_role is AccountRole.DEPARTMENT and not department_id:
            raise AccountError.of("missing_field", "department_needed", "department")
        if (
            department_id is not None
            and self.departments is not None
            and department_id not in self.departments
        ):
            raise AccountError.of(
                "invalid_field", "unknown_department", "department", department=department_id
            )
        for field, codes in (("district", district_codes), ("grid", grid_codes)):
            for code in codes:
                if not _CODE.fullmatch(code):
                    raise AccountError.of("invalid_field", "invalid_code", field, code=repr(code))
        now = self.clock()
        user = User(
            user_id="u-" + pysecrets.token_hex(6),
            username=name,
            display_name=display_name,
            role=account_role,
            department_id=department_id,
            district_codes=tuple(district_codes),
            grid_codes=tuple(grid_codes),
            active=True,
            created_at=now,
        )
        row = {
            "city_id": self.city_id,
            "user_id": user.user_id,
            "username": user.username,
            "display_name": display_name,
            "role": account_role.value,
            "department_id": department_id,
            "district_codes": orjson.dumps(list(user.district_codes)).decode(),
            "grid_codes": orjson.dumps(list(user.grid_codes)).decode(),
            "password_hash": password_hash,
            "active": True,
            "created_at": now,
        }
        return user, row

    def _check_password(self, password: str) -> None:
        if len(password) < MIN_PASSWORD:
            raise AccountError.of("invalid_field", "password_too_short", "password", length=MIN_PASSWORD)

    def list_users(self) -> list[User]:
        with self.engine.connect() as conn:
            rows = store.user_rows(conn, self.city_id)
        return [_user(r) for r in rows]

    def display_names(self) -> dict[str, str]:
        """User id → the name people read (display name, else username): timelines show people, not ids."""
        return {u.user_id: u.display_name or u.username for u in self.list_users()}

    def find_user(self, username: str) -> User | None:
        with self.engine.connect() as conn:
            row = store.user_row(conn, self.city_id, username.strip().lower())
        return None if row is None else _user(row)

    def set_password(self, username: str, password: str) -> None:
        self._check_password(password)
        self._update_user(username, password_hash=secrets.hash_password(self.hasher, password))

    def set_active(self, username: str, active: bool) -> None:
        user = self._update_user(username, active=active)
        if not active:
            self.revoke_sessions(user.user_id)

    # ---- several cities in one deployment (city_members, migration 0015) ------------------------

    def grant_city(
        self, username: str, city_id: str, role: str | AccountRole, *, remove: bool = False
    ) -> User:
        """Let this city's user *username* also act in *city_id* (another city of the same database) with
        *role* there — or, with *remove*, no longer. The caller checks that *city_id* is registered."""
        user = self.find_user(username)
        if user is None:
            raise AccountError.of("not_found", "no_user", "username", username=username)
        account_role = _account_role(role)
        if account_role is AccountRole.DEPARTMENT:  # a department user's department is its home city's
            raise AccountError.of("invalid_field", "member_role", "role")
        row = {"city_id": city_id, "home_city_id": self.city_id, "user_id": user.user_id,
               "role": account_role.value, "created_at": self.clock()}  # fmt: skip
        with self.engine.begin() as conn:
            store.set_member(conn, row, remove=remove)
        return user

    def as_member(self, user: User, city_id: str) -> User | None:
        """*user* (of this city) as they act in *city_id*: themselves at home, their membership role
        (city-wide scope) in another city, None without a membership."""
        if city_id == self.city_id:
            return user
        with self.engine.connect() as conn:
            role = store.member_role(conn, city_id, self.city_id, user.user_id)
        if role is None:
            return None
        return replace(user, role=AccountRole(role), department_id=None, district_codes=(), grid_codes=())

    def cities_of(self, user: User) -> list[tuple[str, str]]:
        """(city_id, role) of every city *user* may act in: home first, then the memberships."""
        with self.engine.connect() as conn:
            others = store.member_cities(conn, self.city_id, user.user_id)
        return [(self.city_id, user.role.value), *others]

    def _update_user(self, username: str, **values: Any) -> User:
        user = self.find_user(username)
        if user is None:
            raise AccountError.of("not_found", "no_user", "username", username=username)
        with self.engine.begin() as conn:
            store.update_user(conn, self.city_id, user.user_id, **values)
        return user

    # ---- sessions (bearer tokens) -----------------------------------------------------------

    def login(self, username: str, password: str, *, client: str | None = None) -> Session:
        """Check the password and open a session. One refusal for every failure: nothing to probe.

        Repeated failures lock the name (423) or throttle the client address (429): see LoginGuard."""
        self.guard.check(username, client, self.clock())
        if not _USERNAME.fullmatch(username.strip().lower()):
            secrets.verify_password(self.hasher, self._dummy(), password)
            raise self._failed(username, client)
        with self.engine.connect() as conn:
            row = store.user_row(conn, self.city_id, username.strip().lower())
        if row is None:
            # Spend the same time as a real check so response times do not reveal which names exist.
            secrets.verify_password(self.hasher, self._dummy(), password)
            raise self._failed(username, client)
        if not secrets.verify_password(self.hasher, row.password_hash, password) or not row.active:
            raise self._failed(username, client)
        self.guard.succeeded(username, self.clock(), client)
        if self.hasher.check_needs_rehash(row.password_hash):
            self._update_user(row.username, password_hash=secrets.hash_password(self.hasher, password))
        user = _user(row)
        token = secrets.new_token()
        now = self.clock()
        expires = now + self.token_ttl
        with self.engine.begin() as conn:
            store.insert_session(
                conn,
                {
                    "city_id": self.city_id,
                    "token_hash": secrets.digest(token),
                    "user_id": user.user_id,
                    "created_at": now,
                    "expires_at": expires,
                    "revoked_at": None,
                },
            )
        return Session(token, expires, user)

    def _dummy(self) -> str:
        if self._dummy_hash is None:
            self._dummy_hash = secrets.hash_password(self.hasher, pysecrets.token_hex(8))
        return self._dummy_hash

    def _failed(self, username: str, client: str | None) -> AccountError:
        self.guard.failed(username, client, self.clock())
        return self._bad_login()

    @staticmethod
    def _bad_login() -> AccountError:
        return AccountError.of("invalid_credentials", "invalid_credentials")

    def authenticate(self, token: str) -> User | None:
        """The user behind a live bearer token, or None (unknown, expired, revoked, or user disabled)."""
        if not token.startswith(secrets.TOKEN_PREFIX) or len(token) > 128:
            return None
        now = self.clock()
        with self.engine.connect() as conn:
            row = store.session_user_row(conn, self.city_id, secrets.digest(token))
        if row is None or row.revoked_at is not None or row.expires_at <= now or not row.active:
            return None
        return _user(row)

    def logout(self, token: str) -> bool:
        with self.engine.begin() as conn:
            return bool(store.revoke_session(conn, self.city_id, secrets.digest(token), self.clock()))

    def revoke_sessions(self, user_id: str) -> int:
        with self.engine.begin() as conn:
            return store.revoke_user_sessions(conn, self.city_id, user_id, self.clock())

    # ---- Open311 API keys -------------------------------------------------------------------

    def create_api_key(self, label: str | None = None) -> tuple[ApiKeyInfo, str]:
        """A new key for this jurisdiction: (its public info, the key itself — shown only once)."""
        key_id, key = secrets.new_api_key()
        parts = secrets.split_api_key(key)
        assert parts is not None
        now = self.clock()
        with self.engine.begin() as conn:
            store.insert_api_key(
                conn,
                {
                    "city_id": self.city_id,
                    "key_id": key_id,
                    "secret_hash": secrets.digest(parts[1]),
                    "label": label,
                    "created_at": now,
                    "revoked_at": None,
                },
            )
        return ApiKeyInfo(key_id, self.city_id, label, now, None), key

    def cached_api_key(self, key: str | None) -> str | None:
        """The key id if this key was verified moments ago (no database read); else None."""
        cached = self._key_cache.get(key) if key else None
        return cached[0] if cached is not None and cached[1] > self.monotonic() else None

    def check_api_key(self, key: str | None) -> str | None:
        """The key id of a valid, unrevoked key of this jurisdiction; None otherwise."""
        if not key:
            return None
        cached = self._key_cache.get(key)
        if cached is not None and cached[1] > self.monotonic():
            return cached[0]
        parts = secrets.split_api_key(key)
        if parts is None:
            return None
        key_id, secret = parts
        with self.engine.connect() as conn:
            row = store.api_key_secret(conn, self.city_id, key_id)
        if row is None or row.revoked_at is not None:
            return None
        if not secrets.same(row.secret_hash, secrets.digest(secret)):
            return None
        if self.key_cache_seconds > 0:
            if len(self._key_cache) > 1000:
                self._key_cache.clear()
            self._key_cache[key] = (key_id, self.monotonic() + self.key_cache_seconds)
        return key_id

    def revoke_api_key(self, key_or_id: str, actor: Actor | None = None) -> bool:
        """Revoke by full key or by key id. True if a live key was revoked."""
        parts = secrets.split_api_key(key_or_id)
        key_id = parts[0] if parts is not None else key_or_id.strip()
        for cached_key, (cached_id, _) in list(self._key_cache.items()):
            if cached_id == key_id:
                self._key_cache.pop(cached_key, None)
        now = self.clock()
        with self.engine.begin() as conn:
            done = bool(store.revoke_api_key(conn, self.city_id, key_id, now))
            if done:
                self.record_audit(
                    conn, actor or Actor("cli", Role.ADMIN), "revoke_api_key", key_id, {}, at=now
                )
        return done

    def list_api_keys(self) -> list[ApiKeyInfo]:
        with self.engine.connect() as conn:
            rows = store.api_key_rows(conn, self.city_id)
        return [ApiKeyInfo(r.key_id, r.city_id, r.label, r.created_at, r.revoked_at) for r in rows]

    # ---- audit ------------------------------------------------------------------------------

    def record_audit(
        self,
        conn: Connection,
        actor: Actor,
        action: str,
        subject: str,
        detail: dict[str, Any],
        *,
        at: datetime | None = None,
    ) -> None:
        store.insert_audit(
            conn,
            {
                "city_id": self.city_id,
                "audit_id": pysecrets.token_hex(12),
                "at": at or self.clock(),
                "actor_id": actor.id,
                "actor_role": actor.role.value,
                "action": action,
                "subject": subject,
                "detail": orjson.dumps(detail, option=orjson.OPT_SORT_KEYS).decode(),
            },
        )

    def audit_entries(self, subject: str | None = None) -> list[dict[str, Any]]:
        with self.engine.connect() as conn:
            rows = store.audit_rows(conn, self.city_id, subject)
        return [
            {
                "at": r.at,
                "actor_id": r.actor_id,
                "actor_role": r.actor_role,
                "action": r.action,
                "subject": r.subject,
                "detail": orjson.loads(r.detail),
            }
            for r in rows
        ]


def accounts_for(city: City, *, hasher: PasswordHasher | None = None) -> AccountService:
    """The account service of a city, checking departments against its profile."""
    return AccountService(
        city.engine, city.id, departments=[d.id for d in city.profile.departments], hasher=hasher
    )


def demo_department_id(city: City) -> str:
    """The department of the demo's generic ``department`` login: the city's own sanitation unit."""
    depts = city.profile.departments
    return next((d.id for d in depts if d.standard == "sanitation" and d.district_code is None), depts[0].id)


def seed_demo_users(city: City, *, accounts: AccountService | None = None) -> list[tuple[str, str, str]]:
    """One demo user per role, with a fresh random password each call: [(username, password, role)].

    Existing demo users keep their record and get the new password, so the list printed by the demo is
    always the one that works. The inspector and the district-level views are scoped to the first urban
    district of the profile; the department handler to the city's sanitation unit.
    """
    svc = accounts or accounts_for(city)
    urban = [d.code for d in city.profile.districts if d.urban]
    district = urban[:1]
    specs: list[tuple[str, AccountRole, dict[str, Any]]] = [
        (
            "inspector",
            AccountRole.INSPECTOR,
            {"district_codes": district, "display_name": t("accounts.demo.inspector", "zh-CN")},
        ),
        ("operator", AccountRole.OPERATOR, {"display_name": t("accounts.demo.operator", "zh-CN")}),
        (
            "shift_leader",
            AccountRole.SHIFT_LEADER,
            {"display_name": t("accounts.demo.shift_leader", "zh-CN")},
        ),
        ("dispatcher", AccountRole.DISPATCHER, {"display_name": t("accounts.demo.dispatcher", "zh-CN")}),
        (
            "department",
            AccountRole.DEPARTMENT,
            {
                "department_id": demo_department_id(city),
                "display_name": t("accounts.demo.department", "zh-CN"),
            },
        ),
        ("leader", AccountRole.LEADER, {"display_name": t("accounts.demo.leader", "zh-CN")}),
        ("viewer", AccountRole.VIEWER, {"display_name": t("accounts.demo.viewer", "zh-CN")}),
        ("admin", AccountRole.ADMIN, {"display_name": t("accounts.demo.admin", "zh-CN")}),
    ]
    return [
        (username, _demo_login(svc, username, role, extra), role.value) for username, role, extra in specs
    ]


def _demo_login(svc: AccountService, username: str, role: AccountRole, extra: dict[str, Any]) -> str:
    """Create the demo user, or give the existing one a fresh password (and enable it): the password."""
    password = secrets.random_password()
    if svc.find_user(username) is None:
        svc.create_user(username, password, role, **extra)
    else:
        svc.set_password(username, password)
        svc.set_active(username, True)
    return password


def seed_demo_department_users(
    city: City, *, accounts: AccountService | None = None
) -> list[tuple[str, str, str]]:
    """One demo login per department unit of the profile — the district units that routing and the
    automatic dispatch send cases to included — with a fresh password each call:
    [(username, password, department_id)]; the username is the department's id.

    Their passwords are hashed with the cheap demo parameters (``fast_hasher``: a few dozen logins would
    take ~15 s at every demo start with the full ones); they are the demo's printed, throwaway logins.
    """
    svc = accounts or accounts_for(city, hasher=secrets.fast_hasher())
    return [
        (
            d.id,
            _demo_login(svc, d.id, AccountRole.DEPARTMENT, {"department_id": d.id, "display_name": d.name}),
            d.id,
        )
        for d in city.profile.departments
    ]
