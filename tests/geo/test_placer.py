"""The simulator's placer: inside the stored grids, denser in the core, deterministic, real components."""

from __future__ import annotations

import random

import numpy as np
import shapely

from civicloop.assets.service import get_component
from civicloop.cases import rebuild
from civicloop.city.service import City
from civicloop.geo.service import geography_for
from civicloop.simulator.placer import placer_for
from civicloop.simulator.simulate import simulate


def test_placed_reports_lie_in_their_grid_with_consistent_codes(city: City) -> None:
    placer = placer_for(city)
    assert placer is not None
    geo = geography_for(city)
    assert geo is not None
    garbage = city.profile.category("06010")
    rng = random.Random(5)
    places = [placer.place(rng, garbage) for _ in range(400)]
    for p in places:
        grid = geo.grid(p["grid_code"])
        assert grid is not None
        assert shapely.intersects_xy(grid.geometry, p["lon"], p["lat"])
        assert (p["community_code"], p["street_code"], p["district_code"]) == (
            grid.community_code,
            grid.street_code,
            grid.district_code,
        )
        assert p["address"].endswith("附近") and "component_id" not in p
    # Same seed, same places; another seed, others.
    again = [placer.place(random.Random(5), garbage) for _ in range(1)]
    assert again[0] == places[0]
    assert placer.place(random.Random(6), garbage) != places[0]
    # Denser toward the core: the inner half of the distance range holds clearly more than half.
    cx, cy = placer.core
    d = np.hypot([p["lon"] - cx for p in places], [p["lat"] - cy for p in places])
    assert (d < np.median(np.hypot(placer.bounds[:, 0] - cx, placer.bounds[:, 1] - cy))).mean() > 0.55


def test_component_categories_are_placed_on_a_real_component(city: City) -> None:
    placer = placer_for(city)
    assert placer is not None
    lights = city.profile.category("01037")
    p = placer.place(random.Random(1), lights)
    comp = get_component(city, p["component_id"])
    assert comp is not None and comp.type_code == "01037"
    assert (p["lon"], p["lat"], p["grid_code"]) == (comp.lon, comp.lat, comp.grid_code)


def test_a_simulated_day_uses_the_geography_and_replays(city: City) -> None:
    report = simulate(city, days=0.25, seed=2, placer=placer_for(city))
    assert report.cases > 10
    cases = city.cases.list_cases(limit=1000)
    codes = {g.code for g in geography_for(city).grids}  # type: ignore[union-attr]
    assert cases and all(c.grid_code in codes for c in cases)
    assert all(c.district_code in ("140105", "140106") for c in cases)
    assert rebuild.check(city.store, city.id).ok


def test_no_stored_geography_means_no_placer(backend: object, city_id: str) -> None:
    from civicloop.bootstrap import init_city

    bare = init_city("taiyuan", engine=backend[1], city_id=city_id)  # type: ignore[index]
    assert placer_for(bare) is None
