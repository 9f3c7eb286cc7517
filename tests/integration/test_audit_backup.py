"""Tamper-evident audit trail, and backup/restore into a fresh database (SQLite and PostgreSQL)."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from civicloop.bootstrap import init_city
from civicloop.cases import audit
from civicloop.city.service import City
from civicloop.simulator.simulate import simulate
from civicloop.store.backup import backup, restore
from civicloop.store.database import make_engine
from civicloop.store.tables import cases, events

_n = itertools.count(1)


@pytest.fixture
def city(backend: tuple[str, Engine], city_id: str) -> City:
    c = init_city("taiyuan", engine=backend[1], city_id=city_id)
    simulate(c, days=0.5, seed=3)
    return c


def _drop_guard(engine: Engine) -> None:
    """What an attacker with database rights would do first: remove the append-only trigger."""
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.execute(text("DROP TRIGGER IF EXISTS events_no_update"))
            conn.execute(text("DROP TRIGGER IF EXISTS events_no_delete"))
        else:
            conn.execute(text("ALTER TABLE events DISABLE TRIGGER events_append_only"))


def _restore_guard(engine: Engine) -> None:
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:
            conn.execute(text("ALTER TABLE events ENABLE TRIGGER events_append_only"))


def _a_case_with_events(city: City, minimum: int) -> str:
    with city.engine.connect() as conn:
        return str(
            conn.execute(
                select(events.c.case_id)
                .where(events.c.city_id == city.id)
                .group_by(events.c.case_id)
                .having(func.count() >= minimum)
                .order_by(events.c.case_id)
                .limit(1)
            ).scalar_one()
        )


def test_an_untouched_log_verifies(city: City) -> None:
    report = audit.verify(city.store, city.id)
    assert report.ok and report.events > 0 and report.cases > 0


def test_an_edited_event_is_named(city: City) -> None:
    case_id = _a_case_with_events(city, 3)
    _drop_guard(city.engine)
    try:
        with city.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE events SET note = 'nothing happened' WHERE city_id = :c AND case_id = :k "
                    "AND seq = 2"
                ),
                {"c": city.id, "k": case_id},
            )
    finally:
        _restore_guard(city.engine)
    findings = audit.verify(city.store, city.id).findings
    assert (case_id, 2, "edited") in [(f.case_id, f.seq, f.problem) for f in findings]


def test_a_deleted_event_is_named_in_the_middle_and_at_the_end(city: City) -> None:
    case_id = _a_case_with_events(city, 4)
    with city.engine.connect() as conn:
        last = conn.execute(
            select(func.max(events.c.seq)).where(events.c.case_id == case_id, events.c.city_id == city.id)
        ).scalar_one()
    _drop_guard(city.engine)
    try:
        with city.engine.begin() as conn:
            for seq in (2, last):
                conn.execute(
                    text("DELETE FROM events WHERE city_id = :c AND case_id = :k AND seq = :s"),
                    {"c": city.id, "k": case_id, "s": seq},
                )
    finally:
        _restore_guard(city.engine)
    found = {(f.case_id, f.seq, f.problem) for f in audit.verify(city.store, city.id).findings}
    assert (case_id, 2, "missing") in found
    assert (case_id, last, "projection") in found


def test_backup_restores_into_a_fresh_database_with_equal_counts_and_hashes(
    city: City, backend: tuple[str, Engine], tmp_path: Path
) -> None:
    file = tmp_path / "civicloop.backup"
    backup(city.engine, file)
    if backend[0] == "sqlite":
        fresh = make_engine(f"sqlite:///{tmp_path / 'restored.db'}")
    else:
        name = f"restore_{next(_n)}_{city.id}"
        with city.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        fresh = make_engine(city.engine.url.set(database=name).render_as_string(hide_password=False))
    restore(fresh, file)
    counts = []
    for engine in (city.engine, fresh):
        with engine.connect() as conn:
            counts.append(
                (
                    conn.execute(
                        select(func.count()).select_from(events).where(events.c.city_id == city.id)
                    ).scalar(),
                    sorted(
                        conn.execute(
                            select(cases.c.case_id, cases.c.last_hash).where(cases.c.city_id == city.id)
                        )
                    ),
                )
            )
    assert counts[0] == counts[1] and counts[0][0] > 0
    restored = City(city.profile, fresh, city.calendar)
    assert audit.verify(restored.store, city.id).ok
    # refusing to overwrite data by accident
    from civicloop.store.backup import BackupError

    with pytest.raises(BackupError):
        restore(fresh, file)
    fresh.dispose()
