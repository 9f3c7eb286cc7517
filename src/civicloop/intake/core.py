"""Triage (梳理/研判) rules that need no I/O: urgency cues, review priority (duplicate scoring is
:mod:`civicloop.intake.dedupe`).

The intake service gathers the facts (classifier scores, nearby open cases, the profile's rules) and
these functions decide, each returning its reason so that a person sees why.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
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


def review_priority(urgency: Urgency, cluster_size: int, reported_at: datetime, now: datetime) -> float:
    """Order of the review queue: urgent first, bigger clusters next, then the longest waiting."""
    waited_h = max(0.0, (now - reported_at).total_seconds() / 3600)
    return (100.0 if urgency is Urgency.URGENT else 0.0) + 10 * math.log2(cluster_size) + min(waited_h, 48)
