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
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from civicloop.ledger import tabular
from civicloop.ledger.models import TargetKey
from civicloop.ledger.service import LedgerService

YEAR = 2026
SEED = 2020
DEMO_CLOCK = datetime(YEAR + 1, 1, 8, 2, 0, tzinfo=UTC)  # 10:00 in Taiyuan, when the year is assessed

DISTRICTS = {  # code → (unit id stem, name, streets)
    "140105": ("xiaodian", "小店区", ("坞城街道", "营盘街道", "北营街道", "平阳路街道", "黄陵街道")),
    "140106": ("yingze", "迎泽区", ("柳巷街道", "文庙街道", "庙前街道", "迎泽街道", "桥东街道")),
    "140107": ("xinghualing", "杏花岭区", ("巨轮街道", "三桥街道", "杏花岭街道", "坝陵桥街道", "敦化坊街道")),
    "140108": ("jiancaoping", "尖草坪区", ("尖草坪街道", "光社街道", "上兰街道", "汇丰街道", "古城街道")),
    "140109": ("wanbailin", "万柏林区", ("千峰街道", "下元街道", "和平街道", "万柏林街道", "兴华街道")),
    "140110": ("jinyuan", "晋源区", ("晋源街道", "罗城街道", "义井街道", "金胜镇", "晋祠镇")),
}
COMMUNITY_EVENTS = {"140105": 330, "140106": 290, "140107": 270, "140108": 250, "140109": 280, "140110": 210}

ROADS = (
    "并州路", "迎泽大街", "长风街", "府西街", "解放路", "建设路", "滨河东路", "滨河西路", "胜利街", "南内环街",
    "北中环街", "晋阳街", "龙城大街", "学府街", "平阳路", "体育路", "千峰路", "和平路", "新建路", "五一路",
)  # fmt: skip


