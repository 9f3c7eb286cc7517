"""Text duplicates (重复件) without I/O: normalisation, character shingles, MinHash signatures and their
LSH keys, the verification score, and the same decision applied to a whole file in batch.

The design (``docs/duplicates.md``):

* **Normalisation** — NFKC (full-width letters, digits and punctuation become half-width; circled and
  other digit variants become ASCII digits; Chinese numerals too), lower case, whitespace and the
  boilerplate of hotline work orders removed (您好, 谢谢, 市民来电反映 …, :func:`boilerplate`), then
  everything that is not a letter or digit (punctuation, symbols) dropped. Two texts that differ only
  in spacing, punctuation, width or a greeting normalise to the same string.
* **Shingles** — overlapping character 3-grams of the normalised text (the whole text when shorter),
  hashed to 64 bits with a polynomial over the code points (vectorised, stable across processes).
* **MinHash + LSH** — :data:`NUM_PERM` multiply-shift hash functions give the signature; it is cut into
  :data:`BANDS` bands of :data:`ROWS` rows, each band hashed to one signed 64-bit key. Two texts with
  shingle Jaccard *J* share at least one band key with probability ``1 - (1 - J**ROWS) ** BANDS``
  (J = 0.7 → 0.76, J = 0.8 → 0.97, J = 0.9 → 0.9995), while two unrelated texts (J ≈ 0.1) collide
  with probability 1.2e-5 — so a probe among a million open cases reads a handful of keys, not thousands
  (4 rows per band would read ~4,000 at J ≈ 0.15). One more key, the hash of the whole normalised
  text, makes exact and whitespace/punctuation-only duplicates candidates with certainty.
* **Verification** — a candidate counts only after its exact shingle Jaccard is computed
  (:func:`similarity`), so LSH collisions never merge clearly different texts.
* **Decision** — :func:`score_duplicate`: place (within the configured radius — the real radius, no
  fall-off that shrinks it — or the same grid/community), the time window (applied by the caller's
  candidate search), category when both are known, and the text. The score is ≥ :data:`THRESHOLD` exactly
  when the rules say "the same problem".
"""

from __future__ import annotations

import hashlib
import math
import re
import tomllib
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cache, lru_cache
from importlib import resources
from typing import Any

import numpy as np
import numpy.typing as npt

from civicloop.geo.projection import haversine_m

THRESHOLD = 0.75  # a score at or above it is a duplicate (the intake's setting keeps this default)
TEXT_ONLY_SIMILARITY = 0.7  # shingle Jaccard for two reports whose places are not both known
PLACE_SIMILARITY = 0.5  # … when they are at the same place but their categories are not both known
SAME_REPORTER_SIMILARITY = 0.5  # … when the same citizen (reporter id) sends the text again
SHINGLE = 3
NUM_PERM = 72
BANDS = 12
ROWS = NUM_PERM // BANDS


@cache
def boilerplate() -> tuple[str, ...]:
    """Greetings, thanks and the hotline's own framing (``intake/boilerplate.toml``), longest first: they
    carry nothing about the problem and make two different complaints look alike (or the same one look
    different). Matched after NFKC and lower-casing, before punctuation is dropped."""
    phrases = {unicodedata.normalize("NFKC", p).lower() for p in _word_lists()["phrases"]}
    return tuple(sorted(phrases, key=lambda p: (-len(p), p)))


@cache
def _word_lists() -> dict[str, Any]:
    text = (resources.files("civicloop.intake") / "boilerplate.toml").read_text(encoding="utf-8")
    return tomllib.loads(text)


@cache
def _digits() -> dict[int, str]:
    """Chinese numerals → ASCII digits (``[digits]`` of ``intake/boilerplate.toml``)."""
    return str.maketrans(dict(_word_lists()["digits"]))


@cache
def _boilerplate_re() -> re.Pattern[str]:
    return re.compile("|".join(re.escape(b) for b in boilerplate()))


_NOT_WORD = re.compile(r"[\W_]+")

_P1 = np.uint64(0x9E3779B97F4A7C15)
_P2 = np.uint64(0xC2B2AE3D27D4EB4F)
_rng = np.random.default_rng(47678)
_A = _rng.integers(1, 2**63 - 1, NUM_PERM, dtype=np.uint64) | np.uint64(1)  # odd multipliers
_B = _rng.integers(0, 2**63 - 1, NUM_PERM, dtype=np.uint64)
_BAND_MIX = _rng.integers(1, 2**63 - 1, (BANDS, ROWS), dtype=np.uint64) | np.uint64(1)
_BAND_SALT = _rng.integers(1, 2**63 - 1, BANDS, dtype=np.uint64)  # keys of different bands never meet
_U64 = npt.NDArray[np.uint64]


