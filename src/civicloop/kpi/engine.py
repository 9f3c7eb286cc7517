"""The KPI engine: counters from the event log in DuckDB, then rates, scores, grades and ranks.

How a period is computed (all times UTC; the period's bounds are local midnights of the city):

1. **Relevant cases**: from the case projection, cases created before the period end and not closed
   before it began (a case closed earlier has nothing left to count; a reopened case has no
   ``closed_at`` or a later one).
2. **Flat events** (``kpi_ev``): every event of those cases before the period end, with the fields
   of its JSON the KPIs read (the source's ``kpi_data`` struct: parsed by ``json_transform`` when
   read from a database, stored in a Parquet export), and *carried state* from window functions over
   the case's own history: the department responsible at that moment (last dispatch), the dispatcher
   of that dispatch, the shift leader who filed, the inspector who verified, the current deadline
   (after extensions and resumes), the clock start and minutes used before it (suspensions), and how
   many handling rounds were late so far; and the outcome by the period end of each dispatch's round
   (returned, reworked, extended) and of each filing (voided afterwards). Case constants (channel,
   area codes, reporting inspector, category as of the period end) come from one GROUP BY.
3. **Case-period facts** (``kpi_cp``): one row per case — handled in the period? closed as fixed in
   it? on time? reworked? state, deadline and department at the period end (→ 超期未处置, lights,
   挂账中). Every rate's numerator and denominator are predicates over the same rows of one of these
   tables, the numerator's implying the denominator's, so no rate can leave [0, 1] (docs/kpi.md).
4. **Counters** are declared once (:data:`COUNTER_SPECS`) as a SQL predicate over one of those tables
   plus, for the role groupings, the column that names the person. The same declaration produces the
   aggregate (``count(*) FILTER (WHERE …)``, all groupings at once with GROUPING SETS) and the list of
   cases behind a figure (:meth:`KpiEngine.explain`), so any figure can be recomputed and explained.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
import time
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any, Literal
from zoneinfo import ZoneInfo

import duckdb
import numpy as np
import orjson
import pyarrow as pa  # type: ignore[import-untyped]

from civicloop.kernel.clock import WorkCalendar
from civicloop.kernel.i18n import both
from civicloop.kpi import facts, lights
from civicloop.kpi.core import (
    CATALOGUE,
    COUNTER_KEYS,
    GROUPING_OBJECT,
    RATE_PARTS,
    Period,
    Score,
    composite_score,
    period_between,
    rank,
    rank_change,
    rate_parts,
    rates,
)
from civicloop.kpi.source import KPI_DATA_SPEC, Source, _sql_str

GROUPINGS: tuple[str, ...] = (
    "department",
    "district",
    "street",
    "community",
    "grid",
    "category",
    "inspector",
    "operator",
    "shift_leader",
    "dispatcher",
    "city",
)
AREA_GROUPINGS = ("department", "district", "street", "community", "grid", "category", "city")
ROLE_GROUPINGS = ("inspector", "operator", "shift_leader", "dispatcher")
#: The area groupings summed from the partial sums per grid (stage two, :meth:`KpiEngine._grouping_sets`).
REGION_GROUPINGS = ("district", "street", "community", "grid", "city")

#: Column of the flat tables that holds each area grouping's key.
DIM_COLUMN: dict[str, str] = {
    "department": "department_id",
    "district": "district_code",
    "street": "street_code",
    "community": "community_code",
    "grid": "grid_code",
    "category": "category_code",
    "city": "'city'",
}

#: Sources read once for a period and its previous one (see :meth:`KpiEngine.evaluate`).
SCAN_ONCE_SOURCES = ("sqlite", "postgres", "arrow")

#: The area dimensions of the partial sums (stage one), in the order they are stored.
AREA_COLUMNS: tuple[str, ...] = tuple(DIM_COLUMN[a] for a in AREA_GROUPINGS if a != "city")

PUBLIC_CHANNELS = ("citizen", "hotline", "open311", "media")
HANDLING_STAGES = ("dispatched", "return_requested", "extension_requested", "suspension_requested")
TERMINAL_STAGES = ("closed", "rejected", "not_filed", "voided")
_HANDLING = ", ".join(f"'{s}'" for s in HANDLING_STAGES)

_PUBLIC = "channel IN ('citizen', 'hotline', 'open311', 'media')"
_ACTOR = "CASE WHEN actor_role = '{role}' THEN actor_id END"
#: The inspector a filing is charged to: who reported it, else who verified the public report.
_FILED_INSPECTOR = "coalesce(reporter_inspector, verifier_c)"


@dataclass(frozen=True, slots=True)
class CounterSpec:
    """A counter: a predicate over ``ev`` (events in the period) or ``cp`` (one row per case)."""

    name: str
    source: Literal["ev", "cp"]
    where: str
    value: str | None = None  # summed instead of counting rows
    roles: Mapping[str, str] = field(default_factory=dict)  # role grouping → key expression
    distinct: str | None = None  # count(DISTINCT expr) instead of rows


COUNTER_SPECS: tuple[CounterSpec, ...] = (
    CounterSpec("reports", "ev", "action = 'report'", roles={"inspector": "reporter_inspector"}),
    CounterSpec("public_reports", "ev", f"action = 'report' AND {_PUBLIC}"),
    CounterSpec("accepted", "ev", "action = 'accept'", roles={"operator": _ACTOR.format(role="operator")}),
    CounterSpec(
        "rejected",
        "ev",
        "action = 'reject' OR (action = 'verify' AND confirmed = false)",
        roles={"operator": _ACTOR.format(role="operator")},
    ),
    CounterSpec(
        "filed",
        "ev",
        "action = 'file'",
        roles={"shift_leader": _ACTOR.format(role="shift_leader"), "inspector": _FILED_INSPECTOR},
    ),
    # 漏报 goes to the inspector who verified the public report: for a public-channel case that is the
    # same key as the filing's, so the numerator stays within the denominator in every grouping.
    CounterSpec(
        "missed_reports", "ev", f"action = 'file' AND {_PUBLIC}", roles={"inspector": _FILED_INSPECTOR}
    ),
    CounterSpec(
        "supervision_reports",
        "ev",
        "action = 'file' AND channel = 'inspector'",
        roles={"inspector": _FILED_INSPECTOR},
    ),
    CounterSpec(
        "not_filed", "ev", "action = 'not_file'", roles={"shift_leader": _ACTOR.format(role="shift_leader")}
    ),
    CounterSpec(
        "voided",
        "ev",
        "action IN ('void', 'approve_void') AND was_filed_c",
        roles={"shift_leader": "filer_c"},
    ),
    CounterSpec(
        "accurate_filings",
        "ev",
        "action = 'file' AND NOT voided_after_c",
        roles={"shift_leader": _ACTOR.format(role="shift_leader")},
    ),
    CounterSpec(
        "self_fixed", "ev", "action = 'approve_self_handling'", roles={"inspector": "reporter_inspector"}
    ),
    CounterSpec(
        "dispatches", "ev", "action = 'dispatch'", roles={"dispatcher": _ACTOR.format(role="dispatcher")}
    ),
    CounterSpec(
        "dispatch_on_time",
        "ev",
        "action = 'dispatch' AND step = 'dispatch' AND step_on_time",
        roles={"dispatcher": _ACTOR.format(role="dispatcher")},
    ),
    CounterSpec("wrong_dispatches", "ev", "action = 'approve_return'", roles={"dispatcher": "dispatcher_c"}),
    CounterSpec(
        "accurate_dispatches",
        "ev",
        "action = 'dispatch' AND NOT returned_c",
        roles={"dispatcher": _ACTOR.format(role="dispatcher")},
    ),
    CounterSpec(
        "dispatches_not_reworked",
        "ev",
        "action = 'dispatch' AND NOT reworked_c",
        roles={"dispatcher": _ACTOR.format(role="dispatcher")},
    ),
    CounterSpec(
        "extended_dispatches",
        "ev",
        "action = 'dispatch' AND extended_c",
        roles={"dispatcher": _ACTOR.format(role="dispatcher")},
    ),
    CounterSpec("rework", "ev", "action = 'check' AND passed = false", roles={"dispatcher": "dispatcher_c"}),
    CounterSpec("extensions", "ev", "action = 'approve_extension'"),
    CounterSpec("suspensions", "ev", "action = 'approve_suspension'"),
    CounterSpec("verify_due", "ev", "step = 'verify'", roles={"inspector": _ACTOR.format(role="inspector")}),
    CounterSpec(
        "verify_on_time",
        "ev",
        "step = 'verify' AND step_on_time",
        roles={"inspector": _ACTOR.format(role="inspector")},
    ),
    CounterSpec("check_due", "ev", "step = 'check'", roles={"inspector": _ACTOR.format(role="inspector")}),
    CounterSpec(
        "check_on_time",
        "ev",
        "step = 'check' AND step_on_time",
        roles={"inspector": _ACTOR.format(role="inspector")},
    ),
    CounterSpec(
        "verify_dispatch_due",
        "ev",
        "action = 'accept' AND stage_after = 'verifying'",
        roles={"operator": _ACTOR.format(role="operator")},
    ),
    CounterSpec(
        "verify_dispatch_on_time",
        "ev",
        "action = 'accept' AND stage_after = 'verifying' AND step = 'accept' AND step_on_time",
        roles={"operator": _ACTOR.format(role="operator")},
    ),
    CounterSpec(
        "check_dispatch_due",
        "ev",
        "step = 'check_dispatch'",
        roles={"operator": _ACTOR.format(role="operator")},
    ),
    CounterSpec(
        "check_dispatch_on_time",
        "ev",
        "step = 'check_dispatch' AND step_on_time",
        roles={"operator": _ACTOR.format(role="operator")},
    ),
    CounterSpec(
        "file_on_time",
        "ev",
        "action = 'file' AND step = 'file' AND step_on_time",
        roles={"shift_leader": _ACTOR.format(role="shift_leader")},
    ),
    CounterSpec(
        "close_steps", "ev", "action = 'close'", roles={"shift_leader": _ACTOR.format(role="shift_leader")}
    ),
    CounterSpec(
        "close_on_time",
        "ev",
        "action = 'close' AND step = 'close' AND step_on_time",
        roles={"shift_leader": _ACTOR.format(role="shift_leader")},
    ),
    CounterSpec("handling_count", "ev", "action = 'handle'"),
    CounterSpec("handling_minutes", "ev", "action = 'handle'", value="h_used"),
    CounterSpec("filed_grids", "ev", "action = 'file'", distinct="grid_code"),
    CounterSpec(
        "valid_reports",
        "ev",
        "action = 'report' AND valid_c",
        roles={"inspector": "reporter_inspector"},
    ),
    # case-level facts: one row per case, so a rate's numerator (a predicate that implies its
    # denominator's) is a subset of it in every grouping
    CounterSpec("handled", "cp", "handled_in"),
    CounterSpec("handled_on_time", "cp", "handled_in AND late_at_handle = 0"),
    CounterSpec("overdue_unhandled", "cp", "overdue"),
    CounterSpec("due_to_close", "cp", "handled_in OR closed_in OR overdue"),
    CounterSpec("due_to_handle", "cp", "handled_in OR overdue"),
    CounterSpec("closed", "cp", "closed_in"),
    CounterSpec("closed_on_time", "cp", "closed_in AND late_at_close = 0"),
    CounterSpec(
        "rework_cases", "cp", "handled_in AND reworked_in", roles={"dispatcher": "handle_dispatcher"}
    ),
    CounterSpec("suspended_open", "cp", "end_stage = 'suspended'"),
    # 回访 (satisfaction follow-up): the cases closed (fixed) in the period, each once
    CounterSpec("rated_closures", "cp", "closed_in AND rated_c"),
    CounterSpec("satisfied_closures", "cp", "closed_in AND satisfied_c"),
    CounterSpec("contact_closures", "cp", "closed_in AND contactable"),
    CounterSpec("contact_callbacks", "cp", "closed_in AND contactable AND rated_c"),
    CounterSpec("open_green", "cp", "light = 'green'"),
    CounterSpec("open_yellow", "cp", "light = 'yellow'"),
    CounterSpec("open_red", "cp", "light = 'red'"),
)
SPECS: dict[str, CounterSpec] = {s.name: s for s in COUNTER_SPECS}
_CP_ROLE_NAMES = ", ".join(f"'{s.name}'" for s in COUNTER_SPECS if s.source == "cp" and s.roles) or "NULL"


def _general_rules() -> dict[str, str]:
    """The general counting rules, in order (``[general_rules]`` of kpi/definitions.toml)."""
    text = (resources.files("civicloop.kpi") / "definitions.toml").read_text(encoding="utf-8")
    return {str(k): str(v) for k, v in tomllib.loads(text)["general_rules"].items()}


GENERAL_RULES: dict[str, str] = _general_rules()


#: The relevant events of a period straight from the source: recent cases through row-group statistics,
#: the few older relevant cases (long open, suspended) separately (see ``_recent_case_floor``).
READ_EVENTS_SQL = """
  SELECT case_id, seq, action, "at", actor_id, actor_role, stage_after, kpi_data AS d FROM raw_events
  WHERE city_id = $city AND "at" < $end AND case_id >= $lo AND case_id IN (SELECT case_id FROM kpi_rel)
  UNION ALL
  SELECT case_id, seq, action, "at", actor_id, actor_role, stage_after, kpi_data AS d FROM raw_events
  WHERE city_id = $city AND "at" < $end AND case_id < $lo
    AND case_id IN (SELECT case_id FROM kpi_rel WHERE case_id < $lo)
