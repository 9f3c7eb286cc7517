"""A day in the life of the duty room, in simulated time (模拟).

Simulated inspectors and citizens report with the profile's category mix and time-of-day pattern
(barbecue at night, garbage in the morning); simulated operators, shift leaders, dispatchers,
departments and inspectors then take every step of the loop, including returns, extensions,
suspensions, rework, voids and self-handling. Everything goes through :class:`CaseService`, in batches,
so the simulator exercises exactly the code path people use.

Deterministic: the same profile, seed and start give the same events (no wall clock, one RNG, a
priority queue ordered by time then insertion).
"""

from __future__ import annotations

import heapq
import math
import random
import tomllib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any, Protocol
from zoneinfo import ZoneInfo

from civicloop.cases.core import Actor, CaseState, Command
from civicloop.cases.service import BatchItem, ReporterInfo
from civicloop.city.service import City
from civicloop.kernel.clock import TimeUnit
from civicloop.kernel.vocabulary import Action, Channel, ClosureReason, Rating, Role, Stage
from civicloop.photos.simulated import simulated_ref
from civicloop.profile.models import CategoryRule

if TYPE_CHECKING:
    from civicloop.assets.rounds import AssetRounds

#: Relative report intensity per local hour for each daily pattern of the profile (SimHours).
HOUR_PROFILES: dict[str, tuple[float, ...]] = {
    "morning": (1, 1, 1, 1, 2, 6, 12, 16, 16, 12, 8, 6, 4, 4, 4, 4, 4, 4, 3, 2, 2, 1, 1, 1),
    "daytime": (1, 0, 0, 0, 0, 1, 3, 6, 9, 10, 10, 9, 7, 8, 9, 10, 9, 8, 6, 4, 3, 2, 1, 1),
    "evening": (2, 1, 1, 0, 0, 0, 1, 2, 3, 4, 4, 4, 4, 4, 4, 5, 6, 8, 11, 13, 13, 11, 8, 4),
    "night": (10, 7, 4, 2, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1, 1, 1, 2, 3, 6, 10, 14, 16, 16, 13),
    "commute": (0, 0, 0, 0, 1, 2, 6, 14, 12, 6, 4, 4, 4, 4, 4, 4, 6, 12, 14, 8, 4, 2, 1, 0),
    "uniform": (1,) * 24,
}


#: 回访: the share of closed-as-fixed cases with a contact that the hotline calls back, the answers'
#: mix, and how often the shift leader's review of a 不满意 reopens the case (else confirms the closure).
CALLBACK_SHARE = 0.6
RATING_MIX: dict[Rating, float] = {
    Rating.SATISFIED: 0.75,
    Rating.BASICALLY_SATISFIED: 0.17,
    Rating.DISSATISFIED: 0.08,
}
REVIEW_REOPENS = 0.25
#: The actor that reopens a case at once when the profile says a 不满意 reopens it (as the API does).
FEEDBACK_SYSTEM = Actor("system:feedback", Role.SYSTEM)


#: The simulator's vocabulary (road names, address patterns, the staff's notes): data in texts.toml.
@cache
def texts(locale: str = "zh-CN") -> dict[str, Any]:
    """The vocabulary; ``locale`` "en" overlays the ``[en]`` table (a city whose profile speaks English)."""
    doc = tomllib.loads((resources.files("civicloop.simulator") / "texts.toml").read_text(encoding="utf-8"))
    english = doc.pop("en", {})
    if locale.lower().startswith("en"):
        for key, value in english.items():
            doc[key] = {**doc[key], **value} if isinstance(value, dict) else value
    return doc


#: Real Taiyuan road names for plausible addresses.
ROADS: tuple[str, ...] = tuple(texts()["roads"])


class AssetRoundsLike(Protocol):
    """What the simulator needs of :class:`civicloop.assets.rounds.AssetRounds`."""

    def due(self, until: datetime) -> list[Any]: ...

    def run(self, rnd: Any) -> Any: ...


class Placer(Protocol):
    """Chooses where a simulated problem is: returns report fields (lon, lat, address, area codes)."""

    def place(self, rng: random.Random, category: CategoryRule) -> dict[str, Any]: ...


