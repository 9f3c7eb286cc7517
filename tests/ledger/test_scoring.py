"""The scoring rules, worked by hand (pure: no database)."""

from __future__ import annotations

import pytest

from civicloop.ledger.models import Comparison
from civicloop.ledger.scoring import band_edge, credit, rank_within, score_target, score_unit

GE, LE = Comparison.GE, Comparison.LE


def test_a_met_a_missed_a_partial_and_a_no_data_target_score_as_worked_out_by_hand() -> None:
    met = score_target(GE, 0.95, 40, 0.96)  # 按期结案率 96 % against ≥ 95 %: full 40
    missed = score_target(GE, 10, 30, 5)  # 5 events against ≥ 10, floor 8: 0
    partial = score_target(GE, 100, 20, 90)  # 90 h against ≥ 100, floor 80: (90 − 80) / 20 = 0.5 → 10
    no_data = score_target(GE, 0.98, 10, None)  # 着灯率 without an asset inventory
    assert (met.status, met.points) == ("met", 40)
    assert (missed.status, missed.points) == ("missed", 0)
    assert (
        partial.status == "partial"
        and partial.credit == pytest.approx(0.5)
        and partial.points == pytest.approx(10)
    )
    assert (no_data.status, no_data.points, no_data.credit) == ("no_data", None, None)

    unit = score_unit([met, missed, partial, no_data])
    # the no-data weight (10) is left out: 100 × (40 + 0 + 10) / (40 + 30 + 20) = 55.56, not 50.00
    assert unit.score == pytest.approx(55.56)
    assert unit.weight_total == 100 and unit.weight_with_data == 90
    assert unit.coverage == pytest.approx(0.9)

    with_deduction = score_unit([met, missed, partial, no_data], deductions=5.56)
    assert with_deduction.raw == pytest.approx(55.56) and with_deduction.score == pytest.approx(50.0)


def test_le_targets_are_mirrored() -> None:
    assert band_edge(LE, 0.05) == pytest.approx(0.06)  # 返工率 ≤ 5 %: ceiling 6 %
    assert credit(LE, 0.05, 0.04) == 1.0
    assert credit(LE, 0.05, 0.055) == pytest.approx(0.5)
    assert credit(LE, 0.05, 0.06) == 0.0
    assert credit(LE, 0, 0) == 1.0 and credit(LE, 0, 1) == 0.0  # 事故 ≤ 0: no band


def test_the_floor_and_the_tolerance() -> None:
    assert band_edge(GE, 0.95) == pytest.approx(0.76)
    assert credit(GE, 0.95, 0.855) == pytest.approx(0.5)
    assert credit(GE, 0.95, 0.76) == 0.0
    assert credit(GE, 100, 75, tolerance=0.5) == pytest.approx(0.5)
    assert credit(GE, 100, 120) == 1.0


def test_a_unit_without_any_data_has_no_score_and_deductions_stop_at_zero() -> None:
    assert score_unit([score_target(GE, 0.98, 50, None)]).score is None
    assert score_unit([score_target(GE, 1, 10, 0)], deductions=3).score == 0.0


def test_ranking_within_a_kind_shares_places_and_leaves_out_units_without_a_score() -> None:
    ranks = rank_within(
        {"office": [("a", 90.0), ("b", 95.0), ("c", 90.0), ("d", None), ("e", 80.0)], "bureau": [("x", 10.0)]}
    )
    assert ranks == {"b": (1, 4), "a": (2, 4), "c": (2, 4), "e": (4, 4), "x": (1, 1)}
