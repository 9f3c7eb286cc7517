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
    const label = {
      note: CL.t("note"), department_id: CL.t("department"), suggested_department_id: CL.t("suggested_department"),
      reason: CL.t("reason"), duplicate_of: CL.t("duplicate_of"), confirmed: CL.t("verify_true") + "?",
      passed: CL.t("check_pass") + "?", verify: CL.t("verify_task"), amount: CL.t("amount"), unit: CL.t("unit"),
      category_code: CL.t("category"), condition_no: CL.t("condition_no"), urgency: CL.t("urgency"),
      photos: CL.t("photos"), member_id: CL.t("members"), inspector_id: "inspector",
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
      case "condition_no": input = h("input", { type: "number", name, id: "f-condition_no", min: "1", step: "1", value: d || "" }); break;
      case "urgency": input = select(name, [["", "—"], ["normal", CL.label("urgency", "normal")], ["urgent", CL.label("urgency", "urgent")]], d); break;
      case "photos": input = h("input", { type: "file", name, id: "f-photos", accept: "image/*", multiple: true }); break;
      case "rating": // 回访: the answer of the reporter's phone call, entered by the hotline operator
        input = select(name, ["satisfied", "basically_satisfied", "dissatisfied"].map((r) => [r, CL.t("vocabulary." + r)]), d || "satisfied"); break;
      default: input = h("input", { name, id: "f-" + name, value: d || "" });
    }
    if (required && input.tagName !== "SELECT") input.required = true;
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
      if (name === "verify") { if (el.checked) body.verify = true; continue; }
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
      defaults = defaults || {};
      const spec = { required: allowed.required || [], optional: (allowed.optional || []).filter((f) => f !== "verify" || allowed.action === "accept") };
      return new Promise((resolve) => {
        const err = h("div", { class: "error-text", role: "alert" });
        const form = h("form", { method: "dialog" },
          h("h3", null, CL.label("actions", allowed.action) + " · " + caseId),
          ...spec.required.map((f) => field(f, true, defaults)),
          ...spec.optional.map((f) => field(f, false, defaults)),
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