"""

#: One read of the source for several periods (the period and the previous one, for the ranks): the
#: case rows and events relevant to any of them, each period then filtered from these tables.
SCAN_SQL = (
    """
CREATE OR REPLACE TEMP TABLE kpi_scan_cases AS
SELECT city_id, case_id, created_at, closed_at FROM raw_cases
WHERE city_id = $city AND created_at < $end AND (closed_at IS NULL OR closed_at >= $start);

CREATE OR REPLACE TEMP TABLE kpi_rel AS
SELECT case_id, min(created_at) AS created_at FROM kpi_scan_cases GROUP BY case_id;

CREATE OR REPLACE TEMP TABLE kpi_scan AS
"""
    + READ_EVENTS_SQL
)

#: A period's events from the shared read (same rows as READ_EVENTS_SQL for the period).
READ_SCAN_SQL = """
  SELECT case_id, seq, action, "at", actor_id, actor_role, stage_after, d FROM kpi_scan
  WHERE "at" < $end AND case_id IN (SELECT case_id FROM kpi_rel)
"""

FLAT_SQL = """
CREATE OR REPLACE TEMP TABLE kpi_rel AS
SELECT case_id, min(created_at) AS created_at FROM /*cases*/
WHERE city_id = $city AND created_at < $end AND (closed_at IS NULL OR closed_at >= $start)
GROUP BY case_id;

CREATE OR REPLACE TEMP TABLE kpi_ev AS
WITH e AS (/*events*/), f AS (
  SELECT case_id, seq, action, "at", actor_id, actor_role, stage_after,
    d.channel AS channel, d.category_code AS category_code, d.grid_code AS grid_code,
    d.community_code AS community_code, d.street_code AS street_code, d.district_code AS district_code,
    CASE WHEN action = 'dispatch' THEN d.department_id END AS dispatch_dept,
    CASE WHEN action = 'dispatch' THEN actor_id END AS dispatch_actor,
    CASE WHEN action = 'file' THEN actor_id END AS file_actor,
    CASE WHEN action = 'verify' THEN actor_id END AS verify_actor,
    CAST(CAST(d.deadline AS TIMESTAMPTZ) AS TIMESTAMP) AS dl,
    d.returned_from AS returned_from, d.reason AS reason, d.passed AS passed, d.confirmed AS confirmed,
    d.handling.used_minutes AS h_used, d.handling.on_time AS h_on_time,
    d.step_result.step AS step, d.step_result.on_time AS step_on_time,
    CASE WHEN action = 'dispatch' THEN 0.0 WHEN action = 'approve_suspension' THEN d.used_minutes END
      AS used_mark,
    CASE WHEN action IN ('dispatch', 'resume') THEN "at" END AS clock_mark,
    d.handling_limit.unit AS unit_mark,
    d.rating AS rating, d.contactable AS contactable
  FROM e
), c AS (
  SELECT case_id,
    max(channel) AS channel,
    max(district_code) AS district_code, max(street_code) AS street_code,
    max(community_code) AS community_code, max(grid_code) AS grid_code,
    max(CASE WHEN action = 'report' AND actor_role = 'inspector' THEN actor_id END) AS reporter_inspector,
    arg_max(category_code, seq) FILTER (WHERE category_code IS NOT NULL) AS category_code,
    arg_max(dispatch_dept, seq) FILTER (WHERE dispatch_dept IS NOT NULL) AS last_dept,
    min(seq) FILTER (WHERE action = 'handle' AND NOT h_on_time) AS first_late_seq,
    min(seq) FILTER (WHERE action = 'file') AS first_file_seq,
    min(seq) FILTER (WHERE action IN ('void', 'approve_void')) AS void_seq,
    arg_max(file_actor, seq) FILTER (WHERE file_actor IS NOT NULL) AS filer,
    arg_max(verify_actor, seq) FILTER (WHERE verify_actor IS NOT NULL) AS verifier
  FROM f GROUP BY case_id
)
SELECT f.case_id, f.seq, f.action, f."at", f.actor_id, f.actor_role, f.stage_after,
  f."at" >= $start AS inp,
  f.returned_from, f.reason, f.passed, f.confirmed, f.h_used, f.h_on_time, f.step, f.step_on_time,
  c.channel, c.district_code, c.street_code, c.community_code, c.grid_code, c.category_code,
  c.reporter_inspector,
  f.dl, f.used_mark, f.clock_mark, f.unit_mark, f.rating, f.contactable,
  coalesce(CASE WHEN f.action = 'approve_return' THEN f.returned_from END, f.g.dept, c.last_dept)
    AS department_id,
  f.g.actor AS dispatcher_c,
  c.filer AS filer_c,
  c.verifier AS verifier_c,
  CASE WHEN c.first_late_seq <= f.seq THEN 1 ELSE 0 END AS late_c,
  coalesce(c.first_file_seq < f.seq, false) AS was_filed_c,
  coalesce(c.void_seq > f.seq, false) AS voided_after_c,
  (c.first_file_seq IS NOT NULL AND c.void_seq IS NULL) AS valid_c,
  -- the outcome of a dispatch's round (from it to the next dispatch) by the period end
  coalesce(bool_or(f.action = 'approve_return') OVER round, false) AS returned_c,
  coalesce(bool_or(f.action = 'check' AND f.passed = false) OVER round, false) AS reworked_c,
  coalesce(bool_or(f.action = 'approve_extension') OVER round, false) AS extended_c
