"""The loop benchmark's floor: each statement counted under its verb and table, inside the block only."""

from __future__ import annotations

from benchmarks.bench_loop import _statement_kind, timed_statements
from sqlalchemy import create_engine, text


def test_a_statement_is_named_by_its_verb_and_table() -> None:
    assert _statement_kind("INSERT INTO events (city_id, case_id) VALUES (?, ?)") == "insert events"
    assert _statement_kind("UPDATE cases SET stage=? WHERE city_id=?") == "update cases"
    assert _statement_kind("DELETE FROM case_text_keys WHERE x = 1") == "delete case_text_keys"
    assert _statement_kind("  SELECT cases.case_id FROM cases") == "select"
    assert _statement_kind("INSERT INTO t(a) VALUES (1)") == "insert t"
    assert _statement_kind("") == "?"


def test_statements_are_timed_inside_the_block_only() -> None:
    engine = create_engine("sqlite://")
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (a INTEGER)"))
    with timed_statements(engine) as spent, engine.begin() as conn:
        conn.execute(text("INSERT INTO t (a) VALUES (1)"))
        conn.exec_driver_sql("INSERT INTO t (a) VALUES (?)", [(2,), (3,)])
        conn.execute(text("UPDATE t SET a = a + 1"))
    assert set(spent) == {"insert t", "update t"}
    assert all(seconds >= 0 for seconds in spent.values())
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM t"))
    assert "delete t" not in spent  # the listeners went with the block
