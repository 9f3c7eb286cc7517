"""Working-time clock (计时): deadlines and elapsed time on a city's work calendar.

Pure domain code: no file or network I/O and no holiday library here. The holiday data arrives already
resolved in a :class:`CalendarSpec` (built by ``civicloop.profile.calendar``); the only outside
thing this module touches is :mod:`zoneinfo` for the calendar's timezone.

How the arithmetic works
------------------------
Every workday has the same work periods, so a moment can be mapped to a *working coordinate*: the number
of working microseconds since 00:00 on 1 January of its (local) year. Per year we build, lazily and once,
a table of how many workdays precede each day and the ordinal of each workday. Converting a moment to a
coordinate is then O(1) (plus a bisect over the few periods of a day) and converting back is a ``divmod``,
so ``deadline``/``elapsed_minutes`` never loop over days; they only step over *years* when a span crosses
1 January. Integer microseconds keep ``elapsed(start, add(start, m)) == m`` and additivity exact.

A moment outside working time (lunch, evening, a day off) has the same coordinate as the next working
moment, which is why counting "starts at the next working moment" needs no special case. When a result
falls on such a boundary we return the *period end* (12:00, 18:00): the earliest wall-clock instant at
which the time is used up. The ``same_time`` work-day mode is the exception, see
:meth:`WorkCalendar.deadline`.

Assumption: work periods do not straddle a daylight-saving transition (China has had none since 1991);
days on which the UTC offset changes are still handled, through a slower exact conversion path.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from civicloop.kernel.i18n import Msg, both, t

_US_PER_MINUTE = 60_000_000
_US_PER_DAY = 24 * 60 * _US_PER_MINUTE
_WORK_DAY_MODES = ("minutes", "same_time")


class TimeUnit(StrEnum):
    """Units of a time limit (时限单位)."""

    WORK_HOUR = "work_hour"  # 工作时: working minutes on the calendar
    WORK_DAY = "work_day"  # 工作日
    NATURAL_HOUR = "natural_hour"  # 自然小时: ignores the calendar


def _format_amount(amount: float) -> str:
    value = float(amount)
    if value.is_integer():
        return str(int(value))
    return f"{value:g}"


@dataclass(frozen=True, slots=True)
class TimeLimit:
    """A time limit (时限) for one step of a case, e.g. 4 工作时 or 2 工作日."""

    amount: float
    unit: TimeUnit

    def __post_init__(self) -> None:
        amount: object = self.amount
        if isinstance(amount, bool) or not isinstance(amount, int | float):
            raise ValueError(both("clock.amount_not_a_number", value=repr(amount)))
        if not math.isfinite(amount) or amount < 0:
            # 0 is a valid zero-length limit (an imported case due when it was created); a city
            # profile's own limits are checked to be > 0 where the profile is read.
            raise ValueError(both("clock.amount_not_positive", value=repr(amount)))
        try:
            unit = TimeUnit(self.unit)
        except ValueError:
            allowed = [u.value for u in TimeUnit]
            raise ValueError(both("clock.unknown_unit", allowed=allowed, value=repr(self.unit))) from None
        # Accept the plain string from a profile file but always hold the enum.
        object.__setattr__(self, "unit", unit)

    def label(self, locale: str | None = None) -> str:
        """Human label: ``"4 工作时"`` in Chinese, ``"4 working hours"`` in English."""
        number = "one" if float(self.amount) == 1 else "many"
        return t(f"clock.unit.{self.unit.value}.{number}", locale, amount=_format_amount(self.amount))


class TrafficLight(StrEnum):
    """Status light of the current step (红黄绿灯); decided by :func:`judge_light`."""

    GREEN = "green"  # 绿灯: under 80 % of the limit used
    YELLOW = "yellow"  # 黄灯: 80 % or more used, the deadline not yet passed
    RED = "red"  # 红灯: the deadline has passed (超期)


@dataclass(frozen=True, slots=True)
class LightVerdict:
    """A case's light and whether it is overdue (超期), decided together by :func:`judge_light`."""

    light: TrafficLight
    overdue: bool


