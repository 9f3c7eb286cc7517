"""Duplicates at intake for every report: the real radius, reports in the review queue, text-only
hotline reports (through the stored text keys), and the key index kept in step with the cases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import Engine, delete, func, select

from civicloop.bootstrap import init_city
from civicloop.city.service import City
from civicloop.intake.dedupe import normalise, signature
from civicloop.intake.service import IntakeReport, IntakeService, build_text_index
from civicloop.intake.store import (
    PER_KEY,
    case_text_keys,
    newest_by_key,
    open_candidates,
    rank_text_candidates,
    replace_text_keys,
)
from civicloop.kernel.vocabulary import Action, Stage
from tests.integration.test_intake import MONDAY, SPOT, _inspector_report, _intake, _metres_east
from tests.support.domain import as_role

HOTLINE = "市民来电反映：坞城路幸福小区东门的路灯已经坏了三天，晚上出行很不安全，请尽快处理。"


@pytest.fixture
def city(backend: tuple[str, Engine], city_id: str) -> City:
    return init_city("taiyuan", engine=backend[1], city_id=city_id)


def _hotline(text: str, when=MONDAY, user: str = "op-1", address: str = "坞城路") -> IntakeReport:  # type: ignore[no-untyped-def]
    fields = {"channel": "hotline", "description": text, "address": address}  # no position: 待定位
    return IntakeReport(as_role("operator", user), fields, when)


def test_a_same_kind_report_at_0_9_radius_joins_and_at_1_1_radius_does_not(city: City) -> None:
    intake = _intake(city)
    radius = intake.settings.duplicate_radius_m
    [master] = intake.submit([_inspector_report("ins-1", "坞城路口东侧垃圾成堆", *SPOT)])
    later = MONDAY + timedelta(minutes=20)
    inside, outside = intake.submit([
        _inspector_report("ins-2", "有一堆建筑垃圾没人清运", *_metres_east(*SPOT, 0.9 * radius), when=later),
        _inspector_report("ins-3", "有一堆建筑垃圾没人清运", *_metres_east(*SPOT, -1.1 * radius), when=later),
    ])  # fmt: skip
    assert inside.outcome == "merged" and inside.suggestion["duplicate_of"] == master.case_id
    assert outside.suggestion["duplicate_of"] is None and outside.outcome != "merged"


def test_a_report_joins_a_case_waiting_in_the_review_queue(city: City) -> None:
    intake = _intake(city)
    fields = {"channel": "citizen", "lon": SPOT[0], "lat": SPOT[1], "description": "小区门口垃圾成堆没人管"}
    [waiting] = intake.submit([IntakeReport(as_role("citizen", "c-1"), fields, MONDAY)])
    assert waiting.outcome == "queued" and city.cases.get(waiting.case_id or "").category_code is None
    near = _metres_east(*SPOT, 15)
    fields2 = {"channel": "citizen", "lon": near[0], "lat": near[1], "description": "门口的垃圾堆了好几天了"}
    [joined] = intake.submit([IntakeReport(as_role("citizen", "c-2"), fields2, MONDAY + timedelta(hours=1))])
    assert joined.outcome == "merged" and joined.suggestion["duplicate_of"] == waiting.case_id
    master = city.cases.get(waiting.case_id or "")
    assert master.stage is Stage.REPORTED and master.cluster_members == (joined.case_id,)


def test_text_only_hotline_duplicates_join_the_cluster_and_a_different_text_does_not(city: City) -> None:
    intake = _intake(city)
    [first] = intake.submit([_hotline(HOTLINE)])
    assert first.case_id and first.outcome != "merged"
    spaced = " ".join(HOTLINE.replace("，", ", "))  # the same words, typed again with spaces
    again, other = intake.submit([
        _hotline(spaced, MONDAY + timedelta(days=2), "op-2"),
        _hotline("公交站旁垃圾堆放无人清理，气味难闻。", MONDAY + timedelta(days=2), address="建设路"),
    ])  # fmt: skip
    assert again.outcome == "merged" and again.suggestion["duplicate_of"] == first.case_id
    exact = signature(f"{HOTLINE} 坞城路").keys[:1]  # the exact key alone finds the first copy
    with city.store.read() as conn:
        assert rank_text_candidates(exact, newest_by_key(conn, city.id, exact)) == [first.case_id]
    assert again.suggestion["duplicates"][0]["distance_m"] is None
    assert other.suggestion["duplicate_of"] is None
    master = city.cases.get(first.case_id)
    assert master.cluster_members == (again.case_id,) and master.cluster_size == 2
    # beyond the window it is a new report
    [late] = intake.submit([_hotline(HOTLINE, MONDAY + timedelta(days=8))])
    assert late.suggestion["duplicate_of"] is None


def test_the_text_keys_follow_the_cases_and_are_built_for_an_older_database(city: City) -> None:
    intake = _intake(city)
    [first] = intake.submit([_hotline(HOTLINE)])
    case_id = first.case_id or ""

    def keys() -> int:
        with city.engine.connect() as conn:
            q = select(func.count()).where(
                case_text_keys.c.city_id == city.id, case_text_keys.c.case_id == case_id
            )
            return int(conn.execute(q).scalar() or 0)

    assert keys() == 13
    with city.engine.begin() as conn:  # as if the case predated the keys table
        conn.execute(delete(case_text_keys).where(case_text_keys.c.city_id == city.id))
    assert build_text_index(city) == 1 and keys() == 13
    city.cases.act(case_id, Action.REJECT, as_role("operator"), {"reason": "invalid", "note": "测试"},
                   at=MONDAY + timedelta(minutes=5))  # fmt: skip
    assert keys() == 0  # an ended case is no one's master
    [later] = IntakeService(city, locate=lambda _c, f: f).submit(
        [_hotline(HOTLINE, MONDAY + timedelta(hours=1))]
    )
    assert later.suggestion["duplicate_of"] is None


def test_the_narrow_candidate_read_gives_the_score_what_the_whole_state_would(city: City) -> None:
    intake = _intake(city)
    fields = {"channel": "citizen", "lon": SPOT[0], "lat": SPOT[1], "description": "小区门口垃圾成堆没人管"}
    outcomes = intake.submit([
        IntakeReport(as_role("citizen", "c-1"), fields, MONDAY),  # review queue: category only in triage
        _hotline(HOTLINE),  # no position
        _inspector_report("ins-1", "坞城路口东侧垃圾成堆", *SPOT),
    ])  # fmt: skip
    ids = [o.case_id or "" for o in outcomes]
    with city.store.read() as conn:
        found = open_candidates(conn, city.id, [*ids, "no-such-case"])
    assert sorted(found) == sorted(ids)
    with city.store.read() as conn:  # past the first 512 ids, through the padded parameter lists
        assert sorted(open_candidates(conn, city.id, [f"none-{i}" for i in range(600)] + ids)) == sorted(ids)
    for case_id in ids:
        s, c = city.cases.get(case_id), found[case_id]
        assert (c.created_at, c.lon, c.lat, c.category_code, c.grid_code, c.community_code) == (
            s.created_at, s.lon, s.lat, s.category_code, s.grid_code, s.community_code,
        )  # fmt: skip
        assert (c.duplicate_of, c.reporter_id) == (s.duplicate_of, s.reporter_id)
        assert c.component_id == s.component_id
        assert c.triage_category == (s.triage or {}).get("category_code")
        assert normalise(c.text) == normalise(" ".join((s.description or "", s.address or "")))
    assert found[ids[0]].category_code is None and found[ids[0]].triage_category
    assert found[ids[0]].reporter_id == "c-1"


def test_a_key_shared_by_many_open_cases_is_read_only_for_its_newest_and_the_exact_copy_still_wins(
    city: City,
) -> None:
    """A boilerplate band shared by far more open cases than the probe reads per key: the probe reads its
    newest cases only (bounded work per report however many share it), and an older case whose exact key
    matches still comes first."""
    band, exact, other = 7_000_001, 9_000_001, 9_000_002
    crowd = [f"TY-2026-{i:07d}" for i in range(1, 3 * PER_KEY + 1)]  # ids grow with time
    with city.store.write() as conn:
        replace_text_keys(conn, city.id, [], [(c, [band, 5_000_000 + i]) for i, c in enumerate(crowd)])
        replace_text_keys(conn, city.id, [], [(crowd[0], [exact])])  # the oldest: the same exact text
    with city.store.read() as conn:
        found = rank_text_candidates(
            [exact, band, other], newest_by_key(conn, city.id, [exact, band, other]), limit=3 * PER_KEY
        )
    assert found[0] == crowd[0]  # two shared keys: first
    assert set(found[1:]) == set(crowd[-PER_KEY:])  # the band's newest only, not all of the crowd
    assert found[1:] == sorted(found[1:], reverse=True)


def test_the_batch_probe_reads_every_key_as_it_would_alone(city: City) -> None:
    """Every key of a batch in one statement (the keys as one parameter): each key's newest cases as
    when it is asked alone, the 64-bit extremes included (MinHash keys are signed), unknown keys left out."""
    keys = [-(2**63), -1, 0, 2**63 - 1, 42]
    owned = [(f"TY-2026-{i:07d}", keys[: i % 5 + 1]) for i in range(1, 3 * PER_KEY)]
    with city.store.write() as conn:
        replace_text_keys(conn, city.id, [], owned)
    with city.store.read() as conn:
        together = newest_by_key(conn, city.id, [*keys, 12345, 0])
        alone = {k: newest_by_key(conn, city.id, [k])[k] for k in keys}
    assert together == alone
    holders = [c for c, ks in owned if -(2**63) in ks]
    assert together[-(2**63)] == sorted(holders, reverse=True)[:PER_KEY]  # newest first, capped
    assert together[2**63 - 1] == sorted((c for c, ks in owned if 2**63 - 1 in ks), reverse=True)[:PER_KEY]


def test_a_batch_is_judged_as_its_reports_would_be_one_by_one(city: City) -> None:
    """The batch's candidates are read in one go (the keys' newest cases, then every candidate's row):
    each report's suggestion is the one it gets alone — and the batch does find its duplicates."""
    intake = _intake(city)
    other = "公交站旁垃圾堆放无人清理，气味难闻。"
    intake.submit(
        [
            _hotline(HOTLINE),
            _inspector_report("ins-1", "坞城路口东侧垃圾成堆", *SPOT),
            _hotline(other, address="建设路"),
        ]
    )
    later = MONDAY + timedelta(hours=2)
    batch = [
        _hotline(HOTLINE, later, "op-3"),
        _inspector_report("ins-2", "路口东侧垃圾成堆", *_metres_east(*SPOT, 10), when=later),
        _hotline(other, later, "op-4", address="建设路"),
        _hotline("某小区电梯故障，困人半小时。", later),
    ]
    together = intake.suggest_many(batch)
    assert together == [intake.suggest_many([r])[0] for r in batch]
    assert [bool(s["duplicate_of"]) for s in together] == [True, True, True, False]


