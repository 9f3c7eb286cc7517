"""Working-time clock (计时): deadlines, elapsed time and coverage on real Chinese holiday data."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import chinese_calendar
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civicloop.kernel.clock import (
    CalendarCoverageError,
    CalendarSpec,
    TimeLimit,
    TimeUnit,
    TrafficLight,
    WorkCalendar,
    overtime_multiple,
    traffic_light,
    validate_work_periods,
)
from civicloop.profile.calendar import build_calendar_spec, check_coverage, source_years

SHANGHAI = ZoneInfo("Asia/Shanghai")
EGOVA_PERIODS = [(time(8), time(12)), (time(14), time(18))]  # eGova default, docs/domain.md §7

WORK_HOUR = TimeUnit.WORK_HOUR
WORK_DAY = TimeUnit.WORK_DAY
NATURAL_HOUR = TimeUnit.NATURAL_HOUR

PROPERTY_SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


# -- helpers that speak the duty room's language ------------------------------------------------


@cache
def china_calendar(mode: str = "minutes", fallback: bool = False) -> WorkCalendar:
    return WorkCalendar(build_calendar_spec("Asia/Shanghai", EGOVA_PERIODS, {}, fallback, mode))


def calendar_with(
    overrides: Mapping[date, bool],
    *,
    fallback: bool = False,
    override_years: tuple[int, ...] = (),
    periods: list[tuple[time, time]] | None = None,
    mode: str = "minutes",
) -> WorkCalendar:
    spec = build_calendar_spec(
        "Asia/Shanghai",
        periods or EGOVA_PERIODS,
        overrides,
        fallback,
        mode,
        override_years=override_years,
    )
    return WorkCalendar(spec)


def beijing(y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
    return datetime(y, mo, d, h, mi, s, tzinfo=SHANGHAI)


def in_beijing(moment: datetime) -> datetime:
    return moment.astimezone(SHANGHAI)


def hours(amount: float) -> TimeLimit:
    return TimeLimit(amount, WORK_HOUR)


def days(amount: float) -> TimeLimit:
    return TimeLimit(amount, WORK_DAY)


# -- calendar data: the dates the duty room argues about ------------------------------------------


def test_saturday_2026_02_14_is_a_make_up_workday_and_counts() -> None:
    cal = china_calendar()
    assert date(2026, 2, 14).weekday() == 5
    assert cal.is_workday(date(2026, 2, 14))
    # Friday 17:00 + 2 工作时: one hour on Friday, one on the make-up Saturday.
    assert in_beijing(cal.deadline(beijing(2026, 2, 13, 17), hours(2))) == beijing(2026, 2, 14, 9)


def test_national_day_2026_10_01_is_a_holiday() -> None:
    cal = china_calendar()
    assert not cal.is_workday(date(2026, 10, 1))
    assert all(not cal.is_workday(date(2026, 10, d)) for d in range(1, 8))
    assert cal.is_workday(date(2026, 10, 10))  # Saturday make-up workday after the holiday
    assert in_beijing(cal.deadline(beijing(2026, 9, 30, 17), hours(2))) == beijing(2026, 10, 8, 9)
    assert cal.elapsed_minutes(beijing(2026, 9, 30, 18), beijing(2026, 10, 8, 8), WORK_HOUR) == 0


def test_deadline_crosses_the_2026_spring_festival() -> None:
    festival = [d for d, name in chinese_calendar.holidays.items() if d.year == 2026 and d.month == 2]
    assert min(festival) == date(2026, 2, 15)
    assert max(festival) == date(2026, 2, 23)
    cal = china_calendar()
    assert all(not cal.is_workday(d) for d in festival)
    # Friday 13th 10:00 + 3 工作日 = 1440 min: 360 on the 13th, 480 on Saturday the 14th (调休),
    # nothing 15–23, 480 on the 24th, 120 on the 25th.
    for mode in ("minutes", "same_time"):
        deadline = china_calendar(mode).deadline(beijing(2026, 2, 13, 10), days(3))
        assert in_beijing(deadline) == beijing(2026, 2, 25, 10), mode
    assert in_beijing(cal.deadline(beijing(2026, 2, 14, 16), hours(4))) == beijing(2026, 2, 24, 10)
    assert cal.elapsed_minutes(beijing(2026, 2, 13, 10), beijing(2026, 2, 25, 10), WORK_DAY) == 1440


def test_day_kinds_agree_with_chinese_calendar_for_every_day_of_2026() -> None:
    cal = china_calendar()
    d = date(2026, 1, 1)
    while d.year == 2026:
        assert cal.is_workday(d) == chinese_calendar.is_workday(d), d
        d += timedelta(days=1)


def test_source_years_match_what_chinese_calendar_answers() -> None:
    years = source_years()
    assert min(years) == 2004
    assert max(years) == 2026
    chinese_calendar.is_workday(date(min(years), 1, 1))
    chinese_calendar.is_workday(date(max(years), 12, 31))
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(max(years) + 1, 1, 1))
    with pytest.raises(NotImplementedError):
        chinese_calendar.is_workday(date(min(years) - 1, 12, 31))


def test_overrides_win_over_the_holiday_source() -> None:
    cal = calendar_with({date(2026, 10, 8): False, date(2026, 10, 3): True})
    assert not cal.is_workday(date(2026, 10, 8))
    assert cal.is_workday(date(2026, 10, 3))
    assert in_beijing(cal.deadline(beijing(2026, 9, 30, 17), hours(2))) == beijing(2026, 10, 3, 9)


def test_years_parameter_limits_the_loaded_holiday_data() -> None:
    spec = build_calendar_spec("Asia/Shanghai", EGOVA_PERIODS, {}, False, "minutes", years=range(2026, 2030))
    assert spec.covered_years == frozenset({2026})
    assert date(2025, 10, 1) not in spec.day_kinds
    assert spec.day_kinds[date(2026, 10, 1)] is False
    with pytest.raises(CalendarCoverageError):
        WorkCalendar(spec).is_workday(date(2025, 10, 1))


# -- counting rules --------------------------------------------------------------------------------


def test_open311_example_0915_plus_4_work_hours_is_1515() -> None:
    deadline = china_calendar().deadline(beijing(2026, 3, 2, 9, 15), hours(4))
    assert deadline == datetime(2026, 3, 2, 7, 15, tzinfo=UTC)
    assert deadline.tzinfo is UTC


def test_report_during_lunch_break_starts_counting_at_1400() -> None:
    cal = china_calendar()
    assert in_beijing(cal.deadline(beijing(2026, 3, 2, 12, 30), hours(1))) == beijing(2026, 3, 2, 15)
    assert in_beijing(cal.deadline(beijing(2026, 3, 2, 12, 30), hours(0.5))) == beijing(2026, 3, 2, 14, 30)
    assert cal.elapsed_minutes(beijing(2026, 3, 2, 12, 30), beijing(2026, 3, 2, 13, 59), WORK_HOUR) == 0
    assert not cal.is_working_time(beijing(2026, 3, 2, 12, 30))


def test_evening_report_starts_counting_next_working_morning() -> None:
    cal = china_calendar()
    assert in_beijing(cal.deadline(beijing(2026, 3, 2, 20), hours(1))) == beijing(2026, 3, 3, 9)
    # Friday evening: the weekend is skipped.
    assert in_beijing(cal.deadline(beijing(2026, 3, 6, 20), hours(1))) == beijing(2026, 3, 9, 9)
    assert in_beijing(cal.deadline(beijing(2026, 3, 8, 11), hours(1))) == beijing(2026, 3, 9, 9)  # Sunday
    assert in_beijing(cal.deadline(beijing(2026, 3, 2, 6, 45), hours(1))) == beijing(2026, 3, 2, 9)


def test_deadline_at_the_end_of_the_day_is_shown_as_1800_not_next_morning() -> None:
    cal = china_calendar()
    assert in_beijing(cal.deadline(beijing(2026, 3, 2, 14), hours(4))) == beijing(2026, 3, 2, 18)
    assert in_beijing(cal.deadline(beijing(2026, 3, 2, 8), hours(4))) == beijing(2026, 3, 2, 12)


def test_work_day_minutes_mode_adds_480_working_minutes() -> None:
    cal = china_calendar("minutes")
    assert cal.minutes_per_workday == 480
    assert in_beijing(cal.deadline(beijing(2026, 3, 2, 8), days(1))) == beijing(2026, 3, 2, 18)
    assert in_beijing(cal.deadline(beijing(2026, 3, 2, 10), days(2))) == beijing(2026, 3, 4, 10)
    assert in_beijing(cal.deadline(beijing(2026, 3, 2, 20), days(1))) == beijing(2026, 3, 3, 18)


def test_work_day_same_time_mode_lands_on_the_same_clock_time() -> None:
    cal = china_calendar("same_time")
    assert in_beijing(cal.deadline(beijing(2026, 3, 2, 8), days(1))) == beijing(2026, 3, 3, 8)
    assert in_beijing(cal.deadline(beijing(2026, 3, 2, 10), days(2))) == beijing(2026, 3, 4, 10)
    # Friday + 1 工作日 is Monday, same time.
    assert in_beijing(cal.deadline(beijing(2026, 3, 6, 9, 30), days(1))) == beijing(2026, 3, 9, 9, 30)
    # A start at a period end keeps that time; a start outside working time moves to the next start.
    assert in_beijing(cal.deadline(beijing(2026, 3, 2, 12), days(1))) == beijing(2026, 3, 3, 12)
    assert in_beijing(cal.deadline(beijing(2026, 3, 2, 18), days(1))) == beijing(2026, 3, 3, 18)
    assert in_beijing(cal.deadline(beijing(2026, 3, 2, 12, 30), days(1))) == beijing(2026, 3, 3, 14)
    assert in_beijing(cal.deadline(beijing(2026, 3, 2, 20), days(1))) == beijing(2026, 3, 4, 8)
    assert in_beijing(cal.deadline(beijing(2026, 3, 8, 10), days(1))) == beijing(2026, 3, 10, 8)  # Sunday
    # A fractional amount adds its remainder as working minutes after the whole days.
    assert in_beijing(cal.deadline(beijing(2026, 3, 2, 10), days(1.5))) == beijing(2026, 3, 3, 16)


def test_both_work_day_modes_use_the_same_working_minutes() -> None:
    starts = [beijing(2026, 3, 2, h, m) for h, m in [(8, 0), (10, 0), (12, 0), (12, 30), (18, 0), (20, 0)]]
    for start in starts:
        for amount in (1, 2, 5):
            for mode in ("minutes", "same_time"):
                cal = china_calendar(mode)
                used = cal.elapsed_minutes(start, cal.deadline(start, days(amount)), WORK_DAY)
                assert used == amount * 480, (start, amount, mode)


def test_natural_hours_ignore_the_calendar() -> None:
    cal = china_calendar()
    assert in_beijing(cal.deadline(beijing(2026, 10, 1, 10), TimeLimit(4, NATURAL_HOUR))) == beijing(
        2026, 10, 1, 14
    )
    # No coverage is needed for wall-clock time, even into a year the holiday data lacks.
    late = cal.deadline(beijing(2026, 12, 31, 22), TimeLimit(4, NATURAL_HOUR))
    assert in_beijing(late) == beijing(2027, 1, 1, 2)
    elapsed = cal.elapsed_minutes(beijing(2026, 2, 14, 12), beijing(2026, 2, 16, 12), NATURAL_HOUR)
    assert elapsed == 48 * 60
    assert in_beijing(cal.add_minutes(beijing(2026, 10, 2, 23), 90, NATURAL_HOUR)) == beijing(
        2026, 10, 3, 0, 30
    )


def test_any_timezone_in_utc_out() -> None:
    cal = china_calendar()
    start_utc = datetime(2026, 3, 2, 1, 15, tzinfo=UTC)  # 09:15 in Beijing
    start_ny = start_utc.astimezone(ZoneInfo("America/New_York"))
    for start in (start_utc, start_ny, beijing(2026, 3, 2, 9, 15)):
        deadline = cal.deadline(start, hours(4))
        assert deadline.tzinfo is UTC
        assert deadline == datetime(2026, 3, 2, 7, 15, tzinfo=UTC)


def test_naive_datetimes_are_refused() -> None:
    cal = china_calendar()
    naive = datetime(2026, 3, 2, 9)
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.deadline(naive, hours(1))
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.add_minutes(naive, 60, WORK_HOUR)
    with pytest.raises(ValueError, match="timezone-aware"):
        cal.elapsed_minutes(beijing(2026, 3, 2, 9), naive, WORK_HOUR)


def test_elapsed_is_zero_when_end_is_not_after_start() -> None:
    cal = china_calendar()
    start = beijing(2026, 3, 2, 10)
    for unit in TimeUnit:
        assert cal.elapsed_minutes(start, start, unit) == 0
        assert cal.elapsed_minutes(start, start - timedelta(hours=3), unit) == 0


def test_add_minutes_rejects_negative_and_keeps_start_for_zero() -> None:
    cal = china_calendar()
    with pytest.raises(ValueError, match="minutes"):
        cal.add_minutes(beijing(2026, 3, 2, 10), -1, WORK_HOUR)
    evening = beijing(2026, 3, 2, 20)
    assert cal.add_minutes(evening, 0, WORK_HOUR) == evening


def test_limit_minutes_per_unit() -> None:
    cal = china_calendar()
    assert cal.limit_minutes(hours(4)) == 240
    assert cal.limit_minutes(days(2)) == 960
    assert cal.limit_minutes(TimeLimit(1, NATURAL_HOUR)) == 60
    short_day = calendar_with({}, periods=[(time(9), time(12)), (time(13, 30), time(17))])
    assert short_day.minutes_per_workday == 390
    assert short_day.limit_minutes(days(2)) == 780


def test_touching_periods_are_one_stretch() -> None:
    cal = calendar_with({}, periods=[(time(8), time(12)), (time(12), time(13))])
    assert cal.minutes_per_workday == 300
    assert in_beijing(cal.deadline(beijing(2026, 3, 2, 11, 30), hours(1))) == beijing(2026, 3, 2, 12, 30)


def test_a_timezone_with_daylight_saving_keeps_local_working_hours() -> None:
    # New York moves its clocks on Sunday 2026-03-08; working hours stay 08:00–12:00 local.
    new_york = ZoneInfo("America/New_York")
    spec = CalendarSpec(
        timezone="America/New_York",
        work_periods=((time(8), time(12)), (time(14), time(18))),
        day_kinds={},
        covered_years=frozenset({2026}),
    )
    cal = WorkCalendar(spec)
    deadline = cal.deadline(datetime(2026, 3, 6, 17, tzinfo=new_york), hours(2))
    assert deadline.astimezone(new_york) == datetime(2026, 3, 9, 9, tzinfo=new_york)
    assert deadline == datetime(2026, 3, 9, 13, tzinfo=UTC)


# -- coverage ---------------------------------------------------------------------------------------


def test_uncovered_year_raises_a_bilingual_coverage_error() -> None:
    cal = china_calendar()
    with pytest.raises(CalendarCoverageError) as caught:
        cal.is_workday(date(2027, 1, 4))
    message = str(caught.value)
    assert "2027-01-04" in message
    assert "fallback_weekends" in message
    assert "覆盖" in message
    assert caught.value.year == 2027
    with pytest.raises(CalendarCoverageError):
        cal.deadline(beijing(2026, 12, 31, 17), hours(2))
    with pytest.raises(CalendarCoverageError):
        cal.elapsed_minutes(beijing(2026, 12, 31, 17), beijing(2027, 1, 5, 9), WORK_HOUR)
    with pytest.raises(CalendarCoverageError):
        cal.is_workday(date(2003, 12, 31))


def test_deadline_inside_the_covered_year_does_not_need_next_year() -> None:
    cal = china_calendar()
    assert in_beijing(cal.deadline(beijing(2026, 12, 31, 15), hours(2))) == beijing(2026, 12, 31, 17)


def test_fallback_counts_weekdays_in_uncovered_years() -> None:
    cal = china_calendar(fallback=True)
    assert cal.is_workday(date(2027, 1, 1))  # a Friday; the real 2027 holiday is not known yet
    assert not cal.is_workday(date(2027, 1, 2))
    assert in_beijing(cal.deadline(beijing(2026, 12, 31, 17), hours(2))) == beijing(2027, 1, 1, 9)
    assert cal.elapsed_minutes(beijing(2026, 12, 31, 17), beijing(2027, 1, 4, 9), WORK_HOUR) == 60 + 480 + 60


def test_override_years_make_a_year_covered() -> None:
    cal = calendar_with({date(2027, 1, 1): False}, override_years=(2027,))
    assert in_beijing(cal.deadline(beijing(2026, 12, 31, 17), hours(2))) == beijing(2027, 1, 4, 9)
    warnings = check_coverage(cal.spec, date(2027, 3, 1))
    assert len(warnings) == 1
    assert "2028" in warnings[0]


def test_check_coverage_warns_about_next_year() -> None:
    spec = china_calendar().spec
    assert check_coverage(spec, date(2025, 6, 1)) == []
    warnings = check_coverage(spec, date(2026, 11, 20))
    assert len(warnings) == 1
    assert "2027" in warnings[0]
    assert "November" in warnings[0]
    assert "11 月" in warnings[0]


def test_check_coverage_raises_or_warns_for_the_current_year() -> None:
    with pytest.raises(CalendarCoverageError, match="2027"):
        check_coverage(china_calendar().spec, date(2027, 3, 1))
    warnings = check_coverage(china_calendar(fallback=True).spec, date(2027, 3, 1))
    assert len(warnings) == 2
    assert "provisional" in warnings[0]
    assert "临时" in warnings[0]
    assert "2028" in warnings[1]


# -- validation --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("periods", "named"),
    [
        ([(time(12), time(8))], "#1"),
        ([(time(8), time(12)), (time(11), time(18))], "#2"),
        ([(time(14), time(18)), (time(8), time(12))], "#2"),
        ([(time(8), time(8))], "#1"),
        ([], "at least one"),
    ],
)
def test_bad_work_periods_are_refused_naming_the_period(periods: list[tuple[time, time]], named: str) -> None:
    with pytest.raises(ValueError, match=named):
        build_calendar_spec("Asia/Shanghai", periods, {}, False, "minutes")
    with pytest.raises(ValueError, match=named):
        validate_work_periods(periods)


def test_work_calendar_validates_a_hand_made_spec() -> None:
    good = build_calendar_spec("Asia/Shanghai", EGOVA_PERIODS, {}, False, "minutes")
    bad_periods = CalendarSpec("Asia/Shanghai", ((time(18), time(8)),), {}, frozenset())
    with pytest.raises(ValueError, match="#1"):
        WorkCalendar(bad_periods)
    bad_zone = CalendarSpec("Mars/Olympus", good.work_periods, {}, frozenset())
    with pytest.raises(ValueError, match="Mars/Olympus"):
        WorkCalendar(bad_zone)
    with pytest.raises(ValueError, match="work_day_mode"):
        build_calendar_spec("Asia/Shanghai", EGOVA_PERIODS, {}, False, "calendar_days")
    with pytest.raises(ValueError, match="timezone"):
        build_calendar_spec("Nowhere/City", EGOVA_PERIODS, {}, False, "minutes")


@pytest.mark.parametrize("amount", [-1, -0.5, -1e-9, math.nan, math.inf, True, "4"])
def test_time_limit_amount_must_be_a_finite_number_not_below_zero(amount: object) -> None:
    with pytest.raises(ValueError, match="amount"):
        TimeLimit(amount, WORK_HOUR)  # type: ignore[arg-type]


def test_a_zero_time_limit_is_a_deadline_at_the_start() -> None:
    cal = china_calendar()
    start = beijing(2026, 12, 2, 9, 30)
    assert cal.limit_minutes(TimeLimit(0, TimeUnit.NATURAL_HOUR)) == 0
    assert cal.deadline(start, TimeLimit(0, TimeUnit.NATURAL_HOUR)) == start


def test_time_limit_unit_is_checked_and_coerced() -> None:
    with pytest.raises(ValueError, match="unit"):
        TimeLimit(4, "fortnight")  # type: ignore[arg-type]
    limit = TimeLimit(4, "work_hour")  # type: ignore[arg-type]
    assert limit.unit is TimeUnit.WORK_HOUR


def test_time_limit_labels() -> None:
    assert TimeLimit(4, WORK_HOUR).label("zh-CN") == "4 工作时"
    assert TimeLimit(4, WORK_HOUR).label("en") == "4 working hours"
    assert TimeLimit(2, WORK_DAY).label("zh") == "2 工作日"
    assert TimeLimit(2, WORK_DAY).label("en-GB") == "2 working days"
    assert TimeLimit(1, NATURAL_HOUR).label("zh_CN") == "1 自然小时"
    assert TimeLimit(1, NATURAL_HOUR).label("en") == "1 natural hour"
    assert TimeLimit(1.0, WORK_DAY).label("en") == "1 working day"
    assert TimeLimit(1.5, WORK_DAY).label("en") == "1.5 working days"


# -- traffic light -----------------------------------------------------------------------------------


def test_traffic_light_boundaries() -> None:
    assert traffic_light(0, 480) is TrafficLight.GREEN
    assert traffic_light(math.nextafter(384, 0), 480) is TrafficLight.GREEN
    assert traffic_light(384, 480) is TrafficLight.YELLOW  # exactly 80 %
    assert traffic_light(480, 480) is TrafficLight.YELLOW  # exactly 100 %
    assert traffic_light(math.nextafter(480, math.inf), 480) is TrafficLight.RED
    assert traffic_light(481, 480) is TrafficLight.RED
    assert traffic_light(80, 100) is TrafficLight.YELLOW
    assert traffic_light(192, 240) is TrafficLight.YELLOW


def test_overtime_multiple() -> None:
    assert overtime_multiple(240, 480) == 0
    assert overtime_multiple(480, 480) == 0
    assert overtime_multiple(600, 480) == 0.25
    assert overtime_multiple(960, 480) == 1.0
    with pytest.raises(ValueError, match="limit"):
        overtime_multiple(10, 0)
    with pytest.raises(ValueError, match="limit"):
        traffic_light(10, -5)


# -- properties ----------------------------------------------------------------------------------------

# A second, deliberately odd calendar: three uneven periods with seconds, a +05:45 zone, overrides, and
# weekend fallback so spans may cross any number of New Years.
ODD_SPEC = CalendarSpec(
    timezone="Asia/Kathmandu",
    work_periods=((time(7, 30, 15), time(11, 45)), (time(13), time(17)), (time(19), time(21, 30, 30))),
    day_kinds={date(2031, 1, 1): False, date(2031, 1, 4): True, date(2030, 12, 24): False},
    covered_years=frozenset(),
    fallback_weekends=True,
    work_day_mode="same_time",
)


@cache
def odd_calendar() -> WorkCalendar:
    return WorkCalendar(ODD_SPEC)


# (name, calendar factory, first start, last start): start windows leave room for the longest span
# below without leaving the covered years.
CALENDARS: list[tuple[str, Callable[[], WorkCalendar], datetime, datetime]] = [
    ("china-minutes", lambda: china_calendar("minutes"), beijing(2025, 1, 1), beijing(2026, 8, 1)),
    ("china-same-time", lambda: china_calendar("same_time"), beijing(2025, 1, 1), beijing(2026, 8, 1)),
    ("odd-fallback", odd_calendar, beijing(2029, 6, 1), beijing(2032, 6, 1)),
]
MAX_SPAN_MINUTES = 40 * 480


def instants(first: datetime, last: datetime, tz: ZoneInfo) -> st.SearchStrategy[datetime]:
    span_us = (last - first) // timedelta(microseconds=1)
    anywhere = st.integers(0, span_us).map(lambda us: first + timedelta(microseconds=us))
    # Boundaries are where off-by-one bugs live: period starts/ends, lunch, evening, midnight.
    clock_times = [time(0), time(7, 30, 15), time(8), time(11, 45), time(12), time(12, 30), time(13)]
    clock_times += [time(14), time(17), time(18), time(19), time(20), time(21, 30, 30), time(23, 59, 59)]
    on_boundary = st.builds(
        lambda day, t: datetime.combine(first.date() + timedelta(days=day), t, tzinfo=tz),
        st.integers(0, (last - first).days),
        st.sampled_from(clock_times),
    )
    return st.one_of(anywhere, on_boundary)


def local_calendar_time(cal: WorkCalendar, moment: datetime) -> datetime:
    return moment.astimezone(ZoneInfo(cal.spec.timezone))


def reference_elapsed(cal: WorkCalendar, start: datetime, end: datetime) -> float:
    """Day-by-day brute force, independent of the year tables."""
    if end <= start:
        return 0.0
    tz = ZoneInfo(cal.spec.timezone)
    s, e = start.astimezone(tz), end.astimezone(tz)
    total = timedelta(0)
    day = s.date()
    while day <= e.date():
        if cal.is_workday(day):
            for ps, pe in cal.spec.work_periods:
                lo = max(datetime.combine(day, ps, tzinfo=tz), s)
                hi = min(datetime.combine(day, pe, tzinfo=tz), e)
                if hi > lo:
                    total += hi - lo
        day += timedelta(days=1)
    return total / timedelta(minutes=1)


minute_amounts = st.one_of(
    st.integers(1, MAX_SPAN_MINUTES),
    st.floats(min_value=1e-3, max_value=MAX_SPAN_MINUTES, allow_nan=False, allow_infinity=False),
)
limits = st.one_of(
    st.builds(hours, st.integers(1, 320)),
    st.builds(hours, st.floats(min_value=0.01, max_value=320)),
    st.builds(days, st.integers(1, 40)),
    st.builds(days, st.floats(min_value=0.01, max_value=40)),
    st.builds(lambda a: TimeLimit(a, NATURAL_HOUR), st.floats(min_value=0.01, max_value=2000)),
)


@pytest.fixture(params=CALENDARS, ids=[c[0] for c in CALENDARS])
def calendar_case(request: pytest.FixtureRequest) -> tuple[WorkCalendar, st.SearchStrategy[datetime]]:
    _, factory, first, last = request.param
    cal = factory()
    return cal, instants(first, last, ZoneInfo(cal.spec.timezone))


def test_elapsed_inverts_add_minutes(calendar_case: tuple[WorkCalendar, st.SearchStrategy[datetime]]) -> None:
    cal, moments = calendar_case

    @PROPERTY_SETTINGS
    @given(start=moments, minutes=minute_amounts)
    def check(start: datetime, minutes: float) -> None:
        end = cal.add_minutes(start, minutes, WORK_HOUR)
        assert cal.elapsed_minutes(start, end, WORK_HOUR) == pytest.approx(minutes, abs=1e-6)
        assert end >= start

    check()


def test_deadline_monotone_in_start(calendar_case: tuple[WorkCalendar, st.SearchStrategy[datetime]]) -> None:
    cal, moments = calendar_case

    @PROPERTY_SETTINGS
    @given(a=moments, b=moments, limit=limits)
    def check(a: datetime, b: datetime, limit: TimeLimit) -> None:
        early, late = min(a, b), max(a, b)
        assert cal.deadline(early, limit) <= cal.deadline(late, limit)

    check()


def test_deadline_monotone_in_amount(calendar_case: tuple[WorkCalendar, st.SearchStrategy[datetime]]) -> None:
    cal, moments = calendar_case
    amounts = st.floats(min_value=0.01, max_value=40)

    @PROPERTY_SETTINGS
    @given(start=moments, x=amounts, y=amounts, unit=st.sampled_from(list(TimeUnit)))
    def check(start: datetime, x: float, y: float, unit: TimeUnit) -> None:
        small, big = TimeLimit(min(x, y), unit), TimeLimit(max(x, y), unit)
        assert cal.deadline(start, small) <= cal.deadline(start, big)

    check()


def test_deadline_is_never_before_start_and_uses_up_the_limit(
    calendar_case: tuple[WorkCalendar, st.SearchStrategy[datetime]],
) -> None:
    cal, moments = calendar_case

    @PROPERTY_SETTINGS
    @given(start=moments, limit=limits)
    def check(start: datetime, limit: TimeLimit) -> None:
        deadline = cal.deadline(start, limit)
        assert deadline >= start
        used = cal.elapsed_minutes(start, deadline, limit.unit)
        assert used == pytest.approx(cal.limit_minutes(limit), abs=1e-6)

    check()


def test_elapsed_is_additive_over_a_split_point(
    calendar_case: tuple[WorkCalendar, st.SearchStrategy[datetime]],
) -> None:
    cal, moments = calendar_case

    @PROPERTY_SETTINGS
    @given(points=st.lists(moments, min_size=3, max_size=3), unit=st.sampled_from(list(TimeUnit)))
    def check(points: list[datetime], unit: TimeUnit) -> None:
        a, b, c = sorted(points)
        whole = cal.elapsed_minutes(a, c, unit)
        parts = cal.elapsed_minutes(a, b, unit) + cal.elapsed_minutes(b, c, unit)
        assert whole == pytest.approx(parts, abs=1e-6)

    check()


def test_deadline_lands_in_working_time_or_at_a_period_end(
    calendar_case: tuple[WorkCalendar, st.SearchStrategy[datetime]],
) -> None:
    cal, moments = calendar_case
    period_ends = {end for _, end in cal.spec.work_periods}
    work_limits = st.one_of(st.builds(hours, st.floats(0.01, 320)), st.builds(days, st.integers(1, 40)))

    @PROPERTY_SETTINGS
    @given(start=moments, limit=work_limits)
    def check(start: datetime, limit: TimeLimit) -> None:
        deadline = cal.deadline(start, limit)
        local = local_calendar_time(cal, deadline)
        assert cal.is_workday(local.date())
        assert cal.is_working_time(deadline) or local.timetz().replace(tzinfo=None) in period_ends

    check()


def test_elapsed_matches_a_day_by_day_count(
    calendar_case: tuple[WorkCalendar, st.SearchStrategy[datetime]],
) -> None:
    cal, moments = calendar_case

    @PROPERTY_SETTINGS
    @given(start=moments, span=st.integers(0, 60 * 24 * 90))
    def check(start: datetime, span: int) -> None:
        end = start + timedelta(minutes=span, seconds=span % 47)
        assert cal.elapsed_minutes(start, end, WORK_HOUR) == pytest.approx(
            reference_elapsed(cal, start, end), abs=1e-6
        )

    check()