class CalendarCoverageError(Exception):
    """A date falls in a year that neither the holiday source nor the overrides cover (日历未覆盖)."""

    def __init__(self, year: int, day: date | None = None, detail: str = "") -> None:
        self.year = year
        self.day = day
        where = (
            Msg("clock.where_day", day=day.isoformat(), year=year)
            if day is not None
            else Msg("clock.where_year", year=year)
        )
        self.message = Msg("clock.not_covered", where=where, detail=f" {detail}" if detail else "")
        super().__init__(str(self.message))


@dataclass(frozen=True, slots=True)
class CalendarSpec:
    """Everything a :class:`WorkCalendar` (工作日历) needs, already resolved from the city profile."""

    timezone: str
    work_periods: tuple[tuple[time, time], ...]
    day_kinds: Mapping[date, bool]  # True = workday, False = day off; wins over weekday rule
    covered_years: frozenset[int]
    fallback_weekends: bool = False
    work_day_mode: Literal["minutes", "same_time"] = "minutes"


def _check_ratio_inputs(used_minutes: float, limit_minutes: float) -> None:
    if not math.isfinite(limit_minutes) or limit_minutes <= 0:
        raise ValueError(both("clock.limit_not_positive", value=repr(limit_minutes)))
    if math.isnan(used_minutes):
        raise ValueError(both("clock.used_is_nan"))


def traffic_light(used_minutes: float, limit_minutes: float) -> TrafficLight:
    """Colour of a used/limit ratio alone (红黄绿灯): green < 80 % ≤ yellow ≤ 100 % < red.

    For a ratio without a deadline only: a case's light, and whether it is overdue, is
    :func:`judge_light` (red from the moment the deadline passes, whatever the working clock says).
    Thresholds follow the Activiti-based platform described in docs/domain.md §7.
    """
    _check_ratio_inputs(used_minutes, limit_minutes)
    ratio = used_minutes / limit_minutes
    if ratio < 0.8:
        return TrafficLight.GREEN
    if ratio <= 1.0:
        return TrafficLight.YELLOW
    return TrafficLight.RED


def judge_light(
    used_minutes: float,
    limit_minutes: float,
    deadline: datetime | None,
    now: datetime,
    *,
    clock_stopped: bool = False,
) -> LightVerdict:
    """The one rule for a case's light and whether it is overdue (红黄绿灯与超期判定).

    Every place that shows a light or lists overdue cases (case lists, the case page, the big screen,
    超期督办, the KPIs) asks this function, so a case is never red in one place and yellow in another.

    * **Red and overdue** exactly when the deadline has passed: ``now > deadline``. Off-hours the
      working clock stands still (at 18:00 a case due at 18:00 has used 100 % of its limit all night),
      but the deadline is a moment on the wall clock, so from 18:00:00.000001 the case is red.
    * Before the deadline: **green** while under 80 % of the limit is used, **yellow** from 80 % (a
      zero-length limit is 100 % used from the start: yellow until its deadline).
    * While the clock stands still (``clock_stopped``: 挂账 approved), the deadline stands still too: the
      case is never overdue, and its light is green or yellow by the share of the limit used when the clock
      stopped (on resumption the deadline is what remains of the limit from then, at once if nothing does).
    * Without a deadline (not yet known), the limit decides: red when more than the limit is used.
    """
    if not math.isfinite(limit_minutes) or limit_minutes < 0:
        raise ValueError(both("clock.limit_negative", value=repr(limit_minutes)))
    if math.isnan(used_minutes):
        raise ValueError(both("clock.used_is_nan"))
    if clock_stopped:
        overdue = False
    elif deadline is not None:
        overdue = now > deadline
    else:
        overdue = used_minutes > limit_minutes
    if overdue:
        return LightVerdict(TrafficLight.RED, True)
    if limit_minutes > 0 and used_minutes < 0.8 * limit_minutes:
        return LightVerdict(TrafficLight.GREEN, False)
    return LightVerdict(TrafficLight.YELLOW, False)


def overtime_multiple(used_minutes: float, limit_minutes: float) -> float:
    """Overtime multiple (超时倍数) = (used − limit) / limit, never below 0."""
    _check_ratio_inputs(used_minutes, limit_minutes)
    return max(0.0, (used_minutes - limit_minutes) / limit_minutes)


def _time_us(t: time) -> int:
    return ((t.hour * 60 + t.minute) * 60 + t.second) * 1_000_000 + t.microsecond


