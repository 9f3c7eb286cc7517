"""The open-case index of the big screen (大屏): where every open case is and when its light changes.

Built once from the case table (one query, only the columns and document keys the screen needs), then
kept current by the live poller (:mod:`civicloop.web.live`), which reloads every case an event touched,
and reconciled against the table every minute (cases written by other processes with old event times are
caught there). Everything the screen asks — lights now, counts by light, stage, category and department,
map clusters — is a handful of vectorised numpy operations over 100,000 rows, well under 10 ms.

Scope is applied here the way :func:`civicloop.cases.scope.can_view` applies it: a department sees its
own cases, an inspector with grids their grids (and their own reports), a district-scoped user their
districts.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from civicloop.cases.core import Actor
from civicloop.cases.store import index_records
from civicloop.kernel.clock import WorkCalendar
from civicloop.kernel.vocabulary import Role, Stage
from civicloop.web.lights import (
    DOC_KEYS,
    GREEN,
    NO_LIGHT,
    RED,
    YELLOW,
    inputs_from_values,
    lights_at,
    schedule,
)

if TYPE_CHECKING:
    from sqlalchemy import Connection

STAGES: tuple[Stage, ...] = tuple(Stage)
_STAGE_INDEX = {s.value: i for i, s in enumerate(STAGES)}
_TERMINAL = frozenset(s.value for s in Stage if s.is_terminal)


@dataclass(frozen=True, slots=True)
class Row:
    """What the index keeps of one case."""

    case_id: str
    version: int
    stage: str
    category_code: str | None
    urgency: str
    department_id: str | None
    district_code: str | None
    grid_code: str | None
    lon: float | None
    lat: float | None
    created_at: datetime
    reporter_id: str | None
    yellow_at: float
    red_at: float
    fixed: int


class Interner:
    """Strings ↔ small integers (codes of categories, departments, districts, grids); -1 is None."""

    def __init__(self) -> None:
        self.values: list[str] = []
        self.index: dict[str, int] = {}

    def id(self, value: str | None) -> int:
        if value is None:
            return -1
        i = self.index.get(value)
        if i is None:
            i = self.index[value] = len(self.values)
            self.values.append(value)
        return i

    def find(self, values: Iterable[str]) -> list[int]:
        return [self.index[v] for v in values if v in self.index]


def load_rows(
    conn: Connection, city_id: str, calendar: WorkCalendar, case_ids: Sequence[str] | None = None
) -> list[Row]:
    """Open cases (all, or those of *case_ids* whatever their status) as index rows."""
    return [
        _row(values, created, doc_values, calendar)
        for values, created, doc_values in index_records(conn, city_id, DOC_KEYS, case_ids)
    ]


def _row(values: Sequence[Any], created: datetime, doc_values: list[Any], calendar: WorkCalendar) -> Row:
    sched = schedule(inputs_from_values(values[2], doc_values), calendar)
    return Row(
        values[0], int(values[1]), values[2], values[3], values[4], values[5], values[6], values[7],
        values[8], values[9], created, doc_values[6], sched.yellow_at, sched.red_at, sched.fixed,
    )  # fmt: skip


class OpenCaseIndex:
    """Open cases in parallel numpy arrays (one slot per case; freed slots are reused)."""

    def __init__(self, capacity: int = 1024) -> None:
        self.lock = threading.RLock()
        self.ready = threading.Event()
        self.built_seconds: float | None = None
        self.categories = Interner()
        self.departments = Interner()
        self.districts = Interner()
        self.grids = Interner()
        self.slots: dict[str, int] = {}
        self.free: list[int] = []
        self.ids: list[str | None] = []
        self.reporters: list[str | None] = []
        self._alloc(capacity)
        self.size = 0  # slots in use or freed (the high-water mark)

    def _alloc(self, capacity: int) -> None:
        def grow(old: NDArray[Any] | None, dtype: Any, fill: Any) -> NDArray[Any]:
            new = np.full(capacity, fill, dtype=dtype)
            if old is not None:
                new[: len(old)] = old
            return new

        existing = getattr(self, "active", None)
        self.active: NDArray[np.bool_] = grow(existing, np.bool_, False)
        self.lon: NDArray[np.float64] = grow(getattr(self, "lon", None), np.float64, np.nan)
        self.lat: NDArray[np.float64] = grow(getattr(self, "lat", None), np.float64, np.nan)
        self.yellow_at: NDArray[np.float64] = grow(getattr(self, "yellow_at", None), np.float64, np.inf)
        self.red_at: NDArray[np.float64] = grow(getattr(self, "red_at", None), np.float64, np.inf)
        self.fixed: NDArray[np.int8] = grow(getattr(self, "fixed", None), np.int8, NO_LIGHT)
        self.stage: NDArray[np.int16] = grow(getattr(self, "stage", None), np.int16, -1)
        self.category: NDArray[np.int32] = grow(getattr(self, "category", None), np.int32, -1)
        self.department: NDArray[np.int32] = grow(getattr(self, "department", None), np.int32, -1)
        self.district: NDArray[np.int32] = grow(getattr(self, "district", None), np.int32, -1)
        self.grid: NDArray[np.int32] = grow(getattr(self, "grid", None), np.int32, -1)
        self.urgent: NDArray[np.bool_] = grow(getattr(self, "urgent", None), np.bool_, False)
        self.created: NDArray[np.float64] = grow(getattr(self, "created", None), np.float64, np.nan)
        self.version: NDArray[np.int32] = grow(getattr(self, "version", None), np.int32, 0)
        missing = capacity - len(self.ids)
        self.ids.extend([None] * missing)
        self.reporters.extend([None] * missing)

    # ---- writing ------------------------------------------------------------------------------

    def replace_all(self, rows: Sequence[Row]) -> None:
        with self.lock:
            self.slots.clear()
            self.free.clear()
            self.ids = []
            self.reporters = []
            for name in (
                "active",
                "lon",
                "lat",
                "yellow_at",
                "red_at",
                "fixed",
                "stage",
                "category",
                "department",
                "district",
                "grid",
                "urgent",
                "created",
                "version",
            ):
                setattr(self, name, None)
            self._alloc(max(1024, int(len(rows) * 1.25)))
            self.size = 0
            self.upsert(rows)

    def upsert(self, rows: Iterable[Row]) -> list[str]:
        """Add or update rows; a row of a closed case removes it. Returns the ids that changed."""
        changed: list[str] = []
        with self.lock:
            for row in rows:
                if row.stage in _TERMINAL:
                    if self.remove(row.case_id):
                        changed.append(row.case_id)
                    continue
                slot = self.slots.get(row.case_id)
                if slot is None:
                    slot = self._new_slot(row.case_id)
                elif self.version[slot] > row.version:
                    continue  # an older read than what we hold
                self._set(slot, row)
                changed.append(row.case_id)
        return changed

    def _new_slot(self, case_id: str) -> int:
        if self.free:
            slot = self.free.pop()
        else:
            if self.size >= len(self.active):
                self._alloc(max(1024, len(self.active) * 2))
            slot = self.size
            self.size += 1
        self.slots[case_id] = slot
        self.ids[slot] = case_id
        return slot

    def _set(self, slot: int, row: Row) -> None:
        self.active[slot] = True
        self.lon[slot] = np.nan if row.lon is None else row.lon
        self.lat[slot] = np.nan if row.lat is None else row.lat
        self.yellow_at[slot] = row.yellow_at
        self.red_at[slot] = row.red_at
        self.fixed[slot] = row.fixed
        self.stage[slot] = _STAGE_INDEX[row.stage]
        self.category[slot] = self.categories.id(row.category_code)
        self.department[slot] = self.departments.id(row.department_id)
        self.district[slot] = self.districts.id(row.district_code)
        self.grid[slot] = self.grids.id(row.grid_code)
        self.urgent[slot] = row.urgency == "urgent"
        self.created[slot] = row.created_at.timestamp()
        self.version[slot] = row.version
        self.reporters[slot] = row.reporter_id

    def remove(self, case_id: str) -> bool:
        with self.lock:
            slot = self.slots.pop(case_id, None)
            if slot is None:
                return False
            self.active[slot] = False
            self.ids[slot] = None
            self.reporters[slot] = None
            self.fixed[slot] = NO_LIGHT
            self.free.append(slot)
            return True

    def versions(self) -> dict[str, int]:
        with self.lock:
            return {cid: int(self.version[slot]) for cid, slot in self.slots.items()}

    # ---- reading ------------------------------------------------------------------------------

    def __len__(self) -> int:
        return len(self.slots)

    def scope_mask(self, actor: Actor | None) -> NDArray[np.bool_]:
        """Active slots the actor may see (mirrors ``can_view``)."""
        n = self.size
        active = self.active[:n]
        if actor is None or actor.role in (Role.SYSTEM, Role.ADMIN):
            return active.copy()
        if actor.role is Role.DEPARTMENT:
            if not actor.department_id or actor.department_id not in self.departments.index:
                return np.zeros(n, dtype=np.bool_)
            mine: NDArray[np.bool_] = self.department[:n] == self.departments.index[actor.department_id]
            return active & mine
        if actor.role is Role.CITIZEN:
            return active & self._own(actor.id, n)
        if actor.role is Role.INSPECTOR and actor.grid_codes:
            wanted = np.asarray(self.grids.find(actor.grid_codes), dtype=np.int32)
            return active & (np.isin(self.grid[:n], wanted) | self._own(actor.id, n))
        if actor.district_codes:
            wanted = np.asarray(self.districts.find(actor.district_codes), dtype=np.int32)
            return active & np.isin(self.district[:n], wanted)
        return active.copy()

    def _own(self, actor_id: str, n: int) -> NDArray[np.bool_]:
        return np.fromiter((r == actor_id for r in self.reporters[:n]), dtype=np.bool_, count=n)

    def lights(self, now: float) -> NDArray[np.int8]:
        n = self.size
        return lights_at(now, self.yellow_at[:n], self.red_at[:n], self.fixed[:n])

    def light_of(self, case_id: str, now: float) -> int | None:
        with self.lock:
            slot = self.slots.get(case_id)
            if slot is None:
                return None
            return int(
                lights_at(
                    now,
                    self.yellow_at[slot : slot + 1],
                    self.red_at[slot : slot + 1],
                    self.fixed[slot : slot + 1],
                )[0]
            )

    def counts(self, actor: Actor | None, now: float) -> dict[str, Any]:
        """Counts by light, stage, category, department and district of the open cases in scope."""
        with self.lock:
            mask = self.scope_mask(actor)
            light = self.lights(now)[mask]
            stage = self.stage[: self.size][mask]
            cat = self.category[: self.size][mask]
            dept = self.department[: self.size][mask]
            dist = self.district[: self.size][mask]
            urgent = int(self.urgent[: self.size][mask].sum())
            cat_names = list(self.categories.values)
            dept_names = list(self.departments.values)
            dist_names = list(self.districts.values)
        by_light = np.bincount(light, minlength=4)
        by_stage = np.bincount(stage[stage >= 0], minlength=len(STAGES))

        def grouped(keys: NDArray[np.int32], names: list[str]) -> list[dict[str, Any]]:
            if keys.size == 0:
                return []
            shifted = keys + 1  # -1 (None) → 0
            size = len(names) + 1
            total = np.bincount(shifted, minlength=size)
            red = np.bincount(shifted[light == RED], minlength=size)
            yellow = np.bincount(shifted[light == YELLOW], minlength=size)
            rows: list[dict[str, Any]] = [
                {
                    "key": None if i == 0 else names[i - 1],
                    "open": int(total[i]),
                    "yellow": int(yellow[i]),
                    "red": int(red[i]),
                }
                for i in np.nonzero(total)[0]
            ]
            rows.sort(key=lambda r: (-int(r["open"]), str(r["key"])))
            return rows

        return {
            "open": int(mask.sum()),
            "urgent": urgent,
            "lights": {
                "green": int(by_light[GREEN]),
                "yellow": int(by_light[YELLOW]),
                "red": int(by_light[RED]),
                "none": int(by_light[NO_LIGHT]),
            },
            "stages": {STAGES[i].value: int(n) for i, n in enumerate(by_stage) if n},
            "categories": grouped(cat, cat_names),
            "departments": grouped(dept, dept_names),
            "districts": grouped(dist, dist_names),
        }

    def map_view(
        self,
        actor: Actor | None,
        now: float,
        bbox: tuple[float, float, float, float] | None,
        zoom: int,
        *,
        max_points: int = 3000,
    ) -> dict[str, Any]:
        """The cases in *bbox* (WGS84): each case when there are few, else square clusters.

        A cluster's cell is about a quarter of a map tile at *zoom* (≈ 64 px), so a screen holds a few
        hundred clusters at most; each carries its count by light and the mean position of its cases.
        """
        with self.lock:
            mask = self.scope_mask(actor)
            n = self.size
            lon, lat = self.lon[:n], self.lat[:n]
            mask &= ~np.isnan(lon)
            if bbox is not None:
                w, s, e, nn = bbox
                mask &= (lon >= w) & (lon <= e) & (lat >= s) & (lat <= nn)
            idx = np.nonzero(mask)[0]
            light = self.lights(now)[idx]
            plon, plat = lon[idx], lat[idx]
            if idx.size <= max_points:
                ids = [self.ids[i] for i in idx]
                stage = self.stage[idx]
                cat = self.category[idx]
                cats = self.categories.values
                points = [
                    [
                        cid,
                        round(float(x), 6),
                        round(float(y), 6),
                        int(li),
                        STAGES[int(st)].value,
                        cats[int(c)] if c >= 0 else None,
                    ]
                    for cid, x, y, li, st, c in zip(ids, plon, plat, light, stage, cat, strict=True)
                ]
                return {"mode": "points", "total": int(idx.size), "points": points}
        cell = 360.0 / (2 ** max(0, min(zoom, 22))) / 4
        gx = np.floor(plon / cell).astype(np.int64)
        gy = np.floor(plat / cell).astype(np.int64)
        key = gx * 4_000_000 + gy
        uniq, inverse = np.unique(key, return_inverse=True)
        m = uniq.size
        count = np.bincount(inverse, minlength=m)
        sx = np.bincount(inverse, weights=plon, minlength=m)
        sy = np.bincount(inverse, weights=plat, minlength=m)
        by = [np.bincount(inverse[light == code], minlength=m) for code in (GREEN, YELLOW, RED, NO_LIGHT)]
        clusters = [
            [
                round(float(sx[i] / count[i]), 6),
                round(float(sy[i] / count[i]), 6),
                int(count[i]),
                int(by[0][i]),
                int(by[1][i]),
                int(by[2][i]),
                int(by[3][i]),
            ]
            for i in range(m)
        ]
        return {"mode": "clusters", "total": int(idx.size), "cell_deg": cell, "clusters": clusters}


def build(index: OpenCaseIndex, conn: Connection, city_id: str, calendar: WorkCalendar) -> int:
    """(Re)build the whole index from the case table; returns the number of open cases."""
    started = time.perf_counter()
    rows = load_rows(conn, city_id, calendar)
    index.replace_all(rows)
    index.built_seconds = round(time.perf_counter() - started, 3)
    index.ready.set()
    return len(rows)
