"""The pure formulas: periods, rates, composite scores, grades, ranks, forecast errors (milliseconds)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from civicloop.kpi.core import (
    CATALOGUE,
    COUNTER_KEYS,
    RATE_KEYS,
    RATE_PARTS,
    RATES,
    TERMS,
    composite_score,
    errors,
    exp_smoothing,
    grade_of,
    parse_period,
    rank,
    rank_change,
    rate_parts,
    rates,
)
from civicloop.profile import load_profile


def test_periods_are_local_days() -> None:
    nov = parse_period("2026-11")
    assert nov.start == datetime(2026, 10, 31, 16, tzinfo=UTC) and nov.end == datetime(
        2026, 11, 30, 16, tzinfo=UTC
    )
    assert nov.previous().label == "2026-10" and parse_period("2026-01").previous().label == "2025-12"
    q = parse_period("2026-Q3")
    assert (q.first_day, q.last_day, q.previous().label) == (date(2026, 7, 1), date(2026, 9, 30), "2026-Q2")
    assert parse_period("2026").previous().label == "2025" and parse_period("2026q1").kind == "quarter"
    r = parse_period("2026-11-01..2026-11-15")
    assert r.kind == "range" and r.previous().label == "2026-10-17..2026-10-31"
    assert parse_period("2026-11-05").last_day == date(2026, 11, 5)
    for bad in ("2026-13", "nov", "2026-11-15..2026-11-01"):
        with pytest.raises(ValueError):
            parse_period(bad)


def test_rates_without_a_denominator_are_none_never_zero() -> None:
    r = rates({"closed": 0, "due_to_close": 0, "handled": 3, "due_to_handle": 4, "rework_cases": 1})
    assert (
        r["closure_rate"] is None and r["handling_rate"] == 0.75 and r["rework_rate"] == pytest.approx(1 / 3)
    )
    assert rates({})["on_time_closure_rate"] is None
    variants = rates(
        {"dispatches": 10, "accurate_dispatches": 9, "dispatches_not_reworked": 7, "rework_cases": 3,
         "due_to_close": 6},
        dispatch_accuracy_variant="activiti",
        rework_rate_denominator="due_to_close",
    )  # fmt: skip
    assert variants["dispatch_accuracy_rate"] == 0.7 and variants["rework_rate"] == 0.5
    assert rates({"dispatches": 10, "accurate_dispatches": 9})["dispatch_accuracy_rate"] == 0.9


def test_every_rate_is_a_ratio_of_two_counters_with_its_cohort_stated() -> None:
    for d in RATES:
        assert d.key.endswith("_rate") and d.cohort and d.subset
        num, den = RATE_PARTS[d.key]
        assert CATALOGUE[num].kind == "counter" and CATALOGUE[den].kind == "counter"
    for variant in ("egova", "activiti"):
        for base in ("handled", "due_to_close"):
            for d in RATES:
                num, den = rate_parts(d.key, dispatch_accuracy_variant=variant, rework_rate_denominator=base)
                assert num in COUNTER_KEYS and den in COUNTER_KEYS
    assert {CATALOGUE[k].nature for k in COUNTER_KEYS} == {"flow", "cohort", "stock"}


def test_every_kpi_has_both_labels_and_a_formula() -> None:
    for key in (*COUNTER_KEYS, *RATE_KEYS):
        d = CATALOGUE[key]
        assert d.zh and d.en and d.formula and d.zh != d.en
    assert set(rates({})) == set(RATE_KEYS)


def test_composite_scores_grades_and_ranks() -> None:
    s = load_profile("taiyuan").kpi
    w = {k: float(v) for k, v in s.weights.department.model_dump().items()}
    score = composite_score(
        "department",
        {"filed": 120, "closure_rate": 0.9, "on_time_handling_rate": 0.8, "rework_rate": 0.1},
        w,
        s.volume_bands.department.score,
        s.grades.grade,
    )
    # volume(120 ≤ 200) = 75 → 7.5 + 27 + 24 + 27
    assert score.score == 85.5 and score.grade == "B" and score.used_weight == 100
    partial = composite_score(
        "department", {"filed": 10, "closure_rate": 1.0}, w, s.volume_bands.department.score, s.grades.grade
    )
    assert partial.score == 100.0 and partial.used_weight == 40  # only terms with data
    assert (
        composite_score("department", {"filed": 3}, w, s.volume_bands.department.score, grade_of).score
        is None
    )
    assert [grade_of(x) for x in (95, 80, 61, 40, 39.9)] == ["A", "B", "C", "D", "E"]
    assert rank({"a": 90, "b": 95, "c": 90, "d": None}) == {"b": 1, "a": 2, "c": 2}
    assert rank_change({"a": 1, "b": 3}, {"a": 2}) == {"a": 1, "b": None}
    assert set(TERMS) == {"department", "inspector", "operator", "shift_leader", "dispatcher", "region"}


def test_exponential_smoothing_and_errors() -> None:
    assert exp_smoothing([4, 8], alpha=0.5) == [4, 4, 6]
    e = errors([10, 0, 5], [8, 1, 5])
    assert e["mae"] == 1.0 and e["mape"] == pytest.approx(0.1)


def test_docs_restate_every_rate_with_its_cohort_and_subset_argument() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "kpi.md").read_text(encoding="utf-8")
    for d in RATES:
        assert f"`{d.key}`" in docs and d.cohort in docs and d.subset in docs, d.key
    for key in COUNTER_KEYS:
        assert f"| `{key}` | {CATALOGUE[key].zh} |" in docs, key
