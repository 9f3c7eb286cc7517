"""Test helpers that speak the duty room's language: a_calendar(), SimpleRules, as_role(), at()."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from civicloop.cases.core import Actor, CaseState, Command, Event, apply, decide
from civicloop.kernel.clock import TimeLimit, TimeUnit, WorkCalendar
from civicloop.kernel.vocabulary import Action, Channel, Role, Step, Urgency
from civicloop.profile.calendar import build_calendar_spec

SHANGHAI = ZoneInfo("Asia/Shanghai")
CITY = "testcity"


def a_calendar() -> WorkCalendar:
    spec = build_calendar_spec(
        "Asia/Shanghai", [(time(8), time(12)), (time(14), time(18))], {}, False, "minutes"
    )
    return WorkCalendar(spec)


def at(text: str) -> datetime:
    """A Beijing-time moment: at("2026-03-02 09:15")."""
    return datetime.fromisoformat(text).replace(tzinfo=SHANGHAI)


class SimpleRules:
    """Rules for tests: two categories, three departments, 4 working hours to handle (2 if urgent)."""

    def __init__(self, calendar: WorkCalendar | None = None) -> None:
        self._calendar = calendar or a_calendar()
        self.limits = {
            ("06010", 1, Urgency.NORMAL): TimeLimit(4, TimeUnit.WORK_HOUR),
            ("06010", 1, Urgency.URGENT): TimeLimit(2, TimeUnit.WORK_HOUR),
            ("01003", 1, Urgency.NORMAL): TimeLimit(2, TimeUnit.WORK_DAY),
            ("01003", 1, Urgency.URGENT): TimeLimit(2, TimeUnit.NATURAL_HOUR),
            ("01003", 2, Urgency.NORMAL): TimeLimit(5, TimeUnit.WORK_DAY),
            ("01003", 2, Urgency.URGENT): TimeLimit(5, TimeUnit.WORK_DAY),
        }
        self.departments = {"sanitation", "drainage", "roads"}
        # The profile's [safeguards] (the domain tests of the loop give none; tests of the guards set them).
        self.reason_steps: tuple[str, ...] = ("check_failed",)
        self.photo_steps: tuple[str, ...] = ()

    @property
    def calendar(self) -> WorkCalendar:
        return self._calendar

    def handling_limit(self, category_code: str, condition_no: int, urgency: Urgency) -> TimeLimit:
        return self.limits[(category_code, condition_no, urgency)]

    def step_limit(self, step: Step) -> TimeLimit:
        return TimeLimit(1 if step is Step.CLOSE else 0.5, TimeUnit.WORK_HOUR)

    def knows_category(self, code: str) -> bool:
        return any(k[0] == code for k in self.limits)

    def knows_condition(self, code: str, condition_no: int) -> bool:
        return (code, condition_no, Urgency.NORMAL) in self.limits

    def knows_department(self, department_id: str) -> bool:
        return department_id in self.departments

    def needs_verification(self, channel: Channel) -> bool:
        return channel in (Channel.CITIZEN, Channel.HOTLINE, Channel.OPEN311)

    def evidence_needed(self, category_code: str | None, step: str) -> tuple[bool, bool]:
        return step in self.reason_steps, step in self.photo_steps


def as_role(role: str, user: str | None = None, department: str | None = None) -> Actor:
    r = Role(role)
    return Actor(id=user or f"{role}-1", role=r, department_id=department)


class Case:
    """A case driven through the pure domain, keeping its events (no database)."""

    def __init__(self, rules: SimpleRules | None = None, case_id: str = "TC-2026-0000001") -> None:
        self.rules = rules or SimpleRules()
        self.case_id = case_id
        self.state: CaseState | None = None
        self.events: list[Event] = []

    def do(self, action: str, actor: Actor, when: datetime, **fields: Any) -> CaseState:
        event = decide(
            self.state, Command(Action(action), self.case_id, fields), actor, when, self.rules, city_id=CITY
        )
        self.state = apply(self.state, event)
        self.events.append(event)
        return self.state


def a_reported_case(
    when: datetime, *, channel: str = "inspector", category: str = "06010", **extra: Any
) -> Case:
    case = Case()
    role = {"inspector": "inspector", "citizen": "citizen", "hotline": "operator"}.get(channel, "system")
    case.do(
        "report",
        as_role(role),
        when,
        channel=channel,
        category_code=category,
        lon=112.56,
        lat=37.84,
        description="路口垃圾成堆",
        **extra,
    )
    return case


def a_dispatched_case(
    when: datetime, *, category: str = "06010", urgency: str = "normal", condition_no: int = 1
) -> Case:
    case = a_reported_case(when, category=category)
    case.do("accept", as_role("operator"), when + timedelta(minutes=1))
    case.do(
        "file",
        as_role("shift_leader"),
        when + timedelta(minutes=2),
        urgency=urgency,
        condition_no=condition_no,
    )
    case.do("dispatch", as_role("dispatcher"), when + timedelta(minutes=3), department_id="sanitation")
    return case


__all__ = ["UTC", "date"]
