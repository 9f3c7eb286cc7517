"""Chinese address text, pure: normalisation, numerals, the words around a place, phrase extraction.

No I/O beyond reading the packaged word list once (``geo/data/address_words.toml``: the level suffixes,
road kinds, relation words such as 附近/对面/门口, place-kind groups such as 小区/花园/苑). The gazetteer
(:mod:`civicloop.geo.gazetteer`) matches names in the normalised text; this module only prepares it.

* :func:`normalise` — NFKC (full-width １２号 → 12号), lower case, whitespace and punctuation removed,
  ``#`` → 号, Chinese numerals before a counter (十二号 → 12号, 三单元 → 3单元) or after 第 → digits.
* :func:`strip_admin_prefix` — 山西省太原市… → …: the province and the city's own names at the start.
* :func:`relations_in` — the relation words present (附近, 对面, 路口, …), longest first.
* :func:`house_number_after` — the house number right after a road name (并州路12号 → 12).
* :func:`extract_phrase` — the address phrase of a description (…在并州路12号门口有… → 并州路12号门口).
"""

from __future__ import annotations

import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

__all__ = [
    "AddressWords",
    "address_words",
    "chinese_number",
    "extract_phrase",
    "house_number_after",
    "normalise",
    "relations_in",
    "short_forms",
    "strip_admin_prefix",
]


@dataclass(frozen=True, eq=False)  # identity hash: the regexes are cached per instance
class AddressWords:
    """The words of :data:`address_words.toml`, with the regular expressions built from them."""

    digits: dict[str, int]
    units: dict[str, int]
    ordinal: str
    counters: tuple[str, ...]
    levels: dict[str, tuple[str, ...]]
    provinces: tuple[str, ...]
    road_suffixes: tuple[str, ...]
    number_word: str
    relations: tuple[str, ...]
    crossing: tuple[str, ...]
    joiners: tuple[str, ...]
    building: tuple[str, ...]
    place_groups: dict[str, tuple[str, ...]]
    lead: tuple[str, ...]
    stop: tuple[str, ...]
    external_levels: dict[str, float]

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> AddressWords:
        def longest_first(words: Any) -> tuple[str, ...]:
            return tuple(sorted({str(w) for w in words}, key=lambda w: (-len(w), w)))

        levels = doc["levels"]
        return cls(
            digits={str(k): int(v) for k, v in doc["numerals"]["digits"].items()},
            units={str(k): int(v) for k, v in doc["numerals"]["units"].items()},
            ordinal=str(doc["numerals"]["ordinal"]),
            counters=longest_first(doc["numerals"]["counters"]),
            levels={
                k: longest_first(v) for k, v in levels.items() if isinstance(v, list) and k != "provinces"
            },
            provinces=longest_first(levels.get("provinces", [])),
            road_suffixes=longest_first(doc["roads"]["suffixes"]),
            number_word=str(doc["roads"]["number"]),
            relations=longest_first(doc["relations"]["words"]),
            crossing=longest_first(doc["relations"]["crossing"]),
            joiners=longest_first(doc["relations"]["joiners"]),
            building=longest_first(doc["relations"]["building"]),
            place_groups={k: longest_first(v) for k, v in doc["places"].items()},
            lead=longest_first(doc["extract"]["lead"]),
            stop=longest_first(doc["extract"]["stop"]),
            external_levels={str(k): float(v) for k, v in doc.get("external", {}).get("levels", {}).items()},
        )

    # ---- derived, built once per instance
    @property
    def _numeral_chars(self) -> str:
        return "".join(sorted({*self.digits, *self.units}))

    @property
    def numeral_re(self) -> re.Pattern[str]:
        return _numeral_re(self)

    @property
    def number_re(self) -> re.Pattern[str]:
        return _number_re(self)


@cache
def _numeral_re(words: AddressWords) -> re.Pattern[str]:
    chars = re.escape(words._numeral_chars)
    counters = "|".join(re.escape(c) for c in words.counters)
    ordinal = re.escape(words.ordinal)
    return re.compile(f"(?<={ordinal})([{chars}]+)|([{chars}]+)(?=(?:{counters}))")


@cache
def _number_re(words: AddressWords) -> re.Pattern[str]:
    return re.compile(r"(\d{1,5})(?:-\d{1,5})?" + re.escape(words.number_word))


# Characters dropped by normalisation: everything that is not a letter, digit or CJK ideograph, except
# '-' inside a number (12-3号).
_DROP = re.compile(r"[^\w\-]|_", re.UNICODE)
_HASH_NUMBER = re.compile(r"(\d)#")


