"""The gazetteer (地名地址库) and address matching, pure: no database, no network.

A :class:`Gazetteer` is built from :class:`Entry` rows — districts, streets, communities, unit grids,
roads (lines), named places (points: compounds, schools, markets, hospitals, parks, landmarks),
components and the addresses of past located cases — and answers :meth:`Gazetteer.geocode`: ranked
:class:`Match` candidates, each a point (with its grid) or an area, the matched name and a confidence in
[0, 1].

How an address is matched:

1. :func:`~civicloop.geo.address.normalise` it and strip the province/city prefix;
2. scan it for every known name (exact, short forms such as 小店 for 小店区, aliases, interchangeable
   place words such as 阳光小区/阳光花园): a dictionary probe per position and name length, so the cost
   does not grow with the size of the gazetteer; overlapping hits keep the longest;
3. when no road, place or community was found, fuzzy matching (rapidfuzz ``partial_ratio``) over the
   names sharing a character pair with the address (an inverted index), for typos (长风接 → 长风街);
4. resolve the hits into candidates, most specific first: a named place; two roads → their crossing;
   a road and a house number → the point at that share of the road's length; a road inside a named
   community/street/district → the middle of that part of the road; a community, street or district
   → the area (its representative point, no grid). A place or road that contradicts a named
   district/street loses confidence; agreement adds a little. Relation words (附近, 对面) cost a little.

Confidences are calibrated against the generated test set (benchmarks/bench_geocode.py): at 0.8 and
above the district is right in more than 99 % of the answers.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import shapely
from rapidfuzz import fuzz, process

from civicloop.geo.address import (
    AddressWords,
    address_words,
    house_number_after,
    is_crossing,
    normalise,
    relations_in,
    short_forms,
    strip_admin_prefix,
)

__all__ = ["AREA_KINDS", "POINT_KINDS", "Codes", "Entry", "Gazetteer", "Match"]

AREA_KINDS = ("district", "street", "community", "grid")
POINT_KINDS = ("compound", "school", "market", "hospital", "park", "landmark", "place", "component", "case")
ROAD = "road"

#: The confidence of each kind of answer when the name matched exactly and nothing contradicts it.
BASE_CONFIDENCE = {
    "grid": 0.95,
    "case": 0.9,
    "component": 0.95,
    "compound": 0.93,
    "school": 0.93,
    "market": 0.92,
    "hospital": 0.93,
    "park": 0.9,
    "landmark": 0.93,
    "place": 0.9,
    "crossing": 0.92,
    "road_number": 0.88,
    "road_in_community": 0.84,
    "road_in_street": 0.76,
    "road_in_district": 0.62,
    "road": 0.55,
    "community": 0.82,
    "street": 0.62,
    "district": 0.42,
}
#: How much a short form, alias or interchangeable place word is believed, relative to the exact name.
VARIANT_WEIGHT = 0.97
SHORT_WEIGHT = 0.93
#: Fuzzy hits below this rapidfuzz score (0-100) are ignored; a 3-character name with one wrong
#: character scores 66.7.
FUZZY_MIN_SCORE = 66.0
FUZZY_WEIGHT = 0.85
#: A named place/road that contradicts the named district or street.
CONFLICT_FACTOR = 0.55
AGREEMENT_BONUS = 0.04
#: A name shared by several places, the address not telling which.
AMBIGUOUS_FACTOR = 0.8
#: 附近, 对面, … : the problem is near, not at, the place.
RELATION_FACTOR = 0.98
#: A posting list longer than this (e.g. the pair 小区) is too common to narrow the fuzzy search.
_COMMON_PAIR = 400
#: Names sharing the most character pairs with the address that are scored (in rapidfuzz, in C).
_FUZZY_CANDIDATES = 300


@dataclass(frozen=True, slots=True)
class Codes:
    """Where a point lies: grid, community, street, district codes (any may be None)."""

    grid: str | None = None
    community: str | None = None
    street: str | None = None
    district: str | None = None


@dataclass(frozen=True, slots=True, eq=False)
class Entry:
    """One gazetteer row. ``geometry``: a shapely polygon (areas), line (roads) or None (points, at
    ``lon``/``lat``). ``code``: the area's or grid's own code, the component id, … ``numbers``: the
    highest house number along a road (0: unknown, no interpolation)."""

    name: str
    kind: str
    lon: float
    lat: float
    codes: Codes = field(default_factory=Codes)
    geometry: Any = None
    aliases: tuple[str, ...] = ()
    code: str | None = None
    numbers: int = 0
    source: str = ""


@dataclass(frozen=True, slots=True)
class Match:
    """One answer. ``area`` is True when the answer is an area (no grid): lon/lat is then its
    representative point. ``kind``: what matched (compound, road_number, crossing, community, …)."""

    lon: float
    lat: float
    codes: Codes
    matched: str
    confidence: float
    kind: str
    area: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "lon": round(self.lon, 7),
            "lat": round(self.lat, 7),
            "district": self.codes.district,
            "street": self.codes.street,
            "community": self.codes.community,
            "grid": self.codes.grid,
            "matched": self.matched,
            "confidence": round(self.confidence, 3),
            "kind": self.kind,
        }


@dataclass(frozen=True, slots=True)
class _Hit:
    entry: int
    start: int
    end: int
    weight: float


Locate = Callable[[float, float], Codes | None]
"""(lon, lat) → the codes of the point, or None outside the city."""


class Gazetteer:
    """The matching index over entries (see the module doc). ``prefixes``: the city's own names that
    may lead an address (太原市, 太原). ``locate``: codes of an interpolated point."""

    def __init__(
        self,
        entries: Iterable[Entry],
        *,
        locate: Locate,
        prefixes: Sequence[str] = (),
        words: AddressWords | None = None,
    ) -> None:
        self.words = words or address_words()
        self.entries: list[Entry] = list(entries)
        self.locate = locate
        self.prefixes = tuple(normalise(p, self.words) for p in prefixes if p)
        self._keys: dict[str, list[tuple[int, float]]] = defaultdict(list)
        self._by_code: dict[str, int] = {}
        self._add_keys(0)
        self._derive()

    def extended(self, extra: Iterable[Entry]) -> Gazetteer:
        """A gazetteer with *extra* entries too, reusing this one's index (the city's components and
        case addresses over a shared geography): much cheaper than building from scratch."""
        new = object.__new__(Gazetteer)
        new.words, new.locate, new.prefixes = self.words, self.locate, self.prefixes
        new.entries = [*self.entries, *extra]
        new._keys = defaultdict(list, {k: list(v) for k, v in self._keys.items()})
        new._by_code = dict(self._by_code)
        new._add_keys(len(self.entries))
        new._derive()
        return new

    def _add_keys(self, first: int) -> None:
        for i in range(first, len(self.entries)):
            e = self.entries[i]
            for key, weight in self._keys_of(e):
                if key and all(j != i for j, _ in self._keys[key]):
                    self._keys[key].append((i, weight))
            if e.code and e.kind in AREA_KINDS:
                self._by_code[e.code] = i

    def _derive(self) -> None:
        # the lengths of the names starting with each pair of characters (a single character: its own)
        starts: dict[str, set[int]] = defaultdict(set)
        for k in self._keys:
            starts[k[:2]].add(len(k))
        self._starts = {p: sorted(v, reverse=True) for p, v in starts.items()}
        coarse = ("district", "street", "grid")  # found exactly, by name, short form or code
        self._fuzzy_keys = [
            k for k, refs in self._keys.items()
            if len(k) >= 3 and any(self.entries[j].kind not in coarse for j, _ in refs)
        ]  # fmt: skip
        pairs: dict[str, list[int]] = defaultdict(list)
        for ki, key in enumerate(self._fuzzy_keys):
            for pair in _pairs_of(key):
                pairs[pair].append(ki)
        self._pairs = {p: v for p, v in pairs.items() if len(v) <= _COMMON_PAIR}
        self._clip_cache: dict[tuple[int, int], tuple[float, float] | None] = {}
        self._points_tree: Any = None

    # ------------------------------------------------------------------ building
    def _keys_of(self, e: Entry) -> list[tuple[str, float]]:
        w = self.words
        name = normalise(e.name, w)
        keys = [(name, 1.0)]
        keys += [(normalise(a, w), VARIANT_WEIGHT) for a in e.aliases]
        if e.kind in ("district", "street", "community"):
            keys += [(s, SHORT_WEIGHT) for s in short_forms(name, e.kind, w)]
        if e.kind in w.place_groups or e.kind in ("park", "landmark"):
            for group in w.place_groups.values():
                for word in group:
                    if name.endswith(word) and len(name) - len(word) >= 2:
                        stem = name[: -len(word)]
                        keys += [(stem + other, VARIANT_WEIGHT) for other in group if other != word]
                        break
        if e.kind == "grid" and e.code:
            keys.append((e.code, 1.0))
        if e.kind == "component" and e.code:
            keys = [(e.code, 1.0)]
        return keys

    def entry_for_code(self, code: str) -> Entry | None:
        i = self._by_code.get(code)
        return None if i is None else self.entries[i]

    # ------------------------------------------------------------------ matching
    def scan(self, text: str) -> list[_Hit]:
        """Every known name in the normalised *text*, longest first, not overlapping."""
        found: list[_Hit] = []
        n = len(text)
        starts = self._starts
        for i in range(n):
            lengths = starts.get(text[i : i + 2])
            if lengths is None:
                continue
            for length in lengths:
                if i + length > n:
                    continue
                key = text[i : i + length]
                refs = self._keys.get(key)
                if refs:
                    found.extend(_Hit(j, i, i + length, wt) for j, wt in refs)
        if not found:
            return found
        found.sort(key=lambda h: (-(h.end - h.start), -h.weight, h.start))
        taken = [False] * n
        out: list[_Hit] = []
        for h in found:
            if any(taken[h.start : h.end]):
                # the same span as a kept hit: another entry of that name (two places called alike),
                # unless the kept one matched it better (平阳路 the road, not 平阳路(街道) the short form)
                if any(o.start == h.start and o.end == h.end and o.weight <= h.weight for o in out):
                    out.append(h)
                continue
            out.append(h)
            for k in range(h.start, h.end):
                taken[k] = True
        return sorted(out, key=lambda h: h.start)

    def fuzzy(self, text: str, limit: int = 5, taken: Sequence[_Hit] = ()) -> list[_Hit]:
        """Names that nearly occur in *text* (typos), via the character-pair index, elsewhere than the
        names found exactly (*taken*; one character of overlap is allowed)."""
        exclude = {text[h.start : h.end] for h in taken}
        pairs = self._pairs
        counts = Counter(itertools.chain.from_iterable(pairs.get(p, ()) for p in sorted(_pairs_of(text))))
        if not counts:
            return []
        keys = [self._fuzzy_keys[ki] for ki, _ in counts.most_common(_FUZZY_CANDIDATES)]
        scored: list[tuple[float, str]] = []
        for key, score, _ in process.extract(
            text, keys, scorer=fuzz.partial_ratio, limit=None, score_cutoff=FUZZY_MIN_SCORE
        ):
            if key in exclude:
                continue
            if len(key) > len(text):  # the whole address against a longer name: its unmatched part counts
                score = fuzz.ratio(key, text)
                if score < FUZZY_MIN_SCORE:
                    continue
            scored.append((score, key))
        scored.sort(key=lambda sk: (-sk[0], -len(sk[1]), sk[1]))
        out: list[_Hit] = []
        kept = 0
        for score, key in scored:
            al = fuzz.partial_ratio_alignment(key, text)
            start, end = (al.dest_start, al.dest_end) if al else (0, len(text))
            if any(
                min(end, h.end) - max(start, h.start) > 1 and not (start <= h.start and h.end <= end)
                for h in taken
            ):
                continue  # mostly inside a name found exactly (尖草 of 尖草坪区), unless it contains it
            for j, wt in self._keys[key]:
                out.append(_Hit(j, start, end, wt * FUZZY_WEIGHT * score / 100.0))
            kept += 1
            if kept >= limit:
                break
        return out

    def prepare(self, address: str) -> str:
        """The normalised address without the province/city prefix — unless the prefix begins a known
        name (太原站 is not 太原 + 站)."""
        text = normalise(address, self.words)
        stripped = strip_admin_prefix(text, self.prefixes, self.words)
        cut = len(text) - len(stripped)
        if cut:
            for start in range(cut):
                for length in self._starts.get(text[start : start + 2], ()):
                    if start + length > cut and text[start : start + length] in self._keys:
                        return text[start:]
        return stripped

    def geocode(self, address: str, limit: int = 5) -> list[Match]:
        """Ranked candidates for *address* (best first, at most *limit*); empty when nothing matches."""
        text = self.prepare(address)
        if not text:
            return []
        hits = self.scan(text)
        specific = any(self.entries[h.entry].kind not in ("district", "street") for h in hits)
        if not specific:
            fuzzy = self.fuzzy(text, taken=hits)
            # a name found exactly inside a nearly-matching longer one is part of it (坞城 of 坞城华园)
            hits = [h for h in hits if not any(f.start <= h.start and h.end <= f.end for f in fuzzy)] + fuzzy
        if not hits:
            return []
        matches = self._resolve(text, hits)
        ranked: list[Match] = []
        seen: set[tuple[str, str, float, float]] = set()
        for m in sorted(matches, key=lambda m: (-m.confidence, m.matched, m.lon, m.lat)):
            key = (m.matched, m.kind, round(m.lon, 5), round(m.lat, 5))  # two places of one name: both
            if key not in seen:
                seen.add(key)
                ranked.append(m)
            if len(ranked) >= limit:
                break
        return ranked

    # ------------------------------------------------------------------ resolving hits
    def _resolve(self, text: str, hits: list[_Hit]) -> list[Match]:
        w = self.words
        admin: dict[str, list[tuple[Entry, float]]] = defaultdict(list)
        roads: list[_Hit] = []
        places: list[_Hit] = []
        for h in hits:
            e = self.entries[h.entry]
            if e.kind in ("district", "street", "community"):
                admin[e.kind].append((e, h.weight))
            elif e.kind == ROAD:
                roads.append(h)
            else:
                places.append(h)
        districts = {e.code for e, _ in admin["district"] if e.code}
        streets = {e.code for e, _ in admin["street"] if e.code}
        communities = {e.code for e, _ in admin["community"] if e.code}
        factor = RELATION_FACTOR if relations_in(text, w) else 1.0

        def judged(codes: Codes, base: float) -> float:
            c = base
            for named, have in ((districts, codes.district), (streets, codes.street)):
                if named:
                    c = c + AGREEMENT_BONUS if have in named else c * CONFLICT_FACTOR
            if communities and codes.community:
                c = c + AGREEMENT_BONUS if codes.community in communities else c * CONFLICT_FACTOR
            return min(1.0, c * factor)

        def agrees(codes: Codes) -> bool:
            named = ((districts, codes.district), (streets, codes.street), (communities, codes.community))
            return any(n for n, _ in named) and all(not n or have in n for n, have in named)

        # one name, several places (阳光小区 in two districts): unsure unless the address tells which
        same_span: dict[tuple[int, int], list[Entry]] = defaultdict(list)
        for h in places:
            same_span[(h.start, h.end)].append(self.entries[h.entry])
        out: list[Match] = []
        for h in places:
            e = self.entries[h.entry]
            base = BASE_CONFIDENCE.get(e.kind, BASE_CONFIDENCE["place"]) * h.weight
            group = same_span[(h.start, h.end)]
            if len(group) > 1 and not (agrees(e.codes) and sum(agrees(g.codes) for g in group) == 1):
                base *= AMBIGUOUS_FACTOR
            if e.kind == "grid":
                out.append(Match(e.lon, e.lat, e.codes, e.name, min(1.0, base), "grid"))
            else:
                out.append(Match(e.lon, e.lat, e.codes, e.name, judged(e.codes, base), e.kind))
        # two roads: their crossing
        distinct = _distinct_roads(self.entries, roads)
        if len(distinct) >= 2:
            for a, b in itertools.pairwise(distinct):
                point = self._crossing(a.entry, b.entry)
                if point is None:
                    continue
                codes = self.locate(*point)
                if codes is None:
                    continue
                ea, eb = self.entries[a.entry], self.entries[b.entry]
                base = BASE_CONFIDENCE["crossing"] * min(a.weight, b.weight)
                if not is_crossing(text, w) and not _joined(text, a, b, w):
                    base *= 0.9
                name = f"{ea.name}/{eb.name}"
                out.append(Match(point[0], point[1], codes, name, judged(codes, base), "crossing"))
        for h in distinct:
            e = self.entries[h.entry]
            number = house_number_after(text, h.end, w)
            if number is not None and e.numbers > 0 and e.geometry is not None:
                share = min(max(number, 1), e.numbers) / e.numbers
                p = shapely.line_interpolate_point(e.geometry, share, normalized=True)
                codes = self.locate(float(p.x), float(p.y))
                if codes is not None:
                    name = f"{e.name}{number}{w.number_word}"
                    base = BASE_CONFIDENCE["road_number"] * h.weight
                    if number > e.numbers:
                        base *= 0.8
                    out.append(Match(float(p.x), float(p.y), codes, name, judged(codes, base), "road_number"))
                    continue
            placed = False
            for level, named in (("community", communities), ("street", streets), ("district", districts)):
                for code in sorted(named):
                    point = self._road_within(h.entry, code)
                    if point is None:
                        continue
                    codes = self.locate(*point)
                    if codes is None:
                        continue
                    base = BASE_CONFIDENCE[f"road_in_{level}"] * h.weight
                    out.append(
                        Match(point[0], point[1], codes, e.name, judged(codes, base), f"road_in_{level}")
                    )
                    placed = True
                if placed:
                    break
            if not placed:
                codes = self.locate(e.lon, e.lat) or e.codes
                base = BASE_CONFIDENCE[ROAD] * h.weight
                out.append(Match(e.lon, e.lat, codes, e.name, min(1.0, base * factor), ROAD))
        # areas, most specific first; an area inside another named one agrees with it
        for level in ("community", "street", "district"):
            for e, weight in admin[level]:
                codes = e.codes
                base = BASE_CONFIDENCE[level] * weight
                if level == "community" and streets and codes.street not in streets:
                    base *= CONFLICT_FACTOR
                if level != "district" and districts:
                    base = base + AGREEMENT_BONUS if codes.district in districts else base * CONFLICT_FACTOR
                out.append(Match(e.lon, e.lat, codes, e.name, min(1.0, base * factor), level, area=True))
        return out

    def _crossing(self, a: int, b: int) -> tuple[float, float] | None:
        key = (min(a, b), max(a, b))
        if key not in self._clip_cache:
            ga, gb = self.entries[a].geometry, self.entries[b].geometry
            point: tuple[float, float] | None = None
            if ga is not None and gb is not None:
                x = shapely.intersection(ga, gb)
                if not x.is_empty:
                    c = shapely.centroid(x)
                    point = (float(c.x), float(c.y))
                elif shapely.distance(ga, gb) < 0.0015:  # roads that almost meet (~150 m)
                    c = shapely.line_interpolate_point(shapely.shortest_line(ga, gb), 0.5, normalized=True)
                    point = (float(c.x), float(c.y))
            self._clip_cache[key] = point
        return self._clip_cache[key]

    def _road_within(self, road: int, area_code: str) -> tuple[float, float] | None:
        area = self.entry_for_code(area_code)
        if area is None or area.geometry is None:
            return None
        key = (road, -1 - self._by_code[area_code])
        if key not in self._clip_cache:
            part = shapely.intersection(self.entries[road].geometry, area.geometry)
            point = None
            if not part.is_empty and part.length > 0:
                p = shapely.line_interpolate_point(
                    max(shapely.get_parts(part), key=lambda g: g.length), 0.5, normalized=True
                )
                point = (float(p.x), float(p.y))
            self._clip_cache[key] = point
        return self._clip_cache[key]

    # ------------------------------------------------------------------ reverse
    def nearest_named(self, lon: float, lat: float, max_m: float = 300.0) -> Entry | None:
        """The nearest place or road within *max_m* metres of the point."""
        if self._points_tree is None:
            idx = [i for i, e in enumerate(self.entries) if e.kind == ROAD or e.kind in POINT_KINDS[:6]]
            geoms = [
                self.entries[i].geometry
                if self.entries[i].kind == ROAD and self.entries[i].geometry is not None
                else shapely.Point(self.entries[i].lon, self.entries[i].lat)
                for i in idx
            ]
            self._points_idx = idx
            self._points_tree = shapely.STRtree(np.asarray(geoms, dtype=object)) if geoms else False
        if not self._points_tree:
            return None
        deg = max_m / 111_000.0 / max(0.2, math.cos(math.radians(lat)))
        hits = self._points_tree.query_nearest(shapely.Point(lon, lat), max_distance=deg)
        if len(hits) == 0:
            return None
        # prefer a place over a road at (about) the same distance
        cands = [self.entries[self._points_idx[int(i)]] for i in hits]
        cands.sort(key=lambda e: (e.kind == ROAD, e.name))
        return cands[0]


def _pairs_of(text: str) -> set[str]:
    """Adjacent character pairs and pairs one apart (锦绣苑: 锦绣, 绣苑, 锦_苑), so that one wrong
    character in a three-character name still shares a pair."""
    return {text[j : j + 2] for j in range(len(text) - 1)} | {
        text[j] + "\x00" + text[j + 2] for j in range(len(text) - 2)
    }


def _distinct_roads(entries: list[Entry], roads: list[_Hit]) -> list[_Hit]:
    """One hit per road name, in text order, the best weighted."""
    best: dict[str, _Hit] = {}
    for h in roads:
        name = entries[h.entry].name
        if name not in best or h.weight > best[name].weight:
            best[name] = h
    return sorted(best.values(), key=lambda h: h.start)


def _joined(text: str, a: _Hit, b: _Hit, words: AddressWords) -> bool:
    between = text[a.end : b.start]
    return between == "" or between in words.joiners


def with_codes(entry: Entry, codes: Codes | None) -> Entry:
    """*entry* with the codes of where it lies (unchanged when *codes* is None)."""
    return entry if codes is None else replace(entry, codes=codes)