def validate_work_periods(periods: Iterable[tuple[time, time]]) -> tuple[tuple[time, time], ...]:
    """Check work periods (工作时段): each start < end, sorted, not overlapping; return them as a tuple.

    Raises ValueError naming the offending period. Periods that touch (12:00–12:00) are allowed.
    """
    result = tuple(periods)
    if not result:
        raise ValueError(both("clock.no_work_period"))
    previous_end: time | None = None
    for index, period in enumerate(result, start=1):
        if len(period) != 2 or not all(isinstance(t, time) for t in period):
            raise ValueError(both("clock.period_not_a_pair", index=index, period=repr(period)))
        start, end = period
        if start.tzinfo is not None or end.tzinfo is not None:
            raise ValueError(both("clock.period_has_zone", index=index, start=start, end=end))
        if start >= end:
            raise ValueError(both("clock.period_backwards", index=index, start=start, end=end))
        if previous_end is not None and start < previous_end:
            raise ValueError(
                both("clock.period_overlaps", index=index, start=start, end=end, previous_end=previous_end)
            )
        previous_end = end
    return result


def _as_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC)


def _require_aware(name: str, moment: datetime) -> None:
    tz = moment.tzinfo
    # UTC is checked by identity first because this runs on every call of the hot path.
    if tz is None or (tz is not UTC and moment.utcoffset() is None):
        raise ValueError(both("clock.naive_time", name=name, moment=moment.isoformat()))


def _minutes_to_us(minutes: float) -> int:
    if isinstance(minutes, bool) or not isinstance(minutes, int | float) or not math.isfinite(minutes):
        raise ValueError(both("clock.minutes_not_finite", value=repr(minutes)))
    if minutes < 0:
        raise ValueError(both("clock.minutes_negative", value=repr(minutes)))
    return round(minutes * _US_PER_MINUTE)


class _YearTable:
    """Cumulative workday counts for one local calendar year."""

    __slots__ = ("cap", "cum", "first_ordinal", "is_work", "workday_bases", "workday_ordinals")

    def __init__(
        self,
        first_ordinal: int,
        cum: list[int],
        is_work: bytes,
        workday_ordinals: list[int],
        workday_bases: list[datetime | None],
        minutes_per_day_us: int,
    ) -> None:
        self.first_ordinal = first_ordinal
        # cum[k]: workdays strictly before day-of-year k (len = days in year + 1).
        self.cum = cum
        self.is_work = is_work
        self.workday_ordinals = workday_ordinals
        # UTC instant of local midnight for each workday whose UTC offset is constant all day; None
        # marks a transition day that needs the exact zoneinfo round trip.
        self.workday_bases = workday_bases
        self.cap = len(workday_ordinals) * minutes_per_day_us


