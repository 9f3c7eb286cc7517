"""Light schedules (红黄绿灯时刻表): when an open case's light turns yellow and when it turns red.

``CaseState.light(calendar, now)`` answers for one case at one moment. The big screen needs the light of
100,000 open cases every second, so each case's light is turned into two moments, computed once when the
case changes: the light is green before ``yellow_at``, yellow until ``red_at``, red from then on (or a
fixed colour while the clock stands still, e.g. 挂账). Lights at any moment are then two vectorised
comparisons (:func:`lights_at`). The rules are exactly those of ``CaseState.light``, i.e. of
:func:`civicloop.kernel.clock.judge_light` (green under 80 % of the limit used, yellow from 80 %, red from
the moment the deadline passes — not when the working clock next moves — of the current step, or of the
handling bundle while a department holds the case); a test compares both on simulated cases.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
from numpy.typing import NDArray

from civicloop.kernel.clock import TimeLimit, TimeUnit, TrafficLight, WorkCalendar, judge_light
from civicloop.kernel.vocabulary import HANDLING_STAGES, Stage

GREEN, YELLOW, RED, NO_LIGHT = 0, 1, 2, 3
LIGHT_NAMES = ("green", "yellow", "red", None)
FOLLOWS = -1  # the light follows the schedule (the clock runs)
_CODE = {TrafficLight.GREEN: GREEN, TrafficLight.YELLOW: YELLOW, TrafficLight.RED: RED}
#: One microsecond in minutes: "more than the limit" starts one microsecond after the limit is used up.
_EPSILON_MIN = 1 / 60_000_000
_TINY = 1e-6  # "after" a moment, in epoch seconds: one microsecond later
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_NEVER = math.inf
_ALREADY = -math.inf


@dataclass(frozen=True, slots=True)
class LightInputs:
    """What the light depends on (from the projection document; see :func:`inputs_from_doc`)."""

    stage: Stage
    step_started_at: datetime | None
    step_deadline: datetime | None
    handling_limit: TimeLimit | None
    extension_minutes: float
    handling_used_minutes: float
    clock_running_since: datetime | None
    deadline: datetime | None = None  # of the handling bundle


@dataclass(frozen=True, slots=True)
class Schedule:
    yellow_at: float  # epoch seconds; -inf already, +inf never
    red_at: float
    fixed: int  # FOLLOWS, or a fixed light code (clock stopped, or no light at all)

    def light(self, now: float) -> int:
        if self.fixed != FOLLOWS:
            return self.fixed
        if now >= self.red_at:
            return RED
        if now >= self.yellow_at:
            return YELLOW
        return GREEN


NONE = Schedule(_NEVER, _NEVER, NO_LIGHT)


def _ts(moment: datetime) -> float:
    return moment.timestamp()


def _fixed(light: TrafficLight) -> Schedule:
    return Schedule(_NEVER, _NEVER, _CODE[light])


def schedule(x: LightInputs, calendar: WorkCalendar) -> Schedule:
    """The light schedule of one case (mirrors ``CaseState.light``)."""
    if x.stage.is_terminal:
        return NONE
    if x.stage in HANDLING_STAGES or x.stage is Stage.SUSPENDED:
        if x.handling_limit is None:
            return NONE
        limit = calendar.limit_minutes(x.handling_limit) + x.extension_minutes
        if not math.isfinite(limit) or limit < 0:
            return _fixed(TrafficLight.RED)
        used = x.handling_used_minutes
        if x.clock_running_since is None:  # the clock stands still (挂账): the light does not move
            return _fixed(judge_light(used, limit, None, _EPOCH, clock_stopped=True).light)
        unit = x.handling_limit.unit
        since = x.clock_running_since
        yellow = (
            _ALREADY if used >= 0.8 * limit else _ts(calendar.add_minutes(since, 0.8 * limit - used, unit))
        )
        if x.deadline is not None:  # red from the moment the deadline passes (judge_light)
            red = _ts(x.deadline) + _TINY
        else:
            red = (
                _ALREADY
                if used > limit
                else _ts(calendar.add_minutes(since, limit - used + _EPSILON_MIN, unit))
            )
        return Schedule(yellow, red, FOLLOWS)
    if x.step_started_at is None or x.step_deadline is None:
        return NONE
    start, deadline = x.step_started_at, x.step_deadline
    total = calendar.elapsed_minutes(start, deadline, TimeUnit.WORK_HOUR)
    if total <= 0:
        return Schedule(_ts(start) + _TINY, _ts(deadline) + _TINY, FOLLOWS)
    yellow_at = max(_ts(calendar.add_minutes(start, 0.8 * total, TimeUnit.WORK_HOUR)), _ts(start) + _TINY)
    return Schedule(yellow_at, _ts(deadline) + _TINY, FOLLOWS)


_STAGE = {s.value: s for s in Stage}
_UNIT = {u.value: u for u in TimeUnit}
_LIMITS: dict[tuple[float, str], TimeLimit] = {}


def _dt(value: Any) -> datetime | None:
    if not value:
        return None
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(value)


def _limit(value: Any) -> TimeLimit | None:
    """A stored limit ({"amount", "unit"}); the few distinct ones are built once."""
    if not value:
        return None
    if isinstance(value, TimeLimit):
        return value
    key = (float(value["amount"]), str(value["unit"]))
    hit = _LIMITS.get(key)
    if hit is None:
        hit = _LIMITS[key] = TimeLimit(key[0], _UNIT[key[1]])
    return hit


#: The projection document's keys that a light depends on (besides the stage column).
DOC_KEYS = (
    "step_started_at",
    "step_deadline",
    "handling_limit",
    "extension_minutes",
    "handling_used_minutes",
    "clock_running_since",
    "reporter_id",
    "deadline",
)


def inputs_from_values(stage: str, values: list[Any]) -> LightInputs:
    """LightInputs from the stage and the values of :data:`DOC_KEYS`, in order."""
    started, step_deadline, limit, extension, used, since = values[:6]
    deadline = values[7] if len(values) > 7 else None
    return LightInputs(
        _STAGE[stage],
        _dt(started),
        _dt(step_deadline),
        _limit(limit),
        float(extension or 0.0),
        float(used or 0.0),
        _dt(since),
        _dt(deadline),
    )


def lights_at(
    now: float, yellow_at: NDArray[np.float64], red_at: NDArray[np.float64], fixed: NDArray[np.int8]
) -> NDArray[np.int8]:
    """Light codes of many cases at *now* (epoch seconds)."""
    out = np.where(now >= red_at, RED, np.where(now >= yellow_at, YELLOW, GREEN)).astype(np.int8)
    return np.where(fixed >= 0, fixed, out).astype(np.int8)
