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

    def descriptions(self, locale: str = "zh-CN") -> list[str]:
        if locale.startswith("en"):
            return [en for _, en in self.problems]
        return [f"{zh} ({en})" for zh, en in self.problems]


def iso_z(moment: datetime | None) -> str | None:
    """W3C datetime in UTC with ``Z`` (seconds precision), as every Open311 output time."""
    if moment is None:
        return None
    return moment.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------------------------------
# Services and definitions
# --------------------------------------------------------------------------------------------------

#: The multivaluelist of every definition: what the reporter sees on site. "danger" makes it urgent.
SITUATIONS: tuple[tuple[str, str, str], ...] = (
    ("blocking", "影响通行", "blocks the way"),
    ("danger", "存在安全隐患，需紧急处置", "a safety hazard that needs urgent action"),
    ("smell", "有异味或污染", "smell or pollution"),
    ("night", "夜间发生", "happens at night"),
    ("recurring", "反复出现", "keeps coming back"),
)
COMPONENT_ID = re.compile(r"^\d{17}$")


def _t(locale: str, zh: str, en: str | None) -> str:
    return en if locale.startswith("en") and en else zh


def service_list(profile: CityProfile, *, batch: bool = False, locale: str = "zh-CN") -> list[dict[str, Any]]:
    return [
        {
            "service_code": c.code,
            "service_name": _t(locale, c.name, c.name_en),
            "description": "；".join(_t(locale, cond.filing, cond.filing_en) for cond in c.conditions),
            "metadata": True,
            "type": "batch" if batch else "realtime",
            "keywords": ",".join(c.keywords) or None,
            "group": c.major_name,
        }
        for c in profile.service_categories()
    ]


_SERVICES: dict[int, tuple[CityProfile, dict[str, CategoryRule]]] = {}


def service_category(profile: CityProfile, code: str) -> CategoryRule:
    """The published category (service) with that code; 404 if none."""
    cached = _SERVICES.get(id(profile))
    if cached is None or cached[0] is not profile:  # an index per profile object (they are immutable)
        cached = (profile, {c.code: c for c in profile.service_categories()})
        _SERVICES[id(profile)] = cached
    found = cached[1].get(code)
    if found is None:
        raise Open311Error(404, (f"未知的服务代码 {code}", f"unknown service_code {code}"))
    return found


def service_definition(profile: CityProfile, code: str, *, locale: str = "zh-CN") -> dict[str, Any]:
    """The definition of one service: attributes of every Open311 datatype."""
    c = service_category(profile, code)
    en = locale.startswith("en")

    def attr(
        order: int,
        code: str,
        datatype: str,
        required: bool,
        description: tuple[str, str],
        datatype_description: tuple[str, str] | None = None,
        values: list[dict[str, str]] | None = None,
        variable: bool = True,
    ) -> dict[str, Any]:
        out: dict[str, Any] = {
            "variable": variable,
            "code": code,
            "datatype": datatype,
            "required": required,
            "datatype_description": (datatype_description[1] if en else datatype_description[0])
            if datatype_description
            else None,
            "order": order,
            "description": description[1] if en else description[0],
        }
        if values is not None:
            out["values"] = values
        return out

    conditions = [
        {"key": str(cond.no), "name": _t(locale, cond.filing, cond.filing_en)} for cond in c.conditions
    ]
    situations = [{"key": k, "name": en_name if en else zh} for k, zh, en_name in SITUATIONS]
    return {
        "service_code": c.code,
        "attributes": [
            attr(
                1,
                "notice",
                "text",
                False,
                (
                    "危及人身安全的紧急险情请直接拨打 12319 城管热线；本服务不受理 110/119/120 紧急事项。",
                    "For emergencies that endanger people call the 12319 hotline; this service does not "
                    "handle 110/119/120 emergencies.",
                ),
                variable=False,
            ),
            attr(
                2,
                "condition",
                "singlevaluelist",
                True,
                ("哪种情况最符合现场？（立案条件）", "Which situation matches best? (filing condition)"),
                ("选择一项", "choose one"),
                conditions,
            ),
            attr(
                3,
                "situation",
                "multivaluelist",
                False,
                ("现场情况（可多选）", "What do you see on site? (several allowed)"),
                ("选择零项或多项", "choose any"),
                situations,
            ),
            attr(
                4,
                "component_id",
                "string",
                False,
                ("部件编码（设施上的标牌，如有）", "Asset code on the object's plate, if any"),
                ("17 位数字", "17 digits"),
            ),
            attr(
                5,
                "landmark",
                "text",
                False,
                ("附近的参照物或门牌", "A landmark or house number nearby"),
                ("可多行", "may span several lines"),
            ),
            attr(
                6,
                "quantity",
                "number",
                False,
                ("数量或规模（个数、平方米或米）", "How many or how big (count, m² or m)"),
                ("数字", "a number"),
            ),
            attr(
                7,
                "observed_at",
                "datetime",
                False,
                ("发现时间", "When did you notice it?"),
                ("ISO 8601，须带时区，如 2026-03-02T09:15:00+08:00", "ISO 8601 with a time zone"),
            ),
        ],
    }


