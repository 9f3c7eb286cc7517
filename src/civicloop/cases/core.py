"""The case (案卷) and its closed loop, as a pure event-sourced state machine.

``decide(state, command, actor, at, rules)`` checks an action against the rules and returns the one
immutable :class:`Event` it produces (or raises a :class:`DomainError` and changes nothing).
``apply(state, event)`` folds an event into the state; it reads nothing but the event, so a projection
rebuilt from the event log years later equals the one written at the time, even after the city changed
its calendar or time limits. Everything the clock computed (deadlines, used time, lights) is therefore
written into the event's data by ``decide``.

The three state fields that peers keep apart are kept apart here too: the internal ``stage``, the public
status (derived from the stage, open/closed) and the ``closure_reason`` — so that a duplicate or a
not-our-business closure can never be counted as fixed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol, TypeVar

import orjson

from civicloop.kernel.clock import LightVerdict, TimeLimit, TimeUnit, TrafficLight, WorkCalendar, judge_light
from civicloop.kernel.errors import (
    AlreadyRated,
    IllegalAction,
    InvalidField,
    MissingField,
    RoleNotAllowed,
    TimeRunsBackwards,
)
from civicloop.kernel.i18n import Msg
from civicloop.kernel.text import clean_text
from civicloop.kernel.vocabulary import (
    HANDLING_STAGES,
    Action,
    Channel,
    ClosureReason,
    Rating,
    Role,
    Stage,
    Step,
    Urgency,
)

E = TypeVar("E", bound=StrEnum)

MAX_DESCRIPTION = 4000  # Open311 GeoReport v2 limit, applied to every channel alike


class Rules(Protocol):
    """What the state machine needs to know about the city (from its profile)."""

    @property
    def calendar(self) -> WorkCalendar: ...

    def handling_limit(self, category_code: str, condition_no: int, urgency: Urgency) -> TimeLimit: ...

    def step_limit(self, step: Step) -> TimeLimit: ...

    def knows_category(self, code: str) -> bool: ...

    def knows_condition(self, code: str, condition_no: int) -> bool: ...

    def knows_department(self, department_id: str) -> bool: ...

    def needs_verification(self, channel: Channel) -> bool: ...

    def evidence_needed(self, category_code: str | None, step: str) -> tuple[bool, bool]:
        """(needs a reason, needs a photo) for a safeguarded step (``verify_confirmed``, ``verify_denied``,
        ``handle``, ``check_passed``, ``check_failed``) of a case of that category."""
        ...


@dataclass(frozen=True, slots=True)
class Actor:
    """Who acts. Scope (department, districts, grids) is checked by the service layer, not here."""

    id: str
    role: Role
    name: str | None = None
    department_id: str | None = None
    district_codes: tuple[str, ...] = ()
    grid_codes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Command:
    action: Action
    case_id: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Event:
    """One immutable fact in a case's history (案卷流转记录)."""

    city_id: str
    case_id: str
    seq: int
    action: Action
    at: datetime
    actor_id: str
    actor_role: Role
    stage_before: Stage | None
    stage_after: Stage
    data: Mapping[str, Any]
    note: str | None = None
    attachments: tuple[str, ...] = ()


@dataclass
class CaseState:
    """The current state of one case: a projection of its events.

    Not slotted on purpose: ``clone`` copies ``__dict__`` in one step, which is what keeps ``apply``
    cheap when millions of events are replayed.
    """

    city_id: str
    case_id: str
    version: int
    stage: Stage
    channel: Channel
    created_at: datetime
    updated_at: datetime
    category_code: str | None = None
    condition_no: int | None = None
    urgency: Urgency = Urgency.NORMAL
    description: str | None = None
    lon: float | None = None
    lat: float | None = None
    address: str | None = None
    grid_code: str | None = None
    community_code: str | None = None
    street_code: str | None = None
    district_code: str | None = None
    component_id: str | None = None
    external_id: str | None = None
    # A reference to the reporter (account id or the private reporter record); names, phones and e-mails
    # live outside the append-only log so that a person can be erased while the case stays.
    reporter_id: str | None = None
    photos: tuple[str, ...] = ()
    after_photos: tuple[str, ...] = ()
    needs_verification: bool = False
    department_id: str | None = None
    accepted_at: datetime | None = None
    filed_at: datetime | None = None
    first_dispatched_at: datetime | None = None
    dispatched_at: datetime | None = None
    handled_at: datetime | None = None
    closed_at: datetime | None = None
    step: Step | None = None
    step_started_at: datetime | None = None
    step_deadline: datetime | None = None
    handling_limit: TimeLimit | None = None
    extension_minutes: float = 0.0
    deadline: datetime | None = None
    handling_used_minutes: float = 0.0
    clock_running_since: datetime | None = None
    suspended_at: datetime | None = None
    pending: dict[str, Any] | None = None
    closure_reason: ClosureReason | None = None
    handled_on_time: bool | None = None
    handling_light: TrafficLight | None = None
    handling_rounds: int = 0
    late_rounds: int = 0
    dispatch_count: int = 0
    wrong_dispatch_count: int = 0
    rework_count: int = 0
    extension_count: int = 0
    suspension_count: int = 0
    urge_count: int = 0
    reopen_count: int = 0
    duplicate_of: str | None = None
    # Cluster (案卷聚合): reports of the same problem merged into this master case; they raise its
    # priority and each of their reporters hears the outcome.
    cluster_members: tuple[str, ...] = ()
    recurrence_count: int = 0  # reports of the same problem at this place after it was closed
    recurrence_of: str | None = None  # this report repeats a problem closed earlier (that case)
    triage: dict[str, Any] | None = None  # the intake suggestion (category, department, urgency, scores)
    # 回访: the latest rating of this closure, who rated it (one rating per reporter per closure), and
    # whether a 不满意 waits for the shift leader's review (reopen or confirm the closure).
    satisfaction: str | None = None
    feedback_raters: tuple[str, ...] = ()
    feedback_review: bool = False

    @property
    def cluster_size(self) -> int:
        return 1 + len(self.cluster_members)

    @property
    def public_status(self) -> str:
        return self.stage.public_status

    @property
    def is_open(self) -> bool:
        return not self.stage.is_terminal

    def handling_limit_minutes(self, calendar: WorkCalendar) -> float | None:
        if self.handling_limit is None:
            return None
        return calendar.limit_minutes(self.handling_limit) + self.extension_minutes

    def handling_used(self, calendar: WorkCalendar, now: datetime) -> float:
        """Working (or natural) minutes the department has used so far; suspended time excluded."""
        used = self.handling_used_minutes
        if self.clock_running_since is not None and self.handling_limit is not None:
            used += calendar.elapsed_minutes(self.clock_running_since, now, self.handling_limit.unit)
        return used

    def verdict(self, calendar: WorkCalendar, now: datetime) -> LightVerdict | None:
        """Light and overdue flag of the current step (the handling bundle while with a department),
        by :func:`civicloop.kernel.clock.judge_light`: red exactly when the step's deadline has passed."""
        if self.stage.is_terminal:
            return None
        if self.stage in HANDLING_STAGES or self.stage is Stage.SUSPENDED:
            limit = self.handling_limit_minutes(calendar)
            if limit is None:
                return None
            used = self.handling_used(calendar, now)
            if self.clock_running_since is None:  # 挂账: the clock and the deadline stand still
                return judge_light(used, limit, None, now, clock_stopped=True)
            return judge_light(used, limit, self.deadline, now)
        if self.step_started_at is None or self.step_deadline is None:
            return None
        if now <= self.step_started_at:
            return LightVerdict(TrafficLight.GREEN, False)
        total = calendar.elapsed_minutes(self.step_started_at, self.step_deadline, TimeUnit.WORK_HOUR)
        used = calendar.elapsed_minutes(self.step_started_at, now, TimeUnit.WORK_HOUR)
        return judge_light(used, max(total, 0.0), self.step_deadline, now)

    def light(self, calendar: WorkCalendar, now: datetime) -> TrafficLight | None:
        """The traffic light of the current step (see :meth:`verdict`)."""
        verdict = self.verdict(calendar, now)
        return None if verdict is None else verdict.light

    def overdue(self, calendar: WorkCalendar, now: datetime) -> bool:
        """超期: the current step's deadline has passed (the light is red), see :meth:`verdict`."""
        verdict = self.verdict(calendar, now)
        return verdict is not None and verdict.overdue

    def clone(self) -> CaseState:
        new = object.__new__(CaseState)
        new.__dict__.update(self.__dict__)
        return new

    def to_json(self) -> bytes:
        """The stored projection document: every field, keys sorted (orjson writes dataclasses natively)."""
        return orjson.dumps(self, option=orjson.OPT_SORT_KEYS)

    def to_doc(self) -> dict[str, Any]:
        """A JSON-safe dict of every field."""
        doc: dict[str, Any] = orjson.loads(self.to_json())
        return doc

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> CaseState:
        kwargs = {k: v for k, v in doc.items() if k in _STATE_FIELD_SET}
        for name, convert in _FROM_JSON.items():
            value = kwargs.get(name)
            if value is not None:
                kwargs[name] = convert(value)
        return cls(**kwargs)


