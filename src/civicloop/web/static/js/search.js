/* The case search of the workspace (案卷查询): every filter of GET /api/v1/cases/search, the query kept in
   the page's URL (a view can be bookmarked or shared), paging with the total, export of the whole result. */
(function () {
  "use strict";
  const CL = window.CL;
  const h = CL.h;
  const T = (k, f) => CL.t("search.ui." + k, f);

  // name → kind of input; the names are the API's query parameters and the URL's
  const FIELDS = ["case_no", "text", "category", "department", "district", "street", "community", "grid", "stage",
    "status", "light", "channel", "created_from", "created_to", "deadline_from", "deadline_to", "overdue", "rework", "sort", "dir"];
  const PAGE_SIZE = 50;

  function opt(value, text) { return h("option", { value }, text); }
  function anyOpt() { return opt("", CL.t("all")); }
  function named(x) { return CL.isEn() && x.name_en ? x.name_en : x.name; }

  function controls() {
    const c = {};
    c.case_no = h("input", { type: "search", maxlength: "40", placeholder: T("case_no_hint") });
    c.text = h("input", { type: "search", maxlength: "200", placeholder: T("text_hint") });
    c.category = h("select", null, anyOpt(), ...CL.config.categories.map((x) => opt(x.code, x.code + " " + named(x))));
    c.department = h("select", null, anyOpt(), ...CL.config.departments.map((x) => opt(x.id, named(x))));
    c.district = h("select", null, anyOpt(), ...CL.config.districts.map((x) => opt(x.code, named(x))));
    c.street = h("input", { type: "text", maxlength: "2000", pattern: "[0-9A-Za-z._,\\-]*", placeholder: T("code_hint") });
    c.community = h("input", { type: "text", maxlength: "2000", pattern: "[0-9A-Za-z._,\\-]*", placeholder: T("code_hint") });
    c.grid = h("input", { type: "text", maxlength: "2000", pattern: "[0-9A-Za-z._,\\-]*", placeholder: T("code_hint") });
    c.stage = h("select", null, anyOpt(), ...Object.keys(CL.config.labels.stages).map((s) => opt(s, CL.label("stages", s))));
    c.status = h("select", null, anyOpt(), opt("open", CL.t("open_short")), opt("closed", CL.label("stages", "closed")));
    c.light = h("select", null, anyOpt(), ...["red", "yellow", "green"].map((l) => opt(l, CL.t("search.light." + l))));
    c.channel = h("select", null, anyOpt(), ...Object.keys(CL.config.labels.channels).map((s) => opt(s, CL.label("channels", s))));
    for (const k of ["created_from", "created_to", "deadline_from", "deadline_to"]) c[k] = h("input", { type: "date" });
    c.overdue = h("input", { type: "checkbox", value: "true" });
    c.rework = h("input", { type: "checkbox", value: "true" });
    c.sort = h("select", null, ...["created", "deadline", "updated", "light"].map((s) => opt(s, T("sort_" + s))));
    c.dir = h("select", null, opt("desc", T("dir_desc")), opt("asc", T("dir_asc")));
    for (const k of FIELDS) { c[k].name = k; c[k].id = "search-" + k; }
    return c;
  }

  function fromUrl(c) {
    const q = new URLSearchParams(location.search);
    for (const k of FIELDS) {
      const v = q.get(k);
      if (v === null) continue;
      if (c[k].type === "checkbox") c[k].checked = v === "true"; else c[k].value = v;
    }
    return Math.max(1, parseInt(q.get("page") || "1", 10) || 1);
  }

  function query(c, page) {
    const q = new URLSearchParams();
    for (const k of FIELDS) {
      const el = c[k];
      if (el.type === "checkbox") { if (el.checked) q.set(k, "true"); continue; }
      const v = (el.value || "").trim();
      if (v && !(k === "sort" && v === "created") && !(k === "dir" && v === "desc")) q.set(k, v);
    }
    if (page > 1) q.set("page", String(page));
    return q;
  }

  async function download(kind, q) {
    const headers = { "Accept-Language": CL.lang, Authorization: "Bearer " + CL.auth.token() };
    const res = await fetch("/api/v1/cases/export." + kind + "?" + q, { headers });
    if (!res.ok) {
      let body = null;
      try { body = await res.json(); } catch (e) { /* not JSON */ }
      throw new CL.ApiError(res.status, body);
    }
    const blob = await res.blob();
    const name = (/filename="([^"]+)"/.exec(res.headers.get("content-disposition") || "") || [])[1] || "cases." + kind;
    const a = h("a", { href: URL.createObjectURL(blob), download: name });
    document.body.appendChild(a);
    a.click();
    setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
  }

  function field(label, el) { return h("label", { class: "search-field" }, h("span", null, label), el); }

  /** Render the search into *box*; *onOpen(caseId)* shows a case beside the list (the split layout). */
  async function render(box, onOpen) {
    CL.clear(box);
    const c = controls();
    let page = fromUrl(c);
    const results = h("div", { id: "search-results" });
    const error = h("p", { class: "error-text", id: "search-error", role: "alert" });
    const form = h("form", { class: "panel search-form", id: "search-form" },
      h("div", { class: "search-grid" },
        field(CL.t("case_no"), c.case_no), field(T("text"), c.text), field(CL.t("category"), c.category),
        field(CL.t("department"), c.department), field(CL.t("district"), c.district), field(T("street"), c.street),
        field(T("community"), c.community), field(T("grid"), c.grid), field(CL.t("stage"), c.stage),
        field(CL.t("status"), c.status), field(CL.t("light"), c.light), field(T("channel"), c.channel),
        field(T("created_from"), c.created_from), field(T("created_to"), c.created_to),
        field(T("deadline_from"), c.deadline_from), field(T("deadline_to"), c.deadline_to),
        field(T("sort"), c.sort), field(T("dir"), c.dir),
        h("label", { class: "search-check" }, c.overdue, " " + CL.t("overdue")),
        h("label", { class: "search-check" }, c.rework, " " + T("rework"))),
      h("div", { class: "search-buttons" },
        h("button", { class: "btn", type: "submit", id: "search-run" }, CL.t("search")),
        h("button", { class: "btn ghost", type: "button", id: "search-reset", onclick: () => {
          form.reset(); page = 1; run(); } }, T("reset")),
        h("span", { class: "spacer" }),
        h("button", { class: "btn secondary", type: "button", id: "export-xlsx", onclick: () => exp("xlsx") }, T("export_xlsx")),
        h("button", { class: "btn secondary", type: "button", id: "export-csv", onclick: () => exp("csv") }, T("export_csv"))),
      error);
    box.appendChild(form);
    box.appendChild(results);

    async function exp(kind) {
      error.textContent = "";
      try { await download(kind, query(c, 1)); } catch (e) { error.textContent = e.message; }
    }

    async function run() {
      error.textContent = "";
      const q = query(c, page);
      history.replaceState(null, "", (q.toString() ? "?" + q : location.pathname) + "#search");
      q.set("page_size", String(PAGE_SIZE));
      let data;
      try { data = await CL.api("/api/v1/cases/search?" + q); } catch (e) {
        error.textContent = e.message;
        if (e.field && c[e.field]) c[e.field].focus();
        return;
      }
      CL.clear(results);
      const pages = Math.max(1, Math.ceil(data.total / PAGE_SIZE));
      const t = h("table", { class: "list", id: "search-table" }, h("tr", null,
        ...["case_no", "category", "stage", "light", "department", "district", "created", "due"].map((k) => h("th", null, CL.t(k))),
        h("th", null, T("rework"))));
      for (const i of data.items) {
        const tr = h("tr", { class: (i.overdue ? "overdue " : "") + "search-row", "data-case": i.case_id, tabindex: "0" },
          h("td", null, h("a", { href: "/cases/" + encodeURIComponent(i.case_id), class: "case-link" }, i.case_id)),
          h("td", null, i.category_code ? i.category_code + " " + (i.category_name || "") : "—"),
          h("td", null, CL.label("stages", i.stage)), h("td", null, CL.lightBadge(i.light)),
          h("td", null, i.department_id ? CL.deptName(i.department_id) : "—"),
          h("td", null, i.district_code ? CL.districtName(i.district_code) : "—"),
          h("td", null, CL.fmt.dt(i.created_at)), h("td", null, i.due_at ? CL.fmt.dt(i.due_at) : "—"),
          h("td", null, i.rework_count ? h("span", { class: "badge urgent" }, String(i.rework_count)) : ""));
        if (onOpen) {
          tr.addEventListener("click", (ev) => { if (ev.target.tagName !== "A") { ev.preventDefault(); onOpen(i.case_id, tr); } });
          tr.addEventListener("keydown", (ev) => { if (ev.key === "Enter") onOpen(i.case_id, tr); });
        }
        t.appendChild(tr);
      }
      const nav = h("div", { class: "search-pager" },
        h("span", { id: "search-total" }, T("total_pages", { total: CL.fmt.num(data.total), page: data.page, pages })),
        h("button", { class: "btn ghost", type: "button", id: "search-prev", disabled: page <= 1 ? "disabled" : null,
          onclick: () => { page -= 1; run(); } }, T("prev")),
        h("button", { class: "btn ghost", type: "button", id: "search-next", disabled: page >= pages ? "disabled" : null,
          onclick: () => { page += 1; run(); } }, T("next")));
      results.appendChild(nav);
      results.appendChild(data.items.length ? t : h("p", { class: "muted" }, CL.t("empty")));
    }

    form.addEventListener("submit", (ev) => { ev.preventDefault(); page = 1; run(); });
    await run();
  }

  CL.search = { render };
})();