def units() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = [
        {"unit_id": "ty-bureau", "name": "太原市城乡管理局", "kind": "bureau", "department_id": "ty-bureau",
         "kpi_scope": "city", "name_en": "Urban-Rural Management Bureau"},
        {"unit_id": "ty-office-general", "name": "局办公室", "kind": "office", "parent_id": "ty-bureau",
         "kpi_scope": "city"},
        {"unit_id": "ty-office-legal", "name": "政策法规处", "kind": "office", "parent_id": "ty-bureau",
         "kpi_scope": "city"},
        {"unit_id": "ty-office-construction", "name": "建设管理处", "kind": "office", "parent_id": "ty-bureau",
         "kpi_scope": "city"},
        {"unit_id": "ty-office-sanitation", "name": "环境卫生管理处（市垃圾分类办）", "kind": "office",
         "parent_id": "ty-bureau", "kpi_scope": "city"},
        {"unit_id": "ty-office-party", "name": "机关党委", "kind": "office", "parent_id": "ty-bureau",
         "kpi_scope": "city"},
        {"unit_id": "ty-command-center", "name": "数字化城乡管理指挥中心", "kind": "department",
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
            {"unit_id": f"ty-d-{stem}", "name": f"{name}城乡管理局", "kind": "district", "parent_id": "ty-bureau",
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
    for i, road in enumerate(ROADS[:12]):
        a, b = ROADS[(i + 5) % len(ROADS)], ROADS[(i + 9) % len(ROADS)]
        names.append((f"{road}（{a}—{b}段）道路提质改造工程", "roads_bridges", codes[i % 6]))
    for i, (code, (_, dname, streets)) in enumerate(DISTRICTS.items()):
        names.append((f"{dname}{streets[0]}老旧供热管网改造工程", "heating", code))
        names.append((f"{dname}{streets[1]}老旧供水管网改造工程", "water", code))
        names.append((f"{dname}生活垃圾转运站新建工程", "sanitation", code))
        if i < 4:
            names.append((f"{ROADS[12 + i]}排水防涝能力提升工程", "flood_control", code))
    names += [
        ("城区集中供热热源联网工程（二期）", "heating", None),
        ("汾河东岸防洪堤加固工程", "flood_control", "140106"),
        ("北郊污水处理厂提标改造工程", "sewage", "140108"),
        ("晋阳污水处理厂扩建工程", "sewage", "140110"),
        ("杨家堡污水处理厂再生水利用工程", "sewage", "140109"),
        ("餐厨垃圾资源化处理厂（二期）", "sanitation", "140108"),
        ("虎峪河综合治理工程", "flood_control", "140109"),
        ("迎泽桥维修加固工程", "roads_bridges", "140106"),
        ("祥云桥桥面铺装更换工程", "roads_bridges", "140105"),
        ("建筑垃圾资源化利用厂", "sanitation", "140107"),
        ("西山城市供水管网延伸工程", "water", "140109"),
        ("城区公厕提标改造工程", "sanitation", None),
    ]
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
                 "status": "planned", "note": "前期手续办理中"}
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
                    {"held_on": date(YEAR, month, 3 + rng.randrange(0, 24)), "theme": "垃圾分类",
                     "place": f"{dname}{street}辖区社区", "target_group": "community", "district_code": code,
                     "unit_id": f"ty-{stem}-sanitation", "events": n, "participants": n * rng.randrange(25, 60),
                     "handbooks": next(handbooks), "leaflets": next(leaflets)}
                )  # fmt: skip
    schools = (
        ("市委党校中青年干部培训班", 200, 4, 14),
        ("太原学院经济贸易系", 350, 5, 20),
        ("太原城乡建设学校", 600, 9, 16),
    )
    for place, trainees, month, day in schools:
        rows.append(
            {"held_on": date(YEAR, month, day), "theme": "垃圾分类", "place": place, "target_group": "school",
             "unit_id": "ty-office-sanitation", "events": 1, "participants": trainees, "trainees": trainees,
             "note": "垃圾分类教材进校园培训"}
        )  # fmt: skip
    agencies = ("市直机关工委", "市住建局", "市教育局", "市卫健委", "市商务局", "市文旅局", "市交通局", "市财政局",
                "市人社局", "市民政局", "市生态环境局", "市市场监管局", "市国资委", "市水务局", "市园林局",
                "市税务局", "市公安局", "市司法局", "市统计局", "市医保局", "市体育局", "市机关事务管理局")  # fmt: skip
    for i, (agency, people) in enumerate(zip(agencies, _split(3_050, len(agencies), rng), strict=True)):
        rows.append(
            {"held_on": date(YEAR, 3 + i // 3, 6 + (i % 3) * 7), "theme": "垃圾分类", "place": agency,
             "target_group": "agency", "unit_id": "ty-office-sanitation", "events": 1, "participants": people}
        )  # fmt: skip
    for i in range(32):
        rows.append(
            {"held_on": date(YEAR, 5, 1) + timedelta(days=i * 7), "theme": "垃圾分类",
             "place": f"《山西省生活垃圾分类管理规定》主题宣传（第{i + 1}场）", "target_group": "public",
             "unit_id": "ty-office-sanitation", "events": 1, "participants": rng.randrange(80, 300),
             "leaflets": 0, "note": "主题活动"}
        )  # fmt: skip
    for i, (code, (stem, dname, _)) in enumerate(DISTRICTS.items()):
        for month in (4, 9):
            rows.append(
                {"held_on": date(YEAR, month, 10 + i), "theme": "文明交通", "place": f"{dname}主要路口",
                 "target_group": "public", "district_code": code, "unit_id": f"ty-{stem}-enforcement",
                 "events": 1, "participants": rng.randrange(20, 60), "leaflets": rng.randrange(500, 2_000)}
            )  # fmt: skip
    return rows


VOLUNTEER_THEMES = (
    ("文明创城宣传", "柳巷步行街"), ("下乡慰问", "阳曲县泥屯镇"), ("安全宣传咨询日", "五一广场"),
    ("宣贯公共场所禁止随地吐痰新规", "迎泽公园"), ("信访条例宣传", "市民服务中心"), ("创建文明城市", "府西街"),
    ("文明交通", "并州路与迎泽大街交叉口"), ("慈善一日捐", "局机关"), ("博爱一日捐", "局机关"),
    ("我们的节日·端午", "晋源区晋祠镇"), ("我们的节日·中秋", "小店区坞城街道"), ("学雷锋志愿服务", "太原火车站"),
)  # fmt: skip


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
            {"held_on": date(YEAR, 2 + i * 2, 18), "theme": theme, "place": f"{place}（办公室）",
             "unit_id": "ty-office-general", "participants": people, "hours": people * 3}
        )  # fmt: skip
    for i, (_code, (stem, dname, streets)) in enumerate(DISTRICTS.items()):
        for j in range(2 + i % 3):
            people = rng.randrange(10, 30)
            rows.append(
                {"held_on": date(YEAR, 3 + j * 3, 12 + i), "theme": "创建文明城市", "place": f"{dname}{streets[j]}",
                 "unit_id": f"ty-{stem}-enforcement", "participants": people, "hours": people * 2}
            )  # fmt: skip
    return rows


TOPICS = (
    "城市道路挖掘", "户外广告设置", "门头牌匾设置", "建筑垃圾处置", "渣土运输车辆", "占道经营", "共享单车停放",
    "城市照明设施", "市政设施养护", "环境卫生保洁", "生活垃圾分类", "餐厨垃圾收运", "公共厕所", "城市供水",
    "城市节约用水", "供热收费", "燃气安全", "园林绿化养护", "城镇排水许可", "城管执法程序", "桥梁安全",
    "夜景亮化", "道路冲洗保洁", "违法建设查处", "露天烧烤", "沿街公厕开放",
)  # fmt: skip
TITLES = ("关于加强{t}管理的通知", "太原市{t}管理办法实施细则", "关于印发《{t}工作方案》的通知", "关于进一步规范{t}的意见",
          "{t}考核办法", "关于开展{t}专项整治的通知", "{t}工作规程")  # fmt: skip


def documents(rng: random.Random) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
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
                title.replace("的通知", f"的补充通知（{year}）")
                if "通知" in title
                else f"{title}（{year}年修订）"
            )
        if title in seen:
            continue
        seen.add(title)
        serial[year] = serial.get(year, 0) + rng.randrange(1, 6)
        number = f"并城管发〔{year}〕{serial[year]}号"
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
            "reviewer": "法规处审查组",
        }
        if outcome == "reissued":
            reissued += 1
            row["new_number"] = f"并城管发〔{YEAR}〕{100 + reissued}号"
        reviews.append(row)
    for j, topic in enumerate(
        ("城市更新行动", "安全生产专项整治", "城市精细化管理", "“十四五”城乡管理规划", "法治机关建设")
    ):
        docs.append(
            {"number": f"并城管发〔{YEAR}〕{200 + j}号", "title": f"关于印发《{topic}实施方案》的通知",
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
        _T("ty-bureau", "investment_completed", "45亿", 10),
        _T("ty-bureau", "outreach_events", 1600, 5, "垃圾分类"),
        _T("ty-bureau", "handbooks_distributed", 150_000, 5, "垃圾分类"),
        _T("ty-bureau", "documents_reviewed", 180, 5),
        _T("ty-bureau", "volunteer_activities", 30, 5),
        _T("ty-bureau", "civilised_unit", 1, 10),
        _T("ty-office-general", "theory_study_sessions", 12, 30),
        _T("ty-office-general", "complaints_upheld", 10, 30),
        _T("ty-office-general", "volunteer_hours", 300, 40),
        _T("ty-office-legal", "documents_reviewed", 180, 40),
        _T("ty-office-legal", "documents_abolished", 100, 20),
        _T("ty-office-legal", "documents_reissued", 80, 20),
        _T("ty-office-legal", "legal_study_sessions", 6, 20, name="法治专题学习（次）"),
        _T("ty-office-construction", "projects_started", 40, 40),
        _T("ty-office-construction", "investment_completed", "50亿", 40),
        _T("ty-office-construction", "safety_incidents", 0, 20),
        _T("ty-office-sanitation", "outreach_events", 50, 40, "垃圾分类"),
        _T("ty-office-sanitation", "outreach_participants", 9_000, 30, "垃圾分类"),
        _T("ty-office-sanitation", "trainees", 1_000, 30, "垃圾分类"),
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
        _T("ty-roads", "closed_cases", 87, 30, "06013", "修复破损路面（道路破损结案数）"),
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
            _T(district, "outreach_events", 250, 20, "垃圾分类"),
            _T(district, "volunteer_activities", 3, 20),
        ]
        out += [_T(f"ty-{stem}-enforcement", k, v, 50) for k, v in LOOP]
        out += [_T(f"ty-{stem}-sanitation", k, v, 35) for k, v in LOOP]
        out += [_T(f"ty-{stem}-sanitation", "outreach_events", 250, 30, "垃圾分类")]
    return out


ENTRIES = (  # unit, indicator, value, evidence, entered by, approved by (None = still pending)
    ("ty-bureau", "civilised_unit", 1, "https://oa.ty-demo.example/wmdw/2026-fucha.pdf", "ty-office-party-li", "assessor-wang"),
    ("ty-office-general", "theory_study_sessions", 14, "https://oa.ty-demo.example/bgs/2026-xuexi.xlsx", "ty-office-general-zhao", "assessor-wang"),
    ("ty-office-general", "complaints_upheld", 11, "https://oa.ty-demo.example/bgs/2026-tousu.xlsx", "ty-office-general-zhao", "assessor-wang"),
    ("ty-office-construction", "safety_incidents", 0, "https://oa.ty-demo.example/jsc/2026-anquan.pdf", "ty-office-construction-sun", "assessor-wang"),
    ("ty-office-party", "cadre_appointments", 428, "https://oa.ty-demo.example/dw/2026-ganbu.pdf", "ty-office-party-li", "assessor-wang"),
    ("ty-office-legal", "legal_study_sessions", 6, "https://oa.ty-demo.example/fgc/2026-fazhi.pdf", "ty-office-legal-zhou", None),
)  # fmt: skip

INSPECTIONS: tuple[tuple[str, date, str, float, str | None], ...] = (  # unit, date, note, deduction, indicator
    ("ty-xiaodian-enforcement", date(YEAR, 12, 9), "夜间暗访：坞城路沿线露天烧烤两处，中队未及时处置，扣 2 分", 2.0, None),
    ("ty-office-sanitation", date(YEAR, 12, 15), "抽查社区宣传台账 30 条，照片、签到表齐全，不扣分", 0.0, "outreach_events"),
    ("ty-d-jinyuan", date(YEAR, 12, 16), "晋祠镇宣传活动台账缺少签到表 5 份，扣 1 分", 1.0, "outreach_events"),
)  # fmt: skip


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
                service.review(key, by=approver, note="资料齐全，同意")
    counts["entries"] = len(service.entries(period=str(YEAR)))
    if not service.inspections(str(YEAR)):
        for unit, day, note, deduction, about in INSPECTIONS:
            service.inspect(
                str(YEAR), unit, note, by="assessor-wang", deduction=deduction, indicator_key=about, on=day
            )
    counts["inspections"] = len(service.inspections(str(YEAR)))
    return counts