def _limit_from_json(v: Mapping[str, Any]) -> TimeLimit:
    return TimeLimit(float(v["amount"]), TimeUnit(v["unit"]))


_STATE_FIELD_SET = frozenset(f.name for f in fields(CaseState))
_DT = datetime.fromisoformat


def _by_value(enum: type[StrEnum]) -> Callable[[Any], Any]:
    """A dict lookup: several times faster than calling the enum, and replay calls it millions of times."""
    return {m.value: m for m in enum}.__getitem__


_STEP_BY_VALUE = _by_value(Step)
_CLOSUREREASON_BY_VALUE = _by_value(ClosureReason)
_URGENCY_BY_VALUE = _by_value(Urgency)
_CHANNEL_BY_VALUE = _by_value(Channel)
_TRAFFICLIGHT_BY_VALUE = _by_value(TrafficLight)

_FROM_JSON: dict[str, Callable[[Any], Any]] = {
    "stage": _by_value(Stage),
    "channel": _by_value(Channel),
    "urgency": _by_value(Urgency),
    "created_at": datetime.fromisoformat,
    "updated_at": datetime.fromisoformat,
    "accepted_at": _DT,
    "filed_at": _DT,
    "first_dispatched_at": _DT,
    "dispatched_at": _DT,
    "handled_at": _DT,
    "closed_at": _DT,
    "step": _by_value(Step),
    "step_started_at": _DT,
    "step_deadline": _DT,
    "deadline": _DT,
    "clock_running_since": _DT,
    "suspended_at": _DT,
    "handling_limit": _limit_from_json,
    "closure_reason": _by_value(ClosureReason),
    "handling_light": _by_value(TrafficLight),
    "photos": tuple,
    "after_photos": tuple,
    "cluster_members": tuple,
    "feedback_raters": tuple,
}


# --------------------------------------------------------------------------------------------------
# Action table: who may do what, from which stages, with which fields.
# --------------------------------------------------------------------------------------------------

_S = Stage
_R = Role
_PRE_FILING = frozenset({_S.REPORTED, _S.VERIFYING})
_VOIDABLE = frozenset(
    {_S.ACCEPTED, _S.FILED, _S.DISPATCHED, _S.SUSPENDED, _S.HANDLED, _S.CHECKING, _S.CHECKED}
)
_OPEN = frozenset(s for s in Stage if not s.is_terminal)
_ANY: frozenset[Stage | None] = frozenset(Stage)
_STAFF = frozenset({_R.INSPECTOR, _R.OPERATOR, _R.SHIFT_LEADER, _R.DISPATCHER, _R.DEPARTMENT, _R.LEADER})


@dataclass(frozen=True, slots=True)
class ActionSpec:
    roles: frozenset[Role]
    from_stages: frozenset[Stage | None]
    required: tuple[str, ...] = ()
    optional: tuple[str, ...] = ()


_REPORT_FIELDS = (
    "category_code",
    "description",
    "lon",
    "lat",
    "address",
    "grid_code",
    "community_code",
    "street_code",
    "district_code",
    "component_id",
    "urgency",
    "photos",
    "reporter_id",
    "self_handled",
    "external_id",
    "note",
    "recurrence_of",
    "triage",
    "contactable",
)

