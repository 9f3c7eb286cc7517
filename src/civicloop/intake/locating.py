"""待定位 (cases awaiting a position): listing them and locating them later.

A historical record imported without coordinates (``civicloop import-cases``: many 311 exports leave
some rows blank) is a case all the same: it counts in the city's and its department's figures. It has no
grid, so it is listed here until someone — an operator with the map, or a geocoder once its address
resolves — gives it a position with the ``locate`` action (定位), an append-only event like any other.
Only a case without coordinates is located this way; a pin is never moved.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from civicloop.cases.core import Actor, CaseState
from civicloop.cases.service import CaseQuery
from civicloop.city.service import City
from civicloop.geo.address import extract_phrase
from civicloop.geo.geocoding import geocoder_for
from civicloop.intake.locate import locate_report_fields
from civicloop.kernel.errors import DomainError
from civicloop.kernel.i18n import both
from civicloop.kernel.vocabulary import Action, Role

#: Who locates by geocoding: the system.
GEOCODER = Actor("geocoder", Role.SYSTEM)

Geocode = Callable[[str], tuple[float, float] | None]
"""An address → (lon, lat) in WGS84, or None when it does not resolve."""


def unlocated_cases(
    city: City, *, actor: Actor | None = None, limit: int = 50, offset: int = 0
) -> tuple[list[CaseState], int]:
    """One page of the cases without coordinates (newest first) that *actor* may see, and their total."""
    query = CaseQuery(unlocated=True, scope=actor, limit=limit, offset=offset)
    return city.cases.search(query), city.cases.count(query)


def locate_case(
    city: City,
    case_id: str,
    *,
    lon: float,
    lat: float,
    actor: Actor,
    address: str | None = None,
    note: str | None = None,
    at: datetime | None = None,
) -> CaseState:
    """Give a case without coordinates its position (the ``locate`` event); the grid, community, street
    and district come from the stored geography when there is one. Raises a DomainError naming the field
    (outside the city, the case already has a position, …)."""
    fields: dict[str, Any] = {"lon": lon, "lat": lat}
    if address:
        fields["address"] = address
    if note:
        fields["note"] = note
    return city.cases.act(case_id, Action.LOCATE, actor, with_area_codes(city, fields), at=at)


def with_area_codes(city: City, fields: dict[str, Any]) -> dict[str, Any]:
    """*fields* with the grid, community, street and district of their lon/lat (WGS84 from ``crs``)
    from the stored geography (without stored geography: the position only)."""
    located: dict[str, Any] = locate_report_fields(city, fields)
    located.pop("near_boundary", None)
    located.pop("boundary_distance_m", None)
    return located


@dataclass
class LocateReport:
    tried: int = 0
    located: list[str] = field(default_factory=list)
    unresolved: list[str] = field(default_factory=list)  # the address did not geocode
    refused: list[tuple[str, str]] = field(default_factory=list)  # geocoded, but refused (e.g. outside)

    def as_json(self) -> dict[str, Any]:
        return {
            "tried": self.tried,
            "located": len(self.located),
            "unresolved": len(self.unresolved),
            "refused": [{"case_id": c, "reason": r} for c, r in self.refused],
        }


def locate_by_address(
    city: City, geocode: Geocode, *, actor: Actor = GEOCODER, limit: int = 1000
) -> LocateReport:
    """Try to locate the unlocated cases that have an address; those whose address does not resolve
    stay in the queue for the next try (or an operator)."""
    report = LocateReport()
    states, _ = unlocated_cases(city, limit=limit)
    for state in states:
        if not state.address:
            continue
        report.tried += 1
        point = geocode(state.address)
        if point is None:
            report.unresolved.append(state.case_id)
            continue
        try:
            locate_case(
                city, state.case_id, lon=point[0], lat=point[1], actor=actor,
                note=f"{both('intake.located_by_address')}: {state.address}",
            )  # fmt: skip
        except DomainError as exc:
            report.refused.append((state.case_id, str(exc)))
            continue
        report.located.append(state.case_id)
    return report


def normalise_address(text: str) -> str:
    """Case, spaces and full-width forms do not matter when addresses are compared."""
    return re.sub(r"\s+", " ", text.replace("\u3000", " ")).strip().casefold()


def gazetteer_geocoder(path: Path) -> Geocode:
    """A geocoder from a gazetteer CSV (e.g. an export of the city's door-plate register, 门牌地址库) with
    the columns ``address``, ``lon``, ``lat`` (WGS84): an address resolves when it is listed, compared
    after :func:`normalise_address`. Raises ValueError naming the line of an unreadable row."""
    table: dict[str, tuple[float, float]] = {}
    with open(path, newline="", encoding="utf-8-sig") as fh:
        reader = csv.DictReader(fh)
        missing = [c for c in ("address", "lon", "lat") if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(
                f"{path}: {both('intake.gazetteer_columns_missing', missing=', '.join(missing))}"
            )
        for line, row in enumerate(reader, start=2):
            try:
                point = (float(row["lon"]), float(row["lat"]))
            except (TypeError, ValueError):
                raise ValueError(
                    f"{path}: "
                    + both(
                        "intake.gazetteer_bad_point",
                        line=line,
                        lon=repr(row.get("lon")),
                        lat=repr(row.get("lat")),
                    )
                ) from None
            if row.get("address"):
                table[normalise_address(row["address"])] = point
    return lambda address: table.get(normalise_address(address))


def geocode_hint(city: City, state: CaseState) -> dict[str, Any] | None:
    """The geocoder's best guess for an unlocated case (its address, else its description), as a hint
    for the operator who picks the place: lon, lat, matched, confidence, grid and area codes; None
    when nothing matches or the city has no geocoder."""
    coder = geocoder_for(city, demo_fallback=False)
    text = state.address or (extract_phrase(state.description or "") or state.description or "")
    if coder is None or not text:
        return None
    matches = coder.geocode(text[:200], 1)
    return matches[0].as_dict() if matches else None
