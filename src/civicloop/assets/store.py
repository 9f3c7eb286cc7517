"""The assets' queries: the component registry and its state history, inspectors' duty grids, patrols.

The tables themselves are declared in :mod:`civicloop.geo.store` (with the geography's, unchanged
names and schema); this module is the only one of the capability that builds SQL on them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Engine, and_, delete, func, insert, inspect, literal_column, select, update

from civicloop.geo.store import (
    bulk_insert,
    component_states,
    components,
    duty_grids,
    patrol_checks,
    patrol_grids,
    patrols,
)
from civicloop.store.tables import cases

# --------------------------------------------------------------------------- components


def insert_components(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Insert component rows (their ids are new) through the DBAPI's executemany."""
    return bulk_insert(conn, components, rows)


def replace_component(conn: Connection, city_id: str, row: Mapping[str, Any]) -> None:
    """Replace the stored row of one component by *row*."""
    conn.execute(
        delete(components).where(
            and_(components.c.city_id == city_id, components.c.component_id == row["component_id"])
        )
    )
    conn.execute(insert(components).values(**row))


def component_row(conn: Connection, city_id: str, component_id: str) -> Any:
    """The stored row of a component, or None."""
    return conn.execute(
        select(components).where(
            and_(components.c.city_id == city_id, components.c.component_id == component_id)
        )
    ).first()


def component_rows(conn: Connection, city_id: str, ids: Sequence[str]) -> list[Any]:
    """The stored rows of the components among *ids* (in chunks of 500)."""
    out: list[Any] = []
    unique = sorted(set(ids))
    for start in range(0, len(unique), 500):
        out.extend(
            conn.execute(
                select(components).where(
                    and_(
                        components.c.city_id == city_id,
                        components.c.component_id.in_(unique[start : start + 500]),
                    )
                )
            )
        )
    return out


def component_rows_in_box(
    conn: Connection,
    city_id: str,
    type_code: str,
    box: tuple[float, float, float, float],
    *,
    include_removed: bool = False,
) -> Sequence[Any]:
    """Components of a type in the box ``(west, south, east, north)`` (removed ones only if asked)."""
    w, s, e, n = box
    q = select(components).where(
        components.c.city_id == city_id,
        components.c.type_code == type_code,
        components.c.lat.between(s, n),
        components.c.lon.between(w, e),
    )
    if not include_removed:
        q = q.where(components.c.state != "removed")
    return conn.execute(q).all()


def placeable_component_rows(conn: Connection, city_id: str) -> Sequence[Any]:
    """Components in a grid and not removed: (component_id, type_code, lon, lat, grid_code, road_name),
    by type and id (where the simulator's reports about components happen)."""
    return conn.execute(
        select(
            components.c.component_id, components.c.type_code, components.c.lon, components.c.lat,
            components.c.grid_code, components.c.road_name,
        )
        .where(and_(components.c.city_id == city_id, components.c.state != "removed",
                    components.c.grid_code.is_not(None)))
        .order_by(components.c.type_code, components.c.component_id)
    ).all()  # fmt: skip


def component_state(conn: Connection, city_id: str, component_id: str) -> str | None:
    """The stored state of a component (None: not registered)."""
    state = conn.execute(
        select(components.c.state).where(
            and_(components.c.city_id == city_id, components.c.component_id == component_id)
        )
    ).scalar()
    return None if state is None else str(state)


def update_component_state(
    conn: Connection, city_id: str, component_id: str, state: str, changed: Any, now: datetime
) -> None:
    conn.execute(
        update(components)
        .where(and_(components.c.city_id == city_id, components.c.component_id == component_id))
        .values(state=state, changed_date=changed, updated_at=now)
    )


def append_state_history(conn: Connection, city_id: str, component_id: str, **values: Any) -> None:
    """Append one state change (the next sequence number of the component) to its history."""
    seq = conn.execute(
        select(func.coalesce(func.max(component_states.c.seq), 0)).where(
            and_(component_states.c.city_id == city_id, component_states.c.component_id == component_id)
        )
    ).scalar()
    conn.execute(
        insert(component_states).values(
            city_id=city_id, component_id=component_id, seq=int(seq or 0) + 1, **values
        )
    )


def state_history_rows(conn: Connection, city_id: str, component_id: str) -> Sequence[Any]:
    """The component's state changes, oldest first."""
    return conn.execute(
        select(component_states)
        .where(and_(component_states.c.city_id == city_id, component_states.c.component_id == component_id))
        .order_by(component_states.c.seq)
    ).all()


def count_by_type_and_state(conn: Connection, city_id: str) -> Sequence[Any]:
    """Rows of (type_code, state, count)."""
    return conn.execute(
        select(components.c.type_code, components.c.state, func.count())
        .where(components.c.city_id == city_id)
        .group_by(components.c.type_code, components.c.state)
    ).all()


# --------------------------------------------------------------------------- duty grids