def limit_notice(limit: TimeLimit | None, locale: str = "zh-CN") -> str | None:
    if limit is None:
        return None
    if locale.startswith("en"):
        return f"handling limit {limit.label('en')}"
    return f"处置时限 {limit.label('zh-CN')}"


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
        problems.append(
            (f"{name} 必须是 {lo} 到 {hi} 之间的数字", f"{name} must be a number between {lo} and {hi}")
        )
        return None
    return value


def _bounded(sub: Submission, name: str, limit: int, problems: list[tuple[str, str]]) -> str | None:
    value = sub.get(name)
    if value is not None and len(value) > limit:
        problems.append((f"{name} 不能超过 {limit} 个字符", f"{name} must be at most {limit} characters"))
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
        problems.append(
            ("缺少必填属性 attribute[condition]（立案条件）", "required attribute[condition] is missing")
        )
    elif len(condition) > 1 or condition[0] not in conditions:
        keys = ", ".join(sorted(conditions))
        problems.append(
            (f"attribute[condition] 必须是以下之一：{keys}", f"attribute[condition] must be one of: {keys}")
        )
    else:
        kept["condition"] = condition
    situation = answers.get("situation")
    if situation:
        allowed = {k for k, _, _ in SITUATIONS}
        bad = [v for v in situation if v not in allowed]
        if bad:
            keys = ", ".join(k for k, _, _ in SITUATIONS)
            problems.append(
                (f"attribute[situation] 只能取：{keys}", f"attribute[situation] values must be among: {keys}")
            )
        else:
            kept["situation"] = list(dict.fromkeys(situation))
    for code, limit in (("component_id", 17), ("landmark", 500)):
        values = answers.get(code)
        if not values:
            continue
        value = values[0].strip()
        if code == "component_id" and not COMPONENT_ID.fullmatch(value):
            problems.append(
                ("attribute[component_id] 必须是 17 位数字", "attribute[component_id] must be 17 digits")
            )
        elif len(value) > limit:
            problems.append(
                (f"attribute[{code}] 过长", f"attribute[{code}] is longer than {limit} characters")
            )
        elif value:
            kept[code] = [value]
    quantity = answers.get("quantity")
    if quantity:
        try:
            number = float(quantity[0])
        except ValueError:
            number = math.nan
        if not math.isfinite(number) or number < 0 or number > 1e9:
            problems.append(
                ("attribute[quantity] 必须是非负数字", "attribute[quantity] must be a non-negative number")
            )
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
        raise Open311Error(400, ("请求中含有不允许的 NUL 字符", "the request contains a NUL character"))
    code = sub.get("service_code")
    if code is None:
        raise Open311Error(400, ("缺少 service_code", "service_code is missing"))
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
        problems.append(("lat 与 long 必须同时提供", "lat and long must be given together"))
        lat = lon = None
    if lat is None and address_string is None and address_id is None and not problems:
        problems.append(
            (
                "需要位置：lat/long、address_string 或 address_id",
                "a location is needed: lat/long, address_string or address_id",
            )
        )
    description = sub.get("description")
    if description is not None and len(description) > MAX_DESCRIPTION:
        problems.append(
            (
                f"description 不能超过 {MAX_DESCRIPTION} 个字符",
                f"description must be at most {MAX_DESCRIPTION} characters",
            )
        )
    email = _bounded(sub, "email", 256, problems)
    if email is not None and "@" not in email:
        problems.append(("email 格式无效", "email is not an e-mail address"))
    phone = _bounded(sub, "phone", 64, problems)
    first = _bounded(sub, "first_name", 64, problems)
    last = _bounded(sub, "last_name", 64, problems)
    device_id = _bounded(sub, "device_id", 128, problems) or _bounded(sub, "deviceid", 128, problems)
    account_id = _bounded(sub, "account_id", 128, problems)
    for url in sub.media_urls:
        if not re.match(r"^https?://[^\s/]+\S*$", url) or len(url) > 2048:
            problems.append(("media_url 必须是 http(s) 网址", "media_url must be an http(s) URL"))
            break
    photos = [*sub.media_urls, *sub.photo_refs]
    if len(photos) > MAX_MEDIA:
        problems.append((f"最多 {MAX_MEDIA} 个媒体", f"at most {MAX_MEDIA} media items"))
    attributes = _check_attributes(category, sub.attributes, problems)
    if problems:
        raise Open311Error(400, *problems)

    district = None
    if lat is not None and lon is not None:
        district = places.district_at(lon, lat)
    address = address_string or (f"地址编号 {address_id}" if address_id else None)
    landmark = attributes.get("landmark", [None])[0]
    if landmark:
        address = f"{address}（{landmark}）" if address else landmark
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