FROM (
  SELECT *, last_value(CASE WHEN action = 'dispatch' THEN {'dept': dispatch_dept, 'actor': actor_id} END
    IGNORE NULLS) OVER running AS g,
    count(*) FILTER (WHERE action = 'dispatch') OVER running AS round_no
  FROM f
  WINDOW running AS (PARTITION BY case_id ORDER BY seq ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW)
) f JOIN c USING (case_id)
WINDOW round AS (PARTITION BY f.case_id, f.round_no);

CREATE OR REPLACE TEMP TABLE kpi_cp AS
WITH g AS (
  SELECT case_id,
    any_value(channel) AS channel, any_value(district_code) AS district_code,
    any_value(street_code) AS street_code, any_value(community_code) AS community_code,
    any_value(grid_code) AS grid_code, any_value(category_code) AS category_code,
    any_value(reporter_inspector) AS reporter_inspector,
    coalesce(bool_or(inp AND action = 'handle'), false) AS handled_in,
    arg_max(late_c, seq) FILTER (WHERE inp AND action = 'handle') AS late_at_handle,
    arg_max(department_id, seq) FILTER (WHERE inp AND action = 'handle') AS handle_dept,
    arg_max(dispatcher_c, seq) FILTER (WHERE inp AND action = 'handle') AS handle_dispatcher,
    coalesce(bool_or(inp AND action = 'close' AND reason = 'fixed'), false) AS closed_in,
    arg_max(late_c, seq) FILTER (WHERE inp AND action = 'close' AND reason = 'fixed') AS late_at_close,
    coalesce(bool_or(inp AND action = 'check' AND passed = false), false) AS reworked_in,
    arg_max(stage_after, seq) AS end_stage,
    arg_max(dl, seq) FILTER (WHERE dl IS NOT NULL) AS end_deadline,
    arg_max(department_id, seq) AS end_dept,
    arg_max(clock_mark, seq) FILTER (WHERE clock_mark IS NOT NULL) AS clock_start,
    arg_max(used_mark, seq) FILTER (WHERE used_mark IS NOT NULL) AS used_before,
    arg_max(unit_mark, seq) FILTER (WHERE unit_mark IS NOT NULL) AS limit_unit,
    coalesce(bool_or(action = 'report' AND contactable), false) AS contactable,
    max(seq) FILTER (WHERE action = 'close') AS last_close_seq,
    max(seq) FILTER (WHERE action = 'feedback') AS last_rating_seq,
    max(seq) FILTER (WHERE action = 'feedback' AND rating = 'dissatisfied') AS last_dissatisfied_seq
  FROM kpi_ev GROUP BY case_id
)
SELECT *, coalesce(handle_dept, end_dept) AS department_id,
  -- satisfaction follow-up: rated after the last closure (by the period end), none of them dissatisfied
  coalesce(last_rating_seq > last_close_seq, false) AS rated_c,
  coalesce(last_rating_seq > last_close_seq AND coalesce(last_dissatisfied_seq, 0) < last_close_seq, false)
    AS satisfied_c,
  (end_stage IN ('dispatched', 'return_requested', 'extension_requested', 'suspension_requested')
    AND end_deadline < $end AND NOT handled_in) AS overdue,
  CAST(NULL AS VARCHAR) AS light
