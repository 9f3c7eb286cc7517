"""The big screen's figures beyond the live counts: KPIs (from the KPI engine), the trend, rankings.

KPIs come from :mod:`civicloop.kpi` when it is installed — 问题处置率, 按期结案率, 结案率 and the
department composite ranking from the event log, 着灯率 and 设施完好率 from the asset tables — computed
in a background thread every ``kpi_refresh`` seconds for the current month, so a page never waits for
them. Until the first computation finishes, or when the engine or its data is missing, a rate is
``null`` with a status the page shows as "—" (无数据): never a made-up 0.
"""

from __future__ import annotations

import logging
import threading
import time
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from civicloop.cases.store import count_actions, count_reported
from civicloop.city.service import City
from civicloop.kernel.vocabulary import Action
from civicloop.web.live import local_midnight
from civicloop.web.settings import WebSettings

log = logging.getLogger("civicloop.web")

TREND_DAYS = 14
KPI_RATES = (
    "problem_handling_rate",
    "on_time_closure_rate",
    "closure_rate",
    "on_time_handling_rate",
    "rework_rate",
    "handling_rate",
    "satisfaction_rate",
    "callback_rate",
)


@dataclass
class KpiSnapshot:
    status: str = "pending"  # pending | computing | ok | unavailable | error
    period: str | None = None
    computed_at: datetime | None = None
    seconds: float | None = None
    rates: dict[str, float | None] = field(default_factory=dict)
    assets: dict[str, float | None] = field(default_factory=dict)
    departments: list[dict[str, Any]] = field(default_factory=list)
    problem: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "period": self.period,
            "computed_at": self.computed_at.isoformat() if self.computed_at else None,
            "seconds": self.seconds,
            "rates": self.rates,
            "assets": self.assets,
            "departments": self.departments,
            "problem": self.problem,
        }


def _asset_rate(rows: list[dict[str, Any]]) -> float | None:
    """The city-wide figure of an asset rate (the row without district, road class and type)."""
    whole = [r for r in rows if r.get("district_code") is None and r.get("road_class") is None]
    for r in whole:
        if r.get("type_code") in (None, "01037"):
            rate = r.get("rate")
            return None if rate is None else float(rate)
    return None


class KpiCache:
    """The current month's KPIs, refreshed in a background thread."""

    def __init__(self, city: City, settings: WebSettings) -> None:
        self.city = city
        self.settings = settings
        self.snapshot = KpiSnapshot(status="pending" if settings.kpi_refresh > 0 else "unavailable")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        if self.settings.kpi_refresh <= 0:
            return
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._thread = threading.Thread(target=self._run, name="civicloop-web-kpi", daemon=True)
            self._thread.start()

    def close(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        if self._stop.wait(self.settings.kpi_delay):
            return
        while not self._stop.is_set():
            self.refresh()
            self._stop.wait(self.settings.kpi_refresh)

    def refresh(self) -> KpiSnapshot:
        # Imported here: DuckDB loads only when the screen first asks for KPIs, not at server start.
        from civicloop.kpi.assets import asset_summary
        from civicloop.kpi.core import parse_period
        from civicloop.kpi.engine import KpiEngine
        from civicloop.kpi.source import open_source

        previous = self.snapshot
        previous.status = "computing" if previous.computed_at is None else previous.status
        tz = ZoneInfo(self.city.profile.timezone)
        label = datetime.now(UTC).astimezone(tz).strftime("%Y-%m")
        started = time.perf_counter()
        snap = KpiSnapshot(status="ok", period=label)
        try:
            period = parse_period(label, self.city.profile.timezone)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                # On SQLite, read through SQLAlchemy (Arrow), never with DuckDB's sqlite_scanner: a second
                # SQLite library in this process would not see our POSIX locks and, on closing, could
                # delete the WAL of the database the server is writing (SQLite's "multiple copies of
                # SQLite in one process" hazard).
                mode = "arrow" if self.city.engine.dialect.name == "sqlite" else None
                engine = KpiEngine.for_city(self.city, open_source(self.city.engine, mode=mode))
                try:
                    evaluation = engine.evaluate(period, ("city", "department"), previous=False)
                finally:
                    engine.close()
            city_rows = evaluation["city"].rows
            rates = city_rows[0].rates if city_rows else {}
            snap.rates = {k: (None if rates.get(k) is None else float(rates[k] or 0.0)) for k in KPI_RATES}
            for r in evaluation["department"].rows:
                if r.key is None:
                    continue
                snap.departments.append(
                    {
                        "id": r.key,
                        "name": r.name,
                        "score": None if r.score is None else r.score.score,
                        "grade": None if r.score is None else r.score.grade,
                        "rank": r.rank,
                        "closure_rate": r.rates.get("closure_rate"),
                        "on_time_handling_rate": r.rates.get("on_time_handling_rate"),
                        "satisfaction_rate": r.rates.get("satisfaction_rate"),
                        "filed": r.counters.get("filed"),
                    }
                )
            try:
                assets = asset_summary(self.city.engine, self.city.id, period, self.city.profile.kpi.targets)
                snap.assets = {
                    "light_on_rate": _asset_rate(assets["light_on_rate"]),
                    "facility_intact_rate": _asset_rate(assets["facility_intact_rate"]),
                }
            except Exception as exc:  # asset tables missing or empty: no data
                log.warning("web: asset rates unavailable: %s", exc)
                snap.assets = {"light_on_rate": None, "facility_intact_rate": None}
        except Exception as exc:
            log.exception("web: KPI computation failed")
            snap = KpiSnapshot(status="error", period=label, problem=f"{type(exc).__name__}: {exc}"[:300])
            if previous.computed_at is not None:  # keep showing the last good figures
                previous.status, previous.problem = "stale", snap.problem
                return previous
        snap.computed_at = datetime.now(UTC)
        snap.seconds = round(time.perf_counter() - started, 3)
        self.snapshot = snap
        return snap


class TrendCache:
    """Reports and closures per day over the last two weeks (cached for a minute)."""

    def __init__(self, city: City, ttl: float = 60.0) -> None:
        self.city = city
        self.ttl = ttl
        self._value: dict[str, Any] | None = None
        self._at = 0.0
        self._lock = threading.Lock()

    def get(self) -> dict[str, Any]:
        with self._lock:
            if self._value is None or time.monotonic() - self._at > self.ttl:
                self._value = self._compute()
                self._at = time.monotonic()
            return self._value

    def _compute(self) -> dict[str, Any]:
        tz = ZoneInfo(self.city.profile.timezone)
        today = local_midnight(tz)
        starts = [today - timedelta(days=TREND_DAYS - 1 - i) for i in range(TREND_DAYS)]
        ends = [*starts[1:], today + timedelta(days=1)]
        reports: list[int] = []
        closed: list[int] = []
        city_id = self.city.id
        with self.city.store.read() as conn:
            for lo, hi in zip(starts, ends, strict=True):
                reports.append(count_reported(conn, city_id, lo, hi))
                closed.append(count_actions(conn, city_id, Action.CLOSE, lo, hi))
        return {
            "days": [d.astimezone(tz).date().isoformat() for d in starts],
            "reports": reports,
            "closed": closed,
        }
