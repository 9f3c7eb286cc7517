"""The geocoder's precision floor on a small generated address set (the demo gazetteer, seeded): the
full figures are benchmarks/bench_geocode.py's."""

from __future__ import annotations

from civicloop.geo.geocoding import _demo_gazetteer
from tests.support.addresses import address_set, score


def test_district_precision_holds_on_generated_addresses() -> None:
    _geo, gaz = _demo_gazetteer()
    items = address_set(gaz, 400, seed=7)
    assert len(items) == 400 and len({i.kind for i in items}) >= 10
    best = [next(iter(gaz.geocode(i.address, 1)), None) for i in items]
    figures = score(
        items, [m.codes if m else None for m in best], [m.confidence if m else 0.0 for m in best], 0.8
    )
    assert figures["all"]["district"]["precision"] >= 0.95
    assert figures["all"]["district"]["recall"] >= 0.9
    located = figures["at_min_confidence"]
    assert located["district"]["precision"] >= 0.99 and located["grid"]["precision"] >= 0.98
    assert located["answered_share"] >= 0.8
