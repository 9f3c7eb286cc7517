"""Open311 GeoReport v2 as use cases: services and definitions from the city profile, submissions that
become cases, the public view of a case, request queries and tokens. No HTTP here (see
:mod:`civicloop.http.open311`), so every rule can be tested and reused by other entry points.

Policies (docs/api.md): one service per published category; every service ``realtime`` (``batch`` when
the app is built with ``batch=True``, then POST answers a token); ``status`` only open/closed with the
internal step in ``status_notes``; GET defaults to the last 90 days and at most 1000 requests, clamps
longer spans to the 90 days ending at ``end_date`` instead of refusing them, sorts by
``requested_datetime`` descending and pages with ``page``/``page_size``.
"""

from __future__ import annotations

import hashlib
import math
import re
import secrets
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from civicloop.cases.core import MAX_DESCRIPTION, Actor, CaseState, Event
from civicloop.cases.privacy import mask
from civicloop.cases.service import CaseQuery, ReporterInfo
from civicloop.geo.places import Places
from civicloop.kernel import dates
from civicloop.kernel.clock import TimeLimit
from civicloop.kernel.i18n import DEFAULT_LOCALE, has, normalise_locale, t
from civicloop.kernel.text import clean_text
from civicloop.kernel.vocabulary import Action, ClosureReason, Role, Stage

# The storage functions live in open311/store.py; the entry points still import them from here.
from civicloop.open311.store import Extra as Extra
from civicloop.open311.store import Submitted as Submitted
from civicloop.open311.store import erase_submission_identity as erase_submission_identity
from civicloop.open311.store import find_idempotent as find_idempotent
from civicloop.open311.store import find_token as find_token
from civicloop.open311.store import load_extras as load_extras
from civicloop.open311.store import purge_expired_keys as purge_expired_keys
from civicloop.open311.store import record_submissions as record_submissions
from civicloop.profile import CategoryRule, CityProfile

SPECIFICATION = "http://wiki.open311.org/GeoReport_v2"
NOT_PINPOINTED = "#NOTPINPOINTED#"
WINDOW = timedelta(days=90)
MAX_REQUESTS = 1000
FINGERPRINT_WINDOW = timedelta(minutes=10)
IDEMPOTENCY_TTL = timedelta(hours=24)
MAX_MEDIA = 20


class Open311Error(Exception):
    """An Open311 error: HTTP status (400/403/404) and one or more bilingual descriptions."""

    def __init__(self, status: int, *problems: tuple[str, str]) -> None:
        self.status = status
        self.problems = list(problems)
        super().__init__("; ".join(f"{zh} ({en})" for zh, en in problems))

    @classmethod
    def of(cls, status: int, key: str, /, **fields: object) -> Open311Error:
        """The error with one problem, the catalogue's *key* (see :func:`pair`)."""
        return cls(status, pair(key, **fields))

    def descriptions(self, locale: str = "zh-CN") -> list[str]:
        if locale.startswith("en"):
            return [en for _, en in self.problems]
        return [f"{zh} ({en})" for zh, en in self.problems]


def pair(key: str, /, **fields: object) -> tuple[str, str]:
    """The catalogue's *key* in Chinese and English: one problem of an :class:`Open311Error`, or a
    status in both languages."""
    return t(key, "zh-CN", **fields), t(key, "en", **fields)


