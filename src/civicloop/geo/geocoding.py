"""Address geocoding (地址匹配) for a city: its gazetteer, the geocoders, and reverse geocoding.

* :func:`gazetteer_for` — the city's :class:`~civicloop.geo.gazetteer.Gazetteer`, built from its stored
  data: districts, streets, communities and grids (the geography), named places and roads
  (``geo_places``; for the demo city without stored places, the generated demo set), components (by
  id, and their road names) and the addresses of past located cases. Built once per process and
  geography version; after ``REFRESH_S`` it is rebuilt in the background (new case addresses join it)
  while the old one keeps answering.
* :func:`geocoder_for` — the geocoder the profile's ``[geocoding]`` section chooses: ``local`` (the
  gazetteer) or ``tianditu`` (:class:`TiandituGeocoder`, the external service, off by default).
* :func:`geocode`, :func:`reverse` — one address → ranked matches; one point → words.
* :func:`import_places` — ``civicloop geo import-places FILE``: a city's own roads and places.
* :func:`as_geocode` — the intake's :data:`~civicloop.intake.locating.Geocode`-shaped callable.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import shapely

from civicloop.city.service import City
from civicloop.geo import store
from civicloop.geo.address import address_words, short_forms
from civicloop.geo.boundaries import Area
from civicloop.geo.gazetteer import Codes, Entry, Gazetteer, Match
from civicloop.geo.locator import OutsideCityError
from civicloop.geo.places_data import PlaceRecord, demo_places, read_places
from civicloop.geo.service import (
    Geography,
    _demo_geography,
    bump_geography_version,
    geography_for,
    geography_version,
    invalidate_geography,
    is_demo_city,
)
from civicloop.geo.subdivisions import DEMO_EXTENT
from civicloop.kernel.i18n import t

__all__ = [
    "Geocoder",
    "LocalGeocoder",
    "TiandituGeocoder",
    "as_geocode",
    "gazetteer_for",
    "geocode",
    "geocoder_for",
    "import_places",
    "reverse",
    "warm_gazetteers",
]

log = logging.getLogger("civicloop.geocoding")

#: Past located cases whose addresses join the gazetteer (newest first).
CASE_ADDRESSES = 20_000
#: A built gazetteer is reused this long (new case addresses join at the next build).
REFRESH_S = 600.0


class Geocoder(Protocol):
    """Anything that turns an address into ranked matches (best first; empty when nothing matches)."""

    def geocode(self, address: str, limit: int = 5) -> list[Match]: ...


# --------------------------------------------------------------------------- building the gazetteer


def codes_at(geo: Geography, lon: float, lat: float) -> Codes | None:
    """The grid/community/street/district codes of a WGS84 point; None outside the city."""
    gi = int(geo.locator.locate_many(np.array([lon]), np.array([lat]))[0])
    if gi >= 0:
        g = geo.grids[gi]
        return Codes(g.code, g.community_code, g.street_code, g.district_code)
    try:
        loc = geo.locate(lon, lat)
    except OutsideCityError:
        return None
    return Codes(
        None,
        loc.community.code if loc.community else None,
        loc.street.code if loc.street else None,
        loc.district.code if loc.district else None,
    )


def _area_entry(geo: Geography, a: Area) -> Entry:
    p = shapely.point_on_surface(a.geometry)
    level = a.level.value
    if level == "district":
        codes = Codes(district=a.code)
    elif level == "street":
        codes = Codes(street=a.code, district=a.parent_code)
    else:
        parent = geo.area(a.parent_code) if a.parent_code else None
        codes = Codes(community=a.code, street=a.parent_code, district=parent.parent_code if parent else None)
    return Entry(a.name, level, float(p.x), float(p.y), codes, a.geometry, code=a.code, source="geography")


def _place_entries(geo: Geography, places: Sequence[PlaceRecord]) -> list[Entry]:
    out = []
    for p in places:
        lon, lat = p.point
        codes = codes_at(geo, lon, lat) or Codes()
        geom = p.geometry if p.kind == "road" else None
        out.append(Entry(p.name, p.kind, lon, lat, codes, geom, p.aliases, p.place_id, p.numbers, p.source))
    return out


def stored_places(city: City) -> list[PlaceRecord]:
    with city.engine.connect() as conn:
        rows = store.place_rows(conn, city.id)
    if not rows:
        return []
    geoms = shapely.from_wkb(np.asarray([bytes(r.geometry) for r in rows], dtype=object))
    return [
        PlaceRecord(r.place_id, r.name, r.kind, geoms[i], tuple(json.loads(r.aliases or "[]")),
                    int(r.numbers), r.source or "")
        for i, r in enumerate(rows)
    ]  # fmt: skip


def _component_entries(city: City, known_roads: set[str]) -> list[Entry]:
    with city.engine.connect() as conn:
        rows = store.component_place_rows(conn, city.id)
    out: list[Entry] = []
    by_road: dict[str, list[Any]] = {}
    for r in rows:
        codes = Codes(r.grid_code, r.community_code, r.street_code, r.district_code)
        out.append(Entry(r.name, "component", float(r.lon), float(r.lat), codes, code=r.component_id,
                         source="components"))  # fmt: skip
        if r.road_name and r.road_name not in known_roads:
            by_road.setdefault(r.road_name, []).append(r)
    # A road known only from the components along it: a line through them, west→east or south→north.
    for name, rs in sorted(by_road.items()):
        pts = np.asarray([(float(r.lon), float(r.lat)) for r in rs])
        if len(pts) < 2:
            continue
        spread = pts.max(axis=0) - pts.min(axis=0)
        order = np.argsort(pts[:, 0] if spread[0] >= spread[1] else pts[:, 1])
        line = shapely.LineString(pts[order])
        mid = shapely.line_interpolate_point(line, 0.5, normalized=True)
        out.append(Entry(name, "road", float(mid.x), float(mid.y), Codes(), line, source="components"))
    return out


def _case_entries(city: City) -> list[Entry]:
    with city.engine.connect() as conn:
        rows = store.located_case_docs(conn, city.id, CASE_ADDRESSES)
    out: list[Entry] = []
    seen: set[str] = set()
    for r in rows:
        try:
            doc = json.loads(r.doc)
        except (TypeError, ValueError):
            continue
        address = doc.get("address") if isinstance(doc, dict) else None
        if not address or address in seen or len(address) < 4:
            continue
        seen.add(address)
        codes = Codes(r.grid_code, doc.get("community_code"), doc.get("street_code"), r.district_code)
        out.append(Entry(address, "case", float(r.lon), float(r.lat), codes, source="cases"))
    return out


def build_gazetteer(city: City, geo: Geography) -> Gazetteer:
    """The city's gazetteer from its geography, stored places (the demo set for the demo city without
    any), components and past located cases."""
    started = time.perf_counter()
    places = stored_places(city)
    if not places and is_demo_city(city.profile):
        places = demo_places(geo.communities, DEMO_EXTENT)
    extra = _component_entries(city, {p.name for p in places if p.kind == "road"}) + _case_entries(city)
    gaz = _base_gazetteer(geo, places, city.profile.name).extended(extra)
    log.info(
        "gazetteer of %s: %d entries in %.2f s", city.id, len(gaz.entries), time.perf_counter() - started
    )
    return gaz


_BASES: dict[tuple[int, int, int, str], tuple[Geography, Gazetteer]] = {}


def _base_gazetteer(geo: Geography, places: Sequence[PlaceRecord], city_name: str) -> Gazetteer:
    """The index of the geography and the places (the costly part), shared by every city and build
    over the same geography object and places (e.g. the demo geography of many test cities)."""
    signature = hash(
        tuple((p.place_id, p.name, p.kind, p.aliases, p.numbers, p.geometry.wkb) for p in places)
    )
    key = (id(geo), geo.version, signature, city_name)
    with _BASE_LOCK:
        hit = _BASES.get(key)
        if hit is not None and hit[0] is geo:
            return hit[1]
        entries = [_area_entry(geo, a) for a in geo.areas] + _grid_entries(geo) + _place_entries(geo, places)
        prefixes = [city_name, *short_forms(city_name, "city")]
        gaz = Gazetteer(entries, locate=lambda lon, lat: codes_at(geo, lon, lat), prefixes=prefixes)
        if len(_BASES) >= 8:
            _BASES.pop(next(iter(_BASES)))
        _BASES[key] = (geo, gaz)
        return gaz


_BASE_LOCK = threading.Lock()


def _grid_entries(geo: Geography) -> list[Entry]:
    """One entry per grid, found by its 15-character code."""
    if not geo.grids:
        return []
    pts = shapely.get_coordinates(shapely.centroid(np.asarray([g.geometry for g in geo.grids], dtype=object)))
    return [
        Entry(g.code, "grid", float(pts[i, 0]), float(pts[i, 1]),
              Codes(g.code, g.community_code, g.street_code, g.district_code), code=g.code,
              source="geography")
        for i, g in enumerate(geo.grids)
    ]  # fmt: skip


_CACHE: dict[tuple[str, str], tuple[int, float, Geography, Gazetteer]] = {}
_LOCK = threading.Lock()


def gazetteer_for(city: City, *, demo_fallback: bool = True) -> Gazetteer | None:
    """The city's gazetteer (cached, see the module doc); None without geography (stored geography
    only when not ``demo_fallback``, as at intake)."""
    geo = geography_for(city, demo_fallback=demo_fallback)
    if geo is None:
        return None
    key = (city.engine.url.render_as_string(hide_password=True), city.id)
    version = geography_version(city, max_age_s=5.0)
    now = time.monotonic()
    with _LOCK:
        hit = _CACHE.get(key)
        if hit is not None and hit[0] == version and hit[2] is geo:
            if now - hit[1] >= REFRESH_S and key not in _REFRESHING:
                # only new case addresses can be missing: rebuild in the background, answer meanwhile
                _REFRESHING.add(key)
                threading.Thread(target=_refresh, args=(city, geo, key, version), daemon=True).start()
            return hit[3]
        gaz = build_gazetteer(city, geo)
        _CACHE[key] = (version, now, geo, gaz)
        return gaz


_REFRESHING: set[tuple[str, str]] = set()


def _refresh(city: City, geo: Geography, key: tuple[str, str], version: int) -> None:
    try:
        gaz = build_gazetteer(city, geo)
        with _LOCK:
            hit = _CACHE.get(key)
            if hit is not None and hit[0] == version and hit[2] is geo:
                _CACHE[key] = (version, time.monotonic(), geo, gaz)
    except Exception:  # a failed refresh keeps the previous gazetteer
        log.exception("gazetteer refresh of %s failed", city.id)
    finally:
        with _LOCK:
            _REFRESHING.discard(key)


def invalidate_gazetteer(city: City | None = None) -> None:
    with _LOCK:
        if city is None:
            _CACHE.clear()
        else:
            _CACHE.pop((city.engine.url.render_as_string(hide_password=True), city.id), None)


def warm_gazetteers(cities: Sequence[City], *, background: bool = True) -> threading.Thread | None:
    """Build the gazetteers of *cities* now, those the intake's geocoder will use (:func:`geocoder_for`
    as at intake: stored geography only, none where geocoding is off or external), in a daemon thread
    unless not ``background``: a server's first report without coordinates would otherwise wait for the
    build (seconds for a city of tens of thousands of grids), and with it every report behind it in the
    intake's group commit. Cities without stored geography cost one version read."""

    def build() -> None:
        for city in cities:
            try:
                geocoder_for(city, demo_fallback=False)
            except Exception:  # the intake builds it on first use instead, and says why if it fails
                log.exception("gazetteer warm-up of %s failed", city.id)

    if not background:
        build()
        return None
    thread = threading.Thread(target=build, name="civicloop-gazetteer-warm-up", daemon=True)
    thread.start()
    return thread


