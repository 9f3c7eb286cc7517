"""Shapes the web endpoints answer with: step clocks, review items, labels (shared by state and api)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from civicloop.accounts.service import AccountRole
from civicloop.cases.core import ACTIONS, Actor, CaseState, Event
from civicloop.cases.privacy import mask
from civicloop.cases.service import CaseQuery
from civicloop.intake.core import review_priority
from civicloop.kernel.clock import TimeLimit, TimeUnit, WorkCalendar
from civicloop.kernel.i18n import t
from civicloop.kernel.vocabulary import (
    HANDLING_STAGES,
    Action,
    Channel,
    ClosureReason,
    Role,
    Stage,
    Step,
    Urgency,
)
from civicloop.profile.models import CityProfile


def labels() -> dict[str, dict[str, dict[str, str]]]:
    def table(enum: Any) -> dict[str, dict[str, str]]:
        return {m.value: {"zh": m.zh, "en": m.en} for m in enum}

    roles = table(Role)
    roles["viewer"] = {"zh": AccountRole.VIEWER.zh, "en": AccountRole.VIEWER.en}
    return {
        "stages": table(Stage),
        "actions": table(Action),
        "roles": roles,
        "channels": table(Channel),
        "closure_reasons": table(ClosureReason),
        "urgency": table(Urgency),
        "steps": table(Step),
        "units": {
            unit: {"zh": t(f"readmodels.units.{unit}", "zh-CN"), "en": t(f"readmodels.units.{unit}", "en")}
            for unit in ("work_hour", "work_day", "natural_hour")
        },
    }


def step_clocks(
    state: CaseState, timeline: list[Event], calendar: WorkCalendar, now: datetime
) -> list[dict[str, Any]]:
    """One row per timed step the case went through: start, deadline, end, used/limit, light, on time."""
    rows: list[dict[str, Any]] = []
    current: dict[str, Any] | None = None
    for e in timeline:
        d = e.data
        result = d.get("step_result")
        if result and current is not None and current["step"] == result.get("step"):
            current.update(
                ended_at=e.at.isoformat(),
                used_minutes=result.get("used_minutes"),
                limit_minutes=result.get("limit_minutes"),
                light=result.get("light"),
                on_time=result.get("on_time"),
            )
        handling = d.get("handling")
        if handling and current is not None and current["step"] == Step.HANDLE.value:
            current.update(
                ended_at=e.at.isoformat(),
                used_minutes=handling.get("used_minutes"),
                limit_minutes=handling.get("limit_minutes"),
                light=handling.get("light"),
                on_time=handling.get("on_time"),
            )
        if "deadline" in d and current is not None and current["step"] == Step.HANDLE.value and d["deadline"]:
            current["deadline"] = d["deadline"]
        if "step" in d:
            if current is not None and current.get("ended_at") is None:
                current["ended_at"] = e.at.isoformat()
            step = d.get("step")
            current = None
            if step:
                current = {
                    "step": step,
                    "started_at": e.at.isoformat(),
                    "deadline": d.get("step_deadline") or d.get("deadline"),
                    "ended_at": None,
                    "used_minutes": None,
                    "limit_minutes": None,
                    "light": None,
                    "on_time": None,
                    "running": False,
                }
                rows.append(current)
    if current is not None and current.get("ended_at") is None and not state.stage.is_terminal:
        current["running"] = True
        light = state.light(calendar, now)
        current["light"] = light.value if light else None
        if state.stage in HANDLING_STAGES or state.stage is Stage.SUSPENDED:
            limit = state.handling_limit_minutes(calendar)
            current["used_minutes"] = round(state.handling_used(calendar, now), 1)
            current["limit_minutes"] = None if limit is None else round(limit, 1)
            current["deadline"] = state.deadline.isoformat() if state.deadline else current["deadline"]
            current["clock_stopped"] = state.clock_running_since is None
        elif state.step_started_at and state.step_deadline:
            current["used_minutes"] = round(
                calendar.elapsed_minutes(state.step_started_at, now, TimeUnit.WORK_HOUR), 1
            )
            current["limit_minutes"] = round(
                calendar.elapsed_minutes(state.step_started_at, state.step_deadline, TimeUnit.WORK_HOUR), 1
            )
    return rows


def review_item(
    profile: CityProfile,
    calendar: WorkCalendar,
    s: CaseState,
    triage: dict[str, Any] | None,
    source: str,
    now: datetime,
) -> dict[str, Any]:
    name = name_en = None
    if s.category_code:
        try:
            c = profile.category(s.category_code)
            name, name_en = c.name, c.name_en
        except KeyError:
            pass
    light = s.light(calendar, now)
    return {
        "case_id": s.case_id,
        "stage": s.stage.value,
        "channel": s.channel.value,
        "category_code": s.category_code,
        "category_name": name,
        "category_name_en": name_en,
        "description": mask(s.description),
        "address": mask(s.address),
        "district_code": s.district_code,
        "grid_code": s.grid_code,
        "lon": s.lon,
        "lat": s.lat,
        "urgency": s.urgency.value,
        "created_at": s.created_at.isoformat(),
        "step_deadline": s.step_deadline.isoformat() if s.step_deadline else None,
        "light": light.value if light else None,
        "photos": list(s.photos),
        "cluster_size": s.cluster_size,
        "needs_verification": s.needs_verification,
        "priority": round(review_priority(s.urgency, s.cluster_size, s.created_at, now), 2),
        "triage": triage,
        "triage_source": source,
    }


def ranked(states: list[CaseState], now: datetime) -> list[CaseState]:
    return sorted(
        states,
        key=lambda s: (
            -review_priority(s.urgency, s.cluster_size, s.created_at, now),
            s.created_at,
            s.case_id,
        ),
    )


def stage_query(actor: Actor, stage: str, limit: int) -> CaseQuery:
    return CaseQuery(stages=[stage], scope=actor, order="deadline_asc", limit=max(limit * 4, 200))


def action_specs() -> dict[str, dict[str, list[str]]]:
    return {a.value: {"required": list(s.required), "optional": list(s.optional)} for a, s in ACTIONS.items()}


# ---- approvals and rework in full (issue 15) ---------------------------------------------------------

_REQUESTS = {
    "return": Action.REQUEST_RETURN,
    "extension": Action.REQUEST_EXTENSION,
    "suspension": Action.REQUEST_SUSPENSION,
    "void": Action.REQUEST_VOID,
}


def request_detail(
    state: CaseState, timeline: list[Event], calendar: WorkCalendar, names: dict[str, str] | None = None
) -> dict[str, Any] | None:
    """The pending request (回退 / 延期 / 挂账 / 作废) in full, for the approver's card and dialog: who asked,
    when and why; an extension's amount, unit, current and new deadline; a return's suggested department;
    a void's reason and the duplicate's number; a suspension's term. None when nothing is pending."""
    pending = state.pending
    if not pending:
        return None
    kind = str(pending.get("kind"))
    asked = next((e for e in reversed(timeline) if e.action is _REQUESTS.get(kind)), None)
    out: dict[str, Any] = {
        "kind": kind,
        "requested_at": pending.get("requested_at"),
        "requested_by": asked.actor_id if asked else None,
        "requested_by_name": (names or {}).get(asked.actor_id) if asked else None,
        "requested_by_role": asked.actor_role.value if asked else None,
        "department_id": state.department_id,
        "reason": asked.note if asked else None,
    }
    if kind == "extension":
        amount, unit = float(pending["amount"]), TimeUnit(pending["unit"])
        out.update(amount=amount, unit=unit.value, current_deadline=None, new_deadline=None)
        if state.deadline is not None and state.handling_limit is not None:
            minutes = calendar.limit_minutes(TimeLimit(amount, unit))
            new = calendar.add_minutes(state.deadline, minutes, state.handling_limit.unit)
            out.update(current_deadline=state.deadline.isoformat(), new_deadline=new.isoformat())
    elif kind == "return":
        out["suggested_department_id"] = pending.get("suggested_department_id")
    elif kind == "void":
        out.update(closure_reason=pending.get("reason"), duplicate_of=pending.get("duplicate_of"),
                   prior_stage=pending.get("prior_stage"))  # fmt: skip
    elif kind == "suspension":
        term = pending.get("term") or {}
        out.update(term_amount=term.get("amount"), term_unit=term.get("unit"))
    return out


def last_failed_check(timeline: list[Event], names: dict[str, str] | None = None) -> dict[str, Any] | None:
    """The latest 核查不通过 of the case (why the work came back: the note and the inspector's photos)."""
    for e in reversed(timeline):
        if e.action is Action.CHECK and e.data.get("passed") is False:
            return {
                "at": e.at.isoformat(),
                "note": e.note,
                "photos": list(e.attachments),
                "inspector": e.actor_id,
                "inspector_name": (names or {}).get(e.actor_id),
            }
    return None
