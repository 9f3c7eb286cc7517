"""The adapter into the KPI engine's asset rates picks the right row and never turns no data into 0."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from civicloop.kpi import assets
from civicloop.kpi.assets import AssetRate
from civicloop.kpi.core import parse_period
from civicloop.ledger.indicators import CaseLoop, Scope, case_loop_indicator


def test_asset_rates_come_from_the_kpi_engine_by_district_or_city(monkeypatch: pytest.MonkeyPatch) -> None:
    rows = [
        AssetRate("facility_intact_rate", None, None, None, 90.0, 100.0),
        AssetRate("facility_intact_rate", "140105", None, None, 45.0, 50.0),
    ]
    monkeypatch.setattr(assets, "facility_intact_rates", lambda *a, **k: rows)
    monkeypatch.setattr(
        assets, "light_on_rates", lambda *a, **k: [AssetRate("light_on_rate", None, None, "01037", 0, 0)]
    )
    loop = CaseLoop(SimpleNamespace(engine=None, id="c"))
    year = parse_period("2026")
    city = case_loop_indicator(loop, "facility_intact_rate", year, Scope("city"))
    district = case_loop_indicator(loop, "facility_intact_rate", year, Scope("district", "140105"))
    other = case_loop_indicator(loop, "facility_intact_rate", year, Scope("district", "140106"))
    department = case_loop_indicator(loop, "facility_intact_rate", year, Scope("department", "ty-lighting"))
    assert (city.value, district.value, other.value, department.value) == (0.9, 0.9, None, 0.9)
    assert district.numerator == 45 and "140105" in district.detail
    lights = case_loop_indicator(loop, "light_on_rate", year, Scope("city"))
    assert lights.value is None and "no patrol checks" in lights.detail