_OPEN_WORDS: dict[Stage, tuple[str, str]] = {
    Stage.REPORTED: ("已接收，待受理", "received"),
    Stage.VERIFYING: ("待现场核实", "awaiting on-site verification"),
    Stage.ACCEPTED: ("已受理，待立案", "accepted"),
    Stage.FILED: ("已立案，待派遣", "filed, awaiting dispatch"),
    Stage.DISPATCHED: ("已派遣", "dispatched"),
    Stage.RETURN_REQUESTED: ("处置中", "in progress"),
    Stage.EXTENSION_REQUESTED: ("处置中，已申请延期", "in progress, extension requested"),
    Stage.SUSPENSION_REQUESTED: ("处置中", "in progress"),
    Stage.SUSPENDED: ("挂账", "suspended"),
    Stage.HANDLED: ("已处置，待核查", "handled, awaiting check"),
    Stage.CHECKING: ("核查中", "being checked"),
    Stage.CHECKED: ("核查通过，待结案", "checked, awaiting closure"),
    Stage.SELF_HANDLED: ("监督员已当场处置，待审核", "fixed on the spot, under review"),
    Stage.VOID_REQUESTED: ("审核中", "under review"),
}

_CLOSED_PREFIX: dict[Stage, tuple[str, str]] = {
    Stage.REJECTED: ("不予受理", "not accepted"),
    Stage.NOT_FILED: ("不予立案", "not filed"),
    Stage.VOIDED: ("已作废", "voided"),
    Stage.CLOSED: ("已结案", "closed"),
}


def status_words(state: CaseState, suspension_reason: str | None = None) -> tuple[str, str]:
    """(zh, en) of the public step, with the closure reason stated honestly — closed is not fixed."""
    if not state.stage.is_terminal:
        zh, en = _OPEN_WORDS[state.stage]
        if state.stage is Stage.SUSPENDED and suspension_reason:
            return f"{zh}：{suspension_reason}", f"{en}: {suspension_reason}"
        return zh, en
    reason = state.closure_reason
    if state.stage is Stage.CLOSED and reason is ClosureReason.FIXED:
        return "已结案", "resolved"
    if state.stage is Stage.CLOSED and reason is ClosureReason.SELF_FIXED:
        return "已当场处置结案", "resolved on the spot"
    prefix_zh, prefix_en = _CLOSED_PREFIX[state.stage]
    if reason is ClosureReason.DUPLICATE:
        dup = state.duplicate_of or "?"
        return f"{prefix_zh}：重复案卷，见 {dup}", f"closed: duplicate of {dup}"
    if reason is None:
        return prefix_zh, f"closed: {prefix_en}"
    return f"{prefix_zh}：{reason.zh}", f"closed: {reason.en}"


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
            raise Open311Error(400, ("status 只能是 open 或 closed", "status must be open, closed or both"))
        if len(set(statuses)) == 1:
            public_status = statuses[0]
    start = parse_datetime(s, "start_date") if (s := get("start_date")) else None
    end = parse_datetime(e, "end_date") if (e := get("end_date")) else None
    if start is not None and end is not None and end < start:
        raise Open311Error(400, ("end_date 早于 start_date", "end_date is before start_date"))
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
        raise Open311Error(400, (f"{name} 必须是正整数", f"{name} must be a positive integer")) from None
    if number < 1:
        raise Open311Error(400, (f"{name} 必须是正整数", f"{name} must be a positive integer"))
    return min(number, maximum)


def new_token() -> str:
    return secrets.token_urlsafe(18)


def open311_actor(api_key_id: str) -> Actor:
    """The reporter as the loop sees them: a citizen, reaching us through an Open311 client."""
    return Actor(id=f"open311:{api_key_id}", role=Role.CITIZEN)
