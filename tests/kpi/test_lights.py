"""The vectorised period-end lights (kpi/lights.py) equal judge_light over elapsed_minutes, case by case.

Random clock starts, deadlines and moments on the real Chinese holiday calendar (work periods with a
lunch break, holidays, exchanged workdays, year ends), every unit, moments on period boundaries; and a
calendar with daylight saving, which takes the scalar path.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from civicloop.kernel.clock import WorkCalendar
from civicloop.kpi import lights
from civicloop.profile.calendar import build_calendar_spec

PERIODS = [(time(8), time(12)), (time(14), time(18))]
CHINA = WorkCalendar(build_calendar_spec("Asia/Shanghai", PERIODS, {}, False, "minutes"))
NEW_YORK = WorkCalendar(build_calendar_spec("America/New_York", PERIODS, {}, True, "minutes"))
BASE = datetime(2025, 12, 1, tzinfo=UTC)  # to 2026-12-31 at most: the years the holiday data covers
UNITS = ["work_hour", "work_day", "natural_hour", None]

# minutes from BASE, often on a boundary of the work periods (whole hours in Beijing are whole UTC hours)
minute = st.one_of(st.integers(0, 380 * 24 * 60), st.integers(0, 380 * 24).map(lambda h: h * 60))
case = st.tuples(
    minute,
    st.integers(0, 15 * 24 * 60),
    st.sampled_from(UNITS),
    st.one_of(st.just(0.0), st.floats(0, 3000, allow_nan=False)),
)


def _both(cal: WorkCalendar, cases: list[tuple[int, int, str | None, float]], at_minute: int) -> None:
    us = 60_000_000
    epoch = int(BASE.timestamp()) * 1_000_000
    start = np.array([epoch + s * us + 1_000 * (s % 7) for s, _, _, _ in cases], dtype=np.int64)
    deadline = start + np.array([d * us for _, d, _, _ in cases], dtype=np.int64)
    before = np.array([b for _, _, _, b in cases], dtype=np.float64)
    units = [u for _, _, u, _ in cases]
    at = BASE + timedelta(minutes=at_minute)
    got = lights.period_end_lights(cal, start, before, deadline, units, at)
    expected = lights.period_end_lights(cal, start, before, deadline, units, at, vectorised=False)
    assert got == expected


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases=st.lists(case, min_size=1, max_size=40), at_minute=minute)
def test_vectorised_lights_equal_the_scalar_rule(
    cases: list[tuple[int, int, str | None, float]], at_minute: int
) -> None:
    _both(CHINA, cases, at_minute)


def test_every_light_and_the_daylight_saving_fallback() -> None:
    # due 18:00 Beijing on Monday 30 November 2026; the period ends at midnight: red
    at = datetime(2026, 11, 30, 16, 0, tzinfo=UTC)
    start = int(datetime(2026, 11, 30, 6, 0, tzinfo=UTC).timestamp() * 1_000_000)
    due = int(datetime(2026, 11, 30, 10, 0, tzinfo=UTC).timestamp() * 1_000_000)
    late = lights.period_end_lights(CHINA, *_arrays([(start, due, 0.0)]), ["work_hour"], at)
    assert late == ["red"]
    # at 17:30, 3.5 working hours used: of six (due 10:00 the next morning) green, of four yellow
    now = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
    later = int(datetime(2026, 12, 1, 2, 0, tzinfo=UTC).timestamp() * 1_000_000)
    got = lights.period_end_lights(
        CHINA, *_arrays([(start, later, 0.0), (start, due, 0.0)]), ["work_hour", None], now
    )
    assert got == ["green", "yellow"]
    # New York changes its clocks on 8 March 2026: the span takes the scalar rule, same answers
    day = 24 * 60
    dst = [(94 * day + k * 97, 2 * day, unit, 0.0) for k in range(10) for unit in UNITS]
    epoch = int(BASE.timestamp()) * 1_000_000
    assert not lights._Span(NEW_YORK, epoch + 94 * day * 60_000_000, epoch + 99 * day * 60_000_000).constant
    _both(NEW_YORK, dst, 99 * day)
    assert lights._Span(NEW_YORK, epoch, epoch + 30 * day * 60_000_000).constant


def _arrays(rows: list[tuple[int, int, float]]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return (
        np.array([r[0] for r in rows], dtype=np.int64),
        np.array([r[2] for r in rows], dtype=np.float64),
        np.array([r[1] for r in rows], dtype=np.int64),
    )