# --------------------------------------------------------------------------- geocoders


@dataclass
class LocalGeocoder:
    """The city's own gazetteer."""

    gazetteer: Gazetteer

    def geocode(self, address: str, limit: int = 5) -> list[Match]:
        return self.gazetteer.geocode(address, limit)


@dataclass
class TiandituGeocoder:
    """An external geocoder with Tianditu's API shape: ``GET {url}?ds={"keyWord": ADDRESS}&tk=KEY`` →
    ``{"status": "0", "location": {"lon", "lat", "level", "score", "keyWord"}}`` (CGCS2000 ≈ WGS84).
    The grid and areas come from the city's own geography; a point outside the city is no answer.
    Network errors and refusals are logged and answer nothing (the report waits in 待定位)."""

    url: str
    key: str
    locate: Callable[[float, float], Codes | None]
    timeout_s: float = 3.0

    def geocode(self, address: str, limit: int = 5) -> list[Match]:
        query = urllib.parse.urlencode(
            {"ds": json.dumps({"keyWord": address}, ensure_ascii=False), "tk": self.key}
        )
        try:
            with urllib.request.urlopen(f"{self.url}?{query}", timeout=self.timeout_s) as resp:
                doc = json.loads(resp.read().decode("utf-8"))
        except (urllib.error.URLError, OSError, ValueError) as exc:
            log.warning("tianditu geocoder: %s", exc)
            return []
        loc = doc.get("location") if isinstance(doc, dict) else None
        if str(doc.get("status")) != "0" or not isinstance(loc, dict):
            return []
        try:
            lon, lat = float(loc["lon"]), float(loc["lat"])
        except (KeyError, TypeError, ValueError):
            return []
        codes = self.locate(lon, lat)
        if codes is None:
            return []
        score = loc.get("score")
        try:
            confidence = (
                float(score) / 100.0
                if score is not None
                else address_words().external_levels.get(str(loc.get("level")), 0.5)
            )
        except (TypeError, ValueError):
            confidence = 0.5
        matched = str(loc.get("keyWord") or address)
        return [Match(lon, lat, codes, matched, max(0.0, min(1.0, confidence)), "external")][:limit]


