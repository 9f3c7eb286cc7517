"""Analysis (研判): hotspots, recurring places, time-of-day and weekday profiles, next week's forecast.

Everything is counted from the report events of the event log (DuckDB over the same :class:`Source` as
the KPI engine), by report time in the city's time zone. A case's category is the one it was last
accepted or filed under (public reports often arrive without one), else the reported one.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, MetaData, Table, inspect, select

from civicloop.kpi.core import Period, errors, exp_smoothing
from civicloop.kpi.source import Source

# The report events of a range with the fields the analysis reads (the source's ``kpi_data`` struct:
# stored in a Parquet export, parsed once per query from a database), and each case's category as of
# the range's end (the last ACCEPT or FILE that named one, else the reported category).
_REPORTS_SQL = """
CREATE OR REPLACE TEMP TABLE an_reports_all AS
WITH r AS (
  SELECT case_id, "at", kpi_data AS d
  FROM raw_events
  WHERE city_id = $city AND action = 'report' AND "at" >= $start AND "at" < $end
), cat AS (
  SELECT case_id, arg_max(kpi_data.category_code, seq) AS category_code
  FROM raw_events
  WHERE city_id = $city AND action IN ('accept', 'file') AND "at" >= $start AND "at" < $end
    AND kpi_data.category_code IS NOT NULL
    AND case_id IN (SELECT case_id FROM r)
  GROUP BY case_id
)
SELECT r.case_id, r."at", timezone($tz, CAST(r."at" AS TIMESTAMPTZ)) AS local_at,
  coalesce(cat.category_code, r.d.category_code) AS category_code,
  r.d.district_code AS district_code, r.d.street_code AS street_code,
  r.d.community_code AS community_code, r.d.grid_code AS grid_code,
  r.d.lon AS lon, r.d.lat AS lat, r.d.address AS address
