"""A labelled address test set made from a gazetteer (the demo geography and its places), seeded.

Each :class:`Item` is an address as a citizen or a hotline operator writes it — with or without the
province/city/district/street, a named place (``XX小区门口``, ``…对面``), a road and house number (in
digits, full-width digits or Chinese numerals), two roads (a crossing), a community, one wrong character
(a typo), an alias (``阳光花园`` for ``阳光小区``) — and the truth: the district, street and grid it
means (grid None where the address names an area, not a point). The truth comes from where the place
lies in the geography, not from the geocoder.

Used by the precision floor test (tests/geo/test_geocode_quality.py) and benchmarks/bench_geocode.py.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import shapely

from civicloop.geo.address import address_words
from civicloop.geo.gazetteer import Codes, Entry, Gazetteer

LEVELS = ("district", "street", "grid")

#: Text variant kinds, for the per-kind figures.
KINDS = (
    "place", "place_full", "place_relation", "place_alias", "place_typo", "road_number",
    "road_number_fullwidth", "road_number_chinese", "road_number_district", "crossing", "community",
    "street_road", "landmark",
)  # fmt: skip

_FULL = str.maketrans("0123456789", "０１２３４５６７８９")
_TYPO_POOL = "东西南北中新华光明和平安康乐园林城山河湖海金银花月星春秋"


@dataclass(frozen=True, slots=True)
class Item:
    address: str
    kind: str
    district: str | None
    street: str | None
    grid: str | None


def _chinese(n: int) -> str:
    digits = "零一二三四五六七八九"
    ten, hundred = "十", "百"
    if n < 10:
        return digits[n]
    if n < 20:
        return ten + (digits[n % 10] if n % 10 else "")
    if n < 100:
        return digits[n // 10] + ten + (digits[n % 10] if n % 10 else "")
    rest = n % 100
    tail = "" if rest == 0 else (digits[0] + digits[rest] if rest < 10 else _chinese(rest))
    if 10 <= rest < 20:
        tail = digits[1] + _chinese(rest)
    return digits[n // 100] + hundred + tail


def make_address_set(
    entries: list[Entry],
    locate: Callable[[float, float], Codes | None],
    point_on_road: Callable[[Entry, float], tuple[float, float]],
    crossing: Callable[[Entry, Entry], tuple[float, float] | None],
    *,
    n: int = 1000,
    seed: int = 16,
    city_prefix: str = "",
    province_prefix: str = "",
) -> list[Item]:
    """*n* labelled addresses (see the module doc), the same for the same entries and seed."""
    rng = random.Random(seed)
    w = address_words()
    areas = {e.code: e for e in entries if e.kind in ("district", "street", "community") and e.code}
    names: dict[str, int] = {}
    for e in entries:
        names[e.name] = names.get(e.name, 0) + 1
    places = [e for e in entries if e.kind in ("compound", "school", "market", "hospital", "park")
              and e.codes.grid and names[e.name] == 1]  # fmt: skip
    landmarks = [e for e in entries if e.kind == "landmark" and e.codes.grid]
    roads = [e for e in entries if e.kind == "road" and e.numbers > 0 and e.geometry is not None]
    communities = [e for e in entries if e.kind == "community" and e.codes.district]
    compound_words = w.place_groups["compound"]
    stems: dict[str, int] = {}  # how many compounds share a stem (阳光小区, 阳光花园: the alias is ambiguous)
    for e in entries:
        word = next((cw for cw in compound_words if e.name.endswith(cw)), None)
        if word is not None:
            stems[e.name[: -len(word)]] = stems.get(e.name[: -len(word)], 0) + 1

    def area_name(code: str | None) -> str:
        e = areas.get(code or "")
        return e.name if e else ""

    def prefix() -> str:
        r = rng.random()
        if r < 0.15:
            return province_prefix + city_prefix
        return city_prefix if r < 0.4 else ""

    def relation() -> str:
        return rng.choice(("门口", "对面", "附近", "旁边", "东侧",
                           "北门", ""))  # fmt: skip

    def typo(name: str) -> str:
        i = rng.randrange(len(name))
        c = rng.choice([ch for ch in _TYPO_POOL if ch != name[i]])
        return name[:i] + c + name[i + 1 :]

    def of_point(address: str, kind: str, codes: Codes | None) -> Item | None:
        if codes is None or codes.grid is None:
            return None
        return Item(address, kind, codes.district, codes.street, codes.grid)

    out: list[Item] = []
    attempts = 0
    while len(out) < n and attempts < n * 20:
        attempts += 1
        kind = KINDS[len(out) % len(KINDS)] if rng.random() < 0.9 else rng.choice(KINDS)
        item: Item | None = None
        if kind.startswith("place") and places:
            p = rng.choice(places)
            name = p.name
            if kind == "place_alias":
                word = next((cw for cw in compound_words if name.endswith(cw)), None)
                if p.kind != "compound" or word is None or len(name) - len(word) < 2:
                    continue
                if stems.get(name[: -len(word)], 0) > 1:
                    continue
                name = name[: -len(word)] + rng.choice([cw for cw in ("小区", "花园",
                                                                      "苑") if cw != word])  # fmt: skip
            elif kind == "place_typo":
                if len(name) < 4:
                    continue
                name = typo(name[:-2]) + name[-2:] if rng.random() < 0.5 else typo(name)
            text = name
            if kind == "place_full":
                text = area_name(p.codes.district) + area_name(p.codes.street) + name
            elif kind != "place" and rng.random() < 0.5:
                text = area_name(p.codes.district) + name
            if kind in ("place_relation", "place_alias", "place_typo"):
                text += relation()
            item = of_point(prefix() + text, kind, p.codes)
        elif kind == "landmark" and landmarks:
            p = rng.choice(landmarks)
            name = rng.choice((p.name, *p.aliases))
            item = of_point(prefix() + name + relation(), kind, p.codes)
        elif kind.startswith("road_number") and roads:
            r = rng.choice(roads)
            number = rng.randint(1, r.numbers)
            codes = locate(*point_on_road(r, number / r.numbers))
            digits = str(number)
            if kind == "road_number_fullwidth":
                digits = digits.translate(_FULL)
            elif kind == "road_number_chinese":
                digits = _chinese(number)
            district = area_name(codes.district) if codes and kind == "road_number_district" else ""
            item = of_point(prefix() + district + r.name + digits + w.number_word + relation(), kind, codes)
        elif kind == "crossing" and len(roads) >= 2:
            a, b = rng.sample(roads, 2)
            point = crossing(a, b)
            if point is None:
                continue
            joined = rng.choice((a.name + "与" + b.name + "交叉口",
                                 a.name + b.name + "路口",
                                 a.name + "和" + b.name + "十字路口"))  # fmt: skip
            item = of_point(prefix() + joined, kind, locate(*point))
        elif kind == "community" and communities:
            c = rng.choice(communities)
            text = area_name(c.codes.street) + c.name if rng.random() < 0.5 else c.name
            item = Item(prefix() + text, kind, c.codes.district, c.codes.street, None)
        elif kind == "street_road" and roads:
            r = rng.choice(roads)
            codes = locate(*point_on_road(r, rng.uniform(0.1, 0.9)))
            if codes is None or codes.street is None:
                continue
            item = Item(prefix() + area_name(codes.street) + r.name, kind, codes.district, codes.street, None)
        if item is not None:
            out.append(item)
    return out


def address_set(gaz: Gazetteer, n: int, seed: int) -> list[Item]:
    def on_road(e: Entry, share: float) -> tuple[float, float]:
        p = shapely.line_interpolate_point(e.geometry, min(max(share, 0.0), 1.0), normalized=True)
        return float(p.x), float(p.y)

    def crossing(a: Entry, b: Entry) -> tuple[float, float] | None:
        x = shapely.intersection(a.geometry, b.geometry)
        if x.is_empty:
            return None
        c = shapely.centroid(x)
        return float(c.x), float(c.y)

    return make_address_set(
        gaz.entries, gaz.locate, on_road, crossing, n=n, seed=seed,
        city_prefix="太原市", province_prefix="山西省",
    )  # fmt: skip


def score(
    items: list[Item], answers: list[Codes | None], confidences: list[float], floor: float
) -> dict[str, Any]:
    """Precision and recall per level over all answers and over those at or above *floor*."""
    out: dict[str, Any] = {}
    for label, keep in (("all", 0.0), ("at_min_confidence", floor)):
        level_figures: dict[str, Any] = {}
        for level in LEVELS:
            given = right = truth_has = found = 0
            for item, ans, conf in zip(items, answers, confidences, strict=True):
                truth = getattr(item, level)
                got = getattr(ans, level) if ans is not None and conf >= keep else None
                if truth is None:
                    continue  # an area named (a community, a road in a street): no grid to judge
                truth_has += 1
                if got is not None:
                    given += 1
                    if got == truth:
                        right += 1
                if truth is not None and got == truth:
                    found += 1
            level_figures[level] = {
                "precision": round(right / given, 4) if given else None,
                "recall": round(found / truth_has, 4) if truth_has else None,
                "answers": given,
                "addresses_with_truth": truth_has,
            }
        answered = sum(1 for a, c in zip(answers, confidences, strict=True) if a is not None and c >= keep)
        level_figures["answered_share"] = round(answered / len(items), 4)
        out[label] = level_figures
    return out