class BoxPlacer:
    """Uniform points in the city's urban box, with a plausible address (used until geography exists)."""

    def __init__(self, districts: list[str], box: tuple[float, float, float, float]) -> None:
        self.districts: list[str | None] = list(districts) or [None]
        self.box = box

    def place(self, rng: random.Random, category: CategoryRule) -> dict[str, Any]:
        w, s, e, n = self.box
        return {
            "lon": round(rng.uniform(w, e), 6),
            "lat": round(rng.uniform(s, n), 6),
            "address": texts()["address"]["box"].format(road=rng.choice(ROADS), n=rng.randint(1, 300)),
            "district_code": rng.choice(self.districts),
        }


@dataclass(order=True)
class _Task:
    at: datetime
    order: int
    ref: int = field(compare=False)
    action: Action = field(compare=False)
    actor: Actor = field(compare=False)
    fields: dict[str, Any] = field(compare=False, default_factory=dict)
    reporter: ReporterInfo | None = field(compare=False, default=None)


@dataclass
class _SimCase:
    ref: int
    category: CategoryRule
    channel: Channel
    inspector: Actor
    case_id: str | None = None
    department: str | None = None
    plan: dict[str, Any] = field(default_factory=dict)
    contact: bool = False  # the reporter left a phone: the hotline calls back (回访) after closure


@dataclass
class SimReport:
    start: datetime
    end: datetime
    seed: int
    cases: int = 0
    events: int = 0
    refused: int = 0
    states: Counter[str] = field(default_factory=Counter)
    closed_on_time: int = 0
    handled: int = 0
    overdue_open: int = 0
    closed: int = 0
    patrol_checks: int = 0  # checks of night lighting patrols and component inspections
    ratings: Counter[str] = field(default_factory=Counter)  # 回访: the rating of each case's last closure

    @property
    def on_time_rate(self) -> float | None:
        """按期结案率 = 按期结案数 / 应结案数, 应结案数 = 处置数 + 超期未处置数 (domain.md §8)."""
        due = self.handled + self.overdue_open
        return round(self.closed_on_time / due, 4) if due else None

    @property
    def closure_rate(self) -> float | None:
        due = self.handled + self.overdue_open
        return round(self.closed / due, 4) if due else None

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "seed": self.seed,
            "cases": self.cases,
            "events": self.events,
            "refused_actions": self.refused,
            "states": dict(sorted(self.states.items())),
            "on_time_rate": self.on_time_rate,
            "closure_rate": self.closure_rate,
            "handled": self.handled,
            "closed": self.closed,
            "closed_on_time": self.closed_on_time,
            "overdue_open": self.overdue_open,
            "patrol_checks": self.patrol_checks,
            "ratings": dict(sorted(self.ratings.items())),
        }


