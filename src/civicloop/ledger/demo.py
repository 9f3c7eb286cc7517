"""A year (2026) of ledgers and targets for the demo city — invented, deterministic, and shaped like the
figures the bureau published for 2020 (the seed article):

* 41 infrastructure projects started by the end of November with 45.26 亿元 of completed investment
  (two more start in December, three are still being planned);
* 187 normative documents reviewed: 103 abolished, 84 reissued;
* garbage-sorting outreach: 1,630 community events, 160,000 household handbooks and 370,000 leaflets;
  trainings of 200 + 350 + 600 people in schools; 22 sessions in agencies with 3,050 participants; 32
  themed events after the provincial regulation;
* volunteer activities on the themes the article lists;
* targets for the bureau, its offices, its departments, the six urban districts and their squads, with
  automatic (case-loop), ledger and entered indicators, entered values with evidence and approval, and
  two inspection notes.

Every row goes through the same checks as an import. Loading twice replaces the rows (idempotent).
The organisation chart and all names of places, roads and documents are illustrative.
"""

# ruff: noqa: E501  (rows of demo data read best one record a line)
from __future__ import annotations

import random
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

from civicloop.ledger import tabular
from civicloop.ledger.models import TargetKey
from civicloop.ledger.service import LedgerService

YEAR = 2026
SEED = 2020
DEMO_CLOCK = datetime(YEAR + 1, 1, 8, 2, 0, tzinfo=UTC)  # 10:00 in Taiyuan, when the year is assessed


@cache
def data() -> dict[str, Any]:
    """The demo's names and texts (demo_data.toml)."""
    return tomllib.loads((resources.files("civicloop.ledger") / "demo_data.toml").read_text(encoding="utf-8"))


def _text(section: str, name: str) -> str:
    return str(data()[section][name])


DISTRICTS: dict[str, tuple[str, str, tuple[str, ...]]] = {  # code → (unit id stem, name, streets)
    code: (d["stem"], d["name"], tuple(d["streets"])) for code, d in data()["districts"].items()
}
COMMUNITY_EVENTS = {"140105": 330, "140106": 290, "140107": 270, "140108": 250, "140109": 280, "140110": 210}

ROADS: tuple[str, ...] = tuple(data()["roads"]["names"])
CAMPAIGN_THEME: str = data()["campaign_theme"]


def units() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"unit_id": "ty-bureau", "name": _text("units", "ty-bureau"), "kind": "bureau", "department_id": "ty-bureau",
         "kpi_scope": "city", "name_en": "Urban-Rural Management Bureau"},
        {"unit_id": "ty-office-general", "name": _text("units", "ty-office-general"), "kind": "office", "parent_id": "ty-bureau",
         "kpi_scope": "city"},
        {"unit_id": "ty-office-legal", "name": _text("units", "ty-office-legal"), "kind": "office", "parent_id": "ty-bureau",
         "kpi_scope": "city"},
        {"unit_id": "ty-office-construction", "name": _text("units", "ty-office-construction"), "kind": "office", "parent_id": "ty-bureau",
         "kpi_scope": "city"},
        {"unit_id": "ty-office-sanitation", "name": _text("units", "ty-office-sanitation"), "kind": "office",
         "parent_id": "ty-bureau", "kpi_scope": "city"},
        {"unit_id": "ty-office-party", "name": _text("units", "ty-office-party"), "kind": "office", "parent_id": "ty-bureau",
         "kpi_scope": "city"},
        {"unit_id": "ty-command-center", "name": _text("units", "ty-command-center"), "kind": "department",
         "parent_id": "ty-bureau", "kpi_scope": "city"},
    ]  # fmt: skip
    for dept in (
        "ty-sanitation",
        "ty-roads",
        "ty-lighting",
        "ty-gardens",
        "ty-drainage",
        "ty-law-enforcement",
    ):
        rows.append(
            {
                "unit_id": dept,
                "name": "",
                "kind": "department",
                "parent_id": "ty-bureau",
                "department_id": dept,
            }
        )
    for code, (stem, name, _) in DISTRICTS.items():
        rows.append(
            {"unit_id": f"ty-d-{stem}", "name": _text("units", "district").format(district=name), "kind": "district", "parent_id": "ty-bureau",
             "district_code": code}
        )  # fmt: skip
        for squad in ("enforcement", "sanitation"):
            rows.append(
                {"unit_id": f"ty-{stem}-{squad}", "name": "", "kind": "squad", "parent_id": f"ty-d-{stem}",
                 "department_id": f"ty-{stem}-{squad}"}
            )  # fmt: skip
    return rows