def geocoder_for(city: City, *, demo_fallback: bool = True) -> Geocoder | None:
    """The geocoder chosen by the profile (``[geocoding] provider``); None when geocoding is off or
    the city has no geography (the local gazetteer) or no key (the external service)."""
    settings = city.profile.geocoding
    if not settings.enabled:
        return None
    if settings.provider == "tianditu":
        key = os.environ.get(settings.key_env, "")
        geo = geography_for(city, demo_fallback=demo_fallback)
        if not key or geo is None:
            return None
        return TiandituGeocoder(
            settings.url, key, lambda lon, lat: codes_at(geo, lon, lat), settings.timeout_s
        )
    gaz = gazetteer_for(city, demo_fallback=demo_fallback)
    return None if gaz is None else LocalGeocoder(gaz)


def geocode(city: City, address: str, limit: int = 5) -> list[Match]:
    """Ranked matches for *address* with the city's geocoder (empty when nothing matches)."""
    coder = geocoder_for(city)
    return [] if coder is None else coder.geocode(address, limit)


def as_geocode(
    city: City, min_confidence: float | None = None
) -> Callable[[str], tuple[float, float] | None]:
    """An address → (lon, lat) callable for :func:`civicloop.intake.locating.locate_by_address`: the best
    match at or above the profile's ``min_confidence``, else None."""
    floor = city.profile.geocoding.min_confidence if min_confidence is None else min_confidence

    def run(address: str) -> tuple[float, float] | None:
        best = geocode(city, address, 1)
        if best and best[0].confidence >= floor:
            return best[0].lon, best[0].lat
        return None

    return run