def iso_z(moment: datetime | None) -> str | None:
    """W3C datetime in UTC with ``Z`` (seconds precision), as every Open311 output time."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------------
# Services and definitions
# --------------------------------------------------------------------------------------------------

#: The multivaluelist of every definition: what the reporter sees on site. "danger" makes it urgent.
#: Their names are ``open311.situation.<key>``.
SITUATIONS: tuple[str, ...] = ("blocking", "danger", "smell", "night", "recurring")
COMPONENT_ID = re.compile(r"^\d{17}$")


def _t(locale: str, zh: str, en: str | None) -> str:
    return en if locale.startswith("en") and en else zh


def service_list(profile: CityProfile, *, batch: bool = False, locale: str = "zh-CN") -> list[dict[str, Any]]:
    return [
        {
            "service_code": c.code,
            "service_name": _t(locale, c.name, c.name_en),
            "description": t("open311.list_separator", "zh-CN").join(
                _t(locale, cond.filing, cond.filing_en) for cond in c.conditions
            ),
            "metadata": True,
            "type": "batch" if batch else "realtime",
            "keywords": ",".join(c.keywords) or None,
            "group": c.major_name,
        }
        for c in profile.service_categories()
    ]


_SERVICES: dict[int, tuple[CityProfile, dict[str, CategoryRule]]] = {}


def service_category(profile: CityProfile, code: str) -> CategoryRule:
    """The published category (service) with that code, or with that ``source_code`` (the city's own
    code from its imported service list, so its existing clients keep working); 404 if none."""
    cached = _SERVICES.get(id(profile))
    if cached is None or cached[0] is not profile:  # an index per profile object (they are immutable)
        published = profile.service_categories()
        index = {c.source_code: c for c in published if c.source_code}
        index.update({c.code: c for c in published})  # civicloop's own codes win
        cached = (profile, index)
        _SERVICES[id(profile)] = cached
    found = cached[1].get(code)
    if found is None:
        raise Open311Error.of(404, "open311.unknown_service_code", code=code)
    return found


def service_definition(profile: CityProfile, code: str, *, locale: str = "zh-CN") -> dict[str, Any]:
    """The definition of one service: attributes of every Open311 datatype."""
    c = service_category(profile, code)

    def attr(
        order: int,
        code: str,
        datatype: str,
        required: bool,
        values: list[dict[str, str]] | None = None,
        variable: bool = True,
    ) -> dict[str, Any]:
        """An attribute; its texts are ``open311.attribute.<code>`` and ``open311.datatype.<code>``."""
        typed = f"open311.datatype.{code}"
        out: dict[str, Any] = {
            "variable": variable,
            "code": code,
            "datatype": datatype,
            "required": required,
            "datatype_description": t(typed, locale) if has(typed) else None,
            "order": order,
            "description": t(f"open311.attribute.{code}", locale),
        }
        if values is not None:
            out["values"] = values
        return out

    conditions = [
        {"key": str(cond.no), "name": _t(locale, cond.filing, cond.filing_en)} for cond in c.conditions
    ]
    situations = [{"key": k, "name": t(f"open311.situation.{k}", locale)} for k in SITUATIONS]
    return {
        "service_code": c.code,
        "attributes": [
            attr(1, "notice", "text", False, variable=False),
            attr(2, "condition", "singlevaluelist", True, conditions),
            attr(3, "situation", "multivaluelist", False, situations),
            attr(4, "component_id", "string", False),
            attr(5, "landmark", "text", False),
            attr(6, "quantity", "number", False),
            attr(7, "observed_at", "datetime", False),
        ],
    }


def limit_notice(limit: TimeLimit | None, locale: str = "zh-CN") -> str | None:
    if limit is None:
        return None
    loc = normalise_locale(locale)
    return t("open311.limit_notice", loc, limit=limit.label(loc))


# --------------------------------------------------------------------------------------------------
# Submissions (POST requests)
# --------------------------------------------------------------------------------------------------

_ATTRIBUTE_KEY = re.compile(r"^attribute\[([^\[\]]+)\](?:\[\])?$")


@dataclass
class Submission:
    """A POST body as received: single values, repeated ones, attribute answers, uploads."""

    values: dict[str, str] = field(default_factory=dict)  # first value of each plain key
    media_urls: list[str] = field(default_factory=list)
    attributes: dict[str, list[str]] = field(default_factory=dict)
    photo_refs: list[str] = field(default_factory=list)  # uploads already stored

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]]) -> Submission:
        """FixMyStreet repeats ``attribute[x]`` for lists; ``attribute[x][]`` and one key mean the same."""
        sub = cls()
        for key, raw in pairs:
            # Control characters other than newline and tab go, and bidi overrides (domain/text.py);
            # a NUL stays for has_nul() to refuse the request, as every surface does.
            value = raw if "\x00" in raw else clean_text(raw)
            m = _ATTRIBUTE_KEY.match(key)
            if m is not None:
                if value != "":
                    sub.attributes.setdefault(m.group(1), []).append(value)
            elif key in ("media_url", "media_url[]"):
                if value.strip():
                    sub.media_urls.append(value.strip())
            elif key not in sub.values:
                sub.values[key] = value
        return sub

    def has_nul(self) -> bool:
        texts = [*self.values, *self.values.values(), *self.media_urls, *self.attributes]
        texts += [v for values in self.attributes.values() for v in values]
        return any("\x00" in t for t in texts)

    def get(self, key: str) -> str | None:
        """A plain value, stripped; an empty value counts as absent (Open311: null = not given)."""
        value = self.values.get(key)
        if value is None:
            return None
        value = value.strip()
        return value or None


@dataclass(frozen=True, slots=True)
class Accepted:
    """A submission checked and turned into what the case service and the Open311 tables need."""

    category: CategoryRule
    fields: dict[str, Any]
    reporter: ReporterInfo | None
    extras: dict[str, Any]
    fingerprint: str | None
    account_id: str | None


def _float(sub: Submission, name: str, lo: float, hi: float, problems: list[tuple[str, str]]) -> float | None:
    raw = sub.get(name)
    if raw is None:
        return None
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or not lo <= value <= hi:
        problems.append(pair("open311.number_between", name=name, lo=lo, hi=hi))
        return None
    return value


def _bounded(sub: Submission, name: str, limit: int, problems: list[tuple[str, str]]) -> str | None:
    value = sub.get(name)
    if value is not None and len(value) > limit:
        problems.append(pair("open311.too_long", name=name, limit=limit))
        return None
    return value


def parse_datetime(value: str, name: str) -> datetime:
    """A W3C datetime with a mandatory zone, within range (:func:`civicloop.kernel.dates.parse_datetime`,
    the one date parser of the HTTP layer); 400 naming the parameter otherwise."""
    try:
        return dates.parse_datetime(value, name)
    except dates.DateRefused as exc:
        raise Open311Error(400, (exc.zh, exc.en)) from None


def _check_attributes(
    category: CategoryRule, answers: Mapping[str, list[str]], problems: list[tuple[str, str]]
) -> dict[str, list[str]]:
    """Validate answers against the definition; unknown codes are ignored (kept out of the record)."""
    kept: dict[str, list[str]] = {}
    conditions = {str(cond.no) for cond in category.conditions}
    condition = answers.get("condition")
    if not condition:
        problems.append(pair("open311.condition_missing"))
    elif len(condition) > 1 or condition[0] not in conditions:
        keys = ", ".join(sorted(conditions))
        problems.append(pair("open311.condition_one_of", keys=keys))
    else:
        kept["condition"] = condition
    situation = answers.get("situation")
    if situation:
        allowed = set(SITUATIONS)
        bad = [v for v in situation if v not in allowed]
        if bad:
            keys = ", ".join(SITUATIONS)
            problems.append(pair("open311.situation_among", keys=keys))
        else:
            kept["situation"] = list(dict.fromkeys(situation))
    for code, limit in (("component_id", 17), ("landmark", 500)):
        values = answers.get(code)
        if not values:
            continue
        value = values[0].strip()
        if code == "component_id" and not COMPONENT_ID.fullmatch(value):
            problems.append(pair("open311.component_id_digits"))
        elif len(value) > limit:
            problems.append(pair("open311.attribute_too_long", code=code, limit=limit))
        elif value:
            kept[code] = [value]
    quantity = answers.get("quantity")
    if quantity:
        try:
            number = float(quantity[0])
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or number < 0 or number > 1e9:
            problems.append(pair("open311.quantity_non_negative"))
        else:
            kept["quantity"] = [quantity[0].strip()]
    observed = answers.get("observed_at")
    if observed:
        try:
            kept["observed_at"] = [iso_z(parse_datetime(observed[0], "attribute[observed_at]")) or ""]
        except Open311Error as exc:
            problems.extend(exc.problems)
    return kept


def accept_submission(sub: Submission, profile: CityProfile, places: Places) -> Accepted:
    """Check a POST body against the spec and the service definition. Raises Open311Error (400/404)."""
    if sub.has_nul():
        raise Open311Error.of(400, "open311.nul_in_request")
    code = sub.get("service_code")
    if code is None:
        raise Open311Error.of(400, "open311.service_code_missing")
    category = service_category(profile, code)  # 404 if unknown
    problems: list[tuple[str, str]] = []
    lat = _float(sub, "lat", -90.0, 90.0, problems)
    lon = _float(sub, "long", -180.0, 180.0, problems)
    address_string = _bounded(sub, "address_string", 256, problems)
    address_id = _bounded(sub, "address_id", 128, problems)
    if address_id == NOT_PINPOINTED:
        address_id = None
        if address_string is not None:  # "no pin": the coordinates are only the map's position
            lat = lon = None
    if (lat is None) != (lon is None) and not problems:
        problems.append(pair("open311.lat_long_together"))
        lat = lon = None
    if lat is None and address_string is None and address_id is None and not problems:
        problems.append(pair("open311.location_needed"))
    description = sub.get("description")
    if description is not None and len(description) > MAX_DESCRIPTION:
        problems.append(pair("open311.too_long", name="description", limit=MAX_DESCRIPTION))
    email = _bounded(sub, "email", 256, problems)
    if email is not None and "@" not in email:
        problems.append(pair("open311.email_invalid"))
    phone = _bounded(sub, "phone", 64, problems)
    first = _bounded(sub, "first_name", 64, problems)
    last = _bounded(sub, "last_name", 64, problems)
    device_id = _bounded(sub, "device_id", 128, problems) or _bounded(sub, "deviceid", 128, problems)
    account_id = _bounded(sub, "account_id", 128, problems)
    for url in sub.media_urls:
        if not re.match(r"^https?://[^\s/]+\S*$", url) or len(url) > 2048:
            problems.append(pair("open311.media_url_invalid"))
            break
    photos = [*sub.media_urls, *sub.photo_refs]
    if len(photos) > MAX_MEDIA:
        problems.append(pair("open311.too_many_media", most=MAX_MEDIA))
    attributes = _check_attributes(category, sub.attributes, problems)
    if problems:
        raise Open311Error(400, *problems)

    district = None
    if lat is not None and lon is not None:
        district = places.district_at(lon, lat)
    # The case's address is stored in the city's language.
    address = address_string or (
        t("open311.address_id", DEFAULT_LOCALE, id=address_id) if address_id else None
    )
    landmark = attributes.get("landmark", [None])[0]
    if landmark:
        address = (
            t("open311.address_landmark", DEFAULT_LOCALE, address=address, landmark=landmark)
            if address
            else landmark
        )
    if address is not None:
        address = " ".join(address.split())[:256]
        if district is None:
            district = places.district_in_text(address)
    urgent = "danger" in attributes.get("situation", ())
    fields: dict[str, Any] = {
        "channel": "open311",
        "category_code": category.code,
        "description": description,
        "lon": lon,
        "lat": lat,
        "address": address,
        "district_code": district,
        "component_id": attributes.get("component_id", [None])[0],
        "urgency": "urgent" if urgent or category.is_urgent_text(description or "") else "normal",
        "photos": photos or None,
    }
    name = " ".join(p for p in (first, last) if p) or None
    name = name[:128] if name else None
    reporter = ReporterInfo(name, phone, email)
    fingerprint = None
    if device_id is not None:
        basis = "\x1f".join(
            [
                device_id,
                category.code,
                repr(lat),
                repr(lon),
                address_string or "",
                address_id or "",
                description or "",
            ]
        )
        fingerprint = "f:" + hashlib.sha256(basis.encode()).hexdigest()[:48]
    extras = {
        "service_code": category.code,
        "attributes": orjson.dumps(attributes).decode(),
        "media_urls": orjson.dumps(sub.media_urls).decode(),
        "device_id": device_id,
        "account_id": account_id,
        "location_approximate": lat is None,
    }
    return Accepted(
        category, fields, None if reporter.is_empty() else reporter, extras, fingerprint, account_id
    )


def header_key(api_key_id: str, header: str) -> str:
    """The stored form of an ``Idempotency-Key`` header, scoped to the client that sent it."""
    return "k:" + hashlib.sha256(f"{api_key_id}\x1f{header}".encode()).hexdigest()[:48]


# --------------------------------------------------------------------------------------------------
# The public view of a case
# --------------------------------------------------------------------------------------------------


def status_words(state: CaseState, suspension_reason: str | None = None) -> tuple[str, str]:
    """(zh, en) of the public step, with the closure reason stated honestly — closed is not fixed."""
    if not state.stage.is_terminal:
        zh, en = pair(f"open311.status.{state.stage.value}")
        if state.stage is Stage.SUSPENDED and suspension_reason:
            return _with_reason((zh, en), (suspension_reason, suspension_reason))
        return zh, en
    reason = state.closure_reason
    if state.stage is Stage.CLOSED and reason is ClosureReason.FIXED:
        return pair("open311.resolved")
    if state.stage is Stage.CLOSED and reason is ClosureReason.SELF_FIXED:
        return pair("open311.resolved_on_the_spot")
    prefix_zh, prefix_en = pair(f"open311.closed.{state.stage.value}")
    closed = (prefix_zh, t("open311.closed_word", "en"))  # in English every ending reads "closed: …"
    if reason is ClosureReason.DUPLICATE:
        return _with_reason(closed, pair("open311.duplicate_of", case=state.duplicate_of or "?"))
    if reason is None:
        return prefix_zh, _with_reason(closed, (prefix_zh, prefix_en))[1]
    return _with_reason(closed, (reason.zh, reason.en))


def _with_reason(status: tuple[str, str], reason: tuple[str, str]) -> tuple[str, str]:
    """ "status：reason" in Chinese and "status: reason" in English."""
    return (
        t("open311.with_reason", "zh-CN", status=status[0], reason=reason[0]),
        t("open311.with_reason", "en", status=status[1], reason=reason[1]),
    )


def status_notes(state: CaseState, suspension_reason: str | None = None) -> str:
    zh, en = status_words(state, suspension_reason)
    return f"{zh} ({en})"


def _note_type(e: Event) -> str:
    if e.action is Action.REPORT:
        return "submitted"
    if e.action is Action.REOPEN:
        return "reopened"
    if e.stage_after.is_terminal:
        return "closed"
    if e.action in (Action.ACCEPT, Action.VERIFY, Action.FILE):
        return "opened"
    return "update"


def _media(ref: str, base_url: str) -> str:
    return ref if ref.startswith(("http://", "https://")) else f"{base_url}/api/v1/photos/{ref}"


class PublicView:
    """Renders cases as Open311 requests: public fields only, personal data masked."""

    def __init__(self, profile: CityProfile, places: Places, base_url: str, locale: str = "zh-CN") -> None:
        self.profile = profile
        self.places = places
        self.base_url = base_url.rstrip("/")
        self.locale = locale

    def request(
        self,
        s: CaseState,
        *,
        extra: Extra | None = None,
        events: Sequence[Event] | None = None,
        extensions: bool = False,
    ) -> dict[str, Any]:
        profile = self.profile
        try:
            category: CategoryRule | None = profile.category(s.category_code) if s.category_code else None
        except KeyError:
            category = None
        agency = None
        if s.department_id:
            try:
                dept = profile.department(s.department_id)
                agency = _t(self.locale, dept.name, dept.name_en)
            except KeyError:
                agency = s.department_id
        limit = s.handling_limit
        if limit is None and category is not None:
            limit = category.conditions[0].limit(s.urgency.value)
        approximate = s.lat is None or s.lon is None
        if approximate:
            lon, lat = self.places.approximate_point(s.address, s.district_code)
        else:
            assert s.lon is not None and s.lat is not None
            lon, lat = s.lon, s.lat
        suspension_reason = None
        if s.stage is Stage.SUSPENDED and events:
            asked = [e for e in events if e.action is Action.REQUEST_SUSPENSION]
            suspension_reason = mask(asked[-1].note) if asked else None
        photos = [_media(p, self.base_url) for p in (*s.photos, *s.after_photos)]
        doc: dict[str, Any] = {
            "service_request_id": s.case_id,
            "status": s.public_status,
            "status_notes": status_notes(s, suspension_reason),
            "service_name": _t(self.locale, category.name, category.name_en) if category else None,
            "service_code": s.category_code or "",
            "description": mask(s.description),
            "agency_responsible": agency,
            "service_notice": limit_notice(limit, self.locale),
            "requested_datetime": iso_z(s.created_at),
            "updated_datetime": iso_z(s.closed_at if s.closed_at and s.stage.is_terminal else s.updated_at),
            # No promise while closed or suspended (挂账 stops the clock; resuming sets a new deadline).
            "expected_datetime": iso_z(s.deadline) if s.is_open and s.stage is not Stage.SUSPENDED else None,
            "address": mask(s.address) or self.places.describe(s.lon, s.lat, s.grid_code, s.district_code),
            "address_id": None,
            "zipcode": None,
            "lat": lat,
            "long": lon,
            "media_url": photos[0] if photos else None,
        }
        if extensions:
            attrs = extra.attributes if extra else {}
            doc["attributes"] = [
                {"code": code, "value": mask(value)} for code, values in attrs.items() for value in values
            ]
            district_name = None
            if s.district_code:
                try:
                    district_name = profile.district(s.district_code).name
                except KeyError:
                    district_name = None
            doc["extended_attributes"] = {
                "channel": s.channel.value,
                "photos": photos,
                "grid": s.grid_code,
                "district": district_name,
                "department": agency,
                "stage": s.stage.value,
                "stage_label": s.stage.label(self.locale),
                "closure_reason": s.closure_reason.value if s.closure_reason else None,
                "duplicate": s.duplicate_of,
                "location_approximate": approximate or bool(extra and extra.location_approximate),
            }
            doc["notes"] = [
                {
                    "datetime": iso_z(e.at),
                    "type": _note_type(e),
                    "description": f"{e.stage_after.zh} ({e.stage_after.en})",
                    "summary": f"{e.action.zh} ({e.action.en})",
                }
                for e in (events or ())
                if e.action not in (Action.COMMENT,)
            ]
        return doc


# --------------------------------------------------------------------------------------------------
# GET requests: filters and the window policy
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestFilter:
    query: CaseQuery
    extensions: bool
    window: tuple[datetime, datetime] | None


def _csv(value: str | None) -> list[str] | None:
    if value is None:
        return None
    items = [v.strip() for v in value.split(",") if v.strip()]
    return items or None


def parse_request_filter(params: Mapping[str, str], profile: CityProfile, now: datetime) -> RequestFilter:
    """Open311 GET requests parameters → a case query. Raises Open311Error(400) on a bad value."""

    def get(name: str) -> str | None:
        value = params.get(name)
        return value.strip() if value is not None and value.strip() else None

    extensions = (get("extensions") or "").lower() in ("true", "1", "yes")
    page = _positive(get("page"), "page", 1, 1_000_000)
    page_size = _positive(get("page_size"), "page_size", MAX_REQUESTS, MAX_REQUESTS)
    ids = _csv(get("service_request_id"))
    if ids is not None:  # overrides every other filter (spec)
        ids = ids[:MAX_REQUESTS]
        return RequestFilter(CaseQuery(ids=ids, limit=MAX_REQUESTS), extensions, None)
    codes = _csv(get("service_code")) or [c.code for c in profile.categories]
    statuses = _csv(get("status"))
    public_status = None
    if statuses is not None:
        bad = [s for s in statuses if s not in ("open", "closed")]
        if bad:
            raise Open311Error.of(400, "open311.status_choice")
        if len(set(statuses)) == 1:
            public_status = statuses[0]
    start = parse_datetime(s, "start_date") if (s := get("start_date")) else None
    end = parse_datetime(e, "end_date") if (e := get("end_date")) else None
    if start is not None and end is not None and end < start:
        raise Open311Error.of(400, "open311.end_before_start")
    # Clamp, never refuse (boston311 sends an old start with end=now): keep 90 days ending at the end.
    if start is None and end is None:
        end = now
        start = now - WINDOW
    elif start is None:
        assert end is not None
        start = end - WINDOW
    elif end is None:
        end = start + WINDOW
    elif end - start > WINDOW:
        start = end - WINDOW
    # Clients send whole seconds (boston311 formats "now" as %H:%M:%SZ): an end without a fraction
    # covers its whole second, or a report made a moment ago would be missing from "until now".
    created_to = end + timedelta(microseconds=999_999) if end.microsecond == 0 else end
    query = CaseQuery(
        category_codes=codes,
        created_from=start,
        created_to=created_to,
        public_status=public_status,
        limit=page_size,
        offset=(page - 1) * page_size,
    )
    return RequestFilter(query, extensions, (start, end))


def _positive(value: str | None, name: str, default: int, maximum: int) -> int:
    if value is None:
        return default
    try:
        number = int(value)
    except ValueError:
        raise Open311Error.of(400, "open311.positive_integer", name=name) from None
    if number < 1:
        raise Open311Error.of(400, "open311.positive_integer", name=name)
    return min(number, maximum)


def new_token() -> str:
    return secrets.token_urlsafe(18)


def open311_actor(api_key_id: str) -> Actor:
    """The reporter as the loop sees them: a citizen, reaching us through an Open311 client."""
    return Actor(id=f"open311:{api_key_id}", role=Role.CITIZEN)
