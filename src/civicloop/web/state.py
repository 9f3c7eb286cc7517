"""What the web capability holds per app: the live hub, caches, and the use cases behind its endpoints."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Any

import orjson

from civicloop import __version__
from civicloop.cases.core import Actor
from civicloop.cases.privacy import mask
from civicloop.cases.scope import DISPATCH_ADVICE_ROLES, has_role, sees_duplicates
from civicloop.cases.service import CaseQuery
from civicloop.city.service import City
from civicloop.geo.service import geography_version
from civicloop.kernel.i18n import t
from civicloop.kernel.vocabulary import Role, Stage
from civicloop.photos.check import MAX_SIDE, PhotoLimits
from civicloop.web import views
from civicloop.web.dashboard import KpiCache, TrendCache
from civicloop.web.geodata import GeoLayers, from_wgs84, to_wgs84
from civicloop.web.live import LiveHub
from civicloop.web.settings import WebSettings
from civicloop.web.tiles import MBTiles

TOP_CATEGORIES = 10


def _geography_version(city: City) -> int:
    return geography_version(city)


class WebState:
    def __init__(self, city: City, settings: WebSettings, asset_version: str) -> None:
        self.city: City = city
        self.settings = settings
        self.asset_version = asset_version
        self.hub = LiveHub(self.city, settings)
        self.kpis = KpiCache(self.city, settings)
        self.trend = TrendCache(self.city)
        self.layers = GeoLayers(self.city, lambda: _geography_version(self.city))
        self._config: bytes | None = None
        self.photo_limits = PhotoLimits()  # the app's (install_web sets them before the first page)
        #: More of the pages' configuration from the layers above (http: each input field's limits).
        self.config_extra: dict[str, Any] = {}
        self._intake: Any = None
        self._lock = threading.Lock()
        self.public_hits: dict[str, list[float]] = {}
        self.mbtiles = MBTiles(settings.mbtiles) if settings.mbtiles else None

    def configure(self, settings: WebSettings) -> None:
        """Other settings, before anything started (tests and embedding applications)."""
        self.settings = settings
        self.hub = LiveHub(self.city, settings)
        self.kpis = KpiCache(self.city, settings)

    def start(self) -> None:
        self.hub.start()
        self.kpis.start()

    def close(self) -> None:
        self.hub.close()
        self.kpis.close()

    # ---- config -------------------------------------------------------------------------------

    def config_json(self) -> bytes:
        if self._config is not None:
            return self._config
        p = self.city.profile
        try:
            bounds = self.layers.bounds()
            urban = self.layers.urban_bounds()
        except Exception:  # no geography tables yet
            bounds = urban = None
        doc = {
            "version": __version__,
            "asset_version": self.asset_version,
            "city": {
                "id": p.id,
                "jurisdiction_id": self.city.id,  # the city's id on this server (its profile's may be shared)
                "name": p.name,
                "name_en": p.name_en,
                "timezone": p.timezone,
                "default_locale": p.default_locale,
                "case_prefix": p.case_prefix,
            },
            "map": {
                "tiles": [t.as_json() for t in self.settings.tiles],
                "crs": self.settings.tiles_crs,
                "bounds": bounds,
                "urban_bounds": urban,
                "max_points": self.settings.max_points,
            },
            "districts": [
                {"code": d.code, "name": d.name, "name_en": d.name_en, "urban": d.urban} for d in p.districts
            ],
            "departments": [
                {
                    "id": d.id,
                    "name": d.name,
                    "name_en": d.name_en,
                    "kind": d.kind,
                    "district": d.district_code,
                }
                for d in p.departments
            ],
            "categories": [
                {
                    "code": c.code,
                    "name": c.name,
                    "name_en": c.name_en,
                    "major_code": c.major_code,
                    "major_name": c.major_name,
                    "department": c.department,
                    "service": c.service,
                    "keywords": list(c.keywords[:6]),
                    "conditions": [
                        {"no": cond.no, "filing": cond.filing, "filing_en": cond.filing_en}
                        for cond in c.conditions
                    ],
                }
                for c in p.categories
            ],
            "labels": views.labels(),
            "actions": views.action_specs(),
            # the server's photo check (photos/check.py): the phone app refuses a file when it is picked
            "photos": {
                "max_bytes": self.photo_limits.max_bytes,
                "max_pixels": self.photo_limits.max_pixels,
                "max_side": MAX_SIDE,
                "types": ["image/jpeg", "image/png", "image/webp"],
            },
            **self.config_extra,
            "public": {"max_photos": p.public.max_photos},
        }
        self._config = orjson.dumps(doc)
        return self._config

    # ---- big screen ---------------------------------------------------------------------------

    def _names(self) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
        p = self.city.profile
        cats = {c.code: c for c in p.categories}
        depts = {d.id: d for d in p.departments}
        dists = {d.code: d for d in p.districts}
        return cats, depts, dists

    def summary(self, actor: Actor, locale: str) -> dict[str, Any]:
        self.kpis.start()  # on first use (or with the app, when eager)
        now = time.time()
        counts = self.hub.index.counts(actor, now)
        cats, depts, dists = self._names()
        kpi = self.kpis.snapshot
        scores = {d["id"]: d for d in kpi.departments}
        categories = []
        for row in counts["categories"][:TOP_CATEGORIES]:
            c = cats.get(row["key"]) if row["key"] else None
            categories.append(
                {**row, "name": c.name if c else (row["key"] or "—"), "name_en": (c.name_en if c else None)}
            )
        others = counts["categories"][TOP_CATEGORIES:]
        if others:
            categories.append(
                {
                    "key": "other",
                    "name": t("web.other", "zh-CN"),
                    "name_en": t("web.other", "en"),
                    "open": sum(r["open"] for r in others),
                    "yellow": sum(r["yellow"] for r in others),
                    "red": sum(r["red"] for r in others),
                }
            )
        departments = []
        keys = {row["key"] for row in counts["departments"]} | set(scores)
        open_by = {row["key"]: row for row in counts["departments"]}
        for key in keys:
            if key is None:
                continue
            d = depts.get(key)
            score = scores.get(key, {})
            o = open_by.get(key, {"open": 0, "yellow": 0, "red": 0})
            departments.append(
                {
                    "id": key,
                    "name": d.name if d else key,
                    "name_en": d.name_en if d else None,
                    "open": o["open"],
                    "yellow": o["yellow"],
                    "red": o["red"],
                    "score": score.get("score"),
                    "grade": score.get("grade"),
                    "rank": score.get("rank"),
                    "closure_rate": score.get("closure_rate"),
                    "on_time_handling_rate": score.get("on_time_handling_rate"),
                }
            )
        departments.sort(key=lambda r: (r["rank"] is None, r["rank"] or 0, -r["red"], -r["open"], r["id"]))
        districts = []
        for row in counts["districts"]:
            d = dists.get(row["key"]) if row["key"] else None
            districts.append(
                {**row, "name": d.name if d else (row["key"] or "—"), "name_en": d.name_en if d else None}
            )
        return {
            "generated_at": datetime.now(UTC).isoformat(),
            "city": {
                "id": self.city.id,
                "name": self.city.profile.name,
                "name_en": self.city.profile.name_en,
            },
            "scope": {
                "role": actor.role.value,
                "department": actor.department_id,
                "districts": list(actor.district_codes),
            },
            "today": self.hub.today.as_json(),
            "open": {k: counts[k] for k in ("open", "urgent", "lights", "stages")},
            "kpi": kpi.as_json() | {"departments": None},
            "trend": self.trend.get(),
            "categories": categories,
            "departments": departments,
            "districts": districts,
            "recent": self.hub.recent(actor),
            "live": self.hub.status(),
        }

    # ---- locating and suggesting ---------------------------------------------------------------

    def locate(self, lon: float, lat: float, crs: str) -> dict[str, Any]:
        from civicloop.intake.locate import locate_report_fields

        wlon, wlat = to_wgs84(lon, lat, crs)
        fields = locate_report_fields(self.city, {"lon": wlon, "lat": wlat})
        names = {d.code: d.name for d in self.city.profile.districts}
        district = fields.get("district_code")
        return {
            "lon": fields.get("lon"),
            "lat": fields.get("lat"),
            "crs": "wgs84",
            "grid_code": fields.get("grid_code"),
            "community_code": fields.get("community_code"),
            "street_code": fields.get("street_code"),
            "district_code": district,
            "district_name": names.get(district) if district else None,
            "near_boundary": bool(fields.get("near_boundary")),
            "display": list(from_wgs84(float(fields["lon"]), float(fields["lat"]), self.settings.tiles_crs)),
        }

    def intake(self) -> Any:
        with self._lock:
            if self._intake is None:
                from civicloop.intake.service import IntakeService

                self._intake = IntakeService(self.city, locate=None)
            return self._intake

    def suggest(
        self, text: str, lon: float | None, lat: float | None, category: str | None, viewer: Actor | None
    ) -> dict[str, Any]:
        """Categories *text* suggests; nearby duplicates too when *viewer* may see them (None: the public)."""
        from civicloop.intake.service import IntakeReport

        actor = viewer if viewer is not None else Actor("public", Role.CITIZEN)
        fields: dict[str, Any] = {"description": text}
        if lon is not None and lat is not None:
            fields["lon"], fields["lat"] = lon, lat
        if category:
            fields["category_code"] = category
        s = self.intake().suggest_many([IntakeReport(actor, fields, datetime.now(UTC))])[0]
        cats = {c.code: c for c in self.city.profile.categories}
        top = []
        for code, score in s.get("category_top") or []:
            c = cats.get(code)
            if c is not None:
                top.append({"code": code, "name": c.name, "name_en": c.name_en, "score": score})
        out: dict[str, Any] = {
            "text": text,
            "category_code": s.get("category_code"),
            "category_score": s.get("category_score"),
            "category_source": s.get("category_source"),
            "top": top,
            "urgency": s.get("urgency"),
            "urgency_rule": s.get("urgency_rule"),
            "department_id": s.get("department_id"),
        }
        if sees_duplicates(actor):
            out["duplicates"] = s.get("duplicates") or []
            out["recurrence_of"] = s.get("recurrence_of")
        return out

    # ---- review queue -------------------------------------------------------------------------

    def review(self, actor: Actor, stage: str, limit: int) -> dict[str, Any]:
        from civicloop.intake.service import IntakeReport

        now = datetime.now(UTC)
        states = self.city.cases.search(views.stage_query(actor, stage, limit))
        total = self.city.cases.count(views.stage_query(actor, stage, limit))
        chosen = views.ranked(states, now)[:limit]
        missing = [s for s in chosen if not s.triage]
        computed: dict[str, dict[str, Any]] = {}
        if missing:
            reports = [
                IntakeReport(
                    actor,
                    {
                        "description": s.description,
                        "address": s.address,
                        "lon": s.lon,
                        "lat": s.lat,
                        "category_code": s.category_code,
                        "district_code": s.district_code,
                        "component_id": s.component_id,
                        "urgency": s.urgency.value,
                    },
                    s.created_at,
                )
                for s in missing
            ]
            for s, suggestion in zip(missing, self.intake().suggest_many(reports), strict=True):
                suggestion["duplicates"] = [
                    d for d in suggestion.get("duplicates", []) if d["case_id"] != s.case_id
                ]
                if suggestion.get("duplicate_of") == s.case_id:
                    suggestion["duplicate_of"] = None
                computed[s.case_id] = suggestion
        items = []
        for s in chosen:
            if s.triage:
                items.append(
                    views.review_item(self.city.profile, self.city.calendar, s, s.triage, "stored", now)
                )
            else:
                items.append(
                    views.review_item(
                        self.city.profile, self.city.calendar, s, computed.get(s.case_id), "computed", now
                    )
                )
        return {"stage": stage, "total": total, "items": items}

    def enrich_queue(
        self, page: dict[str, Any], actor: Actor, names: dict[str, str] | None = None
    ) -> dict[str, Any]:
        ids = [item["case_id"] for item in page["items"]]
        states = {
            s.case_id: s
            for s in self.city.cases.search(CaseQuery(ids=ids, scope=actor, limit=max(1, len(ids))))
        }
        for item in page["items"]:
            s = states.get(item["case_id"])
            if s is None:
                continue
            item.update(
                description=s.description,
                address=s.address,
                photos=list(s.photos),
                after_photos=list(s.after_photos),
                pending=s.pending,
                lon=s.lon,
                lat=s.lat,
                deadline=s.deadline.isoformat() if s.deadline else None,
                step_deadline=s.step_deadline.isoformat() if s.step_deadline else None,
                channel=s.channel.value,
                triage_department=(s.triage or {}).get("department_id"),
                cluster_size=s.cluster_size,
                urge_count=s.urge_count,
                rework_count=s.rework_count,
            )
            if s.pending or s.rework_count:  # the request in full, and why the work came back
                timeline = self.city.cases.timeline(s.case_id, actor)
                item.update(
                    request=views.request_detail(s, timeline, self.city.calendar, names),
                    last_failed_check=views.last_failed_check(timeline, names),
                )
        return page

    # ---- inspectors to pick (派发核查) -----------------------------------------------------------

    def inspectors_for(
        self, case_id: str, actor: Actor, accounts: list[tuple[str, str, tuple[str, ...], tuple[str, ...]]]
    ) -> dict[str, Any]:
        """The inspectors an operator can send the check to, best first: the duty inspector of the case's
        grid, then those on duty nearest to it (same street, then same district), then the others.

        *accounts*: the inspector logins as (id, name, district codes, grid codes); the duty grids
        (责任网格) stored for the city add the patrol inspectors."""
        from civicloop.assets.patrols import duty_grids_of

        state = self.city.cases.get(case_id, actor)  # 404 outside the scope, like the workflow API
        grid = state.grid_code or ""
        district = state.district_code or grid[:6]
        duty = duty_grids_of(self.city)
        people: dict[str, tuple[str, set[str], set[str]]] = {
            ins: (ins, set(grids), {g[:6] for g in grids}) for ins, grids in duty.items()
        }
        for user_id, name, scope_districts, scope_grids in accounts:
            people[user_id] = (name, set(scope_grids), set(scope_districts) | {g[:6] for g in scope_grids})
        order = {"duty": 0, "street": 1, "district": 2, "other": 3}
        rows = []
        for ins, (name, on_duty, districts) in people.items():
            if grid and grid in on_duty:
                why = "duty"
            elif grid and any(g[:9] == grid[:9] for g in on_duty):
                why = "street"
            elif district and district in districts:
                why = "district"
            else:
                why = "other"
            rows.append({"id": ins, "name": name, "why": why})
        rows.sort(key=lambda r: (order[r["why"]], r["name"]))
        return {"case_id": case_id, "grid_code": state.grid_code, "items": rows[:50]}

    # ---- case page ----------------------------------------------------------------------------

    def case_extra(
        self, case_id: str, actor: Actor, locale: str, names: dict[str, str] | None = None
    ) -> dict[str, Any]:
        cases = self.city.cases
        state = cases.get(case_id, actor)  # 404 outside the scope, like the workflow API
        timeline = cases.timeline(case_id, actor)
        now = datetime.now(UTC)
        members = []
        if state.cluster_members:
            loaded = cases.search(
                CaseQuery(ids=list(state.cluster_members), limit=len(state.cluster_members))
            )
            for m in loaded:
                members.append(
                    {
                        "case_id": m.case_id,
                        "stage": m.stage.value,
                        "created_at": m.created_at.isoformat(),
                        "channel": m.channel.value,
                        "description": mask(m.description),
                    }
                )
        suggestion = None
        if state.stage is Stage.FILED and has_role(actor, DISPATCH_ADVICE_ROLES):
            try:
                from civicloop.dispatch.service import suggest_department, suggestion_words

                decision = suggest_department(self.city, state)
                suggestion = {
                    "department_id": decision.department_id,
                    "words": suggestion_words(decision, self.city.profile, locale),
                    "explain": decision.explain(locale),
                }
            except Exception as exc:  # routing data incomplete: the dispatcher chooses alone
                suggestion = {"department_id": None, "explain": str(exc)[:200]}
        light = state.light(self.city.calendar, now)
        display = None
        if state.lon is not None and state.lat is not None:
            display = list(from_wgs84(state.lon, state.lat, self.settings.tiles_crs))
        return {
            "case_id": state.case_id,
            "light": light.value if light else None,
            "duplicate_of": state.duplicate_of,
            "cluster_members": members,
            "cluster_size": state.cluster_size,
            "recurrence_of": state.recurrence_of,
            "recurrence_count": state.recurrence_count,
            "triage": state.triage,
            "steps": views.step_clocks(state, timeline, self.city.calendar, now),
            "handling": {
                "used_minutes": round(state.handling_used(self.city.calendar, now), 1)
                if state.handling_limit
                else None,
                "limit_minutes": state.handling_limit_minutes(self.city.calendar),
                "deadline": state.deadline.isoformat() if state.deadline else None,
                "clock_running": state.clock_running_since is not None,
            },
            "dispatch_suggestion": suggestion,
            "request": views.request_detail(state, timeline, self.city.calendar, names),
            "rework_count": state.rework_count,
            "last_failed_check": views.last_failed_check(timeline, names),
            "display": display,
            "now": now.isoformat(),
        }