# --------------------------------------------------------------------------- reverse


def area_names(geo: Geography, codes: Codes) -> dict[str, str | None]:
    def name(code: str | None) -> str | None:
        a = geo.area(code) if code else None
        return a.name if a else None

    return {
        "district_name": name(codes.district),
        "street_name": name(codes.street),
        "community_name": name(codes.community),
    }


def reverse(city: City, lon: float, lat: float, locale: str = "zh-CN") -> dict[str, Any] | None:
    """Words for a WGS84 point: district, street, community, grid and the nearest named place (within
    300 m); None outside the city."""
    geo = geography_for(city)
    gaz = gazetteer_for(city)
    if geo is None or gaz is None:
        return None
    codes = codes_at(geo, lon, lat)
    if codes is None or codes.district is None:
        return None
    names = area_names(geo, codes)
    near = gaz.nearest_named(lon, lat)
    parts = [n for n in (names["district_name"], names["street_name"], names["community_name"]) if n]
    if near is not None:
        parts.append(t("geocode.near", locale, place=near.name))
    return {
        "label": " ".join(parts),
        "district": codes.district,
        "street": codes.street,
        "community": codes.community,
        "grid": codes.grid,
        **names,
        "nearest_place": near.name if near is not None else None,
    }


def match_json(city: City, m: Match, locale: str = "zh-CN") -> dict[str, Any]:
    """A match as the CLI and the HTTP API give it: the contract's keys, area names and a label."""
    return _match_row(geography_for(city), m)


