/* Role workspaces (岗位工作台): each role sees its own tabs, and every button is a workflow API action. */
(function () {
  "use strict";
  const CL = window.CL;
  const h = CL.h;

  const TABS = {
    operator: ["review", "queue", "search"],
    shift_leader: ["filing", "queue", "search"],
    dispatcher: ["dispatch", "approvals", "search"],
    department: ["worklist", "search"],
    leader: ["overview", "supervision", "search"],
    viewer: ["overview", "search"],
    inspector: ["queue", "search"],
    admin: ["overview", "search"],
  };
  const TAB_LABEL = { review: "review_queue", filing: "filing_review", queue: "my_queue", dispatch: "dispatch_board",
    approvals: "approvals", worklist: "worklist", overview: "overview", supervision: "supervision", search: "search" };
  const APPROVAL_STAGES = ["return_requested", "extension_requested", "suspension_requested", "suspended", "void_requested"];

  let user = null, current = null;
  const view = () => CL.$("#view");

  function spec(action) { return { action, ...(CL.config.actions[action] || { required: [], optional: [] }) }; }
  function caseLink(id) { return h("a", { href: "/cases/" + encodeURIComponent(id), class: "case-link" }, id); }
  function dueText(item) { return item.due_at ? CL.fmt.dt(item.due_at) + " (" + CL.fmt.rel(item.due_at) + ")" : "—"; }
  function photos(refs, label) {
    if (!refs || !refs.length) return null;
    return h("div", null, h("div", { class: "small muted" }, label), h("div", { class: "photos" }, refs.map((r) => h("img", { src: CL.photoUrl(r), alt: label, loading: "lazy" }))));
  }

  function triageBox(t, source) {
    if (!t) return h("div", { class: "triage muted" }, CL.t("suggestion") + ": —");
    const top = (t.category_top || []).map(([code, score]) => code + " " + CL.catName(code) + " (" + CL.fmt.pct(score, 0) + ")").join(CL.t("list_sep"));
    const dups = (t.duplicates || []).map((d) => h("li", { "data-dup": d.case_id },
      caseLink(d.case_id), " · " + CL.t("score") + " ", h("span", { class: "score" }, CL.fmt.pct(d.score, 0)),
      (d.distance_m == null ? "" : " · " + CL.t("distance") + " " + CL.fmt.num(Math.round(d.distance_m)) + " m") + " · " + (d.reason || "")));
    return h("div", { class: "triage", "data-triage": "1" },
      h("div", null, h("b", null, CL.t("suggestion")), " ", h("span", { class: "muted small" }, CL.t(source === "stored" ? "stored_suggestion" : "computed_now"))),
      h("div", null, CL.t("suggested_category") + CL.t("colon"), h("b", null, t.category_code ? t.category_code + " " + CL.catName(t.category_code) : "—"),
        " ", t.category_source === "reporter" ? h("span", { class: "muted small" }, CL.t("chosen_by_reporter"))
          : h("span", { class: "score" }, t.category_score !== undefined && t.category_score !== null ? CL.fmt.pct(t.category_score, 0) : ""),
        top ? h("span", { class: "muted small" }, "  [" + top + "]") : null),
      h("div", null, CL.t("suggested_department") + CL.t("colon") + CL.deptName(t.department_id) + (t.department_reason ? CL.t("paren_open") + t.department_reason + CL.t("paren_close") : "")),
      h("div", null, CL.t("urgency") + CL.t("colon") + CL.label("urgency", t.urgency) + (t.urgency_rule ? CL.t("paren_open") + t.urgency_rule + CL.t("paren_close") : "")),
      dups.length ? h("div", null, CL.t("duplicates") + CL.t("colon"), h("ul", { class: "dups" }, dups)) : h("div", { class: "muted small" }, CL.t("duplicates") + CL.t("colon") + CL.t("empty")),
      t.recurrence_of ? h("div", null, CL.t("recurrence") + CL.t("colon"), caseLink(t.recurrence_of)) : null);
  }

  function card(item, extra, buttons) {
    const overdue = item.overdue || item.light === "red";
    return h("article", { class: "case-card" + (overdue ? " overdue" : ""), "data-case": item.case_id },
      h("header", null, caseLink(item.case_id), CL.lightBadge(item.light),
        h("span", { class: "badge stage" }, CL.label("stages", item.stage)),
        item.urgency === "urgent" ? h("span", { class: "badge urgent" }, CL.label("urgency", "urgent")) : null,
        h("span", null, CL.catName(item.category_code)),
        h("span", { class: "muted small" }, CL.districtName(item.district_code) + " · " + CL.fmt.dt(item.created_at))),
      item.description ? h("p", null, item.description) : null,
      extra, buttons);
  }

  async function reviewTab(stage) {
    const box = CL.clear(view());
    box.appendChild(h("p", { class: "muted" }, CL.t("loading")));
    const data = await CL.api("/api/v1/review?stage=" + stage + "&limit=30");
    CL.clear(box);
    box.appendChild(h("div", { class: "muted small", style: "margin-bottom:8px" }, CL.t("total") + " " + CL.fmt.num(data.total)));
    if (!data.items.length) { box.appendChild(h("p", { class: "muted" }, CL.t("empty"))); return; }
    const list = h("div", { class: "card-list" });
    for (const item of data.items) {
      const t = item.triage || {};
      const defaults = { category_code: item.category_code || t.category_code, urgency: t.urgency, reason: "invalid", verify: !!item.needs_verification };
      const actions = stage === "reported" ? ["accept", "reject"] : ["file", "not_file"];
      const buttons = CL.actions.buttons(item.case_id, actions.map(spec), () => render(), defaults);
      const top = (t.duplicates || [])[0];
      if (stage === "reported" && top) {
        buttons.appendChild(h("button", { type: "button", class: "btn secondary", "data-action": "merge",
          onclick: async () => {
            const r = await CL.actions.open(item.case_id, spec("reject"), { reason: "duplicate", duplicate_of: top.case_id, note: CL.t("merge_duplicate") + " → " + top.case_id });
            if (r) render();
          } }, CL.t("merge_duplicate") + " → " + top.case_id));
      }
      list.appendChild(card(item, h("div", null, photos(item.photos, CL.t("photos")), triageBox(item.triage, item.triage_source)), buttons));
    }
    box.appendChild(list);
  }

  async function queue(filter) {
    const data = await CL.api("/api/v1/web/queue?page_size=50");
    return { total: data.total, items: filter ? data.items.filter(filter) : data.items };
  }

  function queueList(items, extraFn, defaultsFn) {
    const list = h("div", { class: "card-list" });
    if (!items.length) list.appendChild(h("p", { class: "muted" }, CL.t("empty")));
    for (const item of items) {
      const allowed = item.allowed_actions.filter((a) => a !== "comment").map(spec);
      const buttons = CL.actions.buttons(item.case_id, allowed, () => render(), Object.assign({ __request: item.request }, defaultsFn ? defaultsFn(item) : {}));
      const extra = h("div", null,
        h("div", { class: "small" }, CL.t("due") + CL.t("colon") + dueText(item) + (item.overdue ? " · " : ""), item.overdue ? h("b", { style: "color:var(--red)" }, CL.t("overdue")) : null),
        item.request ? CL.actions.requestBox(item.request) : item.pending ? h("div", { class: "small" }, CL.t("approvals") + CL.t("colon") + CL.label("actions", "request_" + item.pending.kind)) : null,
        CL.actions.reworkBox(item.rework_count, item.last_failed_check),
        extraFn ? extraFn(item) : null);
      list.appendChild(card(item, extra, buttons));
    }
    return list;
  }

  async function queueTab(filter, extraFn, defaultsFn) {
    const box = CL.clear(view());
    box.appendChild(h("p", { class: "muted" }, CL.t("loading")));
    const data = await queue(filter);
    CL.clear(box);
    box.appendChild(h("div", { class: "muted small", style: "margin-bottom:8px" }, CL.t("total") + " " + CL.fmt.num(data.items.length)));
    box.appendChild(queueList(data.items, extraFn, defaultsFn));
  }

  async function dispatchTab() {
    const box = CL.clear(view());
    const data = await queue((i) => i.stage === "filed");
    const suggestions = {};
    await Promise.all(data.items.slice(0, 20).map(async (i) => {
      try { const x = await CL.api("/api/v1/web/cases/" + encodeURIComponent(i.case_id) + "/extra"); suggestions[i.case_id] = x.dispatch_suggestion; } catch (e) { /* none */ }
    }));
    box.appendChild(queueList(data.items,
      (i) => { const s = suggestions[i.case_id]; return h("div", { class: "triage" }, h("b", null, CL.t("dispatch_suggestion") + CL.t("colon")), CL.deptName((s && s.department_id) || i.triage_department), s && s.words ? h("div", { class: "small", "data-suggestion-words": "1" }, s.words) : null, s && s.explain ? h("details", null, h("summary", { class: "small muted" }, CL.t("workdesk.routing_details")), h("pre", { class: "small muted", style: "white-space:pre-wrap;margin:4px 0 0" }, s.explain)) : null); },
      (i) => ({ department_id: (suggestions[i.case_id] && suggestions[i.case_id].department_id) || i.triage_department || "" })));
    const bar = CL.actions.batchBar("dispatch", box, () => render());
    if (bar) box.prepend(bar);
  }

  async function worklistTab() {
    await queueTab(null, (i) => h("div", null, photos(i.photos, CL.t("before_photos")), photos(i.after_photos, CL.t("after_photos"))),
      () => ({ amount: 1, unit: "work_day" }));
  }

  function kpiTiles(s) {
    const k = s.kpi, rates = k.rates || {}, assets = k.assets || {};
    const rows = [["today_reports", CL.fmt.num(s.today.report)], ["today_filed", CL.fmt.num(s.today.file)], ["today_dispatched", CL.fmt.num(s.today.dispatch)],
      ["today_closed", CL.fmt.num(s.today.close)], ["open_cases", CL.fmt.num(s.open.open)], ["red_overdue", CL.fmt.num(s.open.lights.red)],
      ["yellow_warn", CL.fmt.num(s.open.lights.yellow)], ["on_time_rate", CL.fmt.pct(rates.on_time_closure_rate)], ["problem_rate", CL.fmt.pct(rates.problem_handling_rate)],
      ["light_on_rate", CL.fmt.pct(assets.light_on_rate)], ["intact_rate", CL.fmt.pct(assets.facility_intact_rate)], ["closure_rate", CL.fmt.pct(rates.closure_rate)]];
    return h("div", { class: "tiles" }, rows.map(([key, v]) => h("div", { class: "tile", "data-kpi": key }, h("div", { class: "v" }, v === "—" ? "— " : v, v === "—" ? h("span", { class: "small muted" }, CL.t("no_data")) : null), h("div", { class: "k" }, CL.t(key)))));
  }

  async function overviewTab() {
    const box = CL.clear(view());
    const s = await CL.api("/api/v1/screen/summary");
    box.appendChild(h("div", { class: "panel" }, h("h2", null, CL.t("overview") + " · " + CL.t("kpi_period") + " " + (s.kpi.period || "—")), kpiTiles(s),
      h("p", { class: "small muted" }, CL.t("kpi_source"))));
    const t = h("table", { class: "list" }, h("tr", null, ...["rank", "department", "score", "grade", "closure_rate", "open_short", "red_short"].map((k) => h("th", null, CL.t(k)))));
    for (const r of s.departments) {
      t.appendChild(h("tr", null, h("td", null, r.rank ?? "—"), h("td", null, CL.isEn() && r.name_en ? r.name_en : r.name),
        h("td", null, r.score === null || r.score === undefined ? "—" : CL.fmt.num(Math.round(r.score * 10) / 10)), h("td", null, r.grade || "—"),
        h("td", null, CL.fmt.pct(r.closure_rate)), h("td", null, CL.fmt.num(r.open)), h("td", null, CL.fmt.num(r.red))));
    }
    box.appendChild(h("div", { class: "panel" }, h("h2", null, CL.t("dept_ranking")), t));
  }

  async function searchTab() {
    const box = CL.clear(view());
    const stageSel = h("select", { id: "search-stage" }, h("option", { value: "" }, CL.t("all")),
      ...Object.keys(CL.config.labels.stages).map((s) => h("option", { value: s }, CL.label("stages", s))));
    const statusSel = h("select", { id: "search-status" }, h("option", { value: "open" }, CL.t("open_short")), h("option", { value: "" }, CL.t("all")), h("option", { value: "closed" }, CL.label("stages", "closed")));
    const results = h("div");
    const run = async () => {
      const q = new URLSearchParams({ page_size: "50", order: "due" });
      if (stageSel.value) q.set("stage", stageSel.value);
      if (statusSel.value) q.set("status", statusSel.value);
      const data = await CL.api("/api/v1/cases?" + q);
      CL.clear(results);
      const t = h("table", { class: "list" }, h("tr", null, ...["case_no", "category", "stage", "due", "light", "district"].map((k) => h("th", null, CL.t(k)))));
      for (const i of data.items) {
        t.appendChild(h("tr", { class: i.overdue ? "overdue" : "" }, h("td", null, caseLink(i.case_id)), h("td", null, CL.catName(i.category_code)),
          h("td", null, CL.label("stages", i.stage)), h("td", null, i.due_at ? CL.fmt.dt(i.due_at) : "—"), h("td", null, CL.lightBadge(i.light)), h("td", null, CL.districtName(i.district_code))));
      }
      results.appendChild(h("div", { class: "muted small" }, CL.t("total") + " " + CL.fmt.num(data.total)));
      results.appendChild(t);
    };
    box.appendChild(h("div", { class: "panel" }, h("div", { style: "display:flex;gap:8px;align-items:center" }, CL.t("stage"), stageSel, CL.t("status"), statusSel,
      h("button", { class: "btn", type: "button", onclick: run }, CL.t("search"))), results));
    await run();
  }

  const RENDER = {
    review: () => reviewTab("reported"),
    filing: () => reviewTab("accepted"),
    queue: async () => {
      await queueTab(null, (i) => photos(i.after_photos, CL.t("after_photos")), () => ({}));
      const bar = CL.actions.batchBar("close", view(), () => render());
      if (bar) view().prepend(bar);
    },
    dispatch: dispatchTab,
    approvals: () => queueTab((i) => APPROVAL_STAGES.includes(i.stage)),
    worklist: worklistTab,
    overview: overviewTab,
    supervision: () => queueTab(null, null, () => ({})),
    search: () => CL.search.render(view(), (id, row) => CL.desk.open(id, row)),
  };

  async function render() {
    try { await RENDER[current](); } catch (e) {
      CL.clear(view()).appendChild(h("p", { class: "error-text" }, e.message));
    }
  }

  function tabs() {
    const box = CL.clear(CL.$("#tabs"));
    for (const key of TABS[user.role] || ["search"]) {
      box.appendChild(h("button", { type: "button", role: "tab", class: key === current ? "active" : "", "data-tab": key,
        onclick: () => { current = key; history.replaceState(null, "", "#" + key); tabs(); render(); } }, CL.t(TAB_LABEL[key])));
    }
  }

  CL.ready(async () => {
    if (!CL.auth.require()) return;
    user = await CL.api("/api/v1/me");
    CL.userBox(CL.$("#user-box"));
    const allowed = TABS[user.role] || ["search"];
    const wanted = location.hash.slice(1) || (location.search ? "search" : "");  // a bookmarked search
    current = allowed.includes(wanted) ? wanted : allowed[0];
    tabs();
    await render();
    CL.setReady();
    document.addEventListener("cl:lang", () => { CL.userBox(CL.$("#user-box")); tabs(); render(); });
  });
})();
