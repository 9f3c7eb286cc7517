"""Working calendars from the ``holidays`` package (``holidays:US``, ``holidays:US-MD`` …): days off,
overrides, years the source does not cover, unknown sources named by their profile key — and, as a
property, that the working-time clock over such a calendar never counts a minute of a holiday."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import holidays
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civicloop.kernel.clock import CalendarCoverageError, TimeLimit, TimeUnit, WorkCalendar
from civicloop.profile import ProfileError, load_profile, load_profile_text
from civicloop.profile.calendar import build_calendar_spec

NEW_YORK = ZoneInfo("America/New_York")
PERIODS = [(time(9), time(12)), (time(13), time(17))]


@cache
def us_calendar(source: str = "holidays:US") -> WorkCalendar:
    return WorkCalendar(build_calendar_spec("America/New_York", PERIODS, {}, False, "minutes", source=source))


def test_us_federal_holidays_are_days_off_and_observed_days_too() -> None:
    cal = us_calendar()
    assert not cal.is_workday(date(2026, 11, 26))  # Thanksgiving, a Thursday
    assert not cal.is_workday(date(2026, 7, 3))  # Independence Day falls on a Saturday: observed Friday
    assert cal.is_workday(date(2026, 7, 2)) and not cal.is_workday(date(2026, 7, 4))
    assert cal.is_workday(date(2026, 3, 17))  # St Patrick's Day is no federal holiday


def test_a_subdivision_adds_its_own_holidays() -> None:
    # Maryland: the day after Thanksgiving (American Indian Heritage Day) is a state holiday.
    assert us_calendar().is_workday(date(2026, 11, 27))
    assert not us_calendar("holidays:US-MD").is_workday(date(2026, 11, 27))
    bavaria = us_calendar("holidays:DE-BY")
    assert not bavaria.is_workday(date(2026, 1, 6))  # Epiphany in Bavaria
    assert not us_calendar("holidays:GB").is_workday(date(2026, 12, 28))  # Boxing Day, substitute


def test_a_deadline_skips_a_holiday() -> None:
    # Wednesday 25 Nov 2026 16:00 + 2 working hours: 1 h that day, Thanksgiving off, 1 h on Friday.
    start = datetime(2026, 11, 25, 16, tzinfo=NEW_YORK)
    due = us_calendar().deadline(start, TimeLimit(2, TimeUnit.WORK_HOUR))
    assert due == datetime(2026, 11, 27, 10, tzinfo=NEW_YORK)


def test_overrides_win_over_the_source() -> None:
    spec = build_calendar_spec(
        "America/New_York", PERIODS, {date(2026, 11, 26): True, date(2026, 3, 17): False}, False, "minutes",
        source="holidays:US",
    )  # fmt: skip
    cal = WorkCalendar(spec)
    assert cal.is_workday(date(2026, 11, 26)) and not cal.is_workday(date(2026, 3, 17))


def test_a_year_the_source_does_not_cover_is_a_clear_error() -> None:
    cal = us_calendar()
    with pytest.raises(CalendarCoverageError, match="2061"):
        cal.is_workday(date(2061, 3, 1))
    # Before the country's own first year: the package answers nothing, so civicloop covers nothing.
    first = holidays.country_holidays("US").__class__.start_year
    spec = build_calendar_spec(
        "America/New_York", PERIODS, {}, False, "minutes", years=range(first - 2, first), source="holidays:US"
    )
    assert spec.covered_years == frozenset()


@pytest.mark.parametrize(
    ("source", "words"),
    [
        ("gregorian", "unknown calendar source 'gregorian'"),
        ("holidays:XX", "no country XX"),
        ("holidays:US-ZZ", "no subdivision ZZ"),
    ],
)
def test_an_unknown_calendar_source_is_refused_by_its_profile_key(source: str, words: str) -> None:
    text = _sample_text().replace('source = "holidays:US"', f'source = "{source}"')
    with pytest.raises(ProfileError) as info:
        load_profile_text(text, file="harbor.toml")
    assert info.value.file == "harbor.toml"
    assert ("calendar.source", True) in [(i.key, words in i.reason) for i in info.value.issues]


def _sample_text() -> str:
    from importlib import resources

    return resources.files("civicloop.profiles").joinpath("sample-en", "profile.toml").read_text("utf-8")


def test_the_sample_city_runs_on_us_federal_holidays_with_its_override() -> None:
    from civicloop.city.service import make_calendar

    profile = load_profile("sample-en")
    assert (
        profile.calendar.source == "holidays:US" and not profile.is_chinese and profile.division_code is None
    )
    cal = make_calendar(profile, date(2026, 6, 1))
    assert not cal.is_workday(date(2026, 11, 26)) and not cal.is_workday(date(2026, 11, 27))  # + override


SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
moments = st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2028, 12, 1)).map(
    lambda d: d.replace(tzinfo=NEW_YORK)
)
sources = st.sampled_from(["holidays:US", "holidays:US-MD", "holidays:GB", "holidays:DE-BY"])


@SETTINGS
@given(start=moments, hours=st.floats(min_value=0.25, max_value=200), source=sources)
def test_the_working_clock_never_counts_a_holiday(start: datetime, hours: float, source: str) -> None:
    """Property: between a start and its deadline, the minutes counted on holidays are zero — the
    working minutes of the span equal the working minutes of its non-holiday days."""
    cal = us_calendar(source)
    country, _, subdiv = source.removeprefix("holidays:").partition("-")
    table = holidays.country_holidays(country, subdiv=subdiv or None, years=range(2024, 2030))
    due = cal.deadline(start, TimeLimit(hours, TimeUnit.WORK_HOUR))
    counted = 0.0
    day = start.date()
    while day <= due.date():
        lo = max(start, datetime.combine(day, time(0), NEW_YORK))
        hi = min(due, datetime.combine(day + timedelta(days=1), time(0), NEW_YORK))
        if hi > lo:
            minutes = cal.elapsed_minutes(lo, hi, TimeUnit.WORK_HOUR)
            if day in table:
                assert minutes == 0, (day, table.get(day), minutes)
            counted += minutes
        day += timedelta(days=1)
    assert counted == pytest.approx(hours * 60, abs=1e-3)
    assert not cal.is_working_time(due - timedelta(microseconds=1)) or due.date() not in table