@cache
def address_words() -> AddressWords:
    """The packaged word list (read once)."""
    text = (resources.files("civicloop.geo") / "data" / "address_words.toml").read_text(encoding="utf-8")
    return AddressWords.from_dict(tomllib.loads(text))


def chinese_number(text: str, words: AddressWords | None = None) -> int | None:
    """十二 → 12, 二〇三 → 203, 一百零五 → 105, 两千 → 2000; None when *text* is not a numeral."""
    w = words or address_words()
    if not text or any(ch not in w.digits and ch not in w.units for ch in text):
        return None
    if not any(ch in w.units for ch in text):  # digit by digit: 二〇三
        return int("".join(str(w.digits[ch]) for ch in text))
    total, current = 0, None
    for ch in text:
        if ch in w.digits:
            current = w.digits[ch]
        else:
            total += (1 if current is None else current) * w.units[ch]
            current = None
    return total + (current or 0)


def normalise(text: str, words: AddressWords | None = None) -> str:
    """The comparable form of an address (see the module doc); idempotent."""
    w = words or address_words()
    s = unicodedata.normalize("NFKC", text).casefold()
    s = _HASH_NUMBER.sub(lambda m: m.group(1) + w.number_word, s)
    s = _DROP.sub("", s)

    def numeral(m: re.Match[str]) -> str:
        raw = m.group(1) or m.group(2)
        value = chinese_number(raw, w)
        return raw if value is None else str(value)

    return w.numeral_re.sub(numeral, s)


def strip_admin_prefix(text: str, prefixes: tuple[str, ...] = (), words: AddressWords | None = None) -> str:
    """*text* (normalised) without a leading province and the given city names (longest first), e.g.
    山西省太原市小店区… → 小店区… with ``prefixes=("太原市", "太原")``. Something always remains."""
    m = _prefix_re(words or address_words(), tuple(sorted(set(prefixes), key=len, reverse=True))).match(text)
    return text[m.end() :] if m and m.end() < len(text) else text


@cache
def _prefix_re(words: AddressWords, prefixes: tuple[str, ...]) -> re.Pattern[str]:
    provinces = "|".join(re.escape(p) for p in words.provinces)
    suffixes = "|".join(re.escape(s) for s in words.levels.get("province", ()))
    cities = "|".join(re.escape(p) for p in prefixes if p)
    pattern = f"(?:(?:{provinces})(?:{suffixes})?)?"
    if cities:
        pattern += f"(?:{cities})?"
    return re.compile(pattern)


def short_forms(name: str, level: str, words: AddressWords | None = None) -> list[str]:
    """The name without its level word (小店区 → 小店, 坞城街道 → 坞城); empty when nothing is left
    that could stand alone (at least two characters)."""
    w = words or address_words()
    out = []
    for suffix in w.levels.get(level, ()):
        if name.endswith(suffix) and len(name) - len(suffix) >= 2:
            out.append(name[: -len(suffix)])
            break
    return out


def relations_in(text: str, words: AddressWords | None = None) -> tuple[str, ...]:
    """The relation words in *text* (附近, 对面, 门口, 路口, …), longest first, each once."""
    w = words or address_words()
    return tuple(r for r in w.relations if r in text)


def is_crossing(text: str, words: AddressWords | None = None) -> bool:
    """*text* says "at the crossing" (路口, 交叉口, …)."""
    w = words or address_words()
    return any(c in text for c in w.crossing)


def house_number_after(text: str, end: int, words: AddressWords | None = None) -> int | None:
    """The house number starting at *end* (right after a road name): 并州路12号 → 12."""
    w = words or address_words()
    m = w.number_re.match(text, end)
    return int(m.group(1)) if m else None


def extract_phrase(description: str, words: AddressWords | None = None) -> str | None:
    """The address phrase of a free-text description: what follows a lead word (在, 位于, 地址, …) up
    to a stop word (有, 的, a comma, …); None when there is no lead word."""
    w = words or address_words()
    s = unicodedata.normalize("NFKC", description)
    best: str | None = None
    for lead in w.lead:
        start = s.find(lead)
        while start >= 0:
            rest = s[start + len(lead) :].lstrip(": ")
            cut = len(rest)
            for stop in w.stop:
                i = rest.find(stop)
                if 0 <= i < cut:
                    cut = i
            phrase = rest[:cut].strip()
            if len(phrase) >= 3 and (best is None or len(phrase) > len(best)):
                best = phrase
            start = s.find(lead, start + 1)
    return best