class Simulator:
    def __init__(
        self,
        city: City,
        *,
        seed: int,
        start: datetime,
        placer: Placer | None = None,
        reports_per_day: float | None = None,
        batch: timedelta = timedelta(hours=1),
        asset_rounds: AssetRoundsLike | None = None,
    ) -> None:
        self.city = city
        self.asset_rounds = asset_rounds
        self.profile = city.profile
        self.words = texts(self.profile.default_locale)
        self.rng = random.Random(seed)
        # The 回访 draws have their own stream: the rest of the run is the same with or without them.
        self.callback_rng = random.Random(f"{seed}:callback")
        self.seed = seed
        self.tz = ZoneInfo(self.profile.timezone)
        self.start = start
        self.now = start
        self.batch = batch
        settings = self.profile.simulation
        self.reports_per_day = reports_per_day or settings.reports_per_day
        self.categories = [c for c in self.profile.simulated_categories()]
        if not self.categories:
            raise ValueError("the city profile has no simulated categories ([categories.sim])")
        districts = [d.code for d in self.profile.districts if d.urban]
        self.placer: Placer = placer or BoxPlacer(districts, (112.48, 37.72, 112.62, 37.92))
        self.queue: list[_Task] = []
        self.order = 0
        self.cases: dict[int, _SimCase] = {}
        self.by_case_id: dict[str, _SimCase] = {}
        self.final: dict[str, CaseState] = {}
        self.report = SimReport(start=start, end=start, seed=seed)
        self._staff(settings.operators, settings.shift_leaders, settings.dispatchers)
        self._next_report_hour = start.replace(minute=0, second=0, microsecond=0)

    # ---- staff ------------------------------------------------------------------------------

    def _staff(self, operators: int, leaders: int, dispatchers: int) -> None:
        self.operators = [Actor(f"op-{i + 1:02d}", Role.OPERATOR) for i in range(operators)]
        self.leaders = [Actor(f"sl-{i + 1:02d}", Role.SHIFT_LEADER) for i in range(leaders)]
        self.dispatchers = [Actor(f"dp-{i + 1:02d}", Role.DISPATCHER) for i in range(dispatchers)]
        per = self.profile.simulation.inspectors_per_district
        urban = [d.code for d in self.profile.districts if d.urban] or ["000000"]
        self.inspectors = [Actor(f"ins-{d}-{i + 1:02d}", Role.INSPECTOR) for d in urban for i in range(per)]

    def _department_actor(self, department_id: str) -> Actor:
        return Actor(f"dept-{department_id}", Role.DEPARTMENT, department_id=department_id)

    # ---- scheduling -------------------------------------------------------------------------

    def _push(
        self,
        at: datetime,
        sim: _SimCase,
        action: Action,
        actor: Actor,
        fields: dict[str, Any] | None = None,
        reporter: ReporterInfo | None = None,
    ) -> None:
        self.order += 1
        heapq.heappush(self.queue, _Task(at, self.order, sim.ref, action, actor, fields or {}, reporter))

    def _staff_delay(self, at: datetime, mean_minutes: float) -> datetime:
        """Command-centre seats are staffed around the clock: natural minutes."""
        return at + timedelta(minutes=max(0.5, self.rng.expovariate(1 / mean_minutes)))

    def _work_delay(self, at: datetime, mean_minutes: float) -> datetime:
        """Field work happens in working time (inspectors and departments)."""
        minutes = max(1.0, self.rng.expovariate(1 / mean_minutes))
        return self.city.calendar.add_minutes(at, minutes, TimeUnit.WORK_HOUR)

    def _generate_reports(self, until: datetime) -> None:
        """Poisson arrivals per local hour and category until *until*."""
        weights = [self._weight(c) for c in self.categories]
        while self._next_report_hour < until:
            hour_start = self._next_report_hour
            local = hour_start.astimezone(self.tz)
            workday = self.city.calendar.is_workday(local.date())
            day_rate = self.reports_per_day * (1.0 if workday else self.profile.simulation.day_off_factor)
            total_w = sum(w for w in weights) or 1.0
            for cat, w in zip(self.categories, weights, strict=True):
                if w <= 0:
                    continue
                assert cat.sim is not None
                profile = HOUR_PROFILES.get(cat.sim.hours, HOUR_PROFILES["uniform"])
                rate = day_rate * (w / total_w) * profile[local.hour] / sum(profile)
                for _ in range(_poisson(self.rng, rate)):
                    at = hour_start + timedelta(seconds=self.rng.uniform(0, 3600))
                    if at >= self.start:
                        self._new_report(cat, at)
            self._next_report_hour = hour_start + timedelta(hours=1)

    def _note(self, name: str) -> str:
        return str(self.words["notes"][name])

    def _weight(self, cat: CategoryRule) -> float:
        assert cat.sim is not None
        return cat.sim.weight

    def _new_report(self, cat: CategoryRule, at: datetime) -> None:
        assert cat.sim is not None
        rng = self.rng
        if cat.sim.months and at.astimezone(self.tz).month not in cat.sim.months:
            return
        mix = cat.sim.channel_mix
        channel_name = rng.choices(list(mix), weights=list(mix.values()))[0]
        channel = Channel(channel_name) if channel_name in Channel.__members__.values() else Channel.CITIZEN
        inspector = rng.choice(self.inspectors)
        ref = len(self.cases) + 1
        sim = _SimCase(ref, cat, channel, inspector)
        self.cases[ref] = sim
        fields: dict[str, Any] = {
            "channel": channel.value,
            "description": rng.choice(cat.sim.texts),
            **self.placer.place(rng, cat),
        }
        reporter: ReporterInfo | None = None
        if channel is Channel.INSPECTOR:
            actor = inspector
            fields["category_code"] = cat.code
            if rng.random() < 0.06:
                fields["self_handled"] = True
                fields["note"] = self._note("self_handled")
        elif channel is Channel.HOTLINE:
            actor = rng.choice(self.operators)
            fields["category_code"] = cat.code
            reporter = ReporterInfo(
                name=self.words["reporter"]["name"].format(ref=ref),
                phone=f"139{rng.randint(10_000_000, 99_999_999)}",
            )
            sim.contact = True
        else:
            actor = Actor(f"citizen-{ref}", Role.CITIZEN)
            if channel not in (Channel.CITIZEN, Channel.OPEN311):
                fields["channel"] = Channel.CITIZEN.value
                sim.channel = Channel.CITIZEN
            if rng.random() < 0.7:  # citizens often do not know the category
                fields["category_code"] = cat.code
        self._push(at, sim, Action.REPORT, actor, fields, reporter)

    def _follow_up(self, sim: _SimCase, state: CaseState, at: datetime) -> None:
        """Schedule what happens next to this case, given the stage it reached."""
        rng = self.rng
        cat = sim.category
        assert cat.sim is not None
        stage = state.stage
        if stage is Stage.REPORTED:
            op = rng.choice(self.operators)
            if sim.channel is not Channel.INSPECTOR and rng.random() < 0.03:
                self._push(
                    self._staff_delay(at, 12),
                    sim,
                    Action.REJECT,
                    op,
                    {"reason": "not_city_business", "note": self._note("not_city_business")},
                )
            else:
                self._push(self._staff_delay(at, 12), sim, Action.ACCEPT, op, {"category_code": cat.code})
        elif stage is Stage.VERIFYING:
            confirmed = rng.random() > 0.05
            self._push(
                self._work_delay(at, 25),
                sim,
                Action.VERIFY,
                sim.inspector,
                {
                    "confirmed": confirmed,
                    "note": self._note("verified")
                    + self._note("verified_true" if confirmed else "verified_false"),
                },
            )
        elif stage is Stage.ACCEPTED:
            leader = rng.choice(self.leaders)
            if rng.random() < 0.02:
                self._push(
                    self._staff_delay(at, 15), sim, Action.NOT_FILE, leader, {"note": self._note("not_filed")}
                )
            else:
                urgent = cat.is_urgent_text(state.description or "") or rng.random() < 0.03
                cond = rng.choice(cat.conditions).no
                self._push(
                    self._staff_delay(at, 15),
                    sim,
                    Action.FILE,
                    leader,
                    {
                        "category_code": cat.code,
                        "condition_no": cond,
                        "urgency": "urgent" if urgent else "normal",
                    },
                )
        elif stage is Stage.FILED:
            dispatcher = rng.choice(self.dispatchers)
            if state.dispatch_count == 0 and rng.random() < 0.01:
                self._push(
                    self._staff_delay(at, 10),
                    sim,
                    Action.REQUEST_VOID,
                    dispatcher,
                    {"reason": "misfiled", "note": self._note("misfiled")},
                )
                return
            dept = state.department_id or self._department_for(sim, state)
            if state.wrong_dispatch_count > 0 and sim.plan.get("returned_from"):
                dept = self.profile.responsible_department(cat.code, state.condition_no or 1).id
                if dept == sim.plan["returned_from"]:
                    dept = self._other_department(dept)
            sim.department = dept
            self._push(self._staff_delay(at, 10), sim, Action.DISPATCH, dispatcher, {"department_id": dept})
        elif stage is Stage.DISPATCHED:
            self._plan_handling(sim, state, at)
        elif stage is Stage.RETURN_REQUESTED:
            dispatcher = rng.choice(self.dispatchers)
            if rng.random() < 0.85:
                sim.plan["returned_from"] = state.department_id
                self._push(
                    self._staff_delay(at, 30),
                    sim,
                    Action.APPROVE_RETURN,
                    dispatcher,
                    {"note": self._note("approve_return")},
                )
            else:
                self._push(
                    self._staff_delay(at, 30),
                    sim,
                    Action.DENY_RETURN,
                    dispatcher,
                    {"note": self._note("dispatch")},
                )
        elif stage is Stage.EXTENSION_REQUESTED:
            dispatcher = rng.choice(self.dispatchers)
            if rng.random() < 0.85:
                self._push(self._staff_delay(at, 30), sim, Action.APPROVE_EXTENSION, dispatcher)
            else:
                self._push(
                    self._staff_delay(at, 30),
                    sim,
                    Action.DENY_EXTENSION,
                    dispatcher,
                    {"note": self._note("deny_extension")},
                )
        elif stage is Stage.SUSPENSION_REQUESTED:
            self._push(
                self._staff_delay(at, 60), sim, Action.APPROVE_SUSPENSION, rng.choice(self.dispatchers)
            )
        elif stage is Stage.SUSPENDED:
            resume_at = self.city.calendar.add_minutes(at, rng.uniform(1, 6) * 480, TimeUnit.WORK_HOUR)
            self._push(
                resume_at, sim, Action.RESUME, rng.choice(self.dispatchers), {"note": self._note("resume")}
            )
        elif stage is Stage.HANDLED:
            self._push(
                self._staff_delay(at, 10),
                sim,
                Action.SEND_CHECK,
                rng.choice(self.operators),
                {"inspector_id": sim.inspector.id},
            )
        elif stage is Stage.CHECKING:
            passed = not (state.rework_count == 0 and rng.random() < cat.sim.p_rework)
            fields: dict[str, Any] = {"passed": passed, "photos": [simulated_ref("check", sim.ref)]}
            if not passed:
                fields["note"] = self._note("check_failed")
            self._push(self._work_delay(at, 25), sim, Action.CHECK, sim.inspector, fields)
        elif stage is Stage.CHECKED:
            self._push(self._staff_delay(at, 20), sim, Action.CLOSE, rng.choice(self.leaders))
        elif stage is Stage.SELF_HANDLED:
            self._push(
                self._staff_delay(at, 20), sim, Action.APPROVE_SELF_HANDLING, rng.choice(self.operators)
            )
        elif stage is Stage.VOID_REQUESTED:
            self._push(self._staff_delay(at, 20), sim, Action.APPROVE_VOID, rng.choice(self.leaders))
        elif stage is Stage.CLOSED:
            self._callback(sim, state, at)

    def _callback(self, sim: _SimCase, state: CaseState, at: datetime) -> None:
        """回访: a hotline operator calls a reporter back after a fix and records the answer (once per
        closure); a 不满意 reopens the case or waits for the shift leader's review, as the profile says."""
        rng = self.callback_rng
        if state.feedback_review:
            leader = rng.choice(self.leaders)
            review_at = at + timedelta(minutes=rng.uniform(30, 240))
            if rng.random() < REVIEW_REOPENS:
                self._push(review_at, sim, Action.REOPEN, leader, {"note": self._note("review_reopen")})
            else:
                self._push(
                    review_at, sim, Action.CONFIRM_CLOSURE, leader, {"note": self._note("review_confirm")}
                )
            return
        key = f"callback-{state.reopen_count}"
        if not sim.contact or state.closure_reason is not ClosureReason.FIXED or key in sim.plan:
            return
        sim.plan[key] = True
        if rng.random() >= CALLBACK_SHARE:
            return
        call_at = self.city.calendar.add_minutes(at, rng.uniform(1, 2) * 480, TimeUnit.WORK_HOUR)
        rating = rng.choices(list(RATING_MIX), weights=list(RATING_MIX.values()))[0]
        fields: dict[str, Any] = {"rating": rating.value, "rater": state.reporter_id or state.case_id}
        self._push(call_at, sim, Action.FEEDBACK, rng.choice(self.operators), fields)
        if rating is Rating.DISSATISFIED and self.profile.public.dissatisfied == "reopen":
            self._push(
                call_at, sim, Action.REOPEN, FEEDBACK_SYSTEM, {"note": self._note("dissatisfied_reopen")}
            )

    def _department_for(self, sim: _SimCase, state: CaseState) -> str:
        return self.profile.responsible_department(
            sim.category.code, state.condition_no or 1, state.district_code
        ).id

    def _other_department(self, dept: str) -> str:
        ids = [d.id for d in self.profile.departments if d.id != dept]
        return self.rng.choice(ids)

    def _plan_handling(self, sim: _SimCase, state: CaseState, at: datetime) -> None:
        rng = self.rng
        cat = sim.category
        assert cat.sim is not None and state.department_id is not None and state.handling_limit is not None
        dept = self._department_actor(state.department_id)
        first_round = not sim.plan.get(f"planned-{state.dispatch_count}")
        sim.plan[f"planned-{state.dispatch_count}"] = True
        if first_round and state.extension_count == 0 and state.suspension_count == 0:
            draw = rng.random()
            early = self._work_delay(at, 40)
            wrong = sim.department != self._department_for(sim, state)
            if (wrong or draw < cat.sim.p_return) and state.wrong_dispatch_count == 0:
                self._push(early, sim, Action.REQUEST_RETURN, dept, {"note": self._note("request_return")})
                return
            if draw < cat.sim.p_return + cat.sim.p_extension:
                unit = "natural_hour" if state.handling_limit.unit is TimeUnit.NATURAL_HOUR else "work_hour"
                self._push(
                    early,
                    sim,
                    Action.REQUEST_EXTENSION,
                    dept,
                    {
                        "amount": max(1, round(state.handling_limit.amount)),
                        "unit": unit,
                        "note": self._note("request_extension"),
                    },
                )
                return
            if draw < cat.sim.p_return + cat.sim.p_extension + cat.sim.p_suspension:
                self._push(
                    early, sim, Action.REQUEST_SUSPENSION, dept, {"note": self._note("request_suspension")}
                )
                return
        # Handling time: the category's typical hours, log-normally spread (a few run late).
        hours = cat.sim.handle_hours * math.exp(rng.gauss(0, 0.55))
        unit = (
            TimeUnit.NATURAL_HOUR
            if state.handling_limit.unit is TimeUnit.NATURAL_HOUR
            else TimeUnit.WORK_HOUR
        )
        done = self.city.calendar.add_minutes(at, hours * 60, unit)
        self._push(
            done,
            sim,
            Action.HANDLE,
            dept,
            {"note": self._note("handled"), "photos": [simulated_ref("after", sim.ref)]},
        )

    # ---- running ----------------------------------------------------------------------------

    def run_until(self, end: datetime, on_batch: Callable[[int], None] | None = None) -> SimReport:
        """Advance simulated time to *end*, executing due actions in time-ordered batches."""
        window = self.now
        while window < end:
            window_end = min(window + self.batch, end)
            self._generate_reports(window_end)
            while self.queue and self.queue[0].at < window_end:
                due: list[_Task] = []
                while self.queue and self.queue[0].at < window_end:
                    due.append(heapq.heappop(self.queue))
                self._execute(due)
            if self.asset_rounds is not None:
                self._run_asset_rounds(window_end)
            window = window_end
            self.now = window_end
            if on_batch is not None:
                on_batch(self.report.events)
        self.report.end = end
        return self.report

    def _run_asset_rounds(self, until: datetime) -> None:
        """Night lighting patrols and component inspections due by *until*; their cases join the loop."""
        assert self.asset_rounds is not None
        for rnd in self.asset_rounds.due(until):
            result = self.asset_rounds.run(rnd)
            self.report.patrol_checks += result.checked
            new = [c for c in result.cases if c not in self.by_case_id]
            for case_id in new:
                state = self.city.cases.get(case_id)
                if not state.is_open or state.category_code is None:
                    continue
                try:
                    category = self.profile.category(state.category_code)
                except KeyError:
                    continue
                if category.sim is None:
                    continue
                ref = len(self.cases) + 1
                inspector = Actor(state.reporter_id or self.rng.choice(self.inspectors).id, Role.INSPECTOR)
                sim = _SimCase(ref, category, state.channel, inspector, case_id=case_id)
                self.cases[ref] = sim
                self.by_case_id[case_id] = sim
                self.final[case_id] = state
                self.report.cases += 1
                self._follow_up(sim, state, state.updated_at)

    def _execute(self, tasks: list[_Task]) -> None:
        items = []
        for t in tasks:
            sim = self.cases[t.ref]
            case_id = "" if t.action is Action.REPORT else (sim.case_id or "")
            items.append(BatchItem(Command(t.action, case_id, t.fields), t.actor, t.at, t.reporter))
        result = self.city.cases.execute(items)
        failed = {i for i, _ in result.errors}
        self.report.refused += len(failed)
        self.report.events += result.events
        for i, t in enumerate(tasks):
            if i in failed:
                continue
            sim = self.cases[t.ref]
            done_id = result.case_ids[i]
            assert done_id is not None
            if t.action is Action.REPORT:
                sim.case_id = done_id
                self.by_case_id[done_id] = sim
                self.report.cases += 1
            self.final[done_id] = result.states[done_id]
        # Follow-ups are scheduled from each case's final state in this batch, once per case.
        touched = [result.case_ids[i] for i in range(len(tasks)) if i not in failed]
        for touched_id in dict.fromkeys(c for c in touched if c is not None):
            state = self.final[touched_id]
            last_at = state.updated_at
            self._follow_up(self.by_case_id[touched_id], state, last_at)

    def summarise(self) -> SimReport:
        """Per-state counts and the on-time figures over the cases of this run, at the current time."""
        r = self.report
        r.states = Counter(s.stage.value for s in self.final.values())
        r.ratings = Counter(s.satisfaction for s in self.final.values() if s.satisfaction)
        r.handled = sum(1 for s in self.final.values() if s.handling_rounds > 0)
        r.closed = sum(
            1
            for s in self.final.values()
            if s.stage is Stage.CLOSED and s.closure_reason is not None and s.handling_rounds > 0
        )
        r.closed_on_time = sum(
            1
            for s in self.final.values()
            if s.stage is Stage.CLOSED and s.handling_rounds > 0 and s.handled_on_time
        )
        r.overdue_open = sum(
            1
            for s in self.final.values()
            if s.handling_rounds == 0 and s.is_open and s.deadline is not None and s.deadline < self.now
        )
        return r