ACTIONS: dict[Action, ActionSpec] = {
    Action.REPORT: ActionSpec(
        frozenset({_R.INSPECTOR, _R.OPERATOR, _R.CITIZEN, _R.SYSTEM}),
        frozenset({None}),
        ("channel",),
        _REPORT_FIELDS,
    ),
    Action.ACCEPT: ActionSpec(
        frozenset({_R.OPERATOR, _R.SYSTEM}), frozenset({_S.REPORTED}), (), ("category_code", "verify", "note")
    ),
    Action.REJECT: ActionSpec(
        frozenset({_R.OPERATOR, _R.SYSTEM}), _PRE_FILING, ("reason",), ("note", "duplicate_of")
    ),
    Action.VERIFY: ActionSpec(
        frozenset({_R.INSPECTOR}), frozenset({_S.VERIFYING}), ("confirmed",), ("note", "photos")
    ),
    Action.FILE: ActionSpec(
        frozenset({_R.SHIFT_LEADER, _R.SYSTEM}),
        frozenset({_S.ACCEPTED}),
        (),
        ("category_code", "condition_no", "urgency", "note"),
    ),
    Action.NOT_FILE: ActionSpec(frozenset({_R.SHIFT_LEADER}), frozenset({_S.ACCEPTED}), ("note",)),
    Action.DISPATCH: ActionSpec(
        frozenset({_R.DISPATCHER, _R.SYSTEM}), frozenset({_S.FILED}), ("department_id",), ("note",)
    ),
    Action.REQUEST_RETURN: ActionSpec(
        frozenset({_R.DEPARTMENT}), frozenset({_S.DISPATCHED}), ("note",), ("suggested_department_id",)
    ),
    Action.APPROVE_RETURN: ActionSpec(
        frozenset({_R.DISPATCHER}), frozenset({_S.RETURN_REQUESTED}), (), ("note",)
    ),
    Action.DENY_RETURN: ActionSpec(frozenset({_R.DISPATCHER}), frozenset({_S.RETURN_REQUESTED}), ("note",)),
    Action.REQUEST_EXTENSION: ActionSpec(
        frozenset({_R.DEPARTMENT}), frozenset({_S.DISPATCHED}), ("amount", "unit", "note")
    ),
    Action.APPROVE_EXTENSION: ActionSpec(
        frozenset({_R.DISPATCHER}), frozenset({_S.EXTENSION_REQUESTED}), (), ("amount", "unit", "note")
    ),
    Action.DENY_EXTENSION: ActionSpec(
        frozenset({_R.DISPATCHER}), frozenset({_S.EXTENSION_REQUESTED}), ("note",)
    ),
    Action.REQUEST_SUSPENSION: ActionSpec(
        frozenset({_R.DEPARTMENT}), frozenset({_S.DISPATCHED}), ("note",), ("amount", "unit")
    ),
    Action.APPROVE_SUSPENSION: ActionSpec(
        frozenset({_R.DISPATCHER}), frozenset({_S.SUSPENSION_REQUESTED}), (), ("note",)
    ),
    Action.DENY_SUSPENSION: ActionSpec(
        frozenset({_R.DISPATCHER}), frozenset({_S.SUSPENSION_REQUESTED}), ("note",)
    ),
    Action.RESUME: ActionSpec(frozenset({_R.DISPATCHER}), frozenset({_S.SUSPENDED}), (), ("note",)),
    Action.HANDLE: ActionSpec(frozenset({_R.DEPARTMENT}), frozenset({_S.DISPATCHED}), ("note",), ("photos",)),
    Action.SEND_CHECK: ActionSpec(
        frozenset({_R.OPERATOR, _R.SYSTEM}), frozenset({_S.HANDLED}), (), ("note", "inspector_id")
    ),
    Action.CHECK: ActionSpec(
        frozenset({_R.INSPECTOR}), frozenset({_S.CHECKING}), ("passed",), ("note", "photos")
    ),
    Action.CLOSE: ActionSpec(frozenset({_R.SHIFT_LEADER, _R.SYSTEM}), frozenset({_S.CHECKED}), (), ("note",)),
    Action.REQUEST_VOID: ActionSpec(
        frozenset({_R.OPERATOR, _R.DISPATCHER}), _VOIDABLE, ("reason", "note"), ("duplicate_of",)
    ),
    Action.APPROVE_VOID: ActionSpec(
        frozenset({_R.SHIFT_LEADER}), frozenset({_S.VOID_REQUESTED}), (), ("note",)
    ),
    Action.DENY_VOID: ActionSpec(frozenset({_R.SHIFT_LEADER}), frozenset({_S.VOID_REQUESTED}), ("note",)),
    Action.VOID: ActionSpec(frozenset({_R.SHIFT_LEADER}), _VOIDABLE, ("reason", "note"), ("duplicate_of",)),
    Action.APPROVE_SELF_HANDLING: ActionSpec(
        frozenset({_R.OPERATOR, _R.SHIFT_LEADER}), frozenset({_S.SELF_HANDLED}), (), ("note",)
    ),
    Action.REJECT_SELF_HANDLING: ActionSpec(
        frozenset({_R.OPERATOR, _R.SHIFT_LEADER}), frozenset({_S.SELF_HANDLED}), ("note",)
    ),
    Action.REOPEN: ActionSpec(frozenset({_R.SHIFT_LEADER, _R.SYSTEM}), frozenset({_S.CLOSED}), ("note",)),
    Action.COMMENT: ActionSpec(_STAFF | {_R.SYSTEM}, _ANY, ("note",), ("photos",)),
    Action.URGE: ActionSpec(frozenset({_R.LEADER}), frozenset(_OPEN), ("note",)),
    Action.LINK_DUPLICATE: ActionSpec(
        frozenset({_R.OPERATOR, _R.SYSTEM}), frozenset(_OPEN), ("member_id",), ("note",)
    ),
    Action.UNLINK_DUPLICATE: ActionSpec(
        frozenset({_R.OPERATOR, _R.SHIFT_LEADER, _R.SYSTEM}), _ANY, ("member_id",), ("note",)
    ),
    Action.SPLIT: ActionSpec(frozenset({_R.OPERATOR, _R.SHIFT_LEADER}), frozenset({_S.REJECTED}), ("note",)),
    Action.FLAG_RECURRENCE: ActionSpec(
        frozenset({_R.OPERATOR, _R.SYSTEM}), frozenset({_S.CLOSED}), ("member_id",), ("note",)
    ),
    Action.LOCATE: ActionSpec(
        frozenset({_R.OPERATOR, _R.SHIFT_LEADER, _R.SYSTEM}),
        _ANY,
        ("lon", "lat"),
        ("address", "grid_code", "community_code", "street_code", "district_code", "note"),
    ),
    Action.FEEDBACK: ActionSpec(
        frozenset({_R.CITIZEN, _R.OPERATOR, _R.SYSTEM}),
        frozenset({_S.CLOSED}),
        ("rating",),
        ("note", "rater"),
    ),
    Action.CONFIRM_CLOSURE: ActionSpec(frozenset({_R.SHIFT_LEADER}), frozenset({_S.CLOSED}), (), ("note",)),
}

#: The timed step each stage belongs to. Request stages keep the handling step: the clock runs on.
STAGE_STEP: dict[Stage, Step | None] = {
    _S.REPORTED: Step.ACCEPT,
    _S.VERIFYING: Step.VERIFY,
    _S.ACCEPTED: Step.FILE,
    _S.FILED: Step.DISPATCH,
    _S.DISPATCHED: Step.HANDLE,
    _S.RETURN_REQUESTED: Step.HANDLE,
    _S.EXTENSION_REQUESTED: Step.HANDLE,
    _S.SUSPENSION_REQUESTED: Step.HANDLE,
    _S.SUSPENDED: Step.HANDLE,
    _S.HANDLED: Step.CHECK_DISPATCH,
    _S.CHECKING: Step.CHECK,
    _S.CHECKED: Step.CLOSE,
    _S.SELF_HANDLED: Step.APPROVE,
    _S.VOID_REQUESTED: Step.APPROVE,
    _S.CLOSED: None,
    _S.REJECTED: None,
    _S.NOT_FILED: None,
    _S.VOIDED: None,
}