FROM g;
"""


#: 超期未处置 at the period end (``$end``), as FLAT_SQL takes it: the open period takes it again for the
#: stored flat rows of the cases with a department at the cut.
OVERDUE_SQL = f"""(end_stage IN ({_HANDLING})
    AND end_deadline < $end AND NOT handled_in)"""
assert OVERDUE_SQL in FLAT_SQL, "the open period's overdue rule must be FLAT_SQL's"

#: Bump when the open period's stored closed days change layout (see :meth:`KpiEngine.build_open_facts`).
OPEN_FACTS_VERSION = 3  # 2: the flat rows of the cases with a department at the cut (case_flat)
# 3: the closed days' sums per grouping (base_ev, base_cp, base_roles), touched cases' rows subtracted

#: Bump when a change to the counting is not visible in the SQL or the declarations below.
FACTS_VERSION = 3  # 2: period-end lights by judge_light (red once the deadline has passed)
# 3: value counters (handling_minutes) stored as integer thousandths
assert all(s.distinct in AREA_COLUMNS for s in COUNTER_SPECS if s.distinct), "distinct over a dimension"


def facts_spec(calendar: WorkCalendar) -> str:
    """Digest of everything stored facts depend on: the SQL, the counter declarations, the JSON fields
    read, and the working calendar (the traffic lights at the period end)."""
    cal = calendar.spec
    h = hashlib.sha256()
    for part in (
        str(FACTS_VERSION),
        KPI_DATA_SPEC,
        READ_EVENTS_SQL,
        FLAT_SQL,
        repr(COUNTER_SPECS),
        repr(AREA_COLUMNS),
        repr((cal.timezone, cal.work_periods, sorted(cal.day_kinds.items()), sorted(cal.covered_years))),
        repr((cal.fallback_weekends, cal.work_day_mode)),
    ):
        h.update(part.encode())
        h.update(b"\0")
    return h.hexdigest()[:20]


@dataclass
class GroupRow:
    """One group's figures."""

    key: str | None
    name: str | None
    counters: dict[str, float]
    rates: dict[str, float | None]
    score: Score | None = None
    rank: int | None = None
    previous_rank: int | None = None
    rank_change: int | None = None

    def as_json(self, by: str, period: Period, rules: Mapping[str, str] | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {"by": by, "group": self.key, "name": self.name, "period": period.label}
        for k, v in self.counters.items():
            if k in CATALOGUE:
                out[k] = int(v) if float(v).is_integer() and k != "handling_minutes" else round(v, 3)
        for k, r in self.rates.items():
            out[k] = None if r is None else round(r, 6)
        if self.score is not None:
            out["score"] = self.score.score
            out["grade"] = self.score.grade
            # Points out of 100 per term, keyed "<term>_points": a key ending in _rate is a rate in [0, 1].
            out["score_terms"] = {f"{term}_points": value for term, value in self.score.terms.items()}
            out["score_weight_with_data"] = self.score.used_weight
            out["rank"] = self.rank
            out["previous_rank"] = self.previous_rank
            out["rank_change"] = self.rank_change
        if rules is not None:
            out["rules"] = dict(rules)
        return out


@dataclass
class Grouping:
    by: str
    period: Period
    rows: list[GroupRow]

    def row(self, key: str | None) -> GroupRow:
        for r in self.rows:
            if r.key == key:
                return r
        raise KeyError(f"no group {key!r} in the {self.by} grouping")


@dataclass
class Evaluation:
    """All requested groupings of one period."""

    period: Period
    groupings: dict[str, Grouping]
    source: str
    seconds: float
    rules: dict[str, str]

    def __getitem__(self, by: str) -> Grouping:
        return self.groupings[by]


def rules_text() -> dict[str, str]:
    out = dict(GENERAL_RULES)
    for key in COUNTER_KEYS:
        out[key] = CATALOGUE[key].rule
    return out


#: Ranks files kept per closed month: one per settings and groupings asked for; a bureau that tunes its
#: weights makes a new one each time, so the least recently used beyond this many are removed.
KEEP_RANKS = 16


def _touch(path: Path) -> None:
    """Mark a ranks file as used (its modification time orders the pruning); best effort, as exports
    may be read-only."""
    with contextlib.suppress(OSError):
        os.utime(path)


def _prune_ranks(folder: Path) -> None:
    """Remove the least recently used ranks files of *folder* beyond :data:`KEEP_RANKS`."""
    try:
        kept = sorted(folder.glob("ranks-*.json"), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        for old in kept[KEEP_RANKS:]:
            old.unlink(missing_ok=True)
    except OSError:
        pass  # another evaluation pruned (or the folder went): nothing to keep tidy


class KpiEngine:
    """Computes KPIs of one city over one :class:`Source`.

    ``settings`` is the profile's ``KpiSettings`` (weights, volume bands, grades, variants);
    ``labels(by, key)`` names a group (department name, district name …).
    """

    def __init__(
        self,
        source: Source,
        city_id: str,
        calendar: WorkCalendar,
        settings: Any,
        labels: Callable[[str, str | None], str | None] | None = None,
        now: Callable[[], datetime] | None = None,
    ) -> None:
        self.source = source
        self.con: duckdb.DuckDBPyConnection = source.con
        self.city_id = city_id
        self.calendar = calendar
        self.settings = settings
        self.labels = labels or (lambda by, key: key)
        self._prepared: Period | None = None
        self._scanned: tuple[datetime, datetime] | None = None
        self._facts_spec = facts_spec(calendar)  # the calendar is fixed for the engine's life
        self.now: Callable[[], datetime] = now or (lambda: datetime.now(UTC))
        #: Evaluate an open period from its closed days' stored facts plus the open day's events (see
        #: :mod:`civicloop.kpi.facts`). On by default where the facts can be kept: next to an export.
        self.open_facts = source.export_dir is not None
        self._scratch: Path | None = None
        self._open_roles: dict[str, list[tuple[str, str, float]]] | None = None

    @classmethod
    def for_city(cls, city: Any, source: Source | None = None) -> KpiEngine:
        from civicloop.kpi.source import open_source

        src = source or open_source(city.engine)
        return cls(src, city.id, city.calendar, city.profile.kpi, city_labels(city))

    def close(self) -> None:
        self.source.close()
        if self._scratch is not None:
            shutil.rmtree(self._scratch, ignore_errors=True)
            self._scratch = None

    # ---- preparing a period ------------------------------------------------------------------

    def prepare(self, period: Period) -> None:
        """Build the flat tables for *period* (cached until another period is prepared)."""
        if self._prepared == period:
            return
        start = period.start.astimezone(UTC).replace(tzinfo=None)
        end = period.end.astimezone(UTC).replace(tzinfo=None)
        scanned = self._scanned is not None and self._scanned[0] <= start and end <= self._scanned[1]
        if scanned:
            sql = FLAT_SQL.replace("/*cases*/", "kpi_scan_cases").replace("/*events*/", READ_SCAN_SQL)
        else:
            self.source.prepare(self.city_id, period.end)
            sql = FLAT_SQL.replace("/*cases*/", "raw_cases").replace("/*events*/", READ_EVENTS_SQL)
        self._run(sql, {"city": self.city_id, "start": start, "end": end})
        self._lights(end)
        self._prepared = period

    def _scan(self, periods: Sequence[Period]) -> None:
        """Read the source once for all *periods*; :meth:`prepare` then filters each from the copy."""
        first = min(periods, key=lambda p: p.start)
        last = max(periods, key=lambda p: p.end)
        start = first.start.astimezone(UTC).replace(tzinfo=None)
        end = last.end.astimezone(UTC).replace(tzinfo=None)
        self.source.prepare(self.city_id, last.end)
        self._run(SCAN_SQL, {"city": self.city_id, "start": start, "end": end})
        self._scanned = (start, end)

    def _drop_scan(self) -> None:
        self.con.execute("DROP TABLE IF EXISTS kpi_scan")
        self.con.execute("DROP TABLE IF EXISTS kpi_scan_cases")
        self._scanned = None

    def _run(self, sql: str, params: dict[str, Any]) -> None:
        for statement in _statements(sql):
            if "$lo" in statement:
                params["lo"] = self._recent_case_floor(params["start"])
            used = {k: v for k, v in params.items() if f"${k}" in statement}
            self.con.execute(statement, used)

    def _recent_case_floor(self, start: datetime) -> str:
        """The smallest id among relevant cases created in the 62 days before the period.

        Case numbers grow with time, and the Parquet export is sorted by case, so events of cases at or
        above it are found through row-group statistics; the few older relevant cases (long open,
        suspended) are looked up separately. Correct whatever the ordering; only faster when it holds.
        """
        row = self.con.execute(
            "SELECT min(case_id) FROM kpi_rel WHERE created_at >= $since",
            {"since": start - timedelta(days=62)},
        ).fetchone()
        return str(row[0]) if row and row[0] is not None else "\uffff"

    def _lights(self, end: datetime) -> None:
        """Traffic light at the period end of every case with a department and a running clock
        (vectorised: :mod:`civicloop.kpi.lights`, the same figures as ``judge_light`` case by case)."""
        cols = self.con.execute(
            "SELECT case_id, epoch_us(clock_start) AS s, coalesce(used_before, 0.0) AS b, "
            "epoch_us(end_deadline) AS d, coalesce(nullif(limit_unit, ''), 'work_hour') AS u FROM kpi_cp "
            f"WHERE end_stage IN ({_HANDLING}) AND clock_start IS NOT NULL AND end_deadline IS NOT NULL"
        ).fetchnumpy()
        if len(cols["case_id"]) == 0:
            return
        light = lights.period_end_lights(
            self.calendar,
            np.asarray(cols["s"], dtype=np.int64),
            np.asarray(cols["b"], dtype=np.float64),
            np.asarray(cols["d"], dtype=np.int64),
            list(cols["u"]),
            end.replace(tzinfo=UTC),
        )
        table = pa.table({"case_id": pa.array(list(cols["case_id"]), pa.string()), "light": light})
        self.con.register("kpi_light_arrow", table)
        self.con.execute(
            "UPDATE kpi_cp SET light = kpi_light_arrow.light FROM kpi_light_arrow "
            "WHERE kpi_cp.case_id = kpi_light_arrow.case_id"
        )
        self.con.unregister("kpi_light_arrow")

    # ---- counting -----------------------------------------------------------------------------

    def counters(self, period: Period, by: Sequence[str]) -> dict[str, dict[str | None, dict[str, float]]]:
        """{grouping: {group key: {counter: value}}} for each grouping in *by*."""
        for b in by:
            if b not in GROUPINGS:
                raise ValueError(
                    both("kpi.engine.unknown_grouping", by=repr(b), options=", ".join(GROUPINGS))
                )
        stored = self.stored_facts(period)
        opened = self._open_period(period) if stored is None else None
        if stored is None and opened is None:
            self.prepare(period)
        out: dict[str, dict[str | None, dict[str, float]]] = {b: {} for b in by}
        areas = [b for b in by if b in AREA_GROUPINGS]
        if areas:
            for source in ("ev", "cp"):
                if stored is not None:
                    partial = f"SELECT * FROM read_parquet({_sql_str(str(stored.table('area_' + source)))})"
                elif opened is not None:
                    self._open_grouping_sets(opened, source, areas, out)
                    continue
                else:
                    partial = self._area_partial_sql(source)
                self._grouping_sets(source, partial, areas, out)
        for area in areas:
            for values in out[area].values():
                for name in SPECS:
                    values.setdefault(name, 0.0)
        for role in (b for b in by if b in ROLE_GROUPINGS):
            if stored is not None:
                rows = self.con.execute(
                    f"SELECT key, name, value FROM read_parquet({_sql_str(str(stored.table('roles')))}) "
                    "WHERE role = ?",
                    [role],
                ).fetchall()
            elif opened is not None:
                rows = self._open_role_rows(opened, role)
            else:
                rows = self._role_rows(role)
            target = out[role]
            for key, name, value in rows:
                target.setdefault(key, {})[name] = float(value or 0)
            names_for_role = [s.name for s in COUNTER_SPECS if role in s.roles]
            for values in target.values():
                for name in names_for_role:
                    values.setdefault(name, 0.0)
        return out

    # ---- stored facts of closed periods (civicloop.kpi.facts) ----------------------------------

    def stored_facts(self, period: Period) -> facts.StoredFacts | None:
        """The period's stored facts in the source's Parquet export, when present and current."""
        return facts.find(
            self.source.export_dir, self.source.watermark, self.city_id, period, self._facts_spec
        )

    def build_facts(self, period: Period) -> dict[str, Any]:
        """Compute *period* from the events and store its facts in the export (replacing older ones)."""
        export_dir = self.source.export_dir
        watermark = self.source.watermark
        if export_dir is None or watermark is None:
            raise ValueError(both("kpi.engine.facts_need_parquet"))
        if period.end.astimezone(UTC).replace(tzinfo=None) > watermark:
            raise ValueError(
                both(
                    "kpi.engine.period_after_watermark",
                    period=period.label,
                    watermark=f"{watermark:%Y-%m-%d %H:%M}",
                )
            )
        started = time.perf_counter()
        self.prepare(period)
        staged = facts.staging(export_dir)
        try:
            rows: dict[str, int] = {}
            for source in ("ev", "cp"):
                target = staged / f"area_{source}.parquet"
                self.con.execute(
                    f"COPY ({self._area_partial_sql(source)}) TO {_sql_str(str(target))} "
                    "(FORMAT parquet, COMPRESSION zstd)"
                )
                n = self.con.execute(f"SELECT count(*) FROM read_parquet({_sql_str(str(target))})").fetchone()
                rows[f"area_{source}"] = int(n[0]) if n else 0
            role_rows = [(role, *r) for role in ROLE_GROUPINGS for r in self._role_rows(role)]
            roles = pa.table(
                {
                    "role": pa.array([r[0] for r in role_rows], pa.string()),
                    "key": pa.array([r[1] for r in role_rows], pa.string()),
                    "name": pa.array([r[2] for r in role_rows], pa.string()),
                    "value": pa.array([float(r[3] or 0) for r in role_rows], pa.float64()),
                }
            )
            self.con.register("kpi_roles_arrow", roles)
            self.con.execute(
                f"COPY kpi_roles_arrow TO {_sql_str(str(staged / 'roles.parquet'))} (FORMAT parquet)"
            )
            self.con.unregister("kpi_roles_arrow")
            rows["roles"] = len(role_rows)
            seconds = round(time.perf_counter() - started, 3)
            info = {"rows": rows, "seconds": seconds}
            folder = facts.publish(staged, export_dir, period, self.city_id, self._facts_spec, info)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
        return {"period": period.label, "folder": str(folder), "rows": rows, "seconds": seconds}

    def _aggregates(self, specs: Iterable[CounterSpec], cast: str | None = None) -> list[str]:
        parts = []
        for s in specs:
            if s.distinct is not None:
                expr = f"count(DISTINCT {s.distinct}) FILTER (WHERE {s.where})"
            elif s.value is not None:  # thousandths as integers: exact sums in any order (see _figure)
                expr = f"coalesce(sum(CAST(round({s.value} * 1000) AS BIGINT)) FILTER (WHERE {s.where}), 0)"
            else:
                expr = f"count(*) FILTER (WHERE {s.where})"
            parts.append(f'{f"CAST({expr} AS {cast})" if cast else expr} AS "{s.name}"')
        return parts

    def _area_partial_sql(self, source: str, *, per_case: bool = False) -> str:
        """Counters of one flat table summed per combination of all area dimensions (stage one).

        Counters of distinct values keep a count of their matching rows (``__n_<name>``) instead, so
        that the distinct count can be taken over the combinations (the value is one of the dimensions).
        """
        specs = [s for s in COUNTER_SPECS if s.source == source]
        table = "kpi_ev" if source == "ev" else "kpi_cp"
        where = "WHERE inp" if source == "ev" else ""
        parts = self._aggregates(s for s in specs if s.distinct is None)
        parts += [f'count(*) FILTER (WHERE {s.where}) AS "__n_{s.name}"' for s in specs if s.distinct]
        keys = ", ".join(AREA_COLUMNS)
        if per_case:  # the open period's stored closed days keep the case (and its stage at the cut)
            keys = ("case_id, end_stage, " if source == "cp" else "case_id, ") + keys
        return f"SELECT {keys}, {', '.join(parts)} FROM {table} {where} GROUP BY ALL"

    def _grouping_sets(
        self,
        source: str,
        partial: str,
        areas: Sequence[str],
        out: dict[str, dict[str | None, dict[str, float]]],
    ) -> None:
        """Stage two: each requested area grouping over the partial sums *partial* — the department and
        the category from them, the region levels and the city from their sums per grid (a tenth of
        the rows), each one plain GROUP BY (cheaper than GROUPING SETS over every row)."""
        specs = [s for s in COUNTER_SPECS if s.source == source]
        # DOUBLE in SQL: the figures are floats, and DuckDB converts them faster than Python would
        figures = ", ".join(
            f'CAST(count(DISTINCT {s.distinct}) FILTER (WHERE "__n_{s.name}" > 0) AS DOUBLE) AS "{s.name}"'
            if s.distinct
            else f'{_figure(s, f"sum({_q(s.name)})")} AS "{s.name}"'
            for s in specs
        )
        self.con.execute(f"CREATE OR REPLACE TEMP TABLE kpi_partial AS {partial}")
        region = [a for a in areas if a in REGION_GROUPINGS]
        if region:
            keys = [DIM_COLUMN[a] for a in REGION_GROUPINGS if a != "city"]
            keys += [s.distinct for s in specs if s.distinct and s.distinct not in keys]
            sums = [f'sum("{s.name}") AS "{s.name}"' for s in specs if not s.distinct]
            sums += [f'sum("__n_{s.name}") AS "__n_{s.name}"' for s in specs if s.distinct]
            self.con.execute(
                f"CREATE OR REPLACE TEMP TABLE kpi_region AS SELECT {', '.join(keys)}, {', '.join(sums)} "
                "FROM kpi_partial GROUP BY ALL"
            )
        try:
            for area in areas:
                table = "kpi_region" if area in region else "kpi_partial"
                if area == "city":
                    result = self.con.execute(f"SELECT 'city' AS key, {figures} FROM {table}")
                else:
                    result = self.con.execute(f"SELECT {DIM_COLUMN[area]}, {figures} FROM {table} GROUP BY 1")
                names = [d[0] for d in result.description][1:]
                target = out[area]
                for row in result.fetchall():
                    target.setdefault(row[0], {}).update(zip(names, row[1:], strict=True))
        finally:
            self.con.execute("DROP TABLE IF EXISTS kpi_partial")
            self.con.execute("DROP TABLE IF EXISTS kpi_region")

    def _role_rows(self, role: str) -> list[tuple[str, str, float]]:
        """(person, counter, value) of one role grouping, from the prepared flat tables."""
        out: list[tuple[str, str, float]] = []
        for table, where, key, specs in _role_queries(role):
            sql = (
                f"SELECT {key} AS k, {', '.join(self._aggregates(specs))} FROM {table} "
                f"WHERE {where}({key}) IS NOT NULL GROUP BY 1"
            )
            result = self.con.execute(sql)
            names = [d[0] for d in result.description]
            for row in result.fetchall():
                for name, value in zip(names[1:], row[1:], strict=True):
                    out.append((str(row[0]), name, float(value or 0)))
        return out

    # ---- the open period: stored closed days + the open day's events (civicloop.kpi.facts) --------

    def _open_cut(self, period: Period) -> datetime | None:
        """The local midnight that opens today, when *period* is under way and open facts are on."""
        if not self.open_facts:
            return None
        now = self.now()
        if not period.start <= now < period.end:
            return None
        today = now.astimezone(ZoneInfo(period.timezone)).date()
        return period_between(today, today, period.timezone).start

    def _facts_root(self) -> Path:
        if self.source.export_dir is not None:
            return self.source.export_dir
        if self._scratch is None:
            self._scratch = Path(tempfile.mkdtemp(prefix="civicloop-kpi-open-"))
        return self._scratch

    def _events_before(self, cut: datetime) -> int | None:
        """How many events lie before *cut* where that can still change (None for a bare export)."""
        if self.source.kind == "parquet":
            return None  # an export is written once
        sql = 'SELECT count(*) FROM raw_events WHERE city_id = $city AND "at" < $cut'
        params: dict[str, Any] = {"city": self.city_id, "cut": _naive(cut)}
        if self.source.kind == "hybrid" and self.source.watermark is not None:
            sql += ' AND "at" >= $mark'  # the exported part is written once
            params["mark"] = self.source.watermark
        self.source.prepare(self.city_id, cut)
        row = self.con.execute(sql, params).fetchone()
        return int(row[0]) if row else 0

    def open_facts_of(self, period: Period, cut: datetime) -> facts.StoredFacts | None:
        """The current stored closed-day facts of *period* up to *cut*, if any."""
        return facts.find_open(
            self._facts_root(), self.city_id, period, cut, self._open_spec, self._events_before(cut)
        )

    @property
    def _open_spec(self) -> str:
        return f"{self._facts_spec}/open{OPEN_FACTS_VERSION}"

    def build_open_facts(self, period: Period, cut: datetime) -> facts.StoredFacts:
        """Compute *period*'s closed days [start, *cut*) from the events and store them per case."""
        started = time.perf_counter()
        root = self._facts_root()
        events_before = self._events_before(cut)
        start, end = _naive(period.start), _naive(cut)
        self.source.prepare(self.city_id, cut)
        sql = FLAT_SQL.replace("/*cases*/", "raw_cases").replace("/*events*/", "SELECT * FROM kpi_src")
        sql = sql.replace(";\n", ";\nCREATE OR REPLACE TEMP TABLE kpi_src AS " + READ_EVENTS_SQL + ";\n", 1)
        self._run(sql, {"city": self.city_id, "start": start, "end": end})
        self._prepared = None  # the flat tables now hold the closed days, not a period
        staged = facts.staging(root)
        try:
            rows: dict[str, int] = {}
            terminal = ", ".join(f"'{s}'" for s in TERMINAL_STAGES)
            open_events = (
                'SELECT case_id, seq, action, "at", actor_id, actor_role, stage_after, d FROM kpi_src '
                f"WHERE case_id IN (SELECT case_id FROM kpi_cp WHERE end_stage NOT IN ({terminal})) "
                "ORDER BY case_id"
            )

            def stored(name: str) -> str:
                return f"read_parquet({_sql_str(str(staged / f'{name}.parquet'))})"

            for name, query in (
                ("case_ev", self._area_partial_sql("ev", per_case=True)),
                ("case_cp", self._area_partial_sql("cp", per_case=True)),
                ("case_flat", f"SELECT * FROM kpi_cp WHERE end_stage IN ({_HANDLING})"),
                ("case_roles", self._case_roles_sql()),
                ("open_events", open_events),
                ("base_ev", self._base_sql("ev", stored("case_ev"))),
                ("base_cp", self._base_sql("cp", stored("case_cp"))),
                ("values_ev", self._distinct_values_sql("ev", stored("case_ev"))),
                ("base_roles", _BASE_ROLES_SQL.format(case_roles=stored("case_roles"))),
            ):
                target = staged / f"{name}.parquet"
                self.con.execute(f"COPY ({query}) TO {_sql_str(str(target))} (FORMAT parquet)")
                n = self.con.execute(f"SELECT count(*) FROM read_parquet({_sql_str(str(target))})").fetchone()
                rows[name] = int(n[0]) if n else 0
            info = {
                "rows": rows,
                "events_before_cut": events_before,
                "seconds": round(time.perf_counter() - started, 3),
            }
            facts.publish_open(staged, root, period, cut, self.city_id, self._open_spec, info)
        except BaseException:
            shutil.rmtree(staged, ignore_errors=True)
            raise
        finally:
            self.con.execute("DROP TABLE IF EXISTS kpi_src")
        found = facts.find_open(root, self.city_id, period, cut, self._open_spec, events_before)
        assert found is not None
        return found

    def _open_period(self, period: Period) -> facts.StoredFacts | None:
        """Prepare an open period: its stored closed days (made now if missing) and, in the flat tables,
        the cases the open day touched computed again from the events (``kpi_dirty``) plus the stored
        flat rows of the cases with a department at the cut, their 超期 and light taken at the period end
        (``kpi_reclocked``); None when the period is not open."""
        cut = self._open_cut(period)
        if cut is None:
            return None
        self._open_roles = None
        found = self.open_facts_of(period, cut) or self.build_open_facts(period, cut)
        params = {"city": self.city_id, "cut": _naive(cut), "end": _naive(period.end)}
        self.source.prepare(self.city_id, period.end)
        columns = 'case_id, seq, action, "at", actor_id, actor_role, stage_after'
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE kpi_today AS SELECT {columns}, kpi_data AS d FROM raw_events "
            'WHERE city_id = $city AND "at" >= $cut AND "at" < $end',
            params,
        )
        self.con.execute("CREATE OR REPLACE TEMP TABLE kpi_dirty AS SELECT DISTINCT case_id FROM kpi_today")
        stored_events = _sql_str(str(found.table("open_events")))
        # the touched cases' rows, read once (a scan of every case) for both uses below
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE kpi_dirty_cases AS SELECT * FROM raw_cases "
            "WHERE city_id = $city AND case_id IN (SELECT case_id FROM kpi_dirty)",
            {"city": self.city_id},
        )
        # recomputed cases whose earlier events were not stored (closed before the cut, touched today)
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE kpi_unstored AS SELECT case_id FROM kpi_dirty_cases "
            "WHERE created_at < $cut AND case_id IN (SELECT case_id FROM kpi_dirty "
            f"ANTI JOIN (SELECT DISTINCT case_id FROM read_parquet({stored_events})) USING (case_id))",
            {"cut": _naive(cut)},
        )
        events = (
            f"SELECT {columns}, d FROM read_parquet({stored_events}) "
            "WHERE case_id IN (SELECT case_id FROM kpi_rel) UNION ALL "
            f"SELECT {columns}, d FROM kpi_today WHERE case_id IN (SELECT case_id FROM kpi_rel)"
        )
        row = self.con.execute("SELECT count(*) FROM kpi_unstored").fetchone()
        if row and row[0]:
            events += (
                f" UNION ALL SELECT {columns}, kpi_data AS d FROM raw_events "
                'WHERE city_id = $city AND "at" < $cut AND case_id IN (SELECT case_id FROM kpi_unstored)'
            )
        sql = FLAT_SQL.replace("/*cases*/", "kpi_dirty_cases").replace("/*events*/", events)
        params = {"city": self.city_id, "start": _naive(period.start), "end": _naive(period.end)}
        self._run(sql, {**params, "cut": _naive(cut)})
        # The cases with a department at the cut and no event since: their flat row at the cut holds
        # everything but the moment, so only 超期 and the light are taken again, at the period end.
        self.con.execute(
            "CREATE OR REPLACE TEMP TABLE kpi_reclocked AS SELECT * REPLACE "
            f"({OVERDUE_SQL} AS overdue, CAST(NULL AS VARCHAR) AS light) "
            f"FROM read_parquet({_sql_str(str(found.table('case_flat')))}) "
            "ANTI JOIN kpi_dirty USING (case_id)",
            {"end": _naive(period.end)},
        )
        self.con.execute("INSERT INTO kpi_cp BY NAME SELECT * FROM kpi_reclocked")
        self._lights(_naive(period.end))
        self._prepared = None  # the flat tables hold the recomputed cases only
        return found

    def _base_sql(self, source: str, per_case: str) -> str:
        """The closed days' stored cases (*per_case*: their rows of ``case_<source>``) summed once per
        area grouping: (g, k, counters…, ``__rows``: how many stored rows hold the key, ``__d_<name>``:
        a distinct counter's figure) — read at every evaluation instead of every stored case's row."""
        specs = [s for s in COUNTER_SPECS if s.source == source]
        sums = [f'sum("{s.name}") AS "{s.name}"' for s in specs if not s.distinct]
        sums += [
            f'CAST(count(DISTINCT {s.distinct}) FILTER (WHERE "__n_{s.name}" > 0) AS BIGINT) '
            f'AS "__d_{s.name}"'
            for s in specs
            if s.distinct
        ]
        return " UNION ALL ".join(
            f"SELECT '{g}' AS g, {_group_key(g)} AS k, {', '.join(sums)}, count(*) AS __rows "
            f"FROM {per_case} WHERE {_stored_rows(source)} GROUP BY ALL"
            for g in AREA_GROUPINGS
        )

    def _distinct_values_sql(self, source: str, per_case: str) -> str:
        """Per area grouping, key and distinct counter: each value's count of stored rows (g, k, name,
        v, n) — what tells whether a touched case's value was the group's last or its first."""
        parts = [
            f"SELECT '{g}' AS g, {_group_key(g)} AS k, '{s.name}' AS name, "
            f'CAST({s.distinct} AS VARCHAR) AS v, sum("__n_{s.name}") AS n FROM {per_case} '
            f'WHERE {_stored_rows(source)} AND {s.distinct} IS NOT NULL AND "__n_{s.name}" > 0 '
            "GROUP BY ALL"
            for s in COUNTER_SPECS
            if s.source == source and s.distinct
            for g in AREA_GROUPINGS
        ]
        empty = (
            "SELECT NULL::VARCHAR AS g, NULL::VARCHAR AS k, NULL::VARCHAR AS name, NULL::VARCHAR AS v, 0 AS n"
        )
        return " UNION ALL ".join(parts) if parts else f"{empty} WHERE false"

    def _open_grouping_sets(
        self,
        found: facts.StoredFacts,
        source: str,
        areas: Sequence[str],
        out: dict[str, dict[str | None, dict[str, float]]],
    ) -> None:
        """Stage two of an open period: each area grouping is its stored sums of the closed days
        (``base_<source>``) less the touched cases' stored rows plus the recomputed and re-clocked
        cases' partial sums. A key is a group while any row holds it (the events path's rule: a row
        count, ``__rows``); a distinct counter is its stored figure corrected where a value's count
        crosses zero."""
        specs = [s for s in COUNTER_SPECS if s.source == source]
        plain = [s for s in specs if not s.distinct]
        distinct = [s for s in specs if s.distinct]
        cols = [*AREA_COLUMNS, *(_q(s.name) for s in plain), *(f'"__n_{s.name}"' for s in distinct)]
        negated = [*AREA_COLUMNS, *(f"-{c}" for c in cols[len(AREA_COLUMNS) :])]
        self.con.execute(
            f"CREATE OR REPLACE TEMP TABLE kpi_delta AS SELECT {', '.join(cols)}, 1 AS __rows "
            f"FROM ({self._area_partial_sql(source)}) UNION ALL "
            f"SELECT {', '.join(negated)}, -1 AS __rows "
            f"FROM read_parquet({_sql_str(str(found.table('case_' + source)))}) "
            f"WHERE case_id IN (SELECT case_id FROM kpi_dirty) AND {_stored_rows(source)}"
        )
        base = f"read_parquet({_sql_str(str(found.table('base_' + source)))})"
        figures = [f'{_figure(s, f"sum({_q(s.name)})")} AS "{s.name}"' for s in plain]
        figures += [f'sum("__d_{s.name}") AS "__d_{s.name}"' for s in distinct]
        sums = ", ".join(_q(s.name) for s in plain)
        zeros = ", ".join(f'0 AS "__d_{s.name}"' for s in distinct)
        stored = ", ".join(f'"__d_{s.name}"' for s in distinct)
        try:
            for area in areas:
                key = _group_key(area)
                result = self.con.execute(
                    f"SELECT k, {', '.join(figures)} FROM ("
                    f"SELECT k, {sums}, {stored + ', ' if stored else ''}__rows FROM {base} WHERE g = $g "
                    f"UNION ALL SELECT {key} AS k, {sums}, {zeros + ', ' if zeros else ''}__rows "
                    "FROM kpi_delta) GROUP BY k HAVING sum(__rows) > 0",
                    {"g": area},
                )
                names = [d[0] for d in result.description][1:]
                target = out[area]
                groups = {}
                for row in result.fetchall():
                    groups[row[0]] = values = dict(zip(names, row[1:], strict=True))
                    for s in distinct:
                        values[s.name] = float(values.pop(f"__d_{s.name}") or 0)
                for s in distinct:
                    for k, change in self._distinct_changes(found, area, s):
                        if k in groups:
                            groups[k][s.name] += change
                for k, values in groups.items():
                    target.setdefault(k, {}).update(values)
                if area == "city":  # the city is a group even without a row (as on the events path)
                    target.setdefault("city", {})
        finally:
            self.con.execute("DROP TABLE IF EXISTS kpi_delta")

    def _distinct_changes(
        self, found: facts.StoredFacts, area: str, spec: CounterSpec
    ) -> list[tuple[Any, int]]:
        """(group key, change) of a distinct counter: a value whose count of rows in the group goes
        from none to some adds one, from some to none takes one away."""
        stored = f"read_parquet({_sql_str(str(found.table('values_' + spec.source)))})"
        return [
            (k, int(change))
            for k, change in self.con.execute(
                f"WITH d AS (SELECT {_group_key(area)} AS k, CAST({spec.distinct} AS VARCHAR) AS v, "
                f'sum("__n_{spec.name}") AS dn FROM kpi_delta WHERE {spec.distinct} IS NOT NULL '
                "GROUP BY ALL HAVING dn <> 0), "
                f"b AS (SELECT k, v, n FROM {stored} WHERE g = $g AND name = $name "
                "AND v IN (SELECT v FROM d)) "
                "SELECT d.k, sum(CAST(coalesce(b.n, 0) + d.dn > 0 AS INTEGER) "
                "- CAST(coalesce(b.n, 0) > 0 AS INTEGER)) FROM d LEFT JOIN b "
                "ON d.k IS NOT DISTINCT FROM b.k AND d.v = b.v GROUP BY d.k",
                {"g": area, "name": spec.name},
            ).fetchall()
            if change
        ]

    def _open_role_rows(self, found: facts.StoredFacts, role: str) -> list[tuple[str, str, float]]:
        """A role grouping of an open period: the closed days' stored sums less the touched cases'
        rows (a person is in the grouping while a row of theirs is), plus the recomputed ones'."""
        if self._open_roles is None:  # every role at once: one read of the stored sums
            base = _sql_str(str(found.table("base_roles")))
            stored = self.con.execute(
                "SELECT role, key, name, sum(value) FROM ("
                f"SELECT role, key, name, value, n FROM read_parquet({base}) "
                "UNION ALL SELECT role, key, name, -value, -1 "
                f"FROM read_parquet({_sql_str(str(found.table('case_roles')))}) "
                "WHERE case_id IN (SELECT case_id FROM kpi_dirty)"
                ") GROUP BY ALL HAVING sum(n) > 0"
            ).fetchall()
            self._open_roles = {}
            for r, key, name, value in stored:
                self._open_roles.setdefault(str(r), []).append((str(key), str(name), float(value or 0)))
        totals: dict[tuple[str, str], float] = {}
        for key, name, value in [*self._open_roles.get(role, []), *self._role_rows(role)]:
            totals[(str(key), str(name))] = totals.get((str(key), str(name)), 0.0) + float(value or 0)
        return [(key, name, value) for (key, name), value in totals.items()]

    def _case_roles_sql(self) -> str:
        """(case_id, role, key, name, value) of every role counter per case, from the flat tables."""
        parts = []
        for role in ROLE_GROUPINGS:
            for table, where, key, specs in _role_queries(role):
                per_case = (
                    f"SELECT case_id, CAST({key} AS VARCHAR) AS key, "
                    f"{', '.join(self._aggregates(specs, cast='DOUBLE'))} FROM {table} "
                    f"WHERE {where}({key}) IS NOT NULL GROUP BY 1, 2"
                )
                parts.append(
                    f"SELECT case_id, '{role}' AS role, key, name, value FROM (UNPIVOT ({per_case}) "
                    "ON COLUMNS(* EXCLUDE (case_id, key)) INTO NAME name VALUE value)"
                )
        # zeros are left out but for one row per (case, role, person): that person has a group
        rows = (
            f"SELECT * FROM ({' UNION ALL '.join(parts)}) QUALIFY value <> 0 OR ("
            "max(abs(value)) OVER (PARTITION BY case_id, role, key) = 0 "
            "AND row_number() OVER (PARTITION BY case_id, role, key ORDER BY name) = 1)"
        )
        # a case with a department at the cut always has its case-period counters taken again (it is
        # recomputed or re-clocked at every evaluation): its stored ones are never read
        return (
            f"SELECT * FROM ({rows}) WHERE NOT (name IN ({_CP_ROLE_NAMES}) AND case_id IN "
            f"(SELECT case_id FROM kpi_cp WHERE end_stage IN ({_HANDLING})))"
        )

    # ---- the evaluation -----------------------------------------------------------------------

    def evaluate(
        self, period: Period, by: Sequence[str] = ("department",), *, previous: bool = True
    ) -> Evaluation:
        """Counters, rates, composite scores, grades and ranks (with the previous period's rank)."""
        started = time.perf_counter()
        before: dict[str, dict[str, int]] = {}
        ranked = [b for b in by if GROUPING_OBJECT.get(b)]
        prev = period.previous()
        # A database is read once for both months (the copy is cheaper than a second scan through the
        # scanner); a Parquet export is read directly for each (at 10 M cases the copy of two months'
        # events costs more than reading the file twice), and months with stored facts read no events.
        shared = (
            previous
            and bool(ranked)
            and self._prepared != period
            and self.source.kind in SCAN_ONCE_SOURCES
            and self.stored_facts(period) is None
            and self.stored_facts(prev) is None
            and self._open_cut(period) is None
        )
        if shared:
            self._scan([prev, period])
            try:
                # the previous period first, so that the requested one stays prepared for explain()
                before = _ranks_of(self._figures(prev, ranked))
                groupings = self._figures(period, by)
            finally:
                self._drop_scan()
        else:
            if previous and ranked:
                before = self._previous_ranks(prev, ranked)
            groupings = self._figures(period, by)
        if before:
            for b, grouping in groupings.items():
                if b not in before:
                    continue
                prev_ranks = before[b]
                now_ranks = {
                    str(r.key): r.rank for r in grouping.rows if r.rank is not None and r.key is not None
                }
                changes = rank_change(now_ranks, prev_ranks)
                for r in grouping.rows:
                    if r.key is not None:
                        r.previous_rank = prev_ranks.get(str(r.key))
                        r.rank_change = changes.get(str(r.key))
        return Evaluation(
            period, groupings, self.source.description, time.perf_counter() - started, rules_text()
        )

    def _previous_ranks(self, prev: Period, ranked: Sequence[str]) -> dict[str, dict[str, int]]:
        """The ranks of *prev* per grouping. A closed period's ranks never change (its stored facts are
        final, the settings are part of the key), so they are kept next to its facts after the first
        evaluation: the current month's rank change then costs a small file, not the previous month's
        partial sums read and grouped again at every refresh."""
        stored = self.stored_facts(prev)
        dump = getattr(self.settings, "model_dump_json", None)
        path = None
        if stored is not None and callable(dump):
            key = hashlib.sha256(f"{self._facts_spec}\0{dump()}\0{sorted(ranked)}".encode()).hexdigest()
            path = stored.folder / f"ranks-{key[:20]}.json"
            try:
                kept: dict[str, dict[str, int]] = orjson.loads(path.read_bytes())
            except (OSError, ValueError):
                pass  # not kept yet (or unreadable): evaluate and keep it
            else:
                _touch(path)
                return kept
        ranks = _ranks_of(self._figures(prev, ranked))
        if path is not None and facts.write_atomically(path, orjson.dumps(ranks)):
            _prune_ranks(path.parent)
        return ranks

    def _figures(self, period: Period, by: Sequence[str]) -> dict[str, Grouping]:
        counts = self.counters(period, by)
        s = self.settings
        variant = getattr(s, "dispatch_accuracy_variant", "egova")
        denominator = getattr(s, "rework_rate_denominator", "handled")
        out: dict[str, Grouping] = {}
        for b in by:
            rows: list[GroupRow] = []
            obj = GROUPING_OBJECT.get(b)
            if obj is not None and s is not None:
                weights, volume = _weights(s, obj), _volume(s, obj)
            for key, c in counts[b].items():
                rs = rates(c, dispatch_accuracy_variant=variant, rework_rate_denominator=denominator)
                row = GroupRow(key, self.labels(b, key), c, rs)
                if obj is not None and s is not None:
                    figures: dict[str, float | None] = {**rs, **c}
                    grids = c.get("filed_grids") or 0.0
                    figures["filed_per_grid"] = (c.get("filed", 0.0) / grids) if grids else c.get("filed")
                    row.score = composite_score(obj, figures, weights, volume, s.grades.grade)
                rows.append(row)
            if obj is not None:
                ranks = rank(
                    {str(r.key): r.score.score if r.score else None for r in rows if r.key is not None}
                )
                for r in rows:
                    r.rank = ranks.get(str(r.key)) if r.key is not None else None
            rows.sort(key=_sort_key)
            out[b] = Grouping(b, period, rows)
        return out

    # ---- explaining ---------------------------------------------------------------------------

    def explain(self, period: Period, kpi: str, by: str, group: str | None) -> dict[str, Any]:
        """The cases behind a figure of one group: for a rate, its numerator's and denominator's."""
        self.prepare(period)
        if kpi in RATE_PARTS:
            num, den = rate_parts(
                kpi,
                dispatch_accuracy_variant=getattr(self.settings, "dispatch_accuracy_variant", "egova"),
                rework_rate_denominator=getattr(self.settings, "rework_rate_denominator", "handled"),
            )
            parts = {"numerator": num, "denominator": den}
        elif kpi == "avg_handling_hours":
            parts = {"numerator": "handling_minutes", "denominator": "handling_count"}
        elif kpi in SPECS:
            parts = {"counter": kpi}
        else:
            raise ValueError(both("kpi.engine.unknown_kpi", kpi=repr(kpi)))
        out: dict[str, Any] = {
            "kpi": kpi,
            "zh": CATALOGUE[kpi].zh if kpi in CATALOGUE else kpi,
            "en": CATALOGUE[kpi].en if kpi in CATALOGUE else kpi,
            "formula": CATALOGUE[kpi].formula if kpi in CATALOGUE else kpi,
            "by": by,
            "group": group,
            "period": period.label,
        }
        for role, counter in parts.items():
            cases = self.cases_behind(period, counter, by, group)
            out[role] = {
                "counter": counter,
                "rule": CATALOGUE[counter].rule,
                "count": len(cases),
                "cases": cases,
            }
        return out

    def cases_behind(self, period: Period, counter: str, by: str, group: str | None) -> list[str]:
        """Case ids counted by *counter* for one group (a case counted twice is listed once)."""
        self.prepare(period)
        spec = SPECS[counter]
        if by in ROLE_GROUPINGS:
            key = spec.roles.get(by)
            if key is None:
                return []
        elif by in DIM_COLUMN:
            key = DIM_COLUMN[by]
        else:
            raise ValueError(f"unknown grouping {by!r}")
        table = "kpi_ev" if spec.source == "ev" else "kpi_cp"
        where = [f"({spec.where})"]
        if spec.source == "ev":
            where.append("inp")
        params: list[Any] = []
        if by != "city":
            if group is None:
                where.append(f"({key}) IS NULL")
            else:
                where.append(f"({key}) = ?")
                params.append(group)
        sql = f"SELECT DISTINCT case_id FROM {table} WHERE {' AND '.join(where)} ORDER BY case_id"
        return [r[0] for r in self.con.execute(sql, params).fetchall()]


