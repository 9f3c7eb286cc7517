"""Opening a city: its profile, calendar, rules and services, on one database.

Entry points (CLI, HTTP app, simulator) call :func:`open_city` and then only the services it returns.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import cached_property

from sqlalchemy import Engine, insert, select

from civicloop.cases.service import CaseService
from civicloop.cases.store import EventStore
from civicloop.kernel.clock import TimeLimit, WorkCalendar
from civicloop.kernel.vocabulary import Channel, Step, Urgency
from civicloop.profile import CityProfile, load_profile
from civicloop.profile.calendar import build_calendar_spec, check_coverage
from civicloop.store.database import make_engine, migrate
from civicloop.store.tables import cities


class ProfileRules:
    """The domain's :class:`~civicloop.cases.core.Rules`, answered from a city profile."""

    def __init__(self, profile: CityProfile, calendar: WorkCalendar) -> None:
        self.profile = profile
        self._calendar = calendar
        self._codes = {c.code: {cond.no for cond in c.conditions} for c in profile.categories}
        self._departments = {d.id for d in profile.departments}

    @property
    def calendar(self) -> WorkCalendar:
        return self._calendar

    def handling_limit(self, category_code: str, condition_no: int, urgency: Urgency) -> TimeLimit:
        return self.profile.handling_limit(category_code, condition_no, urgency.value)

    def step_limit(self, step: Step) -> TimeLimit:
        limit: TimeLimit = getattr(self.profile.step_limits, step.value)
        return limit

    def knows_category(self, code: str) -> bool:
        return code in self._codes

    def knows_condition(self, code: str, condition_no: int) -> bool:
        return condition_no in self._codes.get(code, ())

    def knows_department(self, department_id: str) -> bool:
        return department_id in self._departments

    def needs_verification(self, channel: Channel) -> bool:
        return self.profile.verification.needs_verification(channel.value)


def make_calendar(profile: CityProfile, today: date | None = None, *, strict: bool = True) -> WorkCalendar:
    """The city's work calendar. Fails at start-up for a year nobody covers unless the profile opts in."""
    cal = profile.calendar
    spec = build_calendar_spec(
        profile.timezone,
        [(p[0], p[1]) for p in cal.work_periods],
        cal.override_map(),
        cal.fallback_weekends,
        cal.work_day_mode,
        override_years=cal.override_years,
    )
    if strict:
        for message in check_coverage(spec, today or datetime.now(UTC).date()):
            warnings.warn(message, stacklevel=2)
    return WorkCalendar(spec)


@dataclass
class City:
    profile: CityProfile
    engine: Engine
    calendar: WorkCalendar

    @cached_property
    def store(self) -> EventStore:
        return EventStore(self.engine)

    @cached_property
    def rules(self) -> ProfileRules:
        return ProfileRules(self.profile, self.calendar)

    @cached_property
    def cases(self) -> CaseService:
        service = CaseService(
            self.store,
            self.rules,
            city_id=self.profile.id,
            case_prefix=self.profile.case_prefix,
            timezone=self.profile.timezone,
        )
        # Listeners that must see every case event, whoever writes it (corrections, cluster outcomes).
        from civicloop.intake.service import install_listeners

        self.__dict__["cases"] = service  # install_listeners reads city.cases: avoid recursion
        install_listeners(self)
        return service

    @property
    def id(self) -> str:
        return self.profile.id


def init_city(
    profile_name: str = "taiyuan",
    url: str | None = None,
    *,
    today: date | None = None,
    city_id: str | None = None,
    engine: Engine | None = None,
) -> City:
    """Create (or upgrade) the database and register the city from its profile. Idempotent.

    ``city_id`` registers the profile under another jurisdiction id (tests run many cities side by side
    in one PostgreSQL database, which is also how one deployment serves several cities).
    """
    profile = load_profile(profile_name)
    if city_id is not None:
        profile = profile.model_copy(update={"id": city_id})
    engine = engine or make_engine(url)
    migrate(engine)
    with engine.begin() as conn:
        exists = conn.execute(select(cities.c.city_id).where(cities.c.city_id == profile.id)).first()
        if exists is None:
            conn.execute(
                insert(cities).values(
                    city_id=profile.id,
                    name=profile.name,
                    name_en=profile.name_en or profile.id,
                    profile=str(profile_name),
                    created_at=datetime.now(UTC),
                )
            )
    return City(profile, engine, make_calendar(profile, today))


class CityNotInitialised(Exception):
    pass


def open_city(city_id: str | None = None, url: str | None = None, *, today: date | None = None) -> City:
    """Open a city already registered in the database (the only one, if *city_id* is not given)."""
    engine = make_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(cities.c.city_id, cities.c.profile)).all()
    except Exception as exc:  # no schema yet
        raise CityNotInitialised(
            "数据库尚未初始化，请先运行 `civicloop init --profile taiyuan` / "
            "the database is not initialised: run `civicloop init --profile taiyuan` first"
        ) from exc
    if not rows:
        raise CityNotInitialised(
            "数据库中没有城市，请先运行 `civicloop init` / "
            "no city in the database: run `civicloop init` first"
        )
    chosen = [r for r in rows if city_id is None or r.city_id == city_id]
    if not chosen:
        raise CityNotInitialised(f"城市 {city_id} 不在数据库中 / city {city_id} is not in the database")
    if city_id is None and len(chosen) > 1:
        names = ", ".join(r.city_id for r in chosen)
        raise CityNotInitialised(
            f"数据库中有多个城市，请用 --city 指定 / several cities ({names}): pass --city"
        )
    profile = load_profile(chosen[0].profile)
    if profile.id != chosen[0].city_id:  # registered under another jurisdiction id (init --city-id)
        profile = profile.model_copy(update={"id": chosen[0].city_id})
    return City(profile, engine, make_calendar(profile, today))