def test_a_batch_spanning_days_judges_each_report_in_its_own_windows(city: City) -> None:
    """The batch reads its place candidates and recent closures once, over the widest window of its
    reports: each report still keeps only its own duplicate window (7 days) and recurrence window (30)."""
    intake = _intake(city)
    [fixed] = intake.submit([_inspector_report("ins-1", "垃圾成堆", *SPOT)])
    case_id = fixed.case_id or ""
    t = MONDAY + timedelta(hours=1)
    dept = city.cases.get(case_id).department_id
    city.cases.act(case_id, Action.HANDLE, as_role("department", "h", department=dept),
                   {"note": "清运", "photos": ["p/after.jpg"]}, at=t)  # fmt: skip
    city.cases.act(case_id, Action.SEND_CHECK, as_role("operator"), at=t)
    city.cases.act(case_id, Action.CHECK, as_role("inspector"), {"passed": True, "photos": ["p/c.jpg"]}, at=t)
    city.cases.act(case_id, Action.CLOSE, as_role("shift_leader"), at=t)
    there = _metres_east(*SPOT, 300)
    [still_open] = intake.submit([_inspector_report("ins-2", "路边一堆建筑垃圾", *there)])
    days = intake.settings
    batch = [
        _inspector_report("ins-3", "又有垃圾成堆", *SPOT, when=MONDAY + timedelta(days=3)),
        _inspector_report("ins-4", "又有垃圾成堆", *SPOT, when=t + timedelta(days=days.recurrence_days + 1)),
        _inspector_report("ins-5", "路边一堆建筑垃圾", *there, when=MONDAY + timedelta(days=1)),
        _inspector_report(
            "ins-6", "路边一堆建筑垃圾", *there, when=MONDAY + timedelta(days=days.duplicate_window_days + 1)
        ),
    ]
    together = intake.suggest_many(batch)
    assert together == [intake.suggest_many([r])[0] for r in batch]
    assert [s["recurrence_of"] for s in together] == [case_id, None, None, None]
    assert [s["duplicate_of"] for s in together] == [None, None, still_open.case_id, None]