def _q(name: str) -> str:
    return f'"{name}"'


_BASE_ROLES_SQL = "SELECT role, key, name, sum(value) AS value, count(*) AS n FROM {case_roles} GROUP BY ALL"


def _stored_rows(source: str) -> str:
    """The condition on the closed days' stored rows that stand at every evaluation unless touched: a
    case with a department at the cut has its case-period row recomputed or re-clocked every time."""
    return f"end_stage NOT IN ({_HANDLING})" if source == "cp" else "true"


def _group_key(area: str) -> str:
    """SQL of an area grouping's key in the flat tables' partial sums."""
    return "'city'" if area == "city" else DIM_COLUMN[area]


def _figure(spec: CounterSpec, total: str) -> str:
    """SQL of a counter's figure (DOUBLE) from *total*, the sum of its partial sums: a value counter's
    partial sums are integer thousandths (``_aggregates``), so that sums taken in any order and totals less
    a part (the open period's stored days less the cases touched today) are exact."""
    if spec.value is not None:
        return f"coalesce(CAST({total} AS DOUBLE), 0) / 1000"
    return f"coalesce(CAST({total} AS DOUBLE), 0)"


def _role_queries(role: str) -> list[tuple[str, str, str, list[CounterSpec]]]:
    """(flat table, its period filter, key expression, counters) of one role grouping, per key."""
    by_key: dict[tuple[str, str], list[CounterSpec]] = {}
    for s in COUNTER_SPECS:
        if role in s.roles:
            by_key.setdefault((s.source, s.roles[role]), []).append(s)
    return [
        ("kpi_ev" if source == "ev" else "kpi_cp", "inp AND " if source == "ev" else "", key, specs)
        for (source, key), specs in by_key.items()
    ]


