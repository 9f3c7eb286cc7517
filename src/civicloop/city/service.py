"""A city: its profile, working calendar, rules and case service, on one database.

:func:`civicloop.bootstrap.open_city` builds one with every capability wired in; the capabilities take a
``City`` as their handle on the city's data.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import cached_property

from sqlalchemy import Engine

from civicloop.cases.service import CaseService
from civicloop.cases.store import EventStore
from civicloop.kernel.clock import TimeLimit, WorkCalendar
from civicloop.kernel.vocabulary import Channel, Step, Urgency
from civicloop.profile import CityProfile
from civicloop.profile.calendar import build_calendar_spec, check_coverage


class ProfileRules:
    """The domain's :class:`~civicloop.cases.core.Rules`, answered from a city profile."""

    def __init__(self, profile: CityProfile, calendar: WorkCalendar) -> None:
        self.profile = profile
        self._calendar = calendar
        self._codes = {c.code: {cond.no for cond in c.conditions} for c in profile.categories}
        self._departments = {d.id for d in profile.departments}
        # Answers asked at every step of every case, from a frozen profile: kept once asked.
        self._step_limits: dict[Step, TimeLimit] = {}
        self._evidence: dict[tuple[str | None, str], tuple[bool, bool]] = {}
        self._handling_limits: dict[tuple[str, int, Urgency], TimeLimit] = {}

    @property
    def calendar(self) -> WorkCalendar:
        return self._calendar

    def handling_limit(self, category_code: str, condition_no: int, urgency: Urgency) -> TimeLimit:
        key = (category_code, condition_no, urgency)
        limit = self._handling_limits.get(key)
        if limit is None:
            limit = self.profile.handling_limit(category_code, condition_no, urgency.value)
            self._handling_limits[key] = limit
        return limit

    def step_limit(self, step: Step) -> TimeLimit:
        limit = self._step_limits.get(step)
        if limit is None:
            limit = self._step_limits[step] = getattr(self.profile.step_limits, step.value)
        return limit

    def knows_category(self, code: str) -> bool:
        return code in self._codes

    def knows_condition(self, code: str, condition_no: int) -> bool:
        return condition_no in self._codes.get(code, ())

    def knows_department(self, department_id: str) -> bool:
        return department_id in self._departments

    def needs_verification(self, channel: Channel) -> bool:
        return self.profile.verification.needs_verification(channel.value)

    def evidence_needed(self, category_code: str | None, step: str) -> tuple[bool, bool]:
        """(needs a reason, needs a photo) for *step* of a case of that category (``[safeguards]``)."""
        known = self._evidence.get((category_code, step))
        if known is not None:
            return known
        guards = self.profile.safeguards
        visual = True
        if category_code is not None and category_code in self._codes:
            visual = self.profile.category(category_code).visual_evidence
        known = self._evidence[category_code, step] = (
            step in guards.reason_steps,
            visual and step in guards.photo_steps,
        )
        return known


def make_calendar(profile: CityProfile, today: date | None = None, *, strict: bool = True) -> WorkCalendar:
    """The city's work calendar. Fails at start-up for a year nobody covers unless the profile opts in."""
    cal = profile.calendar
    spec = build_calendar_spec(
        profile.timezone,
        [(p[0], p[1]) for p in cal.work_periods],
        cal.override_map(),
        cal.fallback_weekends,
        cal.work_day_mode,
        override_years=cal.override_years,
        source=cal.source,
    )
    if strict:
        for message in check_coverage(spec, today or datetime.now(UTC).date()):
            warnings.warn(message, stacklevel=2)
    return WorkCalendar(spec)


@dataclass
class City:
    profile: CityProfile
    engine: Engine
    calendar: WorkCalendar
    # Called once with the city when its case service is first built: the composition root passes the
    # listeners that must see every case event, whoever writes it (corrections, cluster outcomes).
    on_cases: Callable[[City], None] | None = field(default=None, repr=False, compare=False)

    @cached_property
    def store(self) -> EventStore:
        return EventStore(self.engine)

    @cached_property
    def rules(self) -> ProfileRules:
        return ProfileRules(self.profile, self.calendar)

    @cached_property
    def cases(self) -> CaseService:
        service = CaseService(
            self.store,
            self.rules,
            city_id=self.profile.id,
            case_prefix=self.profile.case_prefix,
            timezone=self.profile.timezone,
        )
        if self.on_cases is not None:
            self.__dict__["cases"] = service  # the hook reads city.cases: avoid recursion
            self.on_cases(self)
        return service

    @property
    def id(self) -> str:
        return self.profile.id


class CityNotInitialised(Exception):
    pass
