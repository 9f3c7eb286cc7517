"""One traffic light (红黄绿灯): a case is red, and overdue, exactly when its deadline has passed.

The case's light (``CaseState.light``/``overdue``), the big screen's light schedule
(``civicloop.web.lights.schedule``) and the KPI engine all ask ``judge_light``; these tests put cases in
the situations where the working clock and the wall clock disagree (evening, lunch break, weekend,
holiday) and where the clock stands still (挂账), and check every view gives the same answer.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from hypothesis import given
from hypothesis import strategies as st

from civicloop.cases.core import CaseState
from civicloop.kernel.clock import TimeLimit, TimeUnit, TrafficLight, WorkCalendar, judge_light, traffic_light
from civicloop.kernel.vocabulary import Channel, Stage, Step
from civicloop.profile.calendar import build_calendar_spec
from civicloop.web.lights import DOC_KEYS, LIGHT_NAMES, inputs_from_values, schedule

SHANGHAI = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar(
    build_calendar_spec("Asia/Shanghai", [(time(8), time(12)), (time(14), time(18))], {}, False, "minutes")
)
EIGHT_HOURS = TimeLimit(8, TimeUnit.WORK_HOUR)
RED, YELLOW, GREEN = TrafficLight.RED, TrafficLight.YELLOW, TrafficLight.GREEN


def bj(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=SHANGHAI).astimezone(UTC)


def dispatched(at: datetime, limit: TimeLimit = EIGHT_HOURS) -> CaseState:
    return CaseState(
        city_id="t", case_id="T-1", version=4, stage=Stage.DISPATCHED, channel=Channel.HOTLINE,
        created_at=at, updated_at=at, department_id="dept", step=Step.HANDLE, step_started_at=at,
        handling_limit=limit, clock_running_since=at, deadline=CAL.deadline(at, limit),
    )  # fmt: skip


def suspended(state: CaseState, at: datetime) -> CaseState:
    s = state.clone()
    s.stage = Stage.SUSPENDED
    s.handling_used_minutes = state.handling_used(CAL, at)
    s.clock_running_since = None
    s.suspended_at = at
    return s


def screen_light(state: CaseState, now: datetime) -> str | None:
    doc = state.to_doc()
    sched = schedule(inputs_from_values(state.stage.value, [doc.get(k) for k in DOC_KEYS]), CAL)
    return LIGHT_NAMES[sched.light(now.timestamp())]


def assert_everywhere(state: CaseState, now: datetime, light: TrafficLight) -> None:
    """The case's light, its overdue flag and the big screen's schedule all agree on *light*."""
    assert state.light(CAL, now) is light, (now, state.light(CAL, now))
    assert state.overdue(CAL, now) is (light is RED)
    assert screen_light(state, now) == light.value


def test_evening_after_the_deadline_is_red_though_the_working_clock_stands_still() -> None:
    # TY-2026-0004330: due 12/02 18:00 with 480/480 working minutes used, 11 hours later.
    case = dispatched(bj(2026, 12, 2, 8))
    assert case.deadline == bj(2026, 12, 2, 18)
    late = bj(2026, 12, 3, 5)
    assert case.handling_used(CAL, late) == 480.0  # what the working clock says off-hours
    assert traffic_light(480.0, 480.0) is YELLOW  # the ratio alone would still say yellow
    assert_everywhere(case, bj(2026, 12, 2, 9), GREEN)
    assert_everywhere(case, bj(2026, 12, 2, 17, 59), YELLOW)
    assert_everywhere(case, bj(2026, 12, 2, 18), YELLOW)  # at the deadline: not yet past it
    assert_everywhere(case, bj(2026, 12, 2, 18, 0, 1), RED)
    assert_everywhere(case, late, RED)
    assert_everywhere(case, bj(2026, 12, 3, 8, 30), RED)


def test_lunch_break_after_a_morning_deadline_is_red() -> None:
    case = dispatched(bj(2026, 12, 2, 8), TimeLimit(4, TimeUnit.WORK_HOUR))
    assert case.deadline == bj(2026, 12, 2, 12)
    assert_everywhere(case, bj(2026, 12, 2, 10), GREEN)  # 120/240
    assert_everywhere(case, bj(2026, 12, 2, 11, 30), YELLOW)  # 210/240
    assert_everywhere(case, bj(2026, 12, 2, 13), RED)  # lunch: 240/240 used, past 12:00


def test_weekend_before_and_after_the_deadline() -> None:
    # Friday 10:00 + 8 working hours: 6 on Friday, 2 on Monday → due Monday 10:00.
    case = dispatched(bj(2026, 12, 4, 10))
    assert case.deadline == bj(2026, 12, 7, 10)
    assert_everywhere(case, bj(2026, 12, 5, 11), GREEN)  # Saturday: 360/480, not due yet
    assert_everywhere(case, bj(2026, 12, 7, 9), YELLOW)  # Monday 09:00: 420/480
    assert_everywhere(case, bj(2026, 12, 7, 10, 1), RED)
    # Friday 08:00 + 8 hours → due Friday 18:00: red all weekend.
    friday = dispatched(bj(2026, 12, 4, 8))
    assert_everywhere(friday, bj(2026, 12, 5, 10), RED)
    assert_everywhere(friday, bj(2026, 12, 6, 23), RED)


def test_national_day_holiday() -> None:
    # 30 September 14:00 + 8 working hours: 4 that day, the next 4 after the holiday (8 October).
    case = dispatched(bj(2026, 9, 30, 14))
    assert case.deadline == bj(2026, 10, 8, 12)
    assert_everywhere(case, bj(2026, 10, 3, 12), GREEN)
    assert_everywhere(case, bj(2026, 10, 8, 12, 0, 1), RED)
    early = dispatched(bj(2026, 9, 30, 8))  # due 30 September 18:00
    assert_everywhere(early, bj(2026, 10, 3, 12), RED)


def test_a_suspended_case_is_not_overdue_and_its_light_stands_still() -> None:
    case = dispatched(bj(2026, 12, 2, 8))  # due 18:00
    before = suspended(case, bj(2026, 12, 2, 16, 30))  # 420/480 used
    for now in (bj(2026, 12, 2, 17), bj(2026, 12, 9, 12), bj(2027, 1, 1)):
        assert_everywhere(before, now, YELLOW)  # past the old deadline, but the clock stands still
    green = suspended(case, bj(2026, 12, 2, 9))
    assert_everywhere(green, bj(2026, 12, 30), GREEN)
    # suspended after the deadline (480/480 used): the deadline is suspended with the clock …
    after = suspended(case, bj(2026, 12, 2, 20))
    assert_everywhere(after, bj(2026, 12, 3, 10), YELLOW)
    # … and on resumption nothing remains: due at once, red from then on.
    resumed = after.clone()
    resumed.stage, resumed.clock_running_since = Stage.DISPATCHED, bj(2026, 12, 4, 9)
    resumed.suspended_at = None
    resumed.deadline = CAL.add_minutes(bj(2026, 12, 4, 9), 0, TimeUnit.WORK_HOUR)
    assert_everywhere(resumed, bj(2026, 12, 4, 9, 1), RED)


def test_a_zero_length_limit_is_yellow_until_its_deadline_then_red() -> None:
    created = bj(2026, 12, 2, 9, 30)
    case = dispatched(created, TimeLimit(0, TimeUnit.NATURAL_HOUR))
    assert case.deadline == created
    assert_everywhere(case, created, YELLOW)
    assert_everywhere(case, created + timedelta(seconds=1), RED)


def test_a_step_deadline_in_the_evening_is_red() -> None:
    # Filed at 17:00 (a step before dispatch, limited in working hours), due 17:30.
    at = bj(2026, 12, 2, 17)
    case = CaseState(
        city_id="t", case_id="T-2", version=3, stage=Stage.FILED, channel=Channel.HOTLINE,
        created_at=at, updated_at=at, step=Step.DISPATCH, step_started_at=at,
        step_deadline=CAL.deadline(at, TimeLimit(0.5, TimeUnit.WORK_HOUR)),
    )  # fmt: skip
    assert_everywhere(case, bj(2026, 12, 2, 17, 10), GREEN)
    assert_everywhere(case, bj(2026, 12, 2, 17, 29), YELLOW)
    assert_everywhere(case, bj(2026, 12, 2, 19), RED)


moments = st.datetimes(
    min_value=datetime(2026, 1, 1), max_value=datetime(2026, 12, 31), timezones=st.just(UTC)
)


@given(
    used=st.floats(0, 10_000),
    limit=st.floats(0, 10_000),
    deadline=st.none() | moments,
    now=moments,
    stopped=st.booleans(),
)
def test_red_exactly_when_overdue_and_overdue_exactly_when_the_deadline_has_passed(
    used: float, limit: float, deadline: datetime | None, now: datetime, stopped: bool
) -> None:
    verdict = judge_light(used, limit, deadline, now, clock_stopped=stopped)
    assert verdict.overdue is (verdict.light is RED)
    if stopped:
        assert not verdict.overdue
    elif deadline is not None:
        assert verdict.overdue is (now > deadline)
    if not verdict.overdue:
        assert verdict.light is (GREEN if limit > 0 and used < 0.8 * limit else YELLOW)
