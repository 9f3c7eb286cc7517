"""Triage (梳理/研判) rules that need no I/O: urgency cues, duplicate scoring, review priority.

The intake service gathers the facts (classifier scores, nearby open cases, the profile's rules) and
these functions decide, each returning its reason so that a person sees why.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from civicloop.kernel.vocabulary import Urgency


@dataclass(frozen=True, slots=True)
class UrgencyDecision:
    urgency: Urgency
    rule: str | None  # the rule that fired, e.g. "category 01003: 井盖 缺失", None when normal


def decide_urgency(
    text: str,
    category_code: str | None,
    category_cues: Sequence[str],
    reported: Urgency | None = None,
    generic_cues: Sequence[Sequence[str]] = (),
) -> UrgencyDecision:
    """Urgent when the reporter said so, when a category cue (all its words) or a generic cue occurs.

    ``generic_cues``: public-safety cues of any category (the intake loads ``intake/urgent_cues.toml``)."""
    low = text.lower()
    for entry in category_cues:
        words = entry.split()
        if words and all(w.lower() in low for w in words):
            return UrgencyDecision(Urgency.URGENT, f"category {category_code}: {entry}")
    for cue in generic_cues:
        if all(w in low for w in cue):
            return UrgencyDecision(Urgency.URGENT, f"generic: {' '.join(cue)}")
    if reported is Urgency.URGENT:
        return UrgencyDecision(Urgency.URGENT, "reporter marked it urgent")
    return UrgencyDecision(Urgency.NORMAL, None)


_TOKEN = re.compile(r"[a-z0-9]+|[\u4e00-\u9fff]")


def shingles(text: str) -> frozenset[str]:
    """Character bigrams for Chinese, words for Latin text: robust to missing spaces and typos."""
    tokens = _TOKEN.findall(text.lower())
    grams = {a + b for a, b in itertools.pairwise(tokens)}
    return frozenset(grams or tokens)


def text_similarity(a: str, b: str) -> float:
    """Jaccard similarity of the shingles (0..1)."""
    sa, sb = shingles(a), shingles(b)
    if not sa or not sb:
        return 0.0
    return len(sa & sb) / len(sa | sb)


@dataclass(frozen=True, slots=True)
class DuplicateCandidate:
    case_id: str
    distance_m: float
    score: float
    reason: str


def score_duplicate(
    *,
    case_id: str,
    distance_m: float,
    radius_m: float,
    same_category: bool,
    text_a: str,
    text_b: str,
    same_component: bool,
) -> DuplicateCandidate:
    """How likely an open case is the same problem (0..1), and why.

    Distance dominates (same place), then category, then text; the same component id settles it.
    """
    if same_component:
        return DuplicateCandidate(case_id, distance_m, 1.0, "same component")
    # Quadratic fall-off: a few metres apart is the same spot (GPS error); near the ring's edge only a
    # similar text makes it the same problem.
    closeness = max(0.0, 1.0 - (distance_m / radius_m) ** 2) if radius_m > 0 else 0.0
    similarity = text_similarity(text_a, text_b) if text_a and text_b else 0.0
    score = 0.5 * closeness + (0.35 if same_category else 0.0) + 0.15 * min(1.0, similarity * 2)
    reason = (
        f"{distance_m:.0f} m away, {'same' if same_category else 'related'} category, text {similarity:.2f}"
    )
    return DuplicateCandidate(case_id, distance_m, round(score, 3), reason)


def best_duplicate(candidates: Iterable[DuplicateCandidate], threshold: float) -> DuplicateCandidate | None:
    ranked = sorted(candidates, key=lambda c: (-c.score, c.distance_m, c.case_id))
    return ranked[0] if ranked and ranked[0].score >= threshold else None


def review_priority(urgency: Urgency, cluster_size: int, reported_at: datetime, now: datetime) -> float:
    """Order of the review queue: urgent first, bigger clusters next, then the longest waiting."""
    waited_h = max(0.0, (now - reported_at).total_seconds() / 3600)
    return (100.0 if urgency is Urgency.URGENT else 0.0) + 10 * math.log2(cluster_size) + min(waited_h, 48)
