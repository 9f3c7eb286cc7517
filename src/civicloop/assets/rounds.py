"""Asset rounds (设施巡查): the demo city's night lighting patrols and daytime component inspections.

The two headline asset KPIs need field checks to have any figure: 着灯率 counts the lit checks of night
lighting patrols (夜间亮灯巡查) and 设施完好率 weighs the components' intact time, which only moves when
an inspection finds a component damaged or repaired. The simulator (``civicloop simulate``, the history
and live loop of ``civicloop demo``) asks an :class:`AssetRounds` which rounds are due and runs them:

* **Night lighting patrols**: every night, one patrol per district with street lights, starting at
  19:30 local and then every 90 minutes (the fourth district's at 00:00, so a month's first night
  counts in that month from its first minutes). Each checks ``lights_per_patrol`` lights of its
  district, the next stretch of the district's route each night; an unlit light becomes a case
  (:func:`civicloop.assets.patrols.simulate_lighting_patrol`).
* **Component inspections**: every workday, one inspection per district from 09:30 local, one
  component a minute (manhole covers, bins, toilets and street lights, in turn). An intact component is
  found damaged with probability ``damage_rate`` — its state changes and a case about it is reported,
  unless one is open — and a damaged or missing one is found repaired with probability
  ``repair_rate``. Every change goes to the component's history (source ``patrol``).

A round runs once its checks are all in the past (``settle`` after its start), so a live simulation
never records a check ahead of the clock. Everything is seeded: the same city, seed and start give the
same rounds, checks and cases.
"""

from __future__ import annotations

import hashlib
import heapq
import random
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from civicloop.assets import store
from civicloop.assets.core import ComponentState, demo_text
from civicloop.assets.patrols import (
    STREET_LIGHT,
    PatrolCheck,
    light_category,
    lighting_route,
    open_cases_for_components,
    record_patrol,
    simulate_lighting_patrol,
)
from civicloop.assets.service import RegisteredComponent, components_by_id, set_component_state
from civicloop.cases.core import Actor, Command
from civicloop.cases.service import BatchItem
from civicloop.city.service import City
from civicloop.kernel.vocabulary import Action, Channel, Role

LIGHTING = "lighting"
INSPECTION = "inspection"
LIGHTING_START = time(19, 30)
LIGHTING_EVERY = timedelta(minutes=90)
INSPECTION_START = time(9, 30)
INSPECTION_EVERY = timedelta(minutes=20)
_CHECKABLE = (ComponentState.INTACT.value, ComponentState.DAMAGED.value, ComponentState.MISSING.value)


@dataclass(frozen=True, slots=True, order=True)
class Round:
    """One patrol or inspection: when it starts, what it is, where, and its turn in that district."""

    at: datetime
    kind: str  # lighting | inspection
    district_code: str
    turn: int  # the how-manieth round of this kind in this district (for the rotation)


@dataclass
class RoundResult:
    round: Round
    checked: int = 0
    problems: int = 0
    repaired: int = 0
    cases: list[str] = field(default_factory=list)


def _seed(*parts: object) -> int:
    return int.from_bytes(hashlib.sha256("|".join(map(str, parts)).encode()).digest()[:8], "big")