class WorkCalendar:
    """A city's working-time calendar (工作日历): workdays, periods, deadlines (处置时限), elapsed time.

    All public datetimes must be timezone-aware; results are returned in UTC.
    """

    def __init__(self, spec: CalendarSpec) -> None:
        self.spec = spec
        try:
            self._tz = ZoneInfo(spec.timezone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(both("clock.unknown_timezone", timezone=repr(spec.timezone))) from exc
        if spec.work_day_mode not in _WORK_DAY_MODES:
            raise ValueError(
                both("clock.unknown_work_day_mode", allowed=_WORK_DAY_MODES, value=repr(spec.work_day_mode))
            )
        periods = validate_work_periods(spec.work_periods)
        # Touching periods are one stretch of working time; merging them keeps boundaries unambiguous.
        merged: list[list[int]] = []
        for start, end in periods:
            s, e = _time_us(start), _time_us(end)
            if merged and merged[-1][1] == s:
                merged[-1][1] = e
            else:
                merged.append([s, e])
        self._starts = [s for s, _ in merged]
        self._ends = [e for _, e in merged]
        self._cum_start: list[int] = []  # working µs in the day before each period starts
        self._cum_end: list[int] = []  # working µs in the day once each period ends
        total = 0
        for s, e in merged:
            self._cum_start.append(total)
            total += e - s
            self._cum_end.append(total)
        self._day_us = total
        self._end_set = frozenset(self._ends)
        self._tables: dict[int, _YearTable] = {}

    # -- calendar facts -------------------------------------------------------------------------

    @property
    def minutes_per_workday(self) -> float:
        """Working minutes in one workday (每日工作分钟数), 480 for 08:00–12:00 + 14:00–18:00."""
        return self._day_us / _US_PER_MINUTE

    def is_workday(self, d: date) -> bool:
        """Whether ``d`` is a workday (工作日): override/holiday table first, then Monday–Friday.

        Raises CalendarCoverageError for a date without an entry in a year the calendar does not cover,
        unless ``fallback_weekends`` is set.
        """
        if isinstance(d, datetime):
            d = d.date()
        kind = self.spec.day_kinds.get(d)
        if kind is not None:
            return bool(kind)
        if d.year in self.spec.covered_years or self.spec.fallback_weekends:
            return d.weekday() < 5
        raise CalendarCoverageError(d.year, d)

    def is_working_time(self, moment: datetime) -> bool:
        """Whether ``moment`` lies inside a work period (工作时段) of a workday; period ends excluded."""
        _require_aware("moment", moment)
        local = moment.astimezone(self._tz)
        if not self.is_workday(local.date()):
            return False
        m = _time_us(local.time())
        i = bisect_right(self._starts, m) - 1
        return i >= 0 and m < self._ends[i]

    def limit_minutes(self, limit: TimeLimit) -> float:
        """The limit in minutes (时限分钟数): working minutes for work units, wall-clock for natural hours."""
        if limit.unit is TimeUnit.WORK_DAY:
            return limit.amount * self.minutes_per_workday
        return limit.amount * 60.0

    # -- arithmetic ------------------------------------------------------------------------------

    def deadline(self, start: datetime, limit: TimeLimit) -> datetime:
        """Deadline (处置时限截止时间) of a step started at ``start``, as a UTC datetime.

        * 工作时 (work_hour) adds working minutes; 自然小时 (natural_hour) adds wall-clock time.
        * 工作日 (work_day) in ``"minutes"`` mode adds ``amount × minutes_per_workday`` working minutes.
        * 工作日 in ``"same_time"`` mode gives the same clock time on the Nth following workday. A start
          outside working time is first moved to the next working moment (12:30 → 14:00, 20:00 or a
          Sunday → 08:00 of the next workday); a start exactly at a period end (12:00, 18:00) keeps that
          time. A fractional amount adds its remainder as working minutes after the whole days. Because
          all workdays share the same periods, both modes use up exactly the same working minutes; they
          differ only in the wall-clock instant shown when the result falls on a boundary (08:00 Monday
          + 1 工作日 is 18:00 Monday in ``"minutes"`` mode, 08:00 Tuesday in ``"same_time"`` mode).

        A start outside working time starts counting at the next working moment: 12:30 + 1 工作时 = 15:00.
        """
        if start.tzinfo is not UTC:  # UTC (the stored form) needs no check: the hot path's case
            _require_aware("start", start)
        unit = limit.unit
        if unit is TimeUnit.NATURAL_HOUR:
            return _as_utc(start) + timedelta(microseconds=_minutes_to_us(limit.amount * 60.0))
        local = start.astimezone(self._tz)
        if unit is TimeUnit.WORK_HOUR:
            return self._add_work_us(local, _minutes_to_us(limit.amount * 60.0), later=False)
        delta = round(limit.amount * self._day_us)
        if self.spec.work_day_mode == "minutes" or not float(limit.amount).is_integer():
            return self._add_work_us(local, delta, later=False)
        # A start that is (or is moved to) a period start lands on a period start N days later; one
        # exactly at a period end keeps that clock time.
        table = self._tables.get(local.year) or self._table(local.year)
        at_period_end = bool(table.is_work[local.toordinal() - table.first_ordinal]) and (
            _time_us(local.time()) in self._end_set
        )
        return self._add_work_us(local, delta, later=not at_period_end)

    def add_minutes(self, start: datetime, minutes: float, unit: TimeUnit) -> datetime:
        """``start`` plus ``minutes``: working minutes for 工作时/工作日, wall-clock minutes for 自然小时."""
        _require_aware("start", start)
        delta = _minutes_to_us(minutes)
        if TimeUnit(unit) is TimeUnit.NATURAL_HOUR:
            return _as_utc(start) + timedelta(microseconds=delta)
        return self._add_work_us(start.astimezone(self._tz), delta, later=False)

    def elapsed_minutes(self, start: datetime, end: datetime, unit: TimeUnit) -> float:
        """Minutes used (已用时间) between two instants; 0 when ``end`` is not after ``start``.

        Working minutes for 工作时/工作日 (the inverse of :meth:`add_minutes`), wall-clock minutes for
        自然小时.
        """
        if start.tzinfo is not UTC:
            _require_aware("start", start)
        if end.tzinfo is not UTC:
            _require_aware("end", end)
        if end <= start:
            return 0.0
        natural = unit is TimeUnit.NATURAL_HOUR  # the enum itself, no conversion on the hot path
        if natural or (unit.__class__ is not TimeUnit and TimeUnit(unit) is TimeUnit.NATURAL_HOUR):
            return (end - start) / timedelta(microseconds=1) / _US_PER_MINUTE
        y1, c1 = self._coord(start.astimezone(self._tz))
        y2, c2 = self._coord(end.astimezone(self._tz))
        if y1 == y2:
            return (c2 - c1) / _US_PER_MINUTE
        total = self._table(y1).cap - c1
        for year in range(y1 + 1, y2):
            total += self._table(year).cap
        return (total + c2) / _US_PER_MINUTE

    # -- internals -------------------------------------------------------------------------------

    def _table(self, year: int) -> _YearTable:
        table = self._tables.get(year)
        if table is None:
            table = self._build_table(year)
            self._tables[year] = table
        return table

    def _build_table(self, year: int) -> _YearTable:
        first = date(year, 1, 1).toordinal()
        days = date(year + 1, 1, 1).toordinal() - first
        cum = [0] * (days + 1)
        flags = bytearray(days)
        ordinals: list[int] = []
        bases: list[datetime | None] = []
        count = 0
        tz = self._tz
        for k in range(days):
            cum[k] = count
            ordinal = first + k
            if self.is_workday(date.fromordinal(ordinal)):
                flags[k] = 1
                count += 1
                ordinals.append(ordinal)
                midnight = datetime.fromordinal(ordinal).replace(tzinfo=tz)
                last = midnight + timedelta(microseconds=_US_PER_DAY - 1)
                offset = midnight.utcoffset()
                bases.append(
                    (midnight.replace(tzinfo=None) - offset).replace(tzinfo=UTC)
                    if offset is not None and offset == last.utcoffset()
                    else None
                )
        cum[days] = count
        return _YearTable(first, cum, bytes(flags), ordinals, bases, self._day_us)

    def _coord(self, local: datetime) -> tuple[int, int]:
        """(year, working µs since local 1 January 00:00) of a moment already in the calendar's zone."""
        year = local.year
        table = self._tables.get(year) or self._table(year)
        k = local.toordinal() - table.first_ordinal
        before = table.cum[k] * self._day_us
        if not table.is_work[k]:
            return year, before
        m = ((local.hour * 60 + local.minute) * 60 + local.second) * 1_000_000 + local.microsecond
        i = bisect_right(self._starts, m) - 1
        if i < 0:
            return year, before
        return year, before + self._cum_start[i] + min(m - self._starts[i], self._ends[i] - self._starts[i])

    def _add_work_us(self, local: datetime, delta: int, *, later: bool) -> datetime:
        """``local`` (already in the calendar zone) plus ``delta`` working µs, as a UTC datetime."""
        if delta == 0:
            # No working time passes, so the start itself is the answer (not the previous period end).
            return _as_utc(local)
        year, coord = self._coord(local)
        target = coord + delta
        table = self._tables.get(year) or self._table(year)
        # Step over whole years only; `later` also steps when the target is the very end of a year so
        # that the period-start representative (first workday of the next year) is found.
        while target > table.cap or (later and target == table.cap):
            target -= table.cap
            year += 1
            table = self._table(year)
        return self._moment(table, target, later=later)

    def _moment(self, table: _YearTable, target: int, *, later: bool) -> datetime:
        n, r = divmod(target, self._day_us)
        if later:
            i = bisect_right(self._cum_end, r)
        else:
            if r == 0 and n > 0:
                n, r = n - 1, self._day_us
            i = bisect_left(self._cum_end, r)
        m = self._starts[i] + (r - self._cum_start[i])
        base = table.workday_bases[n]
        if base is not None:
            return base + timedelta(microseconds=m)
        local = datetime.fromordinal(table.workday_ordinals[n]) + timedelta(microseconds=m)
        return local.replace(tzinfo=self._tz).astimezone(UTC)
