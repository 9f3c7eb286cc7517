"""Opening a city with all its capabilities wired together (the one composition of services).

Entry points (CLI, HTTP app, simulator, benchmarks) call :func:`open_city` or :func:`init_city` here and
then use only the services of the :class:`~civicloop.city.service.City` they get back. This module sits
above every capability, so the capabilities themselves never import each other upwards: the intake's
case-event listeners (corrections for the classifier, outcomes to every reporter of a duplicate cluster)
are handed to the city here instead of the city importing the intake.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import Engine

from civicloop.city.service import City, CityNotInitialised, make_calendar
from civicloop.city.store import register_city, registered_cities
from civicloop.followup.service import install as install_followup
from civicloop.intake.service import install_listeners
from civicloop.kernel.i18n import both
from civicloop.profile import load_profile
from civicloop.store.database import make_engine, migrate


def _listeners(city: City) -> None:
    """What runs inside every case transaction: the intake's listeners and the progress updates."""
    install_listeners(city)
    install_followup(city)


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
        register_city(
            conn,
            profile.id,
            profile.name,
            profile.name_en or profile.id,
            str(profile_name),
            datetime.now(UTC),
        )
    return City(profile, engine, make_calendar(profile, today), on_cases=_listeners)


def open_city(
    city_id: str | None = None,
    url: str | None = None,
    *,
    today: date | None = None,
    engine: Engine | None = None,
) -> City:
    """Open a city already registered in the database (the only one, if *city_id* is not given).

    *engine*: the database's engine when it is open already — a server of several cities shares one
    engine (one connection pool), not one per city."""
    engine = engine if engine is not None else make_engine(url)
    try:
        with engine.connect() as conn:
            rows = registered_cities(conn)
    except Exception as exc:  # no schema yet
        raise CityNotInitialised(both("city.not_initialised")) from exc
    if not rows:
        raise CityNotInitialised(both("city.no_city"))
    chosen = [r for r in rows if city_id is None or r.city_id == city_id]
    if not chosen:
        raise CityNotInitialised(both("city.not_in_database", city=city_id))
    if city_id is None and len(chosen) > 1:
        names = ", ".join(r.city_id for r in chosen)
        raise CityNotInitialised(both("city.several_cities", names=names))
    profile = load_profile(chosen[0].profile)
    if profile.id != chosen[0].city_id:  # registered under another jurisdiction id (init --city-id)
        profile = profile.model_copy(update={"id": chosen[0].city_id})
    return City(profile, engine, make_calendar(profile, today), on_cases=_listeners)