FROM r LEFT JOIN cat USING (case_id)
"""

LEVELS = {
    "grid": "grid_code",
    "community": "community_code",
    "street": "street_code",
    "district": "district_code",
}


def _naive_utc(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


@dataclass
class Analyst:
    """研判 over one city's event log."""

    source: Source
    city_id: str
    timezone: str
    engine: Engine | None = None  # for grid areas (geo_grids.area_m2), when geography is present

    _covered: tuple[datetime, datetime] | None = field(default=None, init=False, repr=False)

    def cover(self, start: datetime, end: datetime) -> None:
        """Read the report events of [start, end) once; later ranges inside it are filtered from them
        (a report reads one month, the month before and twelve weeks: :func:`report.build_report`
        covers all of them in one read)."""
        self._read(_naive_utc(start), _naive_utc(end))

    def _read(self, start: datetime, end: datetime) -> None:
        self.source.prepare(self.city_id, end.replace(tzinfo=UTC))
        self.source.con.execute(
            _REPORTS_SQL,
            {"city": self.city_id, "start": start, "end": end, "tz": self.timezone},
        )
        self._covered = (start, end)

    def _load(self, start: datetime, end: datetime) -> None:
        """Make the view ``an_reports`` hold the report events of [start, end)."""
        s, e = _naive_utc(start), _naive_utc(end)
        if self._covered is None or not (self._covered[0] <= s and e <= self._covered[1]):
            self._read(s, e)
        con = self.source.con
        con.execute(
            "CREATE OR REPLACE TEMP VIEW an_reports AS SELECT * FROM an_reports_all "
            f"WHERE \"at\" >= TIMESTAMP '{s.isoformat(sep=' ')}' "
            f"AND \"at\" < TIMESTAMP '{e.isoformat(sep=' ')}'"
        )

    # ---- hotspots ---------------------------------------------------------------------------

    def grid_areas(self) -> dict[str, float]:
        """km² of each unit grid, from the geography tables when they exist (else empty)."""
        if self.engine is None:
            return {}
        try:
            if "geo_grids" not in inspect(self.engine).get_table_names():
                return {}
            grids = Table("geo_grids", MetaData(), autoload_with=self.engine)
            with self.engine.connect() as conn:
                rows = conn.execute(
                    select(grids.c.grid_code, grids.c.area_m2).where(grids.c.city_id == self.city_id)
                ).all()
        except Exception:  # geography is optional: no areas, no densities
            return {}
        return {r.grid_code: float(r.area_m2) / 1e6 for r in rows if r.area_m2}

    def hotspots(
        self, period: Period, *, level: str = "grid", top: int = 20, by_category: bool = True
    ) -> list[dict[str, Any]]:
        """Cases per area (and category) in the period vs the previous one, densest first.

        ``per_km2`` only at grid level and only when the grid's area is known.
        """
        column = LEVELS[level]
        before = period.previous()
        self._load(before.start, period.end)
        cat = ", category_code" if by_category else ""
        rows = self.source.con.execute(
            f"SELECT {column} AS area{cat}, "
            f'count(*) FILTER (WHERE "at" >= $start) AS n, '
            f'count(*) FILTER (WHERE "at" < $start) AS n_before, '
            f'list(case_id ORDER BY case_id) FILTER (WHERE "at" >= $start) AS cases '
            f"FROM an_reports WHERE {column} IS NOT NULL GROUP BY ALL HAVING n > 0 "
            f"ORDER BY n DESC, area{cat} LIMIT $top",
            {"start": _naive_utc(period.start), "top": top},
        ).fetchall()
        areas = self.grid_areas() if level == "grid" else {}
        out = []
        for r in rows:
            area, rest = r[0], r[1:]
            category = rest[0] if by_category else None
            n, n_before, cases = rest[-3], rest[-2], rest[-1]
            km2 = areas.get(area)
            out.append(
                {
                    "level": level,
                    "area": area,
                    "category_code": category,
                    "cases": int(n),
                    "previous": int(n_before),
                    "change": int(n) - int(n_before),
                    "change_rate": (int(n) - int(n_before)) / n_before if n_before else None,
                    "area_km2": km2,
                    "per_km2": (n / km2) if km2 else None,
                    "case_ids": list(cases)[:50],
                }
            )
        return out

    def recurring_places(
        self, period: Period, *, cell_m: float = 50.0, min_cases: int = 3, top: int = 50
    ) -> list[dict[str, Any]]:
        """Places (≈ cell_m × cell_m squares, same category) with at least *min_cases* reports."""
        self._load(period.start, period.end)
        rows = self.source.con.execute(
            "SELECT category_code, CAST(round(lon * cos(radians(lat)) * 111320 / $cell) AS BIGINT) AS cx, "
            "CAST(round(lat * 110540 / $cell) AS BIGINT) AS cy, count(*) AS n, avg(lon) AS lon, "
            "avg(lat) AS lat, mode(address) AS address, any_value(grid_code) AS grid_code, "
            'any_value(district_code) AS district_code, list(case_id ORDER BY "at") AS cases, '
            'min("at") AS first_at, max("at") AS last_at '
            "FROM an_reports WHERE lon IS NOT NULL AND lat IS NOT NULL "
            "GROUP BY ALL HAVING count(*) >= $min ORDER BY n DESC, category_code LIMIT $top",
            {"cell": cell_m, "min": min_cases, "top": top},
        ).fetchall()
        return [
            {
                "category_code": r[0],
                "cases": int(r[3]),
                "lon": round(float(r[4]), 6),
                "lat": round(float(r[5]), 6),
                "address": r[6],
                "grid_code": r[7],
                "district_code": r[8],
                "case_ids": list(r[9]),
                "first": r[10].replace(tzinfo=UTC).isoformat(),
                "last": r[11].replace(tzinfo=UTC).isoformat(),
            }
            for r in rows
        ]

    # ---- profiles ---------------------------------------------------------------------------

    def time_profiles(self, period: Period, *, top_categories: int = 10) -> dict[str, Any]:
        """Reports per local hour (0–23) and per weekday (1 = Monday … 7) for the busiest categories."""
        self._load(period.start, period.end)
        con = self.source.con
        cats = [
            r[0]
            for r in con.execute(
                "SELECT category_code FROM an_reports WHERE category_code IS NOT NULL "
                "GROUP BY 1 ORDER BY count(*) DESC, 1 LIMIT $n",
                {"n": top_categories},
            ).fetchall()
        ]
        hours: dict[str, list[int]] = {c: [0] * 24 for c in cats}
        days: dict[str, list[int]] = {c: [0] * 7 for c in cats}
        total_h, total_d = [0] * 24, [0] * 7
        for cat, h, dow, n in con.execute(
            "SELECT category_code, hour(local_at), isodow(local_at), count(*) FROM an_reports GROUP BY ALL"
        ).fetchall():
            total_h[h] += n
            total_d[dow - 1] += n
            if cat in hours:
                hours[cat][h] += n
                days[cat][dow - 1] += n
        peak = {c: hours[c].index(max(hours[c])) for c in cats if sum(hours[c])}
        return {
            "hours": hours,
            "weekdays": days,
            "all_hours": total_h,
            "all_weekdays": total_d,
            "peak_hour": peak,
        }

    # ---- forecast ---------------------------------------------------------------------------

    def forecast(
        self,
        end: datetime,
        *,
        weeks: int = 12,
        by: Sequence[str] = ("district_code", "category_code"),
        alpha: float = 0.5,
        top: int | None = None,
    ) -> dict[str, Any]:
        """Next week's cases per series (district × category) from the *weeks* full local weeks before *end*.

        Two methods, both backtested one step ahead on the same weeks (each week forecast from the weeks
        before it only): **naive** (next week = last week) and **exponential smoothing** (α). The method
        with the lower overall MAE is the one used; both errors (MAE, MAPE) are returned.
        """
        tz = ZoneInfo(self.timezone)
        local_end = end.astimezone(tz)
        monday = (local_end - timedelta(days=local_end.weekday())).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        first = monday - timedelta(weeks=weeks)
        self._load(first, monday)
        keys = ", ".join(by)
        rows = self.source.con.execute(
            f"SELECT {keys}, "
            "CAST(date_diff('day', CAST($first AS TIMESTAMP), local_at) // 7 AS INTEGER) AS w, "
            f"count(*) FROM an_reports GROUP BY ALL",
            {"first": first.replace(tzinfo=None)},
        ).fetchall()
        series: dict[tuple[Any, ...], list[float]] = defaultdict(lambda: [0.0] * weeks)
        for r in rows:
            w = int(r[len(by)])
            if 0 <= w < weeks:
                series[tuple(r[: len(by)])][w] += float(r[len(by) + 1])
        items = sorted(series.items(), key=lambda kv: -sum(kv[1]))
        if top is not None:
            items = items[:top]
        actual: list[float] = []
        naive_f: list[float] = []
        smooth_f: list[float] = []
        out_series = []
        for key, values in items:
            smooth = exp_smoothing(values, alpha)
            # backtest from the second week on: week i forecast from weeks < i
            for i in range(1, len(values)):
                actual.append(values[i])
                naive_f.append(values[i - 1])
                smooth_f.append(smooth[i])
            out_series.append(
                {
                    **dict(zip(by, key, strict=True)),
                    "history": values,
                    "naive": values[-1] if values else 0.0,
                    "exp_smoothing": round(smooth[-1], 3) if smooth else 0.0,
                }
            )
        err_naive = errors(actual, naive_f)
        err_smooth = errors(actual, smooth_f)
        method = (
            "exp_smoothing" if (err_smooth["mae"] or math.inf) <= (err_naive["mae"] or math.inf) else "naive"
        )
        for s in out_series:
            s["forecast"] = s[method]
        return {
            "week_starting": monday.date().isoformat(),
            "history_weeks": weeks,
            "from": first.date().isoformat(),
            "method": method,
            "alpha": alpha,
            "errors": {"naive": err_naive, "exp_smoothing": err_smooth},
            "series": out_series,
        }