class AssetRounds:
    """The schedule of a city's asset rounds from *start* on (see the module doc)."""

    def __init__(
        self,
        city: City,
        *,
        seed: int,
        start: datetime,
        lights_per_patrol: int = 300,
        components_per_inspection: int = 90,
        unlit_rate: float = 0.02,
        damage_rate: float = 0.01,
        repair_rate: float = 0.3,
        settle: timedelta = timedelta(hours=3),
    ) -> None:
        self.city = city
        self.seed = seed
        self.start = start
        self.lights_per_patrol = lights_per_patrol
        self.components_per_inspection = components_per_inspection
        self.unlit_rate = unlit_rate
        self.damage_rate = damage_rate
        self.repair_rate = repair_rate
        self.settle = settle
        self.tz = ZoneInfo(city.profile.timezone)
        self.light_districts, self.component_districts = _districts(city)
        self._planned_until: date = start.astimezone(self.tz).date() - timedelta(days=1)
        self._pending: list[Round] = []
        self._routes: dict[str, list[RegisteredComponent]] = {}

    def moved_to(self, city: City) -> AssetRounds:
        """The same schedule, carried on through another handle on the same city (e.g. the live loop's
        own connection pool): rounds already handed out are not handed out again."""
        self.city = city
        return self

    @property
    def enabled(self) -> bool:
        """False without registered components (no demo geography): no rounds at all."""
        return bool(self.light_districts or self.component_districts)

    def _plan(self, day: date) -> None:
        ordinal = day.toordinal()
        for i, d in enumerate(self.light_districts):
            at = datetime.combine(day, LIGHTING_START, self.tz).astimezone(UTC) + i * LIGHTING_EVERY
            if at >= self.start:
                heapq.heappush(self._pending, Round(at, LIGHTING, d, ordinal))
        if self.city.calendar.is_workday(day):
            for i, d in enumerate(self.component_districts):
                at = datetime.combine(day, INSPECTION_START, self.tz).astimezone(UTC) + i * INSPECTION_EVERY
                if at >= self.start:
                    heapq.heappush(self._pending, Round(at, INSPECTION, d, ordinal))

    def due(self, until: datetime) -> list[Round]:
        """The rounds whose checks are all before *until* and that have not been handed out yet."""
        if not self.enabled:
            return []
        last_day = (until - self.settle).astimezone(self.tz).date()
        while self._planned_until < last_day:
            self._planned_until += timedelta(days=1)
            self._plan(self._planned_until)
        out: list[Round] = []
        while self._pending and self._pending[0].at + self.settle <= until:
            out.append(heapq.heappop(self._pending))
        return out

    def run(self, rnd: Round) -> RoundResult:
        """Carry out one round: store its patrol, checks and component changes; report its cases."""
        if rnd.kind == LIGHTING:
            return self._lighting(rnd)
        return self._inspection(rnd)

    def _lighting(self, rnd: Round) -> RoundResult:
        # The route is read once per district (lights change state rarely; a patrol's own checks
        # reread the lights it visits).
        route = self._routes.get(rnd.district_code)
        if route is None:
            route = self._routes[rnd.district_code] = lighting_route(self.city, rnd.district_code)
        result = simulate_lighting_patrol(
            self.city,
            district_code=rnd.district_code,
            unlit_rate=self.unlit_rate,
            seed=_seed(self.seed, rnd.kind, rnd.district_code, rnd.turn),
            at=rnd.at,
            max_lights=self.lights_per_patrol,
            start_index=rnd.turn * self.lights_per_patrol,
            route_lights=route,
        )
        return RoundResult(rnd, result.checked, result.unlit, 0, [case_id for _, case_id in result.cases])

    def _inspection(self, rnd: Round) -> RoundResult:
        city = self.city
        with city.engine.connect() as conn:
            ids = store.component_ids_in_district(conn, city.id, rnd.district_code, _CHECKABLE)
        out = RoundResult(rnd)
        if not ids:
            return out
        n = min(self.components_per_inspection, len(ids))
        first = (rnd.turn * n) % len(ids)
        # Every k-th component from a rotating offset: each inspection sees all kinds of component.
        step = max(1, len(ids) // n)
        chosen = [ids[(first + k * step) % len(ids)] for k in range(n)]
        comps = components_by_id(city, chosen)
        rng = random.Random(_seed(self.seed, rnd.kind, rnd.district_code, rnd.turn))
        inspector = f"ins-{rnd.district_code}-02"
        found: list[tuple[str, datetime]] = []  # damaged now, with the moment it was seen
        repaired: list[tuple[str, datetime]] = []
        checks: list[tuple[str, datetime, str]] = []
        for k, cid in enumerate(chosen):
            c = comps[cid]
            at = rnd.at + timedelta(minutes=k)
            if c.state is ComponentState.INTACT and rng.random() < self.damage_rate:
                found.append((cid, at))
                checks.append((cid, at, "problem"))
            elif c.state is not ComponentState.INTACT and rng.random() < self.repair_rate:
                repaired.append((cid, at))
                checks.append((cid, at, "ok"))
            else:
                checks.append((cid, at, "ok" if c.state is ComponentState.INTACT else "problem"))
        cases = self._report(inspector, [(comps[cid], at) for cid, at in found])
        end = rnd.at + timedelta(minutes=max(len(chosen) - 1, 0))
        track = [(comps[cid].lon, comps[cid].lat, at) for cid, at, _ in checks]
        with city.store.write() as conn:
            record = record_patrol(
                city, inspector_id=inspector, kind=INSPECTION, track=track, started_at=rnd.at, ended_at=end,
                district_code=rnd.district_code, note=demo_text("round_note"),
                checks=[PatrolCheck(r, at, cid, comps[cid].grid_code, case_id=cases.get(cid))
                        for cid, at, r in checks],
                conn=conn,
            )  # fmt: skip
            for cid, at in found:
                set_component_state(
                    city, cid, ComponentState.DAMAGED, at=at, source="patrol", case_id=cases.get(cid),
                    patrol_id=record.patrol_id, actor_id=inspector, note=demo_text("found_damaged_note"),
                    conn=conn,
                )  # fmt: skip
            for cid, at in repaired:
                set_component_state(
                    city, cid, ComponentState.INTACT, at=at, source="patrol", patrol_id=record.patrol_id,
                    actor_id=inspector, note=demo_text("found_repaired_note"), conn=conn,
                )  # fmt: skip
        out.checked, out.problems, out.repaired = len(checks), len(found), len(repaired)
        out.cases = sorted(cases.values())
        return out

    def _report(self, inspector: str, found: list[tuple[Any, datetime]]) -> dict[str, str]:
        """One inspector's report per newly damaged component, unless a case about it is open."""
        city = self.city
        items: list[BatchItem] = []
        whose: list[str] = []
        by_category: dict[str, list[Any]] = {}
        category_of: dict[str, str] = {}
        for c, _ in found:
            try:
                category = light_category(city.profile, c.type_code)
            except ValueError:  # no category for this kind of component: recorded, not reported
                continue
            by_category.setdefault(category, []).append(c)
            category_of[c.component_id] = category
        already: dict[str, str] = {}
        for category, comps in by_category.items():
            already.update(open_cases_for_components(city, comps, category))
        actor = Actor(inspector, Role.INSPECTOR)
        for c, at in found:
            code = category_of.get(c.component_id)
            if code is None or c.component_id in already:
                continue
            where = f"{c.road_name} " if c.road_name else ""
            fields: dict[str, Any] = {
                "channel": Channel.INSPECTOR.value,
                "category_code": code,
                "component_id": c.component_id,
                "lon": c.lon,
                "lat": c.lat,
                "address": f"{where}{c.name} {c.component_id}",
                "description": demo_text(
                    "round_description", name=c.name, where=where, component_id=c.component_id
                ),
                "grid_code": c.grid_code,
                "community_code": c.community_code,
                "street_code": c.street_code,
                "district_code": c.district_code,
            }
            items.append(BatchItem(Command(Action.REPORT, "", fields), actor, at))
            whose.append(c.component_id)
        out = dict(already)
        if items:
            batch = city.cases.execute(items)
            failed = {i for i, _ in batch.errors}
            for i, cid in enumerate(whose):
                case_id = batch.case_ids[i]
                if i not in failed and case_id is not None:
                    out[cid] = case_id
        return out


def _districts(city: City) -> tuple[list[str], list[str]]:
    """Districts with street lights, and districts with any checkable component (code order)."""
    if not store.has_components_table(city.engine):  # a store without the geography tables
        return [], []
    with city.engine.connect() as conn:
        rows = store.component_counts_by_district(conn, city.id, _CHECKABLE)
    lights = sorted({r[0] for r in rows if r[1] == STREET_LIGHT and r[2]})
    anything = sorted({r[0] for r in rows if r[2]})
    return lights, anything
