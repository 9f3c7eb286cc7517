"""Locating a report: its position in WGS84 and the unit grid, community, street and district it lies in."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from civicloop.city.service import City
from civicloop.geo.address import extract_phrase
from civicloop.geo.crs import Crs, to_wgs84
from civicloop.geo.geocoding import geocoder_for
from civicloop.geo.locator import OutsideCityError
from civicloop.geo.service import (
    geography_for,
    parse_crs_field,
)
from civicloop.kernel.errors import InvalidField
from civicloop.kernel.i18n import Localized, Msg, both


def _coordinate(fields: Mapping[str, Any], name: str) -> float | None:
    value = fields.get(name)
    if value is None or value == "":
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise InvalidField(name, Msg("reasons.must_be_a_number")) from None
    if isinstance(value, bool) or not math.isfinite(number):
        raise InvalidField(name, Msg("reasons.must_be_a_finite_number"))
    return number


def locate_report_fields(
    city: City, fields: Mapping[str, Any], *, component_radius_m: float | None = None
) -> dict[str, Any]:
    """Fill a report's area codes from its position (the intake pipeline calls this before reporting).

    * ``crs`` (optional: wgs84, gcj02, bd09) says what lon/lat are in; they are converted to WGS84 and
      the ``crs`` key is dropped (everything stored is WGS84).
    * ``component_id``: must be a registered component; a report without lon/lat takes its position.
    * ``grid_code``, ``community_code``, ``street_code``, ``district_code`` are set from the stored
      geography (the position wins over codes sent by the client); ``near_boundary`` and
      ``boundary_distance_m`` tell a person to confirm a point close to a district/street/community line.
    * ``component_radius_m``: for a category about a component type (路灯异常 → 路灯), the nearest
      component of that type within the radius is attached when the report names none.

    A position outside every district of the city raises ``InvalidField("lon", …)`` naming lon/lat.
    Without stored geography only the CRS conversion is done (no in-memory demo here: intake on a
    database without geography behaves as before).
    """
    from civicloop.assets.service import get_component, nearest_component

    out = dict(fields)
    crs = parse_crs_field(out.pop("crs", None))
    component_id = out.get("component_id")
    if component_id:
        comp = get_component(city, str(component_id))
        if comp is None:
            raise InvalidField(
                "component_id", Msg("reasons.component_is_not_registered", component_id=component_id)
            )
        if out.get("lon") in (None, "") and out.get("lat") in (None, ""):
            out["lon"], out["lat"] = comp.lon, comp.lat
            crs = Crs.WGS84
    lon = _coordinate(out, "lon")
    lat = _coordinate(out, "lat")
    if lon is None and lat is None and not out.get("component_id"):
        out = geocode_report_fields(city, out)
        lon, lat = _coordinate(out, "lon"), _coordinate(out, "lat")
    if lon is None or lat is None:
        return out  # an address-only report, or a half pair the domain refuses with its own message
    geo = geography_for(city, demo_fallback=False)
    if geo is None:
        wlon, wlat = to_wgs84(lon, lat, crs)
        out["lon"], out["lat"] = round(wlon, 7), round(wlat, 7)
        return out
    try:
        loc = geo.locate(lon, lat, crs)
    except OutsideCityError as exc:
        where = f"({lon:.6f}, {lat:.6f} {crs.value})"
        raise InvalidField(
            "lon",
            Msg(
                "reasons.lon_lat_is_outside_no_district",
                where=where,
                city=Localized(city.profile.name, city.profile.name_en),
            ),
        ) from exc
    out["lon"], out["lat"] = round(loc.lon_wgs84, 7), round(loc.lat_wgs84, 7)
    out["grid_code"] = loc.grid_code
    out["community_code"] = loc.community.code if loc.community else None
    out["street_code"] = loc.street.code if loc.street else None
    out["district_code"] = loc.district.code if loc.district else None
    out["near_boundary"] = loc.near_boundary
    out["boundary_distance_m"] = (
        None if loc.boundary_distance_m is None else round(loc.boundary_distance_m, 1)
    )
    if component_radius_m and not out.get("component_id") and out.get("category_code"):
        code = str(out["category_code"])
        try:
            type_code = city.profile.category(code).component_code
        except KeyError:
            type_code = None
        if type_code:
            hit = nearest_component(city, type_code, out["lon"], out["lat"], component_radius_m)
            if hit is not None:
                out["component_id"] = hit.component.component_id
                out["component_distance_m"] = round(hit.distance_m, 1)
    return out


#: A place found in a free-text description is believed a little less than an address field.
DESCRIPTION_FACTOR = 0.95


def geocode_report_fields(city: City, fields: Mapping[str, Any]) -> dict[str, Any]:
    """A report without coordinates, geocoded (地址匹配) from its ``address`` field, else from an address
    phrase found in its ``description`` (also when the address names nothing known), with the city's
    geocoder (stored geography only).

    At or above the profile's ``[geocoding] min_confidence`` the report gets the match's lon/lat (and a
    note saying so); the caller then locates it like any point. Below it the report is left without a
    position — it waits in 待定位, where :func:`~civicloop.intake.locating.geocode_hint` shows the
    guess — but a description-only report gets the phrase as its ``address``, so it is kept."""
    out = dict(fields)
    settings = city.profile.geocoding
    if not settings.enabled:
        return out
    address = str(out.get("address") or "").strip()
    description = str(out.get("description") or "").strip()
    if not address and not description:
        return out
    coder = geocoder_for(city, demo_fallback=False)
    if coder is None:
        return out
    tries = [(address, 1.0)] if address else []
    if description:  # also when the address field names nothing known (门口 of a shop, say)
        tries.append(((extract_phrase(description) or description)[:200], DESCRIPTION_FACTOR))
    found = next(((q, f, m[0]) for q, f in tries if (m := coder.geocode(q, 1))), None)
    if found is None:
        return out
    query, factor, best = found
    if not address:
        out["address"] = query if len(query) <= 60 else best.matched
    if best.confidence * factor >= settings.min_confidence:
        out["lon"], out["lat"] = best.lon, best.lat
        if not out.get("note"):
            out["note"] = (
                f"{both('intake.located_by_address')}: {best.matched} ({best.confidence * factor:.2f})"
            )
    return out
