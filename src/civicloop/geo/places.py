"""Where a public report is, in words and in numbers, for Open311's address/lat/long.

Open311 wants ``address`` never null and ``lat``/``long`` always numbers. A pin-only report gets a
words-only address (most specific first: grid, district, city); an address-only report gets a point —
the centre of a district named in the address, else the city centre — and is flagged
``location_approximate`` in the extended attributes, so nobody mistakes it for a pin. The report itself
keeps what the reporter gave (no invented coordinates in the case record).

District polygons come from the shipped district file when it holds the profile's districts; without them
every answer degrades gracefully to names from the profile.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import shapely

from civicloop.geo.demo import load_taiyuan_districts
from civicloop.kernel.i18n import t
from civicloop.profile import CityProfile


@dataclass(frozen=True, slots=True)
class _District:
    code: str
    name: str
    point: tuple[float, float]  # (lon, lat) inside the district
    shape: Any  # prepared shapely geometry, or None
    bounds: tuple[float, float, float, float] = (-180.0, -90.0, 180.0, 90.0)


class Places:
    def __init__(self, profile: CityProfile, districts: list[_District], centre: tuple[float, float] | None):
        self.profile = profile
        self._districts = districts
        self._by_code = {d.code: d for d in districts}
        self._centre = centre

    @classmethod
    def for_profile(cls, profile: CityProfile) -> Places:
        districts: list[_District] = []
        centre: tuple[float, float] | None = None
        try:
            # The shipped district polygons; only those whose GB/T 2260 codes the profile lists are used,
            # so another city's profile simply finds none.
            areas = load_taiyuan_districts()
        except (OSError, ValueError):
            areas = []
        wanted = {d.code: d for d in profile.districts}
        urban_shapes = []
        for area in areas:
            if area.code not in wanted:
                continue
            shapely.prepare(area.geometry)
            p = area.geometry.representative_point()
            w, s_, e, n = (float(b) for b in area.geometry.bounds)
            bounds = (w, s_, e, n)
            districts.append(_District(area.code, wanted[area.code].name, (p.x, p.y), area.geometry, bounds))
            if wanted[area.code].urban:
                urban_shapes.append(area.geometry)
        if urban_shapes:
            p = shapely.union_all(urban_shapes).representative_point()
            centre = (round(p.x, 6), round(p.y, 6))
        return cls(profile, districts, centre)

    @property
    def centre(self) -> tuple[float, float]:
        """The city centre (lon, lat); (0, 0) when no geography is known (then always flagged)."""
        return self._centre or (0.0, 0.0)

    def district_at(self, lon: float, lat: float) -> str | None:
        if not self._districts:
            return None
        for d in self._districts:
            w, s, e, n = d.bounds
            if (
                w <= lon <= e
                and s <= lat <= n
                and d.shape is not None
                and shapely.contains_xy(d.shape, lon, lat)
            ):
                return d.code
        return None

    def district_in_text(self, text: str) -> str | None:
        """The code of the first district whose name appears in *text* (e.g. "小店区坞城路 12 号")."""
        for d in self.profile.districts:
            if d.name and d.name in text:
                return d.code
        return None

    def approximate_point(self, address: str | None, district_code: str | None) -> tuple[float, float]:
        code = district_code or (self.district_in_text(address) if address else None)
        if code is not None and code in self._by_code:
            lon, lat = self._by_code[code].point
            return round(lon, 6), round(lat, 6)
        return self.centre

    def describe(
        self, lon: float | None, lat: float | None, grid_code: str | None, district_code: str | None
    ) -> str:
        """Words for a pin-only report: grid, district, city (most specific first), or the coordinates."""
        parts: list[str] = []
        if grid_code:
            parts.append(t("geo.grid_words", grid=grid_code))
        code = district_code or (self.district_at(lon, lat) if lon is not None and lat is not None else None)
        if code is not None:
            with contextlib.suppress(KeyError):
                parts.append(self.profile.district(code).name)
        if parts:
            return ", ".join([*parts, self.profile.name])
        if lon is not None and lat is not None:
            return f"{t('geo.point_words', lat=f'{lat:.6f}', lon=f'{lon:.6f}')}, {self.profile.name}"
        return self.profile.name
