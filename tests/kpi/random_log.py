"""Random event logs for the KPI properties: random actions by random roles, written through CaseService.

A log is drawn step by step with hypothesis (``data.draw``), so that a failing log shrinks to a short
one: a few cases, each reported at a random time of October–December 2026 in one of two districts from
one of three channels, then moved on by actions — mostly the loop's main line, else any its stage
allows — each taken by a
random person of a random role allowed to take it (two of each role, departments among three), at random
delays from minutes to weeks. The domain refuses what it does not allow (e.g. an extension in the wrong
kind of time); a refused action is simply not in the log.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import strategies as st

from civicloop.cases.core import ACTIONS, Actor, CaseState
from civicloop.city.service import City
from civicloop.kernel.errors import DomainError
from civicloop.kernel.vocabulary import Action, Role, Stage

BEIJING = ZoneInfo("Asia/Shanghai")
FIRST = datetime(2026, 10, 1, 7, 0, tzinfo=BEIJING)
LAST = datetime(2026, 12, 28, 7, 0, tzinfo=BEIJING)
DEPARTMENTS = ("ty-sanitation", "ty-roads", "ty-gardens")
DISTRICTS = (
    {"district_code": "140105", "street_code": "140105001", "community_code": "140105001001",
     "grid_code": "140105001001001", "lon": 112.55, "lat": 37.85},
    {"district_code": "140106", "street_code": "140106001", "community_code": "140106001001",
     "grid_code": "140106001001001", "lon": 112.57, "lat": 37.86},
)  # fmt: skip
CATEGORIES = ("06010", "01037")
PEOPLE: dict[Role, tuple[str, ...]] = {
    Role.INSPECTOR: ("ins-a", "ins-b"),
    Role.OPERATOR: ("op-1", "op-2"),
    Role.SHIFT_LEADER: ("sl-1", "sl-2"),
    Role.DISPATCHER: ("dp-1", "dp-2"),
    Role.LEADER: ("boss",),
    Role.SYSTEM: ("system",),
}
#: Actions that need another case (links, splits, recurrences) or only annotate: left out.
SKIPPED = {
    Action.REPORT,
    Action.LINK_DUPLICATE,
    Action.UNLINK_DUPLICATE,
    Action.SPLIT,
    Action.FLAG_RECURRENCE,
    Action.COMMENT,
}
#: The loop's main line from each stage: taken most of the time, so that logs reach handling and closing.
MAIN_LINE: dict[Stage, Action] = {
    Stage.REPORTED: Action.ACCEPT,
    Stage.VERIFYING: Action.VERIFY,
    Stage.ACCEPTED: Action.FILE,
    Stage.FILED: Action.DISPATCH,
    Stage.DISPATCHED: Action.HANDLE,
    Stage.RETURN_REQUESTED: Action.APPROVE_RETURN,
    Stage.EXTENSION_REQUESTED: Action.APPROVE_EXTENSION,
    Stage.SUSPENSION_REQUESTED: Action.APPROVE_SUSPENSION,
    Stage.SUSPENDED: Action.RESUME,
    Stage.HANDLED: Action.SEND_CHECK,
    Stage.CHECKING: Action.CHECK,
    Stage.CHECKED: Action.CLOSE,
    Stage.SELF_HANDLED: Action.APPROVE_SELF_HANDLING,
    Stage.VOID_REQUESTED: Action.APPROVE_VOID,
}
#: Delays between steps, in minutes: within a step limit, within a day, over weekends, weeks.
DELAYS = (3, 20, 45, 120, 300, 900, 1500, 3000, 8000, 20000)


def _fields(action: Action, data: st.DataObject) -> dict[str, Any]:
    note = {"note": "随机"}
    if action is Action.DISPATCH:
        return {"department_id": data.draw(st.sampled_from(DEPARTMENTS))}
    if action is Action.VERIFY:
        return {"confirmed": data.draw(st.integers(0, 4)) > 0}
    if action is Action.CHECK:
        return {"passed": data.draw(st.integers(0, 3)) > 0, "photos": ["p/check.jpg"], **note}
    if action is Action.HANDLE:  # the profile's safeguards: 处置反馈 carries a photo
        return {"photos": ["p/after.jpg"], **note}
    if action is Action.REJECT:
        return {"reason": data.draw(st.sampled_from(["not_city_business", "invalid"])), **note}
    if action in (Action.VOID, Action.REQUEST_VOID):
        return {"reason": "misfiled", **note}
    if action is Action.REQUEST_EXTENSION:
        return {"amount": data.draw(st.sampled_from([1, 2, 8])), "unit": "work_hour", **note}
    return note


def _actors(action: Action, state: CaseState) -> list[Actor]:
    out: list[Actor] = []
    for role in sorted(ACTIONS[action].roles):
        if role is Role.DEPARTMENT:
            if state.department_id is not None:
                out.append(Actor(f"h-{state.department_id}", role, department_id=state.department_id))
            continue
        out.extend(Actor(person, role) for person in PEOPLE.get(role, ()))
    return out


def draw_log(city: City, data: st.DataObject, *, max_cases: int = 8, max_steps: int = 20) -> int:
    """Write a random log into *city*; returns the number of events written."""
    events = 0
    n_cases = data.draw(st.integers(1, max_cases), label="cases")
    for _ in range(n_cases):
        minutes = int((LAST - FIRST).total_seconds() // 60)
        at = FIRST + timedelta(minutes=data.draw(st.integers(0, minutes), label="reported"))
        channel = data.draw(st.sampled_from(["inspector", "citizen", "hotline"]), label="channel")
        place = DISTRICTS[data.draw(st.integers(0, 1), label="district")]
        self_handled = channel == "inspector" and data.draw(st.integers(0, 9)) == 0
        fields: dict[str, Any] = {
            "channel": channel,
            "category_code": data.draw(st.sampled_from(CATEGORIES)),
            "address": "迎泽大街 8 号",
            "description": "随机案卷",
            **place,
        }
        if self_handled:
            fields.update(self_handled=True, note="现场已处理")
        reporter = (
            Actor(data.draw(st.sampled_from(PEOPLE[Role.INSPECTOR])), Role.INSPECTOR)
            if channel == "inspector"
            else Actor("citizen-1", Role.CITIZEN if channel == "citizen" else Role.OPERATOR)
        )
        state = city.cases.report(reporter, fields, at=at)
        events += 1
        for _ in range(data.draw(st.integers(0, max_steps), label="steps")):
            if state.stage.is_terminal and state.stage is not Stage.CLOSED:
                break
            choices = [
                a for a, spec in ACTIONS.items() if a not in SKIPPED and state.stage in spec.from_stages
            ]
            if not choices:
                break
            main = MAIN_LINE.get(state.stage)
            if main is not None and data.draw(st.integers(0, 19), label="off the main line") < 17:
                action = main
            else:
                action = data.draw(st.sampled_from(choices))
            actors = _actors(action, state)
            if not actors:
                continue
            actor = data.draw(st.sampled_from(actors))
            at = at + timedelta(minutes=data.draw(st.sampled_from(DELAYS)))
            try:
                state = city.cases.act(state.case_id, action, actor, _fields(action, data), at=at)
            except DomainError:
                continue
            events += 1
    return events
