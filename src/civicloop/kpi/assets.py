"""Asset rates: 着灯率 (street lights lit) and 设施完好率 (facilities intact) per district, road class.

Both read the geography tables (``components``, ``component_states``, ``patrol_checks``; see
``civicloop.geo.store``) defensively: when the tables are absent or hold nothing for the
period, the rate is reported as **no data** (``rate = None``, ``status = "no data"``), never as 0 %.

* 着灯率 = lit checks ÷ checks of street lights (type 01037) in night lighting patrols in the period:
  every light a patrol looked at should have been lit. A light checked on several nights counts on each.
* 设施完好率 = Σ intact time ÷ Σ registered time of the components in the period. A component
  registered the whole period and damaged for a quarter of it counts 0.75; one registered half-way
  through counts only from its start date; removed or abandoned components leave the denominator from
  the moment of that change. The state before the first history record is that record's ``from_state``
  (a first record without one registers the component); without any history the component's current
  state holds for the whole period.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, MetaData, Table, and_, inspect, select

from civicloop.kernel.i18n import t
from civicloop.kpi.core import Period

STREET_LIGHT = "01037"
NOT_REGISTERED = frozenset({"removed", "abandoned"})
NO_DATA = "no data"


@dataclass(frozen=True, slots=True)
class AssetRate:
    kpi: str  # light_on_rate | facility_intact_rate
    district_code: str | None
    road_class: str | None
    type_code: str | None
    numerator: float
    denominator: float
    target: float | None = None

    @property
    def rate(self) -> float | None:
        return self.numerator / self.denominator if self.denominator > 0 else None

    @property
    def status(self) -> str:
        return "ok" if self.denominator > 0 else NO_DATA

    def as_json(self) -> dict[str, Any]:
        rate = self.rate
        return {
            "kpi": self.kpi,
            "district_code": self.district_code,
            "road_class": self.road_class,
            "type_code": self.type_code,
            "numerator": round(self.numerator, 4),
            "denominator": round(self.denominator, 4),
            "rate": None if rate is None else round(rate, 6),
            "status": self.status,
            "target": self.target,
            "meets_target": None if rate is None or self.target is None else rate >= self.target,
        }


def _tables(engine: Engine, names: tuple[str, ...]) -> dict[str, Table] | None:
    try:
        present = set(inspect(engine).get_table_names())
    except Exception:  # an unreachable or odd store: no data rather than a crash in a report
        return None
    if not all(n in present for n in names):
        return None
    md = MetaData()
    return {n: Table(n, md, autoload_with=engine) for n in names}


def _light_target(targets: Any, road_class: str | None) -> float | None:
    if targets is None:
        return None
    if road_class == "main":
        return float(targets.light_on_rate_main)
    if road_class == "secondary":
        return float(targets.light_on_rate_secondary)
    return None


def light_on_rates(
    engine: Engine, city_id: str, period: Period, *, targets: Any = None, by_road_class: bool = True
) -> list[AssetRate]:
    """着灯率 per district and road class (plus a city-wide row with district None, road class None).

    An empty list never appears: without data the city row says ``no data``.
    """
    t = _tables(engine, ("patrol_checks", "components"))
    city_row = AssetRate("light_on_rate", None, None, STREET_LIGHT, 0.0, 0.0, None)
    if t is None:
        return [city_row]
    pc, comp = t["patrol_checks"], t["components"]
    q = (
        select(pc.c.result, comp.c.district_code, comp.c.road_class)
        .select_from(
            pc.join(comp, and_(pc.c.city_id == comp.c.city_id, pc.c.component_id == comp.c.component_id))
        )
        .where(
            pc.c.city_id == city_id,
            pc.c.at >= period.start,
            pc.c.at < period.end,
            pc.c.result.in_(("lit", "unlit")),
            comp.c.type_code == STREET_LIGHT,
        )
    )
    lit: dict[tuple[str | None, str | None], int] = defaultdict(int)
    due: dict[tuple[str | None, str | None], int] = defaultdict(int)
    with engine.connect() as conn:
        for result, district, road_class in conn.execute(q):
            key = (district, road_class if by_road_class else None)
            due[key] += 1
            lit[key] += result == "lit"
    rows = [
        AssetRate("light_on_rate", d, rc, STREET_LIGHT, lit[(d, rc)], n, _light_target(targets, rc))
        for (d, rc), n in sorted(due.items(), key=lambda kv: (str(kv[0][0]), str(kv[0][1])))
    ]
    total = sum(due.values())
    city_row = AssetRate(
        "light_on_rate", None, None, STREET_LIGHT, float(sum(lit.values())), float(total), None
    )
    return [city_row, *rows]


def _at(d: date | None, tz: ZoneInfo) -> datetime | None:
    if d is None:
        return None
    return datetime.combine(d, time(0), tz).astimezone(UTC)


def facility_intact_rates(
    engine: Engine,
    city_id: str,
    period: Period,
    *,
    target: float | None = None,
    by: tuple[str, ...] = ("district_code", "road_class"),
) -> list[AssetRate]:
    """设施完好率 per district and road class, time-weighted (see the module doc); city row first."""
    t = _tables(engine, ("components", "component_states"))
    city = AssetRate("facility_intact_rate", None, None, None, 0.0, 0.0, target)
    if t is None:
        return [city]
    comp, hist = t["components"], t["component_states"]
    tz = ZoneInfo(period.timezone)
    start, end = period.start, period.end
    with engine.connect() as conn:
        comps = conn.execute(
            select(
                comp.c.component_id,
                comp.c.type_code,
                comp.c.district_code,
                comp.c.road_class,
                comp.c.state,
                comp.c.start_date,
            ).where(comp.c.city_id == city_id)
        ).all()
        changes: dict[str, list[tuple[datetime, str | None, str]]] = defaultdict(list)
        for r in conn.execute(
            select(hist.c.component_id, hist.c.at, hist.c.from_state, hist.c.to_state)
            .where(hist.c.city_id == city_id, hist.c.at < end)
            .order_by(hist.c.component_id, hist.c.seq)
        ):
            changes[r.component_id].append((_aware(r.at), r.from_state, r.to_state))
    intact: dict[tuple[Any, ...], float] = defaultdict(float)
    registered: dict[tuple[Any, ...], float] = defaultdict(float)
    for c in comps:
        begin = max(start, _at(c.start_date, tz) or start)
        if begin >= end:
            continue
        history = changes.get(c.component_id, [])
        # a first record without from_state registers the component: nothing before it
        state = c.state if not history else history[0][1] or "removed"
        moments: list[tuple[datetime, str]] = [(datetime.min.replace(tzinfo=UTC), state)]
        moments += [(moment, to_state) for moment, _, to_state in history]
        key = tuple(
            {"district_code": c.district_code, "road_class": c.road_class, "type_code": c.type_code}[b]
            for b in by
        )
        for i, (since, s) in enumerate(moments):
            until = moments[i + 1][0] if i + 1 < len(moments) else end
            lo, hi = max(since, begin), min(until, end)
            if hi <= lo or s in NOT_REGISTERED:
                continue
            seconds = (hi - lo).total_seconds()
            registered[key] += seconds
            if s == "intact":
                intact[key] += seconds
    day = 86400.0
    rows = []
    for key in sorted(registered, key=lambda k: tuple(str(x) for x in k)):
        named = dict(zip(by, key, strict=True))
        rows.append(
            AssetRate(
                "facility_intact_rate",
                named.get("district_code"),
                named.get("road_class"),
                named.get("type_code"),
                intact[key] / day,
                registered[key] / day,
                target,
            )
        )
    city = AssetRate(
        "facility_intact_rate",
        None,
        None,
        None,
        sum(intact.values()) / day,
        sum(registered.values()) / day,
        target,
    )
    return [city, *rows]


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def asset_summary(engine: Engine, city_id: str, period: Period, targets: Any = None) -> dict[str, Any]:
    """Both rates for a report or the CLI: ``{"light_on_rate": [...], "facility_intact_rate": [...]}``."""
    facility_target = float(targets.facility_intact_rate) if targets is not None else None
    return {
        "light_on_rate": [r.as_json() for r in light_on_rates(engine, city_id, period, targets=targets)],
        "facility_intact_rate": [
            r.as_json() for r in facility_intact_rates(engine, city_id, period, target=facility_target)
        ],
    }


def rate_or_no_data(row: Mapping[str, Any], locale: str = "zh-CN") -> str:
    rate = row.get("rate")
    if rate is None:
        return t("kpi.report.no_data", locale)
    return f"{100 * float(rate):.2f}%"
