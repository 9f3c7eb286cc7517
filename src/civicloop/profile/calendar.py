"""Calendar source (节假日数据源): turn a city's calendar settings into a :class:`CalendarSpec`.

Two sources: ``cn`` (below) and ``holidays:<COUNTRY>[-<SUBDIVISION>]`` — any country or subdivision of
the ``holidays`` package (``holidays:US``, ``holidays:US-MD``, ``holidays:GB``, ``holidays:DE-BY``), its
public holidays (observed days included) as days off, for the years :data:`HOLIDAYS_YEARS` within the
package's own range for that country. Either way the profile's overrides win.

``cn``: holiday and 调休 (make-up workday) data come from the ``chinese-calendar`` package, pinned to
1.11.0, which covers 2004–2026 only and raises NotImplementedError for any other year; new years
appear in a November release. Coverage is therefore decided per *year* from the package's own tables,
never by calling it per date and catching the error. The city profile's override table (date →
workday/day off) always wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date, time
from functools import cache
from types import MappingProxyType
from typing import Literal, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import chinese_calendar

from civicloop.kernel.clock import CalendarCoverageError, CalendarSpec, validate_work_periods
from civicloop.kernel.i18n import both, t

_WORK_DAY_MODES = ("minutes", "same_time")

CN_SOURCE = "cn"
HOLIDAYS_PREFIX = "holidays:"
HOLIDAYS_YEARS = range(2000, 2051)
"""The years a ``holidays:`` source loads (the package computes any year; a deployment needs these)."""


@cache
def _supported() -> dict[str, list[str]]:
    # Imported on first use: a city on the Chinese calendar never pays for the package (~0.4 s).
    import holidays

    return dict(holidays.list_supported_countries())


def parse_calendar_source(value: str) -> tuple[str, str | None]:
    """``"cn"`` → ("cn", None); ``"holidays:US-MD"`` → ("US", "MD"). ValueError (English) names the reason:
    an unknown source, country or subdivision."""
    if value == CN_SOURCE:
        return CN_SOURCE, None
    if not value.startswith(HOLIDAYS_PREFIX):
        raise ValueError(t("profile.unknown_calendar_source", "en", value=repr(value)))
    country, _, subdiv = value[len(HOLIDAYS_PREFIX) :].partition("-")
    supported = _supported()
    if country not in supported:
        raise ValueError(t("profile.unknown_holidays_country", "en", value=repr(value), country=country))
    if subdiv and subdiv not in supported[country]:
        known = ", ".join(supported[country][:12]) + (" …" if len(supported[country]) > 12 else "")
        raise ValueError(
            t("profile.unknown_holidays_subdivision", "en", value=repr(value), subdiv=subdiv, known=known)
        )
    return country, subdiv or None


def _holidays_source(
    country: str, subdiv: str | None, years: Iterable[int]
) -> tuple[dict[date, bool], frozenset[int]]:
    import holidays

    cls = holidays.country_holidays(country, subdiv=subdiv).__class__
    start = int(getattr(cls, "start_year", min(HOLIDAYS_YEARS)))
    end = int(getattr(cls, "end_year", max(HOLIDAYS_YEARS)))
    wanted = sorted(y for y in years if start <= y <= end)
    table = holidays.country_holidays(country, subdiv=subdiv, years=wanted) if wanted else {}
    return {d: False for d in table}, frozenset(wanted)


def source_years() -> frozenset[int]:
    """Years the installed chinese-calendar covers (节假日数据覆盖年份).

    Mirrors the package's own range check (min..max year of its holiday table), so every year in the
    range is answered without NotImplementedError.
    """
    holiday_days: Iterable[date] = chinese_calendar.holidays.keys()
    years = [d.year for d in holiday_days]
    if not years:
        return frozenset()
    return frozenset(range(min(years), max(years) + 1))


def build_calendar_spec(
    timezone: str,
    work_periods: list[tuple[time, time]],
    overrides: Mapping[date, bool],
    fallback_weekends: bool,
    work_day_mode: str,
    years: range | None = None,
    override_years: Iterable[int] = (),
    source: str = CN_SOURCE,
) -> CalendarSpec:
    """Build the calendar spec (工作日历配置) for one city.

    ``overrides`` (city 覆盖表: True = workday, False = day off) win over chinese-calendar's statutory
    holidays (法定节假日, False) and make-up workdays (调休上班, True). ``years`` limits which of the
    package's years are loaded; ``None`` loads all of them. A year counts as covered by the overrides
    alone only when the profile lists it in ``override_years`` — a few override dates in a year are not a
    year's holiday schedule. ``source`` is ``cn`` or ``holidays:<COUNTRY>[-<SUBDIVISION>]``.
    """
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(both("clock.unknown_timezone", timezone=repr(timezone))) from exc
    periods = validate_work_periods(work_periods)
    if work_day_mode not in _WORK_DAY_MODES:
        raise ValueError(
            both("clock.unknown_work_day_mode", allowed=_WORK_DAY_MODES, value=repr(work_day_mode))
        )
    extra_years = frozenset(override_years)
    for year in extra_years:
        if isinstance(year, bool) or not isinstance(year, int):
            raise ValueError(both("clock.override_year_not_int", value=repr(year)))

    country, subdiv = parse_calendar_source(source)
    if country != CN_SOURCE:
        kinds, loaded = _holidays_source(country, subdiv, years if years is not None else HOLIDAYS_YEARS)
    else:
        kinds, loaded = _cn_source(years)
    for d, is_work in overrides.items():
        kinds[d] = bool(is_work)

    return CalendarSpec(
        timezone=timezone,
        work_periods=periods,
        day_kinds=MappingProxyType(kinds),
        covered_years=loaded | extra_years,
        fallback_weekends=fallback_weekends,
        work_day_mode=cast(Literal["minutes", "same_time"], work_day_mode),
    )


def _cn_source(years: range | None) -> tuple[dict[date, bool], frozenset[int]]:
    """chinese-calendar's statutory holidays (False) and make-up workdays (True) of the loaded years."""
    loaded = source_years()
    if years is not None:
        loaded = loaded & frozenset(years)
    kinds: dict[date, bool] = {}
    holiday_days: Iterable[date] = chinese_calendar.holidays.keys()
    workday_days: Iterable[date] = chinese_calendar.workdays.keys()
    for d in holiday_days:
        if d.year in loaded:
            kinds[d] = False
    # Make-up workdays after holidays: the package itself lets a workday entry win (is_workday checks
    # its workdays table first).
    for d in workday_days:
        if d.year in loaded:
            kinds[d] = True
    return kinds, loaded


def check_coverage(spec: CalendarSpec, today: date) -> list[str]:
    """Warnings about holiday-data coverage (日历覆盖检查) as of ``today``.

    * Current year not covered: raises CalendarCoverageError, or with ``fallback_weekends`` warns that
      times are provisional (临时计时).
    * Next year not covered: warns that the holiday data must be updated (chinese-calendar publishes the
      next year's schedule each November, after the State Council announces it).
    """
    warnings: list[str] = []
    year = today.year
    if year not in spec.covered_years:
        if not spec.fallback_weekends:
            raise CalendarCoverageError(year, today)
        warnings.append(both("clock.year_provisional", year=year))
    next_year = year + 1
    if next_year not in spec.covered_years:
        days_left = (date(next_year, 1, 1) - today).days
        warnings.append(both("clock.next_year_missing", year=next_year, days=days_left))
    return warnings