def _ranks_of(groupings: Mapping[str, Grouping]) -> dict[str, dict[str, int]]:
    """{grouping: {group key: rank}} of the ranked groups."""
    return {
        b: {str(r.key): r.rank for r in g.rows if r.rank is not None and r.key is not None}
        for b, g in groupings.items()
    }


def _naive(moment: datetime) -> datetime:
    """A moment as the engine's tables hold it: naive UTC."""
    return moment.astimezone(UTC).replace(tzinfo=None)


def _statements(sql: str) -> list[str]:
    return [s.strip() for s in sql.split(";\n") if s.strip()]


def _sort_key(r: GroupRow) -> tuple[int, float, str]:
    if r.rank is not None:
        return (0, float(r.rank), str(r.key))
    return (1, 0.0, "" if r.key is None else str(r.key))


def _weights(settings: Any, obj: str) -> dict[str, float]:
    w = getattr(settings.weights, obj)
    return {k: float(v) for k, v in w.model_dump().items()}


def _volume(settings: Any, obj: str) -> Callable[[float], float] | None:
    bands = getattr(settings.volume_bands, obj, None)
    if bands is None:
        return None
    score: Callable[[float], float] = bands.score
    return score


def city_labels(city: Any) -> Callable[[str, str | None], str | None]:
    """Names for group keys from the city profile (departments, districts, categories)."""
    profile = city.profile
    departments: dict[str, str] = {str(d.id): str(d.name) for d in profile.departments}
    districts: dict[str, str] = {str(d.code): str(d.name) for d in profile.districts}

    def name(by: str, key: str | None) -> str | None:
        if key is None:
            return None
        if by == "department":
            return departments.get(key, key)
        if by == "district":
            return districts.get(key, key)
        if by == "category":
            try:
                return str(profile.category(key).name)
            except KeyError:
                return key
        if by == "city":
            return str(profile.name)
        return key

    return name
