"""Period-end traffic lights of many cases at once (the KPIs' 红黄绿灯 and 超期 at a period end).

The rule is :func:`civicloop.kernel.clock.judge_light` and the arithmetic that of
:meth:`civicloop.kernel.clock.WorkCalendar.elapsed_minutes` — integer working microseconds on the
calendar, divided once into minutes — done over numpy arrays: every moment becomes a *working
coordinate* (working microseconds since the first local midnight of the span) through a table of the
span's days, so the minutes used and the limit of 100,000 cases cost a few array operations instead of
a Python call each. The figures are the same floats as the scalar rule's (tests/kpi/test_lights.py
compares both on random moments); a span with a day on which the UTC offset changes falls back to
the scalar rule.

Inputs are naive-UTC microseconds since the epoch (``epoch_us`` of the engine's TIMESTAMP columns).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from numpy.typing import NDArray

from civicloop.kernel.clock import TimeUnit, WorkCalendar, judge_light, validate_work_periods

_US_PER_MINUTE = 60_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _us(t: datetime) -> int:
    return (t - _EPOCH) // timedelta(microseconds=1)


def _moment(us: int) -> datetime:
    return _EPOCH + timedelta(microseconds=int(us))


def _day_us(t: time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


class _Span:
    """Working coordinates of the moments of one span of local days (constant UTC offset each day)."""

    def __init__(self, calendar: WorkCalendar, lo_us: int, hi_us: int) -> None:
        tz = ZoneInfo(calendar.spec.timezone)
        first = _moment(lo_us).astimezone(tz).date() - timedelta(days=1)
        last = _moment(hi_us).astimezone(tz).date() + timedelta(days=1)
        merged: list[list[int]] = []  # touching periods are one stretch, as in WorkCalendar
        for start, end in validate_work_periods(calendar.spec.work_periods):
            s, e = _day_us(start), _day_us(end)
            if merged and merged[-1][1] == s:
                merged[-1][1] = e
            else:
                merged.append([s, e])
        self.starts = np.array([s for s, _ in merged], dtype=np.int64)
        self.lengths = np.array([e - s for s, e in merged], dtype=np.int64)
        self.cum_start = np.concatenate(([0], np.cumsum(self.lengths)[:-1])).astype(np.int64)
        self.work_day_us = int(self.lengths.sum())
        days = (last - first).days + 1
        midnights = np.empty(days, dtype=np.int64)
        work = np.empty(days, dtype=bool)
        self.constant = True
        for k in range(days):
            d: date = first + timedelta(days=k)
            midnight = datetime(d.year, d.month, d.day, tzinfo=tz)
            offset = midnight.utcoffset()
            if offset != (midnight + timedelta(microseconds=86_400_000_000 - 1)).utcoffset():
                self.constant = False  # a daylight-saving day: the scalar rule handles it
            midnights[k] = _us(midnight)
            work[k] = calendar.is_workday(d)
        self.midnights = midnights
        self.work = work
        self.workdays_before = np.concatenate(([0], np.cumsum(work)[:-1])).astype(np.int64)

    def coordinates(self, us: NDArray[np.int64]) -> NDArray[np.int64]:
        k = np.searchsorted(self.midnights, us, side="right") - 1
        m = us - self.midnights[k]
        i = np.searchsorted(self.starts, m, side="right") - 1
        j = np.maximum(i, 0)
        within = np.where(i < 0, 0, self.cum_start[j] + np.minimum(m - self.starts[j], self.lengths[j]))
        coords: NDArray[np.int64] = self.workdays_before[k] * self.work_day_us + np.where(
            self.work[k], within, 0
        )
        return coords


def period_end_lights(
    calendar: WorkCalendar,
    clock_start: NDArray[np.int64],
    used_before: NDArray[np.float64],
    deadline: NDArray[np.int64],
    units: Sequence[str | None],
    at: datetime,
    *,
    vectorised: bool = True,
) -> list[str]:
    """The light (green, yellow, red) at *at* of each case: its clock running since *clock_start*
    with *used_before* minutes used before, due at *deadline*, its limit in *units* (None: 工作时).
    ``vectorised=False`` asks the calendar case by case (the reference; a daylight-saving span too)."""
    n = len(clock_start)
    if n == 0:
        return []
    if not vectorised:
        return _scalar(calendar, list(zip(clock_start, used_before, deadline, units, strict=True)), at)
    at_us = _us(at.astimezone(UTC))
    natural = np.array([u == TimeUnit.NATURAL_HOUR.value for u in units], dtype=bool)
    lo = int(min(clock_start.min(), deadline.min(), at_us))
    hi = int(max(clock_start.max(), deadline.max(), at_us))
    span = _Span(calendar, lo, hi)
    if not span.constant:
        return period_end_lights(calendar, clock_start, used_before, deadline, units, at, vectorised=False)
    at_arr = np.full(n, at_us, dtype=np.int64)
    work_s, work_d, work_at = (span.coordinates(a) for a in (clock_start, deadline, at_arr))
    run_us = np.where(natural, at_arr - clock_start, work_at - work_s)
    limit_us = np.where(natural, deadline - clock_start, work_d - work_s)
    # elapsed_minutes is 0 when the end is not after the start
    run_us = np.where(at_arr <= clock_start, 0, run_us)
    limit_us = np.where(deadline <= clock_start, 0, limit_us)
    used = used_before + run_us / _US_PER_MINUTE
    limit = np.maximum(used_before + limit_us / _US_PER_MINUTE, 0.0)
    green = (limit > 0) & (used < 0.8 * limit)
    light = np.where(at_us > deadline, "red", np.where(green, "green", "yellow"))
    return [str(v) for v in light]


def _scalar(calendar: WorkCalendar, cases: list[tuple[Any, Any, Any, str | None]], at: datetime) -> list[str]:
    """The same, one case at a time through the calendar (the reference the vectorised rule equals)."""
    out: list[str] = []
    for s_us, before, d_us, unit_name in cases:
        unit = TimeUnit(unit_name) if unit_name else TimeUnit.WORK_HOUR
        s, d = _moment(int(s_us)), _moment(int(d_us))
        b = float(before)
        used = b + calendar.elapsed_minutes(s, at, unit)
        limit = b + calendar.elapsed_minutes(s, d, unit)
        out.append(judge_light(used, max(limit, 0.0), d, at).light.value)
    return out