def delete_duty_grids(conn: Connection, city_id: str, inspector_id: str) -> None:
    conn.execute(
        delete(duty_grids).where(
            and_(duty_grids.c.city_id == city_id, duty_grids.c.inspector_id == inspector_id)
        )
    )


def duty_grid_codes(conn: Connection, city_id: str, inspector_id: str) -> set[str]:
    return set(
        conn.execute(
            select(duty_grids.c.grid_code).where(
                and_(duty_grids.c.city_id == city_id, duty_grids.c.inspector_id == inspector_id)
            )
        ).scalars()
    )


def insert_duty_grids(conn: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    return bulk_insert(conn, duty_grids, rows)


def duty_grid_pairs(
    conn: Connection, city_id: str, *, inspector_id: str | None = None, grid_prefix: str | None = None
) -> Sequence[Any]:
    """(inspector_id, grid_code) of the duty grids (one inspector's; grids under a code prefix), ordered."""
    q = select(duty_grids.c.inspector_id, duty_grids.c.grid_code).where(duty_grids.c.city_id == city_id)
    if inspector_id is not None:
        q = q.where(duty_grids.c.inspector_id == inspector_id)
    if grid_prefix is not None:
        q = q.where(duty_grids.c.grid_code.startswith(grid_prefix, autoescape=True))
    return conn.execute(q.order_by(duty_grids.c.inspector_id, duty_grids.c.grid_code)).all()


# --------------------------------------------------------------------------- patrols


def insert_patrol(
    conn: Connection,
    patrol: Mapping[str, Any],
    checks: Sequence[Mapping[str, Any]],
    grids: Sequence[Mapping[str, Any]],
) -> None:
    """A patrol's row, its checks and the grids its track passed through."""
    conn.execute(insert(patrols).values(**patrol))
    bulk_insert(conn, patrol_checks, checks)
    if grids:
        conn.execute(insert(patrol_grids), list(grids))


def patrol_coverage_rows(
    conn: Connection, city_id: str, start: datetime, end: datetime, *, grid_prefix: str | None = None
) -> tuple[Sequence[Any], dict[str, int]]:
    """For patrols started in [start, end): (inspector_id, grid_code, patrol_id) of the grids their
    tracks passed (under a code prefix), and the number of patrols per inspector."""
    pq = (
        select(patrols.c.inspector_id, patrol_grids.c.grid_code, patrols.c.patrol_id)
        .join(
            patrol_grids,
            and_(
                patrol_grids.c.city_id == patrols.c.city_id, patrol_grids.c.patrol_id == patrols.c.patrol_id
            ),
        )
        .where(patrols.c.city_id == city_id, patrols.c.started_at >= start, patrols.c.started_at < end)
    )
    nq = (
        select(patrols.c.inspector_id, func.count())
        .where(patrols.c.city_id == city_id, patrols.c.started_at >= start, patrols.c.started_at < end)
        .group_by(patrols.c.inspector_id)
    )
    if grid_prefix is not None:
        pq = pq.where(patrol_grids.c.grid_code.startswith(grid_prefix, autoescape=True))
    passed = conn.execute(pq).all()
    counts = {ins: int(n) for ins, n in conn.execute(nq)}
    return passed, counts


# --------------------------------------------------------------------------- open cases about components


def open_case_rows_in_box(
    conn: Connection, city_id: str, category_code: str, box: tuple[float, float, float, float]
) -> Sequence[Any]:
    """Open cases of the category in the box ``(west, south, east, north)``: (case_id, doc, created_at)."""
    w, s, e, n = box
    return conn.execute(
        select(cases.c.case_id, cases.c.doc, cases.c.created_at).where(
            cases.c.city_id == city_id,
            cases.c.category_code == category_code,
            cases.c.public_status == literal_column("'open'"),
            cases.c.lat.between(s, n),
            cases.c.lon.between(w, e),
        )
    ).all()


# ---- the demo's asset rounds ------------------------------------------------------------------------


def has_components_table(engine: Engine) -> bool:
    """Whether the database has the geography capability's tables (a store may not)."""
    return inspect(engine).has_table(components.name)


def component_ids_in_district(
    conn: Connection, city_id: str, district_code: str, states: Iterable[str], type_code: str | None = None
) -> list[str]:
    """Ids of the district's components (of one type, if given) in one of *states*, in id order."""
    q = select(components.c.component_id).where(
        components.c.city_id == city_id,
        components.c.district_code == district_code,
        components.c.state.in_(list(states)),
    )
    if type_code is not None:
        q = q.where(components.c.type_code == type_code)
    return list(conn.execute(q.order_by(components.c.component_id)).scalars())


def component_counts_by_district(conn: Connection, city_id: str, states: Iterable[str]) -> list[Any]:
    """(district_code, type_code, count) of the city's components in one of *states*."""
    return list(
        conn.execute(
            select(components.c.district_code, components.c.type_code, func.count())
            .where(and_(components.c.city_id == city_id, components.c.state.in_(list(states))))
            .group_by(components.c.district_code, components.c.type_code)
        ).all()
    )
