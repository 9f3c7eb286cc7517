"""Projection rebuild: replay every event and compare with (or rewrite) the stored case table.

The event log is the source of truth. ``check`` proves that the projection says nothing the events do
not; ``rewrite`` repairs it if it ever drifts (a bug, a hand edit).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import groupby
from typing import Any

import orjson

from civicloop.cases.core import CaseState, Event, replay
from civicloop.cases.store import GENESIS_HASH, EventStore, event_row, projection_row


@dataclass(slots=True)
class Difference:
    case_id: str
    column: str
    stored: Any
    replayed: Any


@dataclass(slots=True)
class RebuildReport:
    cases: int = 0
    events: int = 0
    differences: list[Difference] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)  # events but no projection row
    orphans: list[str] = field(default_factory=list)  # projection row without events

    @property
    def ok(self) -> bool:
        return not (self.differences or self.missing or self.orphans)


def _replayed(store: EventStore, city_id: str) -> Iterator[tuple[str, CaseState, str, int]]:
    with store.read() as conn:
        for case_id, group in groupby(store.iter_events(conn, city_id), key=lambda e: e.case_id):
            evs: list[Event] = list(group)
            state = replay(evs)
            assert state is not None
            last = GENESIS_HASH
            for e in evs:
                _, last = event_row(e, last)
            yield case_id, state, last, len(evs)


def _normalise(column: str, value: Any) -> Any:
    if column == "doc" and isinstance(value, str):
        return orjson.loads(value)
    if isinstance(value, float):
        return round(value, 9)
    return value


def check(store: EventStore, city_id: str, *, limit: int = 100) -> RebuildReport:
    report = RebuildReport()
    with store.read() as conn:
        stored_rows = {r.case_id: r._mapping for r in store.iter_projection_rows(conn, city_id)}
    for case_id, state, last_hash, n in _replayed(store, city_id):
        report.cases += 1
        report.events += n
        stored = stored_rows.pop(case_id, None)
        if stored is None:
            report.missing.append(case_id)
            continue
        expected = projection_row(state, last_hash)
        for column, value in expected.items():
            differs = _normalise(column, stored[column]) != _normalise(column, value)
            if differs and len(report.differences) < limit:
                report.differences.append(Difference(case_id, column, stored[column], value))
    report.orphans = sorted(stored_rows)
    return report


def rewrite(store: EventStore, city_id: str, *, batch: int = 2000) -> RebuildReport:
    """Replace the whole projection of *city_id* by the replay of its events."""
    report = RebuildReport()
    replayed = list(_replayed(store, city_id))

    def rows() -> Iterator[dict[str, Any]]:
        for _case_id, state, last_hash, n in replayed:
            report.cases += 1
            report.events += n
            yield projection_row(state, last_hash)

    with store.write() as conn:
        store.replace_projection(conn, city_id, rows(), batch=batch)
    return report