def _poisson(rng: random.Random, lam: float) -> int:
    """Knuth's method; rates here are small (a few per hour and category)."""
    if lam <= 0:
        return 0
    limit = math.exp(-lam)
    k, p = 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def local_midnight(day: date, tz: str) -> datetime:
    return datetime.combine(day, time(0), ZoneInfo(tz)).astimezone(UTC)


def simulate(
    city: City,
    *,
    days: float,
    seed: int,
    start: date | None = None,
    placer: Placer | None = None,
    asset_rounds: bool = True,
) -> SimReport:
    """Run *days* of simulated time from local midnight of *start* (profile default) and summarise.

    With *asset_rounds* and registered components (the demo geography), the nights have lighting
    patrols and the workdays component inspections (:mod:`civicloop.assets.rounds`).
    """
    first_day = start or city.profile.simulation.start
    begin = local_midnight(first_day, city.profile.timezone)
    rounds = _rounds(city, seed, begin, asset_rounds)
    sim = Simulator(city, seed=seed, start=begin, placer=placer, asset_rounds=rounds)
    sim.run_until(begin + timedelta(days=days))
    return sim.summarise()


def _rounds(city: City, seed: int, start: datetime, wanted: bool) -> AssetRounds | None:
    """The city's asset rounds from *start*, or None when not wanted or no components are registered."""
    if not wanted:
        return None
    from civicloop.assets.rounds import AssetRounds

    rounds = AssetRounds(city, seed=seed, start=start)
    return rounds if rounds.enabled else None


def asset_rounds_for(city: City, seed: int, start: datetime) -> AssetRounds | None:
    """The demo's asset rounds (night lighting patrols, component inspections) from *start*, if any."""
    return _rounds(city, seed, start, True)