def allowed_actions(state: CaseState | None, role: Role) -> list[Action]:
    """The actions *role* may take on *state* now (for queues and UI buttons)."""
    stage = state.stage if state is not None else None
    review = state is not None and state.feedback_review
    return [
        a
        for a, spec in ACTIONS.items()
        if role in spec.roles and stage in spec.from_stages and (review or a is not Action.CONFIRM_CLOSURE)
    ]


# --------------------------------------------------------------------------------------------------
# Field parsing: every rejection names the field.
# --------------------------------------------------------------------------------------------------


def _text(fields: Mapping[str, Any], name: str, max_len: int = MAX_DESCRIPTION) -> str | None:
    value = fields.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidField(name, Msg("reasons.must_be_text"))
    value = clean_text(value).strip()
    if len(value) > max_len:
        raise InvalidField(
            name, Msg("reasons.must_be_at_most_characters_now", max_len=max_len, length=len(value))
        )
    return value or None


def _bool(fields: Mapping[str, Any], name: str) -> bool | None:
    value = fields.get(name)
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in {"true", "1", "yes", "false", "0", "no"}:
        return value.lower() in {"true", "1", "yes"}
    raise InvalidField(name, Msg("reasons.must_be_true_or_false"))


def _number(fields: Mapping[str, Any], name: str, lo: float, hi: float) -> float | None:
    value = fields.get(name)
    if value is None:
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidField(name, Msg("reasons.must_be_a_number")) from None
    if isinstance(value, bool) or not math.isfinite(number) or not lo <= number <= hi:
        raise InvalidField(name, Msg("reasons.must_be_between_and", lo=lo, hi=hi))
    return number


def _choice(
    fields: Mapping[str, Any], name: str, enum: type[E], allowed: tuple[E, ...] | None = None
) -> E | None:
    value = fields.get(name)
    if value is None:
        return None
    if isinstance(value, enum) and allowed is None:
        return value
    try:
        chosen: E | None = enum(value)
    except ValueError:
        chosen = None
    if chosen is not None and (allowed is None or chosen in allowed):
        return chosen
    options = list(allowed) if allowed is not None else list(enum)
    names = ", ".join(o.value for o in options)
    raise InvalidField(name, Msg("reasons.must_be_one_of", names=names))


def _photos(fields: Mapping[str, Any], name: str = "photos") -> tuple[str, ...]:
    value = fields.get(name)
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
        raise InvalidField(name, Msg("reasons.must_be_a_list_of_photo"))
    if len(value) > 20:
        raise InvalidField(name, Msg("reasons.at_most_20_photos"))
    return tuple(value)


def _category(fields: Mapping[str, Any], rules: Rules, name: str = "category_code") -> str | None:
    code = _text(fields, name, 16)
    if code is not None and not rules.knows_category(code):
        raise InvalidField(name, Msg("reasons.unknown_category_code", code=code))
    return code


# --------------------------------------------------------------------------------------------------
# Deciders: (state, fields, actor, at, rules) -> (stage_after, data). They may raise DomainError.
# --------------------------------------------------------------------------------------------------

Decided = tuple[Stage, dict[str, Any]]


def _iso(value: datetime) -> str:
    return value.isoformat()


