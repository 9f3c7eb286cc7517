/* Action dialogs: one form per workflow action, built from the API's allowed actions (required and
   optional fields), posted to POST /api/v1/cases/{id}/actions/{action}. */
(function () {
  "use strict";
  const CL = window.CL;
  const h = CL.h;
  const DANGER = /^(reject|not_file|deny_|void|request_void|reject_self)/;
  const REASONS = ["duplicate", "misfiled", "invalid", "not_city_business"];

  function select(name, options, value) {
    const s = h("select", { name, id: "f-" + name });
    for (const [v, label] of options) {
      const o = h("option", { value: v }, label);
      if (String(v) === String(value ?? "")) o.selected = true;
      s.appendChild(o);
    }
    return s;
  }

  function field(name, required, defaults) {
    const label = CL.t("fields." + name) !== "fields." + name ? CL.t("fields." + name) : {
      note: CL.t("note"), department_id: CL.t("department"), suggested_department_id: CL.t("suggested_department"),
      reason: CL.t("reason"), duplicate_of: CL.t("duplicate_of"), confirmed: CL.t("verify_true") + "?",
      passed: CL.t("check_pass") + "?", verify: CL.t("verify_task"), amount: CL.t("amount"), unit: CL.t("unit"),
      category_code: CL.t("category"), condition_no: CL.t("condition_no"), urgency: CL.t("urgency"),
      photos: CL.t("photos"), member_id: CL.t("members"),
      rating: CL.t("vocabulary.feedback"), rater: CL.t("citizen.rater"),
    }[name] || name;
    let input;
    const d = defaults[name];
    switch (name) {
      case "note": input = h("textarea", { name, id: "f-note", required: required || null }); if (d) input.value = d; break;
      case "department_id": case "suggested_department_id":
        input = select(name, [["", "—"], ...CL.config.departments.map((x) => [x.id, (CL.isEn() && x.name_en) || x.name])], d); break;
      case "reason": input = select(name, REASONS.map((r) => [r, CL.label("closure_reasons", r)]), d); break;
      case "confirmed": case "passed": input = select(name, [["true", CL.t("yes")], ["false", CL.t("no")]], d === false ? "false" : "true"); break;
      case "verify": input = h("input", { type: "checkbox", name, id: "f-verify" }); if (d) input.checked = true; break;
      case "amount": input = h("input", { type: "number", name, id: "f-amount", min: "0.5", step: "0.5", value: d || "1" }); break;
      case "unit": input = select(name, ["work_day", "work_hour", "natural_hour"].map((u) => [u, CL.label("units", u)]), d || "work_day"); break;
      case "category_code":
        input = select(name, [["", "—"], ...CL.config.categories.map((c) => [c.code, c.code + " " + ((CL.isEn() && c.name_en) || c.name)])], d); break;
      case "condition_no": input = CL.actions.conditionSelect(defaults.category_code, d); break;
      case "inspector_id": input = CL.actions.inspectorSelect(defaults.__case, d); break;
      case "urgency": input = select(name, [["", "—"], ["normal", CL.label("urgency", "normal")], ["urgent", CL.label("urgency", "urgent")]], d); break;
      case "photos": input = h("input", { type: "file", name, id: "f-photos", accept: "image/*", multiple: true }); break;
      case "rating": // 回访: the answer of the reporter's phone call, entered by the hotline operator
        input = select(name, ["satisfied", "basically_satisfied", "dissatisfied"].map((r) => [r, CL.t("vocabulary." + r)]), d || "satisfied"); break;
      default: input = h("input", { name, id: "f-" + name, value: d || "" });
    }
    if (required && input.tagName !== "SELECT") input.required = true;
    CL.actions.applyLimits(input, name);
    return h("div", { class: "form-row" }, h("label", { for: input.id }, label + (required ? " *" : "")), input);
  }

  async function collect(form, spec) {
    const body = {};
    for (const name of [...spec.required, ...spec.optional]) {
      const el = form.elements[name];
      if (!el) continue;
      if (name === "photos") {
        const refs = [];
        for (const f of el.files) refs.push((await CL.uploadPhoto(f)).ref);
        if (refs.length) body.photos = refs;
        continue;
      }
      if (name === "verify") { body.verify = !!el.checked; continue; }  // 受理 honours the 核实任务 choice
      const v = el.value;
      if (v === "" || v === undefined) continue;
      if (name === "confirmed" || name === "passed") body[name] = v === "true";
      else if (name === "amount") body.amount = parseFloat(v);
      else if (name === "condition_no") body.condition_no = parseInt(v, 10);
      else body[name] = v;
    }
    return body;
  }

  CL.actions = {
    isDanger(action) { return DANGER.test(action); },

    /** Open the dialog of one action; resolves with the API's result, or null when cancelled. */
    open(caseId, allowed, defaults) {
      defaults = Object.assign({ __case: caseId }, defaults || {});
      const asked = defaults.__request;
      if (asked && asked.kind === "extension" && allowed.action === "approve_extension") {
        defaults.amount = asked.amount; defaults.unit = asked.unit;  // approve what was asked unless changed
      }
      const spec = { required: allowed.required || [], optional: (allowed.optional || []).filter((f) => f !== "verify" || allowed.action === "accept") };
      return new Promise((resolve) => {
        const err = h("div", { class: "error-text", role: "alert" });
        const form = h("form", { method: "dialog" },
          h("h3", null, CL.label("actions", allowed.action) + " · " + caseId),
          CL.actions.requestBox(defaults.__request), CL.actions.consequence(allowed.action, defaults.__request),
          ...spec.required.map((f) => field(f, true, defaults)),
          ...spec.optional.map((f) => field(f, false, defaults)),
          CL.actions.confirmRow(allowed.action),
          err,
          h("div", { class: "dialog-actions" },
            h("button", { type: "button", class: "btn ghost", value: "cancel", "data-role": "cancel" }, CL.t("cancel")),
            h("button", { type: "submit", class: "btn" + (DANGER.test(allowed.action) ? " danger" : ""), "data-role": "submit" }, CL.label("actions", allowed.action))));
        const dlg = h("dialog", { class: "action-dialog", "data-action": allowed.action }, form);
        document.body.appendChild(dlg);
        let done = false;
        const finish = (v) => { if (done) return; done = true; dlg.close(); dlg.remove(); resolve(v); };
        form.querySelector("[data-role=cancel]").addEventListener("click", () => finish(null));
        dlg.addEventListener("cancel", () => finish(null));
        form.addEventListener("submit", async (ev) => {
          ev.preventDefault();
          const btn = form.querySelector("[data-role=submit]");
          btn.disabled = true; err.textContent = "";
          try {
            const body = await collect(form, spec);
            const res = await CL.api("/api/v1/cases/" + encodeURIComponent(caseId) + "/actions/" + allowed.action, { method: "POST", body });
            CL.toast(CL.label("actions", allowed.action) + " ✓ " + caseId, "ok");
            finish(res);
          } catch (e) {
            err.textContent = e.message; btn.disabled = false;
          }
        });
        CL.actions.linkCondition(form);
        dlg.showModal();
        const first = form.querySelector("textarea, input, select");
        if (first) first.focus();
      });
    },

    /** A row of buttons for the allowed actions; *onDone* runs after a successful action. */
    buttons(caseId, allowed, onDone, defaults) {
      const box = h("div", { class: "action-buttons" });
      for (const a of allowed) {
        const spec = typeof a === "string" ? { action: a, ...(CL.config.actions[a] || { required: [], optional: [] }) } : a;
        box.appendChild(h("button", {
          type: "button", class: "btn" + (DANGER.test(spec.action) ? " danger" : spec.action === "comment" ? " ghost" : ""),
          "data-action": spec.action,
          onclick: async () => { const r = await CL.actions.open(caseId, spec, defaults); if (r && onDone) onDone(r); },
        }, CL.label("actions", spec.action)));
      }
      return box;
    },
  };
})();


