"""The web's read models apply the one scope rule of :func:`civicloop.cases.scope.can_view_fields`.

The open-case index filters in numpy (``scope_mask``) and the live hub on event messages (``visible``);
both must answer exactly what the workflow API's ``can_view`` answers for the same case and actor.
"""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime

from civicloop.cases.core import Actor
from civicloop.cases.scope import can_view_fields
from civicloop.kernel.vocabulary import Role
from civicloop.web.index import OpenCaseIndex, Row
from civicloop.web.live import scope_key, visible

DEPARTMENTS = ("d1", "d2", None)
DISTRICTS = ("140105", "140106", None)
GRIDS = ("g1", "g2", "g3", None)
REPORTERS = ("u-inspector", "c-1", None)


def _rows() -> list[Row]:
    rows = []
    for i, (dept, district, grid, reporter) in enumerate(
        itertools.product(DEPARTMENTS, DISTRICTS, GRIDS, REPORTERS)
    ):
        rows.append(
            Row(
                case_id=f"C{i:04d}",
                version=1,
                stage="dispatched",
                category_code="0101",
                urgency="normal",
                department_id=dept,
                district_code=district,
                grid_code=grid,
                lon=112.5,
                lat=37.8,
                created_at=datetime(2026, 11, 16, tzinfo=UTC),
                reporter_id=reporter,
                yellow_at=1e12,
                red_at=2e12,
                fixed=0,
            )
        )
    return rows


def _actors() -> list[Actor]:
    actors = [Actor("u-admin", Role.ADMIN), Actor("sys", Role.SYSTEM), Actor("u-leader", Role.LEADER)]
    actors += [Actor("u-dept", Role.DEPARTMENT, department_id=d) for d in ("d1", "d2", "d9", None)]
    actors += [Actor(c, Role.CITIZEN) for c in ("c-1", "c-2")]
    actors += [
        Actor("u-inspector", Role.INSPECTOR, grid_codes=("g1",)),
        Actor("u-inspector", Role.INSPECTOR, grid_codes=("g2", "g9"), district_codes=("140105",)),
        Actor("u-inspector", Role.INSPECTOR, district_codes=("140106",)),
        Actor("u-inspector", Role.INSPECTOR),
        Actor("u-op", Role.OPERATOR, district_codes=("140105", "140999")),
        Actor("u-disp", Role.DISPATCHER),
        Actor("u-shift", Role.SHIFT_LEADER, district_codes=("140106",)),
        Actor("u-shift2", Role.SHIFT_LEADER, district_codes=("140106",)),
        Actor("u-leader2", Role.LEADER, district_codes=("140106",)),
        Actor("u-dept2", Role.DEPARTMENT, department_id="d1"),
        Actor("u-inspector2", Role.INSPECTOR, district_codes=("140106",)),
    ]
    return actors


def test_the_index_scope_is_can_view() -> None:
    rows = _rows()
    random.Random(7).shuffle(rows)
    index = OpenCaseIndex(capacity=8)
    index.upsert(rows)
    slots = index.slots
    for actor in _actors():
        mask = index.scope_mask(actor)
        for r in rows:
            expected = can_view_fields(
                actor,
                department_id=r.department_id,
                reporter_id=r.reporter_id,
                grid_code=r.grid_code,
                district_code=r.district_code,
            )
            assert bool(mask[slots[r.case_id]]) is expected, (actor, r)


def test_the_live_stream_scope_is_can_view() -> None:
    for actor, r in itertools.product(_actors(), _rows()):
        message = {"department": r.department_id, "_reporter": r.reporter_id, "grid": r.grid_code}
        message["district"] = r.district_code
        expected = can_view_fields(
            actor,
            department_id=r.department_id,
            reporter_id=r.reporter_id,
            grid_code=r.grid_code,
            district_code=r.district_code,
        )
        assert visible(actor, message) is expected, (actor, r)


def _sees(actor: Actor, r: Row) -> bool:
    return can_view_fields(
        actor,
        department_id=r.department_id,
        reporter_id=r.reporter_id,
        grid_code=r.grid_code,
        district_code=r.district_code,
    )


def test_subscribers_sharing_counts_see_the_same_cases() -> None:
    """The hub computes counts once per ``scope_key``: actors with one key must see exactly the same."""
    rows = _rows()
    by_key: dict[tuple[object, ...], list[Actor]] = {}
    for actor in _actors():
        by_key.setdefault(scope_key(actor), []).append(actor)
    assert any(len(group) > 1 for group in by_key.values())
    for group in by_key.values():
        first = [_sees(group[0], r) for r in rows]
        for other in group[1:]:
            assert [_sees(other, r) for r in rows] == first, (group[0], other)
