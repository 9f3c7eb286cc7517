/* The case page (案卷详情): timeline, photos, map, category conditions, step clocks, cluster, actions. */
(function () {
  "use strict";
  const CL = window.CL;
  const h = CL.h;
  const caseId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
  let detail = null, extra = null, map = null;

  function refusal(e) {
    const root = CL.clear(CL.$("#case-root"));
    const u = CL.auth.user() || {};
    root.appendChild(h("div", { class: "panel refusal", id: "refusal", "data-status": String(e.status || "") },
      h("h2", null, CL.t("refused")),
      h("p", null, caseId),
      h("p", { class: "muted" }, CL.t("refused_hint")),
      h("p", { class: "muted small" }, CL.t("role") + CL.t("colon") + CL.label("roles", u.role) + (u.department_id ? " · " + CL.deptName(u.department_id) : "")),
      h("p", { class: "muted small" }, e.message || ""),
      h("a", { class: "btn ghost", href: "/workspace" }, CL.t("back"))));
    document.title = CL.t("refused");
  }

  function photoBlock(title, refs) {
    return h("div", null, h("h3", { class: "small muted" }, title),
      refs && refs.length ? h("div", { class: "photos" }, refs.map((r) => h("a", { href: CL.photoUrl(r), target: "_blank", rel: "noopener" }, h("img", { src: CL.photoUrl(r), alt: title })))) : h("p", { class: "muted small" }, CL.t("empty")));
  }

  function timeline(events) {
    return h("ol", { class: "timeline", id: "timeline" }, events.map((e) => h("li", { "data-action": e.action },
      h("span", { class: "when" }, CL.fmt.dt(e.at)),
      h("b", null, CL.label("actions", e.action)),
      " → " + CL.label("stages", e.stage_after) + " · " + CL.label("roles", e.actor_role) + " " + (e.actor_name || CL.actorName(e.actor_id)),
      e.note ? h("div", { class: "small" }, e.note) : null,
      e.attachments && e.attachments.length ? h("div", { class: "photos" }, e.attachments.map((r) => h("img", { src: CL.photoUrl(r), alt: "" }))) : null)));
  }

  function clocks(steps) {
    const t = h("table", { class: "list", id: "clocks" }, h("tr", null, ...["step", "started", "deadline", "ended", "used_limit", "light", "on_time"].map((k) => h("th", null, CL.t(k)))));
    for (const s of steps) {
      t.appendChild(h("tr", { class: s.running ? "running" : "" },
        h("td", null, CL.label("steps", s.step), s.running ? h("span", { class: "badge" }, s.clock_stopped ? CL.t("clock_stopped") : CL.t("running")) : null),
        h("td", null, CL.fmt.dt(s.started_at)), h("td", null, CL.fmt.dt(s.deadline)), h("td", null, s.ended_at ? CL.fmt.dt(s.ended_at) : "—"),
        h("td", null, CL.fmt.minutes(s.used_minutes) + " / " + CL.fmt.minutes(s.limit_minutes)),
        h("td", null, CL.lightBadge(s.light)),
        h("td", null, s.on_time === null || s.on_time === undefined ? "—" : (s.on_time ? CL.t("yes") : CL.t("no")))));
    }
    return t;
  }

  function conditions(cat, current) {
    if (!cat) return h("p", { class: "muted" }, "—");
    return h("div", null,
      h("p", null, h("b", null, cat.code + " " + (CL.isEn() && cat.name_en ? cat.name_en : cat.name)), h("span", { class: "muted" }, " · " + cat.major_name + " · " + CL.deptName(cat.department))),
      h("table", { class: "list", id: "conditions" }, h("tr", null, h("th", null, "#"), h("th", null, CL.t("filing")), h("th", null, CL.t("closing")), h("th", null, CL.t("limit"))),
        cat.conditions.map((c) => h("tr", { class: c.no === current ? "current" : "" },
          h("td", null, String(c.no), c.no === current ? h("span", { class: "badge" }, CL.t("conditions_current")) : null),
          h("td", null, CL.isEn() && c.filing_en ? c.filing_en : c.filing),
          h("td", null, CL.isEn() && c.closing_en ? c.closing_en : c.closing),
          h("td", null, Object.entries(c.limits).map(([u, l]) => CL.label("urgency", u) + " " + l).join(CL.t("list_sep")))))));
  }

  function cluster(x, c) {
    const rows = [];
    if (x.duplicate_of) rows.push(h("p", null, CL.t("duplicate_of") + CL.t("colon"), h("a", { href: "/cases/" + encodeURIComponent(x.duplicate_of) }, x.duplicate_of)));
    if (x.recurrence_of) rows.push(h("p", null, CL.t("recurrence") + CL.t("colon"), h("a", { href: "/cases/" + encodeURIComponent(x.recurrence_of) }, x.recurrence_of)));
    rows.push(h("p", null, CL.t("cluster_title") + CL.t("colon") + CL.fmt.num(x.cluster_size) + " " + CL.t("members")));
    if (x.cluster_members.length) {
      rows.push(h("ul", null, x.cluster_members.map((m) => h("li", null, h("a", { href: "/cases/" + encodeURIComponent(m.case_id) }, m.case_id), " · " + CL.label("stages", m.stage) + " · " + CL.fmt.dt(m.created_at) + (m.description ? " · " + m.description : "")))));
    }
    return h("div", { id: "cluster" }, rows);
  }

  function render() {
    const c = detail.case;
    const root = CL.clear(CL.$("#case-root"));
    document.title = c.case_id + " · " + CL.t("case_page");
    const head = h("div", { class: "panel", id: "case-head" },
      h("div", { style: "display:flex;gap:10px;align-items:center;flex-wrap:wrap" },
        h("h1", { style: "font-size:20px" }, c.case_id), h("span", { class: "badge stage", id: "case-stage" }, CL.label("stages", c.stage)),
        CL.lightBadge(extra ? extra.light : c.light), c.urgency === "urgent" ? h("span", { class: "badge urgent" }, CL.label("urgency", "urgent")) : null,
        h("span", null, CL.catName(c.category_code)),
        c.closure_reason ? h("span", { class: "badge" }, CL.label("closure_reasons", c.closure_reason)) : null),
      h("dl", { class: "kv", style: "margin-top:10px" },
        h("dt", null, CL.t("description")), h("dd", null, c.description || "—"),
        h("dt", null, CL.t("address")), h("dd", null, c.address || "—"),
        h("dt", null, CL.t("district")), h("dd", null, CL.districtName(c.district_code) + " · " + CL.t("grid") + " " + (c.grid_code || "—")),
        h("dt", null, CL.t("channel")), h("dd", null, CL.label("channels", c.channel)),
        h("dt", null, CL.t("department")), h("dd", null, CL.deptName(c.department_id)),
        h("dt", null, CL.t("created")), h("dd", null, CL.fmt.dt(c.created_at)),
        h("dt", null, CL.t("due")), h("dd", null, c.due_at ? CL.fmt.dt(c.due_at) + " (" + CL.fmt.rel(c.due_at) + ")" : "—")));
    const actions = h("div", { class: "panel", id: "case-actions" }, h("h2", null, CL.t("actions")),
      detail.allowed_actions.length ? CL.actions.buttons(c.case_id, detail.allowed_actions, () => load(),
        { department_id: (extra && extra.dispatch_suggestion && extra.dispatch_suggestion.department_id) || c.department_id || "", category_code: c.category_code, amount: 1, unit: "work_day", __request: extra && extra.request })
        : h("p", { class: "muted" }, CL.t("no_actions")),
      extra ? CL.actions.requestBox(extra.request) : null,
      extra ? CL.actions.reworkBox(extra.rework_count, extra.last_failed_check) : null,
      extra && extra.dispatch_suggestion ? h("div", { class: "triage" }, h("b", null, CL.t("dispatch_suggestion") + CL.t("colon")), CL.deptName(extra.dispatch_suggestion.department_id),
        h("div", { class: "small", "data-suggestion-words": "1" }, extra.dispatch_suggestion.words || ""),
        h("details", null, h("summary", { class: "small muted" }, CL.t("workdesk.routing_details")),
          h("pre", { class: "small muted", style: "white-space:pre-wrap;margin:4px 0 0" }, extra.dispatch_suggestion.explain || ""))) : null);
    const mapBox = h("div", { class: "map-box", id: "case-map" });
    root.append(head, actions,
      h("div", { class: "grid2" },
        h("div", { class: "panel" }, h("h2", null, CL.t("photos")), photoBlock(CL.t("before_photos"), c.photos), photoBlock(CL.t("after_photos"), c.after_photos)),
        h("div", { class: "panel" }, h("h2", null, CL.t("location")), mapBox)),
      h("div", { class: "panel" }, h("h2", null, CL.t("step_clocks")), extra ? clocks(extra.steps) : h("p", { class: "muted" }, "—")),
      h("div", { class: "grid2" },
        h("div", { class: "panel" }, h("h2", null, CL.t("timeline")), timeline(detail.timeline)),
        h("div", null,
          h("div", { class: "panel" }, h("h2", null, CL.t("filing_conditions")), conditions(detail.category, c.condition_no)),
          h("div", { class: "panel" }, h("h2", null, CL.t("cluster_title")), extra ? cluster(extra, c) : "—"))));
    if (c.lon !== null && c.lat !== null) {
      map = CL.map.create(mapBox, { bounds: [c.lon - 0.004, c.lat - 0.003, c.lon + 0.004, c.lat + 0.003] });
      CL.map.cityLayers(map); // the city's layers with their names (or only outlines over configured tiles)
      const [x, y] = CL.map.toDisplay(c.lon, c.lat);
      const color = CL.map.COLORS[(extra && extra.light) || c.light || "none"];
      L.circleMarker([y, x], { radius: 9, color: "#0f172a", weight: 2, fillColor: color, fillOpacity: 1 }).addTo(map).bindTooltip(c.case_id);
    } else {
      mapBox.textContent = CL.t("not_located");
    }
    CL.setReady();
    CL.mark("case-ready");
  }

  async function load() {
    try {
      const [d, x] = await Promise.all([
        CL.api("/api/v1/cases/" + encodeURIComponent(caseId)),
        CL.api("/api/v1/web/cases/" + encodeURIComponent(caseId) + "/extra").catch(() => null),
      ]);
      detail = d; extra = x;
      render();
    } catch (e) {
      if (e.status === 404 || e.status === 403) { refusal(e); CL.setReady(); return; }
      CL.clear(CL.$("#case-root")).appendChild(h("p", { class: "error-text" }, e.message));
    }
  }

  CL.ready(async () => {
    if (!CL.auth.require()) return;
    CL.userBox(CL.$("#user-box"));
    await load();
    document.addEventListener("cl:lang", () => { CL.userBox(CL.$("#user-box")); if (detail) render(); });
  });
})();