/* Issue 15: the request in full (card and dialog), what an action will do, limits on every input, filing
   conditions and inspectors to pick from, a confirmation for what cannot be undone, rework made visible. */
(function () {
  "use strict";
  const CL = window.CL;
  const h = CL.h;
  const A = CL.actions;
  const IRREVERSIBLE = ["reject", "not_file", "void", "approve_void", "close", "check", "verify", "approve_return"];
  const w = (key, fields) => CL.t("workdesk." + key, fields);
  /** A person in a timeline: the name the API gave, else the account-less actor (the system, the simulation). */
  CL.actorName = (id) => (id === "system" ? w("system_actor") : id || "—");

  /** The API's limits on the input (maxlength, min, max) from /api/v1/web/config: the browser stops first. */
  A.applyLimits = function (input, name) {
    const lim = (CL.config.field_limits || {})[name];
    if (!lim || !input || input.tagName === "SELECT") return;
    if (lim.maxlength !== undefined && (input.tagName === "TEXTAREA" || input.type === "text" || !input.type || input.type === "search")) input.maxLength = lim.maxlength;
    if (input.type === "number") {
      if (lim.min !== undefined && !input.min) input.min = String(lim.min);  // a stricter step base stays
      if (lim.max !== undefined) input.max = String(lim.max);
    }
  };

  function conditionOptions(code) {
    const cat = (CL.config.categories || []).find((c) => c.code === code);
    return cat ? (cat.conditions || []).map((c) => [String(c.no), c.no + " · " + ((CL.isEn() && c.filing_en) || c.filing)]) : [];
  }

  /** 立案条件: the category's filing conditions to pick from (not a bare number). */
  A.conditionSelect = function (code, value) {
    const s = h("select", { name: "condition_no", id: "f-condition_no" });
    A.fillConditions(s, code, value);
    return s;
  };
  A.fillConditions = function (select, code, value) {
    CL.clear(select);
    const opts = conditionOptions(code);
    if (!opts.length) select.appendChild(h("option", { value: "" }, "—"));
    for (const [v, label] of opts) {
      const o = h("option", { value: v }, label);
      if (String(value || "1") === v) o.selected = true;
      select.appendChild(o);
    }
  };
  A.linkCondition = function (form) {
    const cat = form.elements.category_code, cond = form.elements.condition_no;
    if (cat && cond && cond.tagName === "SELECT") cat.addEventListener("change", () => A.fillConditions(cond, cat.value, null));
  };

  /** 派发核查: the inspectors to pick from, the grid's duty inspector first, then the nearest. */
  A.inspectorSelect = function (caseId, value) {
    const s = h("select", { name: "inspector_id", id: "f-inspector_id" }, h("option", { value: value || "" }, value || "—"));
    if (!caseId) return s;
    CL.api("/api/v1/web/cases/" + encodeURIComponent(caseId) + "/inspectors").then((list) => {
      CL.clear(s);
      if (!list.items.length) s.appendChild(h("option", { value: "" }, "—"));
      list.items.forEach((x, i) => {
        const o = h("option", { value: x.id, "data-why": x.why }, (x.name || x.id) + " · " + w("inspector_" + x.why));
        if (value ? x.id === value : i === 0) o.selected = true;
        s.appendChild(o);
      });
    }).catch(() => { /* the field stays empty: the API picks no one */ });
    return s;
  };

  /** A required tick box for actions that cannot be undone. */
  A.confirmRow = function (action) {
    if (!IRREVERSIBLE.includes(action)) return null;
    const box = h("input", { type: "checkbox", name: "_confirm", id: "f-_confirm", required: true });
    return h("div", { class: "form-row confirm-row" }, h("label", { for: "f-_confirm" }, box, " " + w("confirm_irreversible")));
  };

  function kv(rows) {
    return h("dl", { class: "kv small" }, rows.filter(Boolean).flatMap(([k, v]) => [h("dt", null, k), h("dd", null, v)]));
  }
  const caseLink = (id) => h("a", { href: "/cases/" + encodeURIComponent(id), class: "case-link" }, id);
  const who = (r) => (r.requested_by_role ? CL.label("roles", r.requested_by_role) + " " : "") + (r.requested_by_name || r.requested_by || "—");

  /** The pending request in full: on the approver's card and at the top of the approve/deny dialog. */
  A.requestBox = function (r) {
    if (!r) return null;
    const dept = r.department_id ? CL.deptName(r.department_id) : "";
    const rows = [[w("requested_by"), who(r) + (dept && (r.requested_by_name || "") !== dept ? " · " + dept : "")],
      [w("requested_at"), r.requested_at ? CL.fmt.dt(r.requested_at) : "—"]];
    if (r.kind === "extension") {
      rows.push([w("extension_amount"), CL.fmt.num(r.amount) + " " + CL.label("units", r.unit)],
        [w("current_deadline"), r.current_deadline ? CL.fmt.dt(r.current_deadline) : "—"],
        [w("new_deadline"), r.new_deadline ? CL.fmt.dt(r.new_deadline) : "—"]);
    } else if (r.kind === "return") {
      rows.push([w("suggested_department"), r.suggested_department_id ? CL.deptName(r.suggested_department_id) : w("none_suggested")]);
    } else if (r.kind === "void") {
      rows.push([w("void_reason"), r.closure_reason ? CL.label("closure_reasons", r.closure_reason) : "—"]);
      if (r.duplicate_of) rows.push([w("duplicate_of"), caseLink(r.duplicate_of)]);
    } else if (r.kind === "suspension") {
      rows.push([w("suspension_term"), r.term_amount ? CL.fmt.num(r.term_amount) + " " + CL.label("units", r.term_unit) : w("until_resumed")]);
    }
    rows.push([w("request_reason"), r.reason || "—"]);
    return h("div", { class: "request-box", "data-request": r.kind },
      h("div", null, h("b", null, w("request_" + r.kind))), kv(rows));
  };

  /** What the action will do, in a sentence (approve/deny dialogs and the irreversible ones). */
  A.consequence = function (action, r) {
    const key = "will_" + action;
    if (CL.t("workdesk." + key) === "workdesk." + key) return null;
    const fields = r ? { dept: r.suggested_department_id ? CL.deptName(r.suggested_department_id) : w("none_suggested"),
      deadline: r.new_deadline ? CL.fmt.dt(r.new_deadline) : "—", dup: r.duplicate_of || "—" } : {};
    return h("p", { class: "consequence", "data-consequence": action }, w(key, fields));
  };

  /** 批量操作: a tick box on each card of *list* that allows *action*, and a bar that runs the action on the
      ticked cases (dispatch: to one department) with one result line per case. */
  A.batchBar = function (action, list, onDone) {
    const cards = [...list.querySelectorAll("article[data-case]")].filter((c) => c.querySelector("button[data-action='" + action + "']"));
    if (cards.length < 2) return null;
    for (const c of cards) {
      c.querySelector("header").prepend(h("input", { type: "checkbox", class: "batch-pick", "data-batch": c.dataset.case, title: w("batch_select"), "aria-label": w("batch_select") }));
    }
    const dept = action === "dispatch" ? h("select", { id: "batch-department" }, h("option", { value: "" }, "—"),
      ...CL.config.departments.map((x) => h("option", { value: x.id }, (CL.isEn() && x.name_en) || x.name))) : null;
    const out = h("ul", { class: "batch-results", id: "batch-results" });
    const run = async () => {
      const ids = [...list.querySelectorAll("input.batch-pick:checked")].map((x) => x.dataset.batch);
      CL.clear(out);
      if (!ids.length) { out.appendChild(h("li", null, w("batch_none"))); return; }
      const body = { case_ids: ids };
      if (dept) body.department_id = dept.value;
      try {
        const r = await CL.api("/api/v1/cases/batch/" + action, { method: "POST", body });
        for (const line of r.results) {
          out.appendChild(h("li", { class: line.ok ? "ok" : "error-text", "data-case": line.case_id },
            line.ok ? w("batch_ok", { case: line.case_id }) + " · " + CL.label("stages", line.stage)
              : w("batch_failed", { case: line.case_id, why: (CL.isEn() ? line.message_en : line.message_zh) || line.code })));
        }
        if (r.done && onDone) setTimeout(onDone, 1500);
      } catch (e) { out.appendChild(h("li", { class: "error-text" }, e.message)); }
    };
    return h("div", { class: "panel batch-bar", "data-batch-action": action },
      h("b", null, w("batch_title") + CL.t("colon")), " ", dept,
      h("button", { type: "button", class: "btn", id: "batch-run", onclick: run }, w(action === "dispatch" ? "batch_dispatch" : "batch_close")), out);
  };

  /** 返工: the flag, the count and the failed check's note and photos. */
  A.reworkBox = function (count, failed) {
    if (!count) return null;
    return h("div", { class: "rework-box", "data-rework": String(count) },
      h("span", { class: "badge rework" }, w("rework_badge", { n: count })),
      failed ? h("div", { class: "small" }, w("failed_check") + CL.t("colon") + (failed.note || "—") +
        " · " + (failed.inspector_name || failed.inspector || "") + " · " + CL.fmt.dt(failed.at)) : null,
      failed && failed.photos && failed.photos.length ? h("div", { class: "photos" }, failed.photos.map((p) => h("img", { src: CL.photoUrl(p), alt: w("failed_check"), loading: "lazy" }))) : null);
  };
})();