def _split(total: int, parts: int, rng: random.Random, spread: float = 0.35) -> list[int]:
    """*total* split into *parts* whole numbers, each near the mean, summing exactly to *total*."""
    weights = [1 + rng.uniform(-spread, spread) for _ in range(parts)]
    scale = total / sum(weights)
    out = [int(w * scale) for w in weights]
    for i in range(total - sum(out)):
        out[i % parts] += 1
    return out


def projects(rng: random.Random) -> list[dict[str, Any]]:
    names: list[tuple[str, str, str | None]] = []  # name, type, district
    codes = list(DISTRICTS)
    p = data()["projects"]
    for i, road in enumerate(ROADS[:12]):
        a, b = ROADS[(i + 5) % len(ROADS)], ROADS[(i + 9) % len(ROADS)]
        names.append((p["road"].format(road=road, a=a, b=b), "roads_bridges", codes[i % 6]))
    for i, (code, (_, dname, streets)) in enumerate(DISTRICTS.items()):
        names.append((p["heating"].format(district=dname, street=streets[0]), "heating", code))
        names.append((p["water"].format(district=dname, street=streets[1]), "water", code))
        names.append((p["transfer_station"].format(district=dname), "sanitation", code))
        if i < 4:
            names.append((p["flood_control"].format(road=ROADS[12 + i]), "flood_control", code))
    names += [(n["name"], n["type"], n.get("district")) for n in p["named"]]
    assert len(names) == 46, len(names)
    # 41 started January–November (45.26 亿元 completed), 2 in December, 3 still planned
    completed_yuan = [x * 10_000 for x in _split(452_600, 41, rng, spread=0.7)]
    rows: list[dict[str, Any]] = []
    for i, (name, kind, district) in enumerate(names):
        unit = "ty-office-construction"
        if i < 41:
            start = date(YEAR, 1 + (i * 11) // 41, 1) + timedelta(days=rng.randrange(0, 27))
            done = completed_yuan[i]
        elif i < 43:
            start = date(YEAR, 12, 1) + timedelta(days=rng.randrange(0, 20))
            done = rng.randrange(800, 3_000) * 10_000
        else:
            rows.append(
                {"name": name, "project_type": kind, "district_code": district, "unit_id": unit,
                 "planned_investment": rng.randrange(20_000, 90_000) * 10_000, "completed_investment": 0,
                 "status": "planned", "note": data()["planned_note"]}
            )  # fmt: skip
            continue
        finished = i % 5 == 0 and start.month <= 8
        planned = done if finished else int(done / rng.uniform(0.55, 0.95) / 10_000) * 10_000
        finish = start + timedelta(days=rng.randrange(90, 150)) if finished else None
        rows.append(
            {"name": name, "project_type": kind, "district_code": district, "unit_id": unit,
             "planned_investment": planned, "completed_investment": done, "start_date": start,
             "finish_date": finish, "status": "completed" if finished else "started"}
        )  # fmt: skip
    return rows


def campaigns(rng: random.Random) -> list[dict[str, Any]]:
    c = data()["campaigns"]
    rows: list[dict[str, Any]] = []
    n_rows = sum(len(s) * 12 for _, _, s in DISTRICTS.values())
    handbooks = iter(_split(160_000, n_rows, rng))
    leaflets = iter(_split(370_000, n_rows, rng))
    for code, (stem, dname, streets) in DISTRICTS.items():
        events = iter(_split(COMMUNITY_EVENTS[code], len(streets) * 12, rng, spread=0.5))
        for month in range(1, 13):
            for street in streets:
                n = next(events)
                rows.append(
                    {"held_on": date(YEAR, month, 3 + rng.randrange(0, 24)), "theme": CAMPAIGN_THEME,
                     "place": c["community"].format(district=dname, street=street), "target_group": "community", "district_code": code,
                     "unit_id": f"ty-{stem}-sanitation", "events": n, "participants": n * rng.randrange(25, 60),
                     "handbooks": next(handbooks), "leaflets": next(leaflets)}
                )  # fmt: skip
    schools = [(x["place"], x["trainees"], x["month"], x["day"]) for x in c["schools"]]
    for place, trainees, month, day in schools:
        rows.append(
            {"held_on": date(YEAR, month, day), "theme": CAMPAIGN_THEME, "place": place, "target_group": "school",
             "unit_id": "ty-office-sanitation", "events": 1, "participants": trainees, "trainees": trainees,
             "note": c["school_note"]}
        )  # fmt: skip
    agencies = tuple(c["agencies"])
    for i, (agency, people) in enumerate(zip(agencies, _split(3_050, len(agencies), rng), strict=True)):
        rows.append(
            {"held_on": date(YEAR, 3 + i // 3, 6 + (i % 3) * 7), "theme": CAMPAIGN_THEME, "place": agency,
             "target_group": "agency", "unit_id": "ty-office-sanitation", "events": 1, "participants": people}
        )  # fmt: skip
    for i in range(32):
        rows.append(
            {"held_on": date(YEAR, 5, 1) + timedelta(days=i * 7), "theme": CAMPAIGN_THEME,
             "place": c["regulation"].format(n=i + 1), "target_group": "public",
             "unit_id": "ty-office-sanitation", "events": 1, "participants": rng.randrange(80, 300),
             "leaflets": 0, "note": c["regulation_note"]}
        )  # fmt: skip
    for i, (code, (stem, dname, _)) in enumerate(DISTRICTS.items()):
        for month in (4, 9):
            rows.append(
                {"held_on": date(YEAR, month, 10 + i), "theme": data()["traffic_theme"], "place": c["crossing"].format(district=dname),
                 "target_group": "public", "district_code": code, "unit_id": f"ty-{stem}-enforcement",
                 "events": 1, "participants": rng.randrange(20, 60), "leaflets": rng.randrange(500, 2_000)}
            )  # fmt: skip
    return rows


VOLUNTEER_THEMES: tuple[tuple[str, str], ...] = tuple((t, p) for t, p in data()["volunteering"]["themes"])


def volunteering(rng: random.Random) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for i in range(26):
        theme, place = VOLUNTEER_THEMES[i % len(VOLUNTEER_THEMES)]
        people = rng.randrange(12, 45)
        rows.append(
            {"held_on": date(YEAR, 1 + (i * 12) // 26, 5 + rng.randrange(0, 20)), "theme": theme, "place": place,
             "unit_id": "ty-office-party", "participants": people, "hours": people * rng.choice((2, 2.5, 3, 4))}
        )  # fmt: skip
    for i in range(6):
        theme, place = VOLUNTEER_THEMES[(i * 5) % len(VOLUNTEER_THEMES)]
        people = rng.randrange(8, 20)
        rows.append(
            {"held_on": date(YEAR, 2 + i * 2, 18), "theme": theme, "place": _text("volunteering", "office_place").format(place=place),
             "unit_id": "ty-office-general", "participants": people, "hours": people * 3}
        )  # fmt: skip
    for i, (_code, (stem, dname, streets)) in enumerate(DISTRICTS.items()):
        for j in range(2 + i % 3):
            people = rng.randrange(10, 30)
            rows.append(
                {"held_on": date(YEAR, 3 + j * 3, 12 + i), "theme": data()["civilised_city_theme"],
                 "place": _text("volunteering", "street_place").format(district=dname, street=streets[j]),
                 "unit_id": f"ty-{stem}-enforcement", "participants": people, "hours": people * 2}
            )  # fmt: skip
    return rows


TOPICS: tuple[str, ...] = tuple(data()["documents"]["topics"])
TITLES: tuple[str, ...] = tuple(data()["documents"]["titles"])


def documents(rng: random.Random) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    d_ = data()["documents"]
    docs: list[dict[str, Any]] = []
    seen: set[str] = set()
    serial: dict[int, int] = {}
    i = 0
    while len(docs) < 187:
        year = min(2025, 2006 + (i * 19) // 187)
        title = TITLES[i % len(TITLES)].format(t=TOPICS[(i * 7) % len(TOPICS)])
        i += 1
        if title in seen:
            title = (
                title.replace(d_["notice_ending"], d_["supplementary_ending"].format(year=year))
                if d_["notice"] in title
                else d_["revised"].format(title=title, year=year)
            )
        if title in seen:
            continue
        seen.add(title)
        serial[year] = serial.get(year, 0) + rng.randrange(1, 6)
        number = d_["number"].format(year=year, serial=serial[year])
        docs.append(
            {"number": number, "title": title, "issue_date": date(year, 1 + rng.randrange(12), 1 + rng.randrange(28)),
             "unit_id": "ty-office-legal"}
        )  # fmt: skip
    outcomes = ["abolished"] * 103 + ["reissued"] * 84
    rng.shuffle(outcomes)
    reviews: list[dict[str, Any]] = []
    reissued = 0
    for d, outcome in zip(docs, outcomes, strict=True):
        day = date(YEAR, 3, 2) + timedelta(days=rng.randrange(0, 200))
        row: dict[str, Any] = {
            "number": d["number"],
            "reviewed_on": day,
            "outcome": outcome,
            "reviewer": data()["reviewer"],
        }
        if outcome == "reissued":
            reissued += 1
            row["new_number"] = d_["number"].format(year=YEAR, serial=100 + reissued)
        reviews.append(row)
    for j, topic in enumerate(d_["plans"]):
        docs.append(
            {"number": d_["number"].format(year=YEAR, serial=200 + j), "title": d_["plan_title"].format(topic=topic),
             "issue_date": date(YEAR, 4 + j, 15), "unit_id": "ty-office-legal"}
        )  # fmt: skip
    return docs, reviews


@dataclass(frozen=True)
class _T:
    unit: str
    indicator: str
    target: Any
    weight: float
    filter: str = ""
    name: str | None = None


LOOP = (("on_time_closure_rate", "95%"), ("disposal_rate", "98%"))


def targets() -> list[_T]:
    out = [
        _T("ty-bureau", "on_time_closure_rate", "95%", 15),
        _T("ty-bureau", "disposal_rate", "98%", 15),
        _T("ty-bureau", "light_on_rate", "98%", 10),
        _T("ty-bureau", "facility_intact_rate", "95%", 10),
        _T("ty-bureau", "projects_started", 40, 10),
        _T("ty-bureau", "investment_completed", data()["targets"]["investment_bureau"], 10),
        _T("ty-bureau", "outreach_events", 1600, 5, CAMPAIGN_THEME),
        _T("ty-bureau", "handbooks_distributed", 150_000, 5, CAMPAIGN_THEME),
        _T("ty-bureau", "documents_reviewed", 180, 5),
        _T("ty-bureau", "volunteer_activities", 30, 5),
        _T("ty-bureau", "civilised_unit", 1, 10),
        _T("ty-office-general", "theory_study_sessions", 12, 30),
        _T("ty-office-general", "complaints_upheld", 10, 30),
        _T("ty-office-general", "volunteer_hours", 300, 40),
        _T("ty-office-legal", "documents_reviewed", 180, 40),
        _T("ty-office-legal", "documents_abolished", 100, 20),
        _T("ty-office-legal", "documents_reissued", 80, 20),
        _T("ty-office-legal", "legal_study_sessions", 6, 20, name=_text("targets", "legal_study_name")),
        _T("ty-office-construction", "projects_started", 40, 40),
        _T("ty-office-construction", "investment_completed", data()["targets"]["investment_office"], 40),
        _T("ty-office-construction", "safety_incidents", 0, 20),
        _T("ty-office-sanitation", "outreach_events", 50, 40, CAMPAIGN_THEME),
        _T("ty-office-sanitation", "outreach_participants", 9_000, 30, CAMPAIGN_THEME),
        _T("ty-office-sanitation", "trainees", 1_000, 30, CAMPAIGN_THEME),
        _T("ty-office-party", "volunteer_activities", 24, 40),
        _T("ty-office-party", "volunteer_participants", 600, 30),
        _T("ty-office-party", "cadre_appointments", 400, 30),
        _T("ty-command-center", "on_time_closure_rate", "95%", 30),
        _T("ty-command-center", "closure_rate", "98%", 20),
        _T("ty-command-center", "on_time_handling_rate", "95%", 20),
        _T("ty-command-center", "rework_rate", "5%", 30),
        _T("ty-roads", "on_time_closure_rate", "95%", 30),
        _T("ty-roads", "disposal_rate", "98%", 30),
        _T("ty-roads", "rework_rate", "5%", 10),
        _T("ty-roads", "closed_cases", 87, 30, "06013", _text("targets", "road_repairs_name")),
        _T("ty-lighting", "light_on_rate", "98%", 30),
        _T("ty-lighting", "facility_intact_rate", "95%", 20),
        _T("ty-lighting", "on_time_closure_rate", "95%", 25),
        _T("ty-lighting", "disposal_rate", "98%", 25),
    ]
    for dept in ("ty-sanitation", "ty-gardens", "ty-drainage", "ty-law-enforcement"):
        out += [_T(dept, k, v, 40) for k, v in LOOP] + [_T(dept, "rework_rate", "5%", 20)]
    for stem, _, _ in DISTRICTS.values():
        district = f"ty-d-{stem}"
        out += [_T(district, k, v, 30) for k, v in LOOP]
        out += [
            _T(district, "outreach_events", 250, 20, CAMPAIGN_THEME),
            _T(district, "volunteer_activities", 3, 20),
        ]
        out += [_T(f"ty-{stem}-enforcement", k, v, 50) for k, v in LOOP]
        out += [_T(f"ty-{stem}-sanitation", k, v, 35) for k, v in LOOP]
        out += [_T(f"ty-{stem}-sanitation", "outreach_events", 250, 30, CAMPAIGN_THEME)]
    return out


ENTRIES = (  # unit, indicator, value, evidence, entered by, approved by (None = still pending)
    ("ty-bureau", "civilised_unit", 1, "https://oa.ty-demo.example/wmdw/2026-fucha.pdf", "ty-office-party-li", "assessor-wang"),
    ("ty-office-general", "theory_study_sessions", 14, "https://oa.ty-demo.example/bgs/2026-xuexi.xlsx", "ty-office-general-zhao", "assessor-wang"),
    ("ty-office-general", "complaints_upheld", 11, "https://oa.ty-demo.example/bgs/2026-tousu.xlsx", "ty-office-general-zhao", "assessor-wang"),
    ("ty-office-construction", "safety_incidents", 0, "https://oa.ty-demo.example/jsc/2026-anquan.pdf", "ty-office-construction-sun", "assessor-wang"),
    ("ty-office-party", "cadre_appointments", 428, "https://oa.ty-demo.example/dw/2026-ganbu.pdf", "ty-office-party-li", "assessor-wang"),
    ("ty-office-legal", "legal_study_sessions", 6, "https://oa.ty-demo.example/fgc/2026-fazhi.pdf", "ty-office-legal-zhou", None),
)  # fmt: skip

#: unit, date, note, deduction, indicator
INSPECTIONS: tuple[tuple[str, date, str, float, str | None], ...] = tuple(
    (
        i["unit"],
        date.fromisoformat(f"{YEAR}-{i['day']}"),
        i["note"],
        float(i["deduction"]),
        i.get("indicator"),
    )
    for i in data()["inspections"]
)


def load_demo(city: Any, *, clock: Callable[[], datetime] | None = None) -> dict[str, int]:
    """Load the demo year into *city*; returns the rows per kind. Idempotent: a second load replaces."""
    service = LedgerService(city, clock or (lambda: DEMO_CLOCK))
    rng = random.Random(SEED)
    profile = city.profile
    unit_rows = units()
    for row in unit_rows:
        if not row["name"]:
            row["name"] = profile.department(row["department_id"]).name
    docs, reviews = documents(rng)
    batches: list[tuple[str, list[dict[str, Any]]]] = [
        ("units", unit_rows),
        ("projects", projects(rng)),
        ("campaigns", campaigns(rng)),
        ("volunteering", volunteering(rng)),
        ("documents", docs),
        ("reviews", reviews),
    ]
    counts: dict[str, int] = {}
    admin = "demo-admin"
    with city.store.write() as conn:
        for name, rows in batches:
            k = tabular.kind(name)
            ctx = tabular.load_ctx(conn, city.id, profile, admin, service.clock())
            if name == "documents":
                # reloading: documents start in force again; their reviews are replaced just after
                for r in rows:
                    r.setdefault("status", "in_force")
                ctx.documents = {}
            result = tabular.write_rows(conn, k, city.id, enumerate(rows, start=1), ctx, update_existing=True)
            counts[name] = result.inserted + result.updated
        ctx = tabular.load_ctx(conn, city.id, profile, "assessor-wang", service.clock())
        target_rows = [
            {"period": str(YEAR), "unit_id": t.unit, "indicator": t.indicator, "filter": t.filter,
             "target_value": t.target, "weight": t.weight, **({"name": t.name} if t.name else {})}
            for t in targets()
        ]  # fmt: skip
        result = tabular.write_rows(
            conn, tabular.kind("targets"), city.id, enumerate(target_rows, start=1), ctx, update_existing=True
        )
        counts["targets"] = result.inserted + result.updated
    if not service.entries(period=str(YEAR)):
        for unit, ind, value, evidence, by, approver in ENTRIES:
            key = TargetKey(str(YEAR), unit, ind)
            service.enter(key, value, evidence, by=by)
            if approver is not None:
                service.review(key, by=approver, note=data()["review_note"])
    counts["entries"] = len(service.entries(period=str(YEAR)))
    if not service.inspections(str(YEAR)):
        for unit, day, note, deduction, about in INSPECTIONS:
            service.inspect(
                str(YEAR), unit, note, by="assessor-wang", deduction=deduction, indicator_key=about, on=day
            )
    counts["inspections"] = len(service.inspections(str(YEAR)))
    return counts