def normalise(text: str | None) -> str:
    """The text as compared: NFKC, lower case, boilerplate removed, only letters and digits kept."""
    if not text:
        return ""
    s = "".join(unicodedata.normalize("NFKC", text).lower().split())  # whitespace first: 您 好 is 您好
    s = _boilerplate_re().sub("", s)
    return _NOT_WORD.sub("", s).translate(_digits())


def shingle_hashes(norm: str) -> _U64:
    """Sorted unique 64-bit hashes of the character 3-grams of a normalised text (empty text: none)."""
    if not norm:
        return np.empty(0, dtype=np.uint64)
    cp = np.frombuffer(norm.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if cp.size < SHINGLE:
        h = np.zeros(1, dtype=np.uint64)
        for i in range(cp.size):
            h = h * _P1 + cp[i : i + 1] + np.uint64(1)
        return h
    with np.errstate(over="ignore"):
        h = cp[: cp.size - 2] * _P1
        h = (h + cp[1 : cp.size - 1]) * _P2
        h = h + cp[2:] * _P1
        h ^= h >> np.uint64(29)
    return np.unique(h)


def jaccard(a: _U64, b: _U64) -> float:
    """Jaccard similarity of two sorted unique shingle-hash arrays (0 when either is empty)."""
    if a.size == 0 or b.size == 0:
        return 0.0
    inter = np.intersect1d(a, b, assume_unique=True).size
    return inter / (a.size + b.size - inter)


def similarity(text_a: str | None, text_b: str | None) -> float:
    """Shingle Jaccard of two raw texts after normalisation (1.0 for equal non-empty normal forms)."""
    na, nb = normalise(text_a), normalise(text_b)
    if not na or not nb:
        return 0.0
    if na == nb:
        return 1.0
    return gram_jaccard(grams(na), grams(nb))


def minhash(shingles: _U64) -> _U64:
    """The MinHash signature (NUM_PERM values) of a non-empty shingle set."""
    with np.errstate(over="ignore"):
        hv = _A[:, None] * shingles[None, :] + _B[:, None]
    out: _U64 = hv.min(axis=1)
    return out


def exact_key(norm: str) -> int:
    """The signed 64-bit key of the whole normalised text (exact and whitespace-only duplicates)."""
    return int.from_bytes(
        hashlib.blake2b(norm.encode(), digest_size=8, salt=b"exact").digest(), "little", signed=True
    )


def grams(norm: str) -> frozenset[str]:
    """The character 3-grams of a normalised text as a set of strings (the whole text when shorter): the
    same shingles as :func:`shingle_hashes` before hashing, so their Jaccard is the same number (up to a
    2**-64 hash collision) — computed by Python's set intersection in about a microsecond, where the
    arrays' ``intersect1d`` costs tens of microseconds of NumPy call overhead on texts this short."""
    if len(norm) < SHINGLE:
        return frozenset((norm,)) if norm else frozenset()
    return frozenset([norm[i : i + SHINGLE] for i in range(len(norm) - SHINGLE + 1)])


def gram_jaccard(a: frozenset[str], b: frozenset[str]) -> float:
    """Jaccard similarity of two shingle sets (0 when either is empty)."""
    if not a or not b:
        return 0.0
    inter = len(a & b) if len(a) <= len(b) else len(b & a)
    return inter / (len(a) + len(b) - inter)


@dataclass(frozen=True, slots=True)
class TextSignature:
    """What the duplicate search needs of a text: its normal form, shingles and LSH keys.

    ``grams`` (the shingles as strings) is what similarity is computed on; ``shingles`` (their hashes)
    is what MinHash is computed on — empty for a candidate compared only (:func:`shingled`)."""

    norm: str
    shingles: _U64 = field(repr=False)
    keys: tuple[int, ...]  # exact key first, then one key per band; empty for a text without words
    grams: frozenset[str] = field(repr=False, default=frozenset())

    def similarity(self, other: TextSignature) -> float:
        if not self.norm or not other.norm:
            return 0.0
        if self.norm == other.norm:
            return 1.0
        return gram_jaccard(self.grams, other.grams)


def signature(text: str | None) -> TextSignature:
    return signatures([text])[0]


def signatures(texts: Sequence[str | None]) -> list[TextSignature]:
    """The signatures of many texts at once (vectorised over the batch; the same keys as one by one):
    normal forms, their 3-gram hashes (sorted, unique), MinHash in row blocks, band keys, exact keys."""
    norms = [normalise(t) for t in texts]
    out: list[TextSignature] = []
    block: list[int] = []
    grams = 0
    for i, norm in enumerate(norms):
        block.append(i)
        grams += len(norm)
        if grams >= _BLOCK_GRAMS:
            out.extend(_signature_block([norms[k] for k in block]))
            block, grams = [], 0
    if block:
        out.extend(_signature_block([norms[k] for k in block]))
    return out


@lru_cache(maxsize=8_192)
def shingled(text: str | None) -> TextSignature:
    """A candidate's text as compared (normal form and shingle set; no hashes, no LSH keys), cached by
    text (a bounded LRU: ≈ 4 kB an entry): the open cases around a busy place and the cases behind a
    common band key are compared again and again."""
    norm = normalise(text)
    return TextSignature(norm, _EMPTY, (), grams(norm))


_BLOCK_GRAMS = 50_000  # 3-grams per MinHash block: 72 × 50k × 8 bytes ≈ 29 MB of scratch


def _signature_block(norms: list[str]) -> list[TextSignature]:
    filled = [n for n in norms if n]
    if not filled:
        return [TextSignature("", _EMPTY, ()) for _ in norms]
    sets = [shingle_hashes(n) for n in filled]
    sizes = np.fromiter((a.size for a in sets), dtype=np.int64, count=len(sets))
    flat = np.concatenate(sets)
    starts = np.zeros(len(sets), dtype=np.int64)
    np.cumsum(sizes[:-1], out=starts[1:])
    with np.errstate(over="ignore"):
        hv = _A[:, None] * flat[None, :] + _B[:, None]
    sig = np.minimum.reduceat(hv, starts, axis=1).T  # (texts, NUM_PERM)
    bands = _band_keys(np.ascontiguousarray(sig)).tolist()
    it = iter(zip(filled, sets, bands, strict=True))
    result = []
    for norm in norms:
        if not norm:
            result.append(TextSignature("", _EMPTY, ()))
            continue
        n, sh, b = next(it)
        result.append(TextSignature(n, sh, (exact_key(n), *b), grams(n)))
    return result


_EMPTY: _U64 = np.empty(0, dtype=np.uint64)


def _band_keys(sig: _U64) -> npt.NDArray[np.int64]:
    """One signed 64-bit key per band and text: the band's ROWS values mixed (odd multipliers, a salt
    per band) and finalised with splitmix64, so equal bands give equal keys and different bands or
    values collide with probability 2**-64."""
    with np.errstate(over="ignore"):
        x = (sig.reshape(-1, BANDS, ROWS) * _BAND_MIX).sum(axis=2, dtype=np.uint64) + _BAND_SALT
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        x = x ^ (x >> np.uint64(31))
    keys: npt.NDArray[np.int64] = x.view(np.int64)
    return keys


# ---- the decision ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DuplicateCandidate:
    case_id: str
    distance_m: float | None  # None: the places are not both known
    score: float
    reason: str


def score_duplicate(
    *,
    case_id: str,
    distance_m: float | None,
    radius_m: float,
    same_category: bool | None,
    text_similarity: float,
    same_component: bool = False,
    same_area: bool = False,
    same_reporter: bool = False,
) -> DuplicateCandidate:
    """How likely an open case is the same problem (0..1), and why; ≥ :data:`THRESHOLD` means merge.

    * the same component id settles it (1.0);
    * both places known: beyond ``radius_m`` never; within it (the whole radius — 0.99 × radius counts
      as much as 0 m) the same category is enough, an unknown category needs text similarity
      ≥ :data:`PLACE_SIMILARITY`, a different known category never;
    * a place unknown on either side (hotline text, 待定位): the same grid/community, or the same
      reporter, lowers the text similarity needed from :data:`TEXT_ONLY_SIMILARITY` to
      :data:`PLACE_SIMILARITY`; different known categories never match.

    ``same_category``: True/False when both categories are known, None otherwise. The time window is
    the caller's (only open cases reported within it are candidates).
    """
    sim = max(0.0, min(1.0, text_similarity))
    where = (
        f"{distance_m:.0f} m" if distance_m is not None else ("same area" if same_area else "place unknown")
    )
    cat = {True: "same category", False: "other category", None: "category unknown"}[same_category]
    reason = f"{where}, {cat}, text {sim:.2f}"
    if same_component:
        return DuplicateCandidate(case_id, distance_m, 1.0, "same component")
    if same_category is False:
        return DuplicateCandidate(case_id, distance_m, round(0.5 * sim, 3), reason)
    if distance_m is not None:
        if distance_m > radius_m or radius_m <= 0:
            return DuplicateCandidate(case_id, distance_m, round(0.5 * sim, 3), reason)
        closeness = 1.0 - distance_m / radius_m
        if same_category:
            return DuplicateCandidate(
                case_id, distance_m, round(THRESHOLD + 0.15 * closeness + 0.1 * sim, 3), reason
            )
        need = PLACE_SIMILARITY
    else:
        need = PLACE_SIMILARITY if (same_area or same_reporter) else TEXT_ONLY_SIMILARITY
    return DuplicateCandidate(case_id, distance_m, round(_over(sim, need), 3), reason)


def _over(sim: float, need: float) -> float:
    """THRESHOLD at ``sim == need``, rising to 1 at ``sim == 1``; below ``need`` under THRESHOLD."""
    if sim >= need:
        return THRESHOLD + (1 - THRESHOLD) * (sim - need) / (1 - need) if need < 1 else 1.0
    return THRESHOLD * sim / need * 0.99


def best_duplicate(candidates: Iterable[DuplicateCandidate], threshold: float) -> DuplicateCandidate | None:
    ranked = sorted(candidates, key=lambda c: (-c.score, _far(c.distance_m), c.case_id))
    return ranked[0] if ranked and ranked[0].score >= threshold else None


def _far(distance_m: float | None) -> float:
    return math.inf if distance_m is None else distance_m


# ---- batch: the same decision over a file --------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BatchRow:
    text: str
    at: datetime | None = None
    lon: float | None = None
    lat: float | None = None
    category: str | None = None


@dataclass(frozen=True, slots=True)
class BatchSettings:
    radius_m: float = 50.0
    window: timedelta = timedelta(days=7)
    threshold: float = THRESHOLD


def cluster_rows(rows: Sequence[BatchRow], settings: BatchSettings | None = None) -> list[list[int]]:
    """Clusters (≥ 2 rows, 0-based row numbers, ascending) found by the intake's rule, rows taken in time
    order (file order without times): each row is compared with the earlier *masters* (rows not merged
    themselves) reported within the window before it, text candidates from the LSH keys and place
    candidates from a grid of radius-sized cells; the best candidate at or above the threshold is its
    master. As at intake, a member is always verified against its master, never chained."""
    settings = settings or BatchSettings()
    order = sorted(range(len(rows)), key=lambda i: (rows[i].at is None, rows[i].at or datetime.min, i))
    by_key: dict[int, list[int]] = {}
    cells: dict[tuple[int, int], list[int]] = {}
    sigs: dict[int, TextSignature] = {}
    cluster: dict[int, list[int]] = {}
    cell_deg = max(settings.radius_m, 1.0) / 111_320
    all_sigs = signatures([r.text for r in rows])
    for i in order:
        row = rows[i]
        sig = all_sigs[i]
        found: set[int] = set()
        for k in sig.keys:
            found.update(by_key.get(k, ()))
        placed = row.lon is not None and row.lat is not None
        if placed:
            cx, cy = int(row.lon // cell_deg), int(row.lat // cell_deg)  # type: ignore[operator]
            for dx in (-1, 0, 1):
                for dy in (-1, 0, 1):
                    found.update(cells.get((cx + dx, cy + dy), ()))
        best: DuplicateCandidate | None = None
        for j in found:
            other = rows[j]
            if row.at is not None and other.at is not None and row.at - other.at > settings.window:
                continue
            d = (
                float(haversine_m(row.lon, row.lat, other.lon, other.lat))  # type: ignore[arg-type]
                if placed and other.lon is not None and other.lat is not None
                else None
            )
            same_cat = row.category == other.category if row.category and other.category else None
            c = score_duplicate(
                case_id=str(j),
                distance_m=d,
                radius_m=settings.radius_m,
                same_category=same_cat,
                text_similarity=sig.similarity(sigs[j]),
            )
            if c.score >= settings.threshold and (
                best is None or (c.score, -int(c.case_id)) > (best.score, -int(best.case_id))
            ):
                best = c
        if best is not None:
            cluster[int(best.case_id)].append(i)
            continue
        sigs[i] = sig
        cluster[i] = [i]
        for k in sig.keys:
            by_key.setdefault(k, []).append(i)
        if placed:
            cells.setdefault((cx, cy), []).append(i)
    return sorted(sorted(m) for m in cluster.values() if len(m) > 1)