def _match_row(geo: Geography | None, m: Match) -> dict[str, Any]:
    out = m.as_dict()
    names = area_names(geo, m.codes) if geo is not None else {}
    out.update(names)
    parts = [n for n in (names.get("district_name"), names.get("street_name")) if n]
    out["label"] = " ".join([*parts, m.matched])
    out["area"] = m.area
    return out


# --------------------------------------------------------------------------- import


@dataclass(frozen=True, slots=True)
class PlacesImportReport:
    count: int
    kinds: dict[str, int]
    replaced_all: bool


def import_places(
    city: City, path: Path, *, fmt: str | None = None, replace: bool = False, dry_run: bool = False
) -> PlacesImportReport:
    """Read a places file (GeoJSON or CSV, by ``fmt`` or the file's extension) and store its rows
    (replacing rows with the same id, or every stored place with ``replace``). Raises
    :class:`~civicloop.geo.places_data.PlacesFileError` naming bad rows (nothing stored)."""
    kind = fmt or ("csv" if path.suffix.lower() == ".csv" else "geojson")
    records = read_places(path.read_text(encoding="utf-8-sig"), fmt=kind, source=path.name)
    kinds: dict[str, int] = {}
    for r in records:
        kinds[r.kind] = kinds.get(r.kind, 0) + 1
    if not dry_run:
        store_places(city, records, replace=replace)
    return PlacesImportReport(len(records), dict(sorted(kinds.items())), replace)


def store_places(city: City, records: Sequence[PlaceRecord], *, replace: bool = False) -> int:
    now = datetime.now(UTC)
    rows = []
    for r in records:
        lon, lat = r.point
        rows.append(
            {
                "city_id": city.id, "place_id": r.place_id, "name": r.name, "kind": r.kind,
                "aliases": json.dumps(list(r.aliases), ensure_ascii=False),
                "geometry": shapely.to_wkb(r.geometry),
                "lon": lon, "lat": lat, "numbers": r.numbers, "source": r.source or None, "updated_at": now,
            }
        )  # fmt: skip
    with city.store.write() as conn:
        store.replace_places(conn, city.id, rows, clear=replace)
        bump_geography_version(conn, city.id)
    invalidate_geography(city)
    invalidate_gazetteer(city)
    return len(rows)


# --------------------------------------------------------------------------- the demo without a database


@lru_cache(maxsize=1)
def _demo_gazetteer() -> tuple[Geography, Gazetteer]:
    from civicloop.profile import load_profile

    geo = _demo_geography()
    return geo, _base_gazetteer(geo, demo_places(geo.communities, DEMO_EXTENT), load_profile("taiyuan").name)


def demo_geocode(address: str, limit: int = 5) -> tuple[list[Match], list[dict[str, Any]]]:
    """The demo city's answer without a database (``civicloop geo geocode`` before ``init``)."""
    geo, gaz = _demo_gazetteer()
    matches = gaz.geocode(address, limit)
    return matches, [_match_row(geo, m) for m in matches]