def _decide_report(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    channel = _choice(f, "channel", Channel)
    assert channel is not None  # required field, checked before
    if actor.role is Role.CITIZEN and channel not in (Channel.CITIZEN, Channel.OPEN311):
        raise InvalidField("channel", Msg("reasons.citizens_report_through_the_public_channels"))
    self_handled = bool(_bool(f, "self_handled"))
    if self_handled and actor.role is not Role.INSPECTOR:
        raise InvalidField("self_handled", Msg("reasons.only_an_inspector_may_self_handle"))
    lon = _number(f, "lon", -180.0, 180.0)
    lat = _number(f, "lat", -90.0, 90.0)
    if (lon is None) != (lat is None):
        missing = "lat" if lat is None else "lon"
        raise InvalidField(missing, Msg("reasons.lon_and_lat_must_be_given"))
    address = _text(f, "address", 256)
    # A historical record may have no location at all (many exports leave some rows blank): the
    # system imports it unlocated (待定位), to be located later; every live report needs one.
    unlocated_import = channel is Channel.IMPORT and actor.role is Role.SYSTEM
    if lon is None and address is None and not unlocated_import:
        raise InvalidField("location", Msg("reasons.needs_lon_lat_or_an_address"))
    data: dict[str, Any] = {
        "channel": channel.value,
        "category_code": _category(f, rules),
        "description": _text(f, "description"),
        "lon": lon,
        "lat": lat,
        "address": address,
        "urgency": (_choice(f, "urgency", Urgency) or Urgency.NORMAL).value,
        "needs_verification": channel is not Channel.INSPECTOR and rules.needs_verification(channel),
        "self_handled": self_handled,
    }
    for key in (
        "grid_code",
        "community_code",
        "street_code",
        "district_code",
        "component_id",
        "external_id",
        "reporter_id",
        "recurrence_of",
    ):
        data[key] = _text(f, key, 256)
    triage = f.get("triage")
    if triage is not None:
        if not isinstance(triage, Mapping):
            raise InvalidField("triage", Msg("reasons.must_be_an_object"))
        data["triage"] = dict(triage)
    if _bool(f, "contactable"):  # the reporter left a phone or an e-mail (回访率's population)
        data["contactable"] = True
    if self_handled and not _text(f, "note"):
        raise MissingField(Action.REPORT, "note")
    stage = Stage.SELF_HANDLED if self_handled else Stage.REPORTED
    return stage, data


def _decide_accept(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    assert state is not None
    verify = _bool(f, "verify")
    if verify is None:
        verify = state.needs_verification
    return (Stage.VERIFYING if verify else Stage.ACCEPTED), {"category_code": _category(f, rules)}


def _decide_reject(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    allowed = (ClosureReason.NOT_CITY_BUSINESS, ClosureReason.INVALID, ClosureReason.DUPLICATE)
    reason = _choice(f, "reason", ClosureReason, allowed)
    assert reason is not None
    return Stage.REJECTED, {"reason": reason.value, "duplicate_of": _duplicate_of(f, reason)}


def _duplicate_of(f: Mapping[str, Any], reason: ClosureReason) -> str | None:
    dup = _text(f, "duplicate_of", 64)
    if reason is ClosureReason.DUPLICATE and dup is None:
        raise InvalidField("duplicate_of", Msg("reasons.a_duplicate_must_name_the_original"))
    return dup


def _decide_verify(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    confirmed = _bool(f, "confirmed")
    if confirmed:
        return Stage.ACCEPTED, {"confirmed": True}
    # 核实不属实: the reported problem is not there; the case ends as invalid, honestly labelled.
    return Stage.REJECTED, {"confirmed": False, "reason": ClosureReason.INVALID.value}


def _decide_file(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    assert state is not None
    code = _category(f, rules) or state.category_code
    if code is None:
        raise MissingField(Action.FILE, "category_code")
    cond = _number(f, "condition_no", 1, 999)
    condition_no = int(cond) if cond is not None else 1
    if not rules.knows_condition(code, condition_no):
        raise InvalidField(
            "condition_no",
            Msg("reasons.category_has_no_filing_condition", code=code, condition_no=condition_no),
        )
    urgency = _choice(f, "urgency", Urgency) or state.urgency
    limit = rules.handling_limit(code, condition_no, urgency)
    return Stage.FILED, {
        "category_code": code,
        "condition_no": condition_no,
        "urgency": urgency.value,
        "handling_limit": {"amount": limit.amount, "unit": limit.unit.value},
    }


def _decide_not_file(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    return Stage.NOT_FILED, {"reason": ClosureReason.NOT_FILED.value}


def _decide_dispatch(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    assert state is not None and state.handling_limit is not None
    department = _text(f, "department_id", 64)
    if department is None or not rules.knows_department(department):
        raise InvalidField("department_id", Msg("reasons.unknown_department", department=department))
    deadline = rules.calendar.deadline(at, state.handling_limit)
    return Stage.DISPATCHED, {
        "department_id": department,
        "deadline": _iso(deadline),
        # A new dispatch after an approved return or a failed check is not the first one.
        "redispatch": state.dispatch_count > 0,
    }


def _decide_request_return(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    suggested = _text(f, "suggested_department_id", 64)
    if suggested is not None and not rules.knows_department(suggested):
        raise InvalidField(
            "suggested_department_id", Msg("reasons.unknown_department_2", suggested=suggested)
        )
    return Stage.RETURN_REQUESTED, {
        "pending": {"kind": "return", "requested_at": _iso(at), "suggested_department_id": suggested}
    }


def _handling_snapshot(state: CaseState, at: datetime, rules: Rules) -> dict[str, Any]:
    """Used minutes, limit and light of the handling bundle at *at* (stored: the colour at transition)."""
    cal = rules.calendar
    used = state.handling_used(cal, at)
    limit = state.handling_limit_minutes(cal) or 0.0
    verdict = judge_light(used, limit, state.deadline, at)
    return {
        "used_minutes": round(used, 3),
        "limit_minutes": round(limit, 3),
        "light": verdict.light.value,
        "on_time": state.deadline is not None and not verdict.overdue,
    }


def _decide_approve_return(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    assert state is not None
    return Stage.FILED, {
        "returned_from": state.department_id,
        "handling": _handling_snapshot(state, at, rules),
    }


def _back_to_handling(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    return Stage.DISPATCHED, {}


def _extension_amount(f: Mapping[str, Any], state: CaseState) -> TimeLimit:
    amount = _number(f, "amount", 0.01, 10_000)
    unit = _choice(f, "unit", TimeUnit)
    if amount is None or unit is None:
        raise MissingField(Action.REQUEST_EXTENSION, "amount" if amount is None else "unit")
    assert state.handling_limit is not None
    natural = state.handling_limit.unit is TimeUnit.NATURAL_HOUR
    if natural != (unit is TimeUnit.NATURAL_HOUR):
        raise InvalidField(
            "unit",
            Msg("reasons.the_extension_must_use_the_same"),
        )
    return TimeLimit(amount, unit)


def _decide_request_extension(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    assert state is not None
    ext = _extension_amount(f, state)
    return Stage.EXTENSION_REQUESTED, {
        "pending": {
            "kind": "extension",
            "requested_at": _iso(at),
            "amount": ext.amount,
            "unit": ext.unit.value,
        }
    }


def _decide_approve_extension(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    assert state is not None and state.pending is not None and state.deadline is not None
    if f.get("amount") is None and f.get("unit") is None:
        ext = TimeLimit(float(state.pending["amount"]), TimeUnit(state.pending["unit"]))
    else:
        ext = _extension_amount(f, state)
    minutes = rules.calendar.limit_minutes(ext)
    assert state.handling_limit is not None
    new_deadline = rules.calendar.add_minutes(state.deadline, minutes, state.handling_limit.unit)
    return Stage.DISPATCHED, {
        "amount": ext.amount,
        "unit": ext.unit.value,
        "extension_minutes": minutes,
        "deadline": _iso(new_deadline),
    }


def _decide_request_suspension(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    pending: dict[str, Any] = {"kind": "suspension", "requested_at": _iso(at)}
    amount = _number(f, "amount", 0.01, 10_000)
    if amount is not None:  # the term asked for (挂账期限), shown to the approver; resuming ends it
        unit = _choice(f, "unit", TimeUnit) or TimeUnit.WORK_DAY
        pending["term"] = {"amount": amount, "unit": unit.value}
    return Stage.SUSPENSION_REQUESTED, {"pending": pending}


def _decide_approve_suspension(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    assert state is not None
    # 挂账 stops the clock: freeze what was used so far; the rest continues on resume.
    return Stage.SUSPENDED, {"used_minutes": state.handling_used(rules.calendar, at)}


def _decide_resume(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    assert state is not None and state.handling_limit is not None
    limit = state.handling_limit_minutes(rules.calendar) or 0.0
    remaining = max(limit - state.handling_used_minutes, 0.0)
    deadline = rules.calendar.add_minutes(at, remaining, state.handling_limit.unit)
    return Stage.DISPATCHED, {"deadline": _iso(deadline), "remaining_minutes": remaining}


def _decide_handle(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    assert state is not None
    return Stage.HANDLED, {"handling": _handling_snapshot(state, at, rules)}


def _decide_send_check(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    return Stage.CHECKING, {"inspector_id": _text(f, "inspector_id", 64)}


def _decide_check(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    passed = _bool(f, "passed")
    if passed:
        return Stage.CHECKED, {"passed": True}
    if not _text(f, "note"):
        raise MissingField(Action.CHECK, "note")
    # 返工: back to dispatch; counted on the case and against the department that handled it.
    return Stage.FILED, {"passed": False}


def _decide_close(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    return Stage.CLOSED, {"reason": ClosureReason.FIXED.value}


_VOID_REASONS = (
    ClosureReason.DUPLICATE,
    ClosureReason.MISFILED,
    ClosureReason.INVALID,
    ClosureReason.NOT_CITY_BUSINESS,
)


def _decide_request_void(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    assert state is not None
    reason = _choice(f, "reason", ClosureReason, _VOID_REASONS)
    assert reason is not None
    return Stage.VOID_REQUESTED, {
        "pending": {
            "kind": "void",
            "requested_at": _iso(at),
            "reason": reason.value,
            "duplicate_of": _duplicate_of(f, reason),
            "prior_stage": state.stage.value,
        }
    }


def _void_data(
    state: CaseState, reason: ClosureReason, duplicate_of: str | None, at: datetime, rules: Rules
) -> dict[str, Any]:
    data: dict[str, Any] = {"reason": reason.value, "duplicate_of": duplicate_of}
    if state.clock_running_since is not None:
        data["handling"] = _handling_snapshot(state, at, rules)
    return data


def _decide_approve_void(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    assert state is not None and state.pending is not None
    reason = ClosureReason(state.pending["reason"])
    return Stage.VOIDED, _void_data(state, reason, state.pending.get("duplicate_of"), at, rules)


def _decide_deny_void(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    assert state is not None and state.pending is not None
    return Stage(state.pending["prior_stage"]), {}


def _decide_void(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    assert state is not None
    reason = _choice(f, "reason", ClosureReason, _VOID_REASONS)
    assert reason is not None
    return Stage.VOIDED, _void_data(state, reason, _duplicate_of(f, reason), at, rules)


def _decide_approve_self(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    return Stage.CLOSED, {"reason": ClosureReason.SELF_FIXED.value}


def _decide_reject_self(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    return Stage.REJECTED, {"reason": ClosureReason.INVALID.value}


def _decide_reopen(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    assert state is not None
    if state.closure_reason is not ClosureReason.FIXED:
        raise InvalidField("stage", Msg("reasons.only_a_case_closed_as_fixed"))
    return Stage.FILED, {}


def _decide_feedback(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    """回访: one rating (满意 / 基本满意 / 不满意) per reporter per closure."""
    assert state is not None
    rating = f.get("rating")
    if rating not in _RATINGS:
        raise InvalidField("rating", Msg("reasons.rating_is_one_of", values=", ".join(_RATINGS)))
    rater = _text(f, "rater", 64) or state.reporter_id or state.case_id
    if rater in state.feedback_raters:
        raise AlreadyRated(state.case_id)
    return state.stage, {"rating": rating, "rater": rater, "closure": state.reopen_count + 1}


def _decide_confirm_closure(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    assert state is not None
    if not state.feedback_review:
        raise InvalidField("stage", Msg("reasons.no_dissatisfied_feedback_to_review"))
    return state.stage, {}


_RATINGS = tuple(r.value for r in Rating)


def _stay(state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules) -> Decided:
    assert state is not None
    return state.stage, {}


def _decide_locate(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    """定位: only a case without a position (待定位) is located; a pin is never moved this way."""
    assert state is not None
    if state.lon is not None:
        raise InvalidField("lon", Msg("reasons.already_located"))
    lon = _number(f, "lon", -180.0, 180.0)
    lat = _number(f, "lat", -90.0, 90.0)
    assert lon is not None and lat is not None  # required fields, checked before
    data: dict[str, Any] = {"lon": lon, "lat": lat, "address": _text(f, "address", 256) or state.address}
    for key in ("grid_code", "community_code", "street_code", "district_code"):
        data[key] = _text(f, key, 256) or getattr(state, key)
    return state.stage, data


def _decide_link(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    assert state is not None
    member = _text(f, "member_id", 32)
    if member is None or member == state.case_id:
        raise InvalidField("member_id", Msg("reasons.needs_the_id_of_another_case"))
    if member in state.cluster_members:
        raise InvalidField("member_id", Msg("reasons.is_linked_already", member=member))
    return state.stage, {"member_id": member}


def _decide_unlink(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    assert state is not None
    member = _text(f, "member_id", 32)
    if member is None or member not in state.cluster_members:
        raise InvalidField("member_id", Msg("reasons.is_not_linked_to_this_case", member=member))
    return state.stage, {"member_id": member}


def _decide_split(
    state: CaseState | None, f: Mapping[str, Any], actor: Actor, at: datetime, rules: Rules
) -> Decided:
    assert state is not None
    if state.closure_reason is not ClosureReason.DUPLICATE:
        raise InvalidField("stage", Msg("reasons.only_a_report_merged_as_a"))
    return Stage.REPORTED, {"was_duplicate_of": state.duplicate_of}


Decider = Callable[[CaseState | None, Mapping[str, Any], Actor, datetime, Rules], Decided]

_DECIDERS: dict[Action, Decider] = {
    Action.REPORT: _decide_report,
    Action.ACCEPT: _decide_accept,
    Action.REJECT: _decide_reject,
    Action.VERIFY: _decide_verify,
    Action.FILE: _decide_file,
    Action.NOT_FILE: _decide_not_file,
    Action.DISPATCH: _decide_dispatch,
    Action.REQUEST_RETURN: _decide_request_return,
    Action.APPROVE_RETURN: _decide_approve_return,
    Action.DENY_RETURN: _back_to_handling,
    Action.REQUEST_EXTENSION: _decide_request_extension,
    Action.APPROVE_EXTENSION: _decide_approve_extension,
    Action.DENY_EXTENSION: _back_to_handling,
    Action.REQUEST_SUSPENSION: _decide_request_suspension,
    Action.APPROVE_SUSPENSION: _decide_approve_suspension,
    Action.DENY_SUSPENSION: _back_to_handling,
    Action.RESUME: _decide_resume,
    Action.HANDLE: _decide_handle,
    Action.SEND_CHECK: _decide_send_check,
    Action.CHECK: _decide_check,
    Action.CLOSE: _decide_close,
    Action.REQUEST_VOID: _decide_request_void,
    Action.APPROVE_VOID: _decide_approve_void,
    Action.DENY_VOID: _decide_deny_void,
    Action.VOID: _decide_void,
    Action.APPROVE_SELF_HANDLING: _decide_approve_self,
    Action.REJECT_SELF_HANDLING: _decide_reject_self,
    Action.REOPEN: _decide_reopen,
    Action.COMMENT: _stay,
    Action.URGE: _stay,
    Action.LINK_DUPLICATE: _decide_link,
    Action.UNLINK_DUPLICATE: _decide_unlink,
    Action.SPLIT: _decide_split,
    Action.FLAG_RECURRENCE: _decide_link,
    Action.LOCATE: _decide_locate,
    Action.FEEDBACK: _decide_feedback,
    Action.CONFIRM_CLOSURE: _decide_confirm_closure,
}


def decide(
    state: CaseState | None, command: Command, actor: Actor, at: datetime, rules: Rules, *, city_id: str
) -> Event:
    """Check *command* and return the event it produces. Raises a DomainError and changes nothing."""
    action = command.action
    spec = ACTIONS[action]
    stage = state.stage if state is not None else None
    if actor.role not in spec.roles:
        raise RoleNotAllowed(action, actor.role, spec.roles)
    if stage not in spec.from_stages:
        raise IllegalAction(command.case_id, stage, action, actor.role)
    if at.tzinfo is None:
        raise InvalidField("at", Msg("reasons.the_time_must_carry_a_time"))
    if at.tzinfo is not UTC:
        at = at.astimezone(UTC)  # one representation everywhere: the stored, hashed and replayed one
    if state is not None and at < state.updated_at:
        raise TimeRunsBackwards(command.case_id, at.isoformat(), state.updated_at.isoformat())
    f = command.fields
    for name in spec.required:
        value = f.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            raise MissingField(action, name)
    stage_after, data = _DECIDERS[action](state, f, actor, at, rules)
    note = _text(f, "note")
    attachments = _photos(f)
    _check_safeguards(state, action, data, note, attachments, rules)
    data.update(_step_transition(state, stage_after, at, rules))
    return Event(
        city_id=city_id,
        case_id=command.case_id,
        seq=(state.version + 1) if state is not None else 1,
        action=action,
        at=at,
        actor_id=actor.id,
        actor_role=actor.role,
        stage_before=stage,
        stage_after=stage_after,
        data=data,
        note=note,
        attachments=attachments,
    )


def _safeguarded_step(action: Action, data: Mapping[str, Any]) -> str | None:
    if action is Action.VERIFY:
        return "verify_confirmed" if data.get("confirmed") else "verify_denied"
    if action is Action.CHECK:
        return "check_passed" if data.get("passed") else "check_failed"
    return "handle" if action is Action.HANDLE else None


def _check_safeguards(
    state: CaseState | None,
    action: Action,
    data: Mapping[str, Any],
    note: str | None,
    attachments: tuple[str, ...],
    rules: Rules,
) -> None:
    """The profile's safeguards: a step that needs a reason or a photo is refused without it."""
    step = _safeguarded_step(action, data)
    if step is None:
        return
    reason, photo = rules.evidence_needed(state.category_code if state else None, step)
    if reason and not note:
        raise InvalidField("note", Msg("reasons.step_needs_reason", step=Msg(f"reasons.step.{step}")))
    if photo and not attachments:
        raise InvalidField("photos", Msg("reasons.step_needs_photo", step=Msg(f"reasons.step.{step}")))


def _step_transition(
    state: CaseState | None, stage_after: Stage, at: datetime, rules: Rules
) -> dict[str, Any]:
    """Close the step being left (recording used time and its light) and time the step entered."""
    out: dict[str, Any] = {}
    before = state.step if state is not None else None
    after = STAGE_STEP[stage_after]
    if state is not None and before == after:
        return out  # same step continues (e.g. the handling clock runs through an extension request)
    # ``_value_``, not ``value``: the same string without the enum's property lookup (every event).
    out["step"] = after._value_ if after is not None else None
    calendar = rules.calendar
    if state is not None and before is not None and before is not Step.HANDLE and state.step_started_at:
        limit = rules.step_limit(before)
        used = calendar.elapsed_minutes(state.step_started_at, at, limit.unit)
        limit_min = calendar.limit_minutes(limit)
        out["step_result"] = {
            "step": before._value_,
            "used_minutes": round(used, 3),
            "limit_minutes": limit_min,
            "light": judge_light(used, limit_min, state.step_deadline, at).light._value_,
            "on_time": state.step_deadline is None or at <= state.step_deadline,
        }
    if after is not None and after is not Step.HANDLE:
        out["step_deadline"] = _iso(calendar.deadline(at, rules.step_limit(after)))
    return out


# --------------------------------------------------------------------------------------------------
# Apply: fold an event into the state. Reads only the event.
# --------------------------------------------------------------------------------------------------


def _dt(value: str) -> datetime:
    return datetime.fromisoformat(value)


def apply(state: CaseState | None, event: Event) -> CaseState:
    """Return the state after *event* (the input state is not modified)."""
    d = event.data
    if state is None:
        if event.action is not Action.REPORT:
            raise ValueError(f"the first event of {event.case_id} must be a report, not {event.action}")
        s = CaseState(
            city_id=event.city_id,
            case_id=event.case_id,
            version=0,
            stage=event.stage_after,
            channel=_CHANNEL_BY_VALUE(d["channel"]),
            created_at=event.at,
            updated_at=event.at,
        )
    else:
        s = state.clone()
    s.version = event.seq
    s.updated_at = event.at
    _APPLIERS.get(event.action, _apply_nothing)(s, event, d)
    s.stage = event.stage_after
    if "step" in d:  # the event left one timed step and entered another
        s.step = _STEP_BY_VALUE(d["step"]) if d["step"] is not None else None
        s.step_started_at = event.at if s.step is not None else None
        step_deadline = d.get("step_deadline")
        s.step_deadline = _dt(step_deadline) if step_deadline else None
    return s


def _apply_nothing(s: CaseState, e: Event, d: Mapping[str, Any]) -> None:
    return None


def _apply_report(s: CaseState, e: Event, d: Mapping[str, Any]) -> None:
    s.category_code = d.get("category_code")
    s.description = d.get("description")
    s.lon, s.lat, s.address = d.get("lon"), d.get("lat"), d.get("address")
    s.urgency = Urgency(d.get("urgency", "normal"))
    s.needs_verification = bool(d.get("needs_verification"))
    for key in (
        "grid_code",
        "community_code",
        "street_code",
        "district_code",
        "component_id",
        "external_id",
        "reporter_id",
        "recurrence_of",
        "triage",
    ):
        setattr(s, key, d.get(key))
    s.photos = e.attachments
    if d.get("self_handled"):
        s.handled_at = e.at


def _apply_locate(s: CaseState, e: Event, d: Mapping[str, Any]) -> None:
    s.lon, s.lat, s.address = d["lon"], d["lat"], d.get("address")
    for key in ("grid_code", "community_code", "street_code", "district_code"):
        setattr(s, key, d.get(key))


def _apply_accept(s: CaseState, e: Event, d: Mapping[str, Any]) -> None:
    s.accepted_at = e.at
    if d.get("category_code"):
        s.category_code = d["category_code"]


def _apply_closure(s: CaseState, e: Event, d: Mapping[str, Any]) -> None:
    s.closure_reason = _CLOSUREREASON_BY_VALUE(d["reason"])
    s.closed_at = e.at
    s.pending = None
    if d.get("duplicate_of"):
        s.duplicate_of = d["duplicate_of"]
    _stop_clock(s)


def _stop_clock(s: CaseState) -> None:
    s.clock_running_since = None


def _apply_verify(s: CaseState, e: Event, d: Mapping[str, Any]) -> None:
    if e.attachments:
        s.photos = s.photos + e.attachments
    if not d["confirmed"]:
        _apply_closure(s, e, d)


def _apply_file(s: CaseState, e: Event, d: Mapping[str, Any]) -> None:
    s.filed_at = e.at
    s.category_code = d["category_code"]
    s.condition_no = d["condition_no"]
    s.urgency = _URGENCY_BY_VALUE(d["urgency"])
    s.handling_limit = _limit_from_json(d["handling_limit"])


def _apply_dispatch(s: CaseState, e: Event, d: Mapping[str, Any]) -> None:
    s.department_id = d["department_id"]
    s.dispatched_at = e.at
    if s.first_dispatched_at is None:
        s.first_dispatched_at = e.at
    s.dispatch_count += 1
    s.deadline = _dt(d["deadline"])
    # Each dispatch starts a fresh handling round with the full limit (extensions belong to a round).
    s.extension_minutes = 0.0
    s.handling_used_minutes = 0.0
    s.clock_running_since = e.at
    s.handling_light = None


def _apply_pending(s: CaseState, e: Event, d: Mapping[str, Any]) -> None:
    s.pending = dict(d["pending"])


def _apply_clear_pending(s: CaseState, e: Event, d: Mapping[str, Any]) -> None:
    s.pending = None


def _apply_approve_return(s: CaseState, e: Event, d: Mapping[str, Any]) -> None:
    s.pending = None
    s.wrong_dispatch_count += 1  # 错误派遣: the department was not the right one
    s.department_id = None
    _stop_clock(s)
    s.deadline = None


def _apply_approve_extension(s: CaseState, e: Event, d: Mapping[str, Any]) -> None:
    s.pending = None
    s.extension_count += 1
    s.extension_minutes += float(d["extension_minutes"])
    s.deadline = _dt(d["deadline"])


def _apply_approve_suspension(s: CaseState, e: Event, d: Mapping[str, Any]) -> None:
    s.pending = None
    s.suspension_count += 1
    s.suspended_at = e.at
    s.handling_used_minutes = float(d["used_minutes"])
    s.clock_running_since = None


def _apply_resume(s: CaseState, e: Event, d: Mapping[str, Any]) -> None:
    s.suspended_at = None
    s.clock_running_since = e.at
    s.deadline = _dt(d["deadline"])


def _apply_handle(s: CaseState, e: Event, d: Mapping[str, Any]) -> None:
    h = d["handling"]
    s.handled_at = e.at
    s.after_photos = e.attachments
    s.handling_rounds += 1
    if not h["on_time"]:
        s.late_rounds += 1
    s.handled_on_time = s.late_rounds == 0
    s.handling_light = _TRAFFICLIGHT_BY_VALUE(h["light"])
    s.handling_used_minutes = float(h["used_minutes"])
    _stop_clock(s)


def _apply_check(s: CaseState, e: Event, d: Mapping[str, Any]) -> None:
    if e.attachments:
        s.after_photos = s.after_photos + e.attachments
    if not d["passed"]:
        s.rework_count += 1


def _apply_close(s: CaseState, e: Event, d: Mapping[str, Any]) -> None:
    _apply_closure(s, e, d)


def _apply_void(s: CaseState, e: Event, d: Mapping[str, Any]) -> None:
    _apply_closure(s, e, d)


def _apply_reopen(s: CaseState, e: Event, d: Mapping[str, Any]) -> None:
    s.reopen_count += 1
    s.closure_reason = None
    s.closed_at = None
    s.satisfaction = None  # ratings belong to a closure: the next closure is rated afresh
    s.feedback_raters = ()
    s.feedback_review = False


def _apply_feedback(s: CaseState, e: Event, d: Mapping[str, Any]) -> None:
    s.satisfaction = d["rating"]
    s.feedback_raters = (*s.feedback_raters, d["rater"])
    if d["rating"] == Rating.DISSATISFIED:
        s.feedback_review = True


def _apply_confirm_closure(s: CaseState, e: Event, d: Mapping[str, Any]) -> None:
    s.feedback_review = False


def _apply_urge(s: CaseState, e: Event, d: Mapping[str, Any]) -> None:
    s.urge_count += 1


def _apply_link(s: CaseState, e: Event, d: Mapping[str, Any]) -> None:
    s.cluster_members = (*s.cluster_members, d["member_id"])


def _apply_unlink(s: CaseState, e: Event, d: Mapping[str, Any]) -> None:
    s.cluster_members = tuple(m for m in s.cluster_members if m != d["member_id"])


def _apply_split(s: CaseState, e: Event, d: Mapping[str, Any]) -> None:
    s.closure_reason = None
    s.closed_at = None
    s.duplicate_of = None


def _apply_recurrence(s: CaseState, e: Event, d: Mapping[str, Any]) -> None:
    s.recurrence_count += 1


_APPLIERS: dict[Action, Callable[[CaseState, Event, Mapping[str, Any]], None]] = {
    Action.REPORT: _apply_report,
    Action.ACCEPT: _apply_accept,
    Action.REJECT: _apply_closure,
    Action.VERIFY: _apply_verify,
    Action.FILE: _apply_file,
    Action.NOT_FILE: _apply_closure,
    Action.DISPATCH: _apply_dispatch,
    Action.REQUEST_RETURN: _apply_pending,
    Action.APPROVE_RETURN: _apply_approve_return,
    Action.DENY_RETURN: _apply_clear_pending,
    Action.REQUEST_EXTENSION: _apply_pending,
    Action.APPROVE_EXTENSION: _apply_approve_extension,
    Action.DENY_EXTENSION: _apply_clear_pending,
    Action.REQUEST_SUSPENSION: _apply_pending,
    Action.APPROVE_SUSPENSION: _apply_approve_suspension,
    Action.DENY_SUSPENSION: _apply_clear_pending,
    Action.RESUME: _apply_resume,
    Action.HANDLE: _apply_handle,
    Action.CHECK: _apply_check,
    Action.CLOSE: _apply_close,
    Action.REQUEST_VOID: _apply_pending,
    Action.APPROVE_VOID: _apply_void,
    Action.DENY_VOID: _apply_clear_pending,
    Action.VOID: _apply_void,
    Action.APPROVE_SELF_HANDLING: _apply_close,
    Action.REJECT_SELF_HANDLING: _apply_closure,
    Action.REOPEN: _apply_reopen,
    Action.URGE: _apply_urge,
    Action.LINK_DUPLICATE: _apply_link,
    Action.UNLINK_DUPLICATE: _apply_unlink,
    Action.SPLIT: _apply_split,
    Action.FLAG_RECURRENCE: _apply_recurrence,
    Action.LOCATE: _apply_locate,
    Action.FEEDBACK: _apply_feedback,
    Action.CONFIRM_CLOSURE: _apply_confirm_closure,
}


def replay(events: Iterable[Event]) -> CaseState | None:
    """Fold a case's events, in order, into its state."""
    state: CaseState | None = None
    for event in events:
        state = apply(state, event)
    return state


def due_at(s: CaseState) -> datetime | None:
    """When the current step is due: the handling deadline while a department holds the case, else the
    step's deadline; none once closed or while suspended (挂账: the clock stands still)."""
    if s.stage.is_terminal or s.stage is Stage.SUSPENDED:
        return None
    if s.stage in HANDLING_STAGES:
        return s.deadline
    return s.step_deadline
