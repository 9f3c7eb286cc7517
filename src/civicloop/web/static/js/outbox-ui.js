/* The phone app's photo check at pick time and its outbox view: each item's state and real outcome
   (已立案 / 已并入 … (重复) / refused with the reason), and retry, edit and delete. */
(function () {
  "use strict";
  const CL = window.CL;
  const h = CL.h;
  const T = (k, f) => CL.t("outbox." + k, f);

  /* ---- the photo check: the same limits as the server's (photos/check.py, from /api/v1/web/config) ---- */
  function sniff(b) {
    if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return "image/jpeg";
    if (b.length >= 8 && [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a].every((v, i) => b[i] === v)) return "image/png";
    if (b.length >= 12 && String.fromCharCode(...b.slice(0, 4)) === "RIFF" && String.fromCharCode(...b.slice(8, 12)) === "WEBP") return "image/webp";
    return null;
  }

  /** null when *file* passes; else the reason, in the UI language. */
  async function checkPhoto(file) {
    const lim = CL.config.photos || { max_bytes: 10485760, max_pixels: 40000000, max_side: 40000 };
    const mb = (n) => (Math.round(n / 104857.6) / 10).toString();
    if (file.size > lim.max_bytes) return T("photo_too_big", { name: file.name, mb: mb(file.size), max: mb(lim.max_bytes) });
    const head = new Uint8Array(await file.slice(0, 16).arrayBuffer());
    if (!sniff(head)) return T("photo_not_image", { name: file.name });
    if (window.createImageBitmap) {
      let bmp = null;
      try { bmp = await createImageBitmap(file); } catch (e) { return T("photo_damaged", { name: file.name }); }
      const big = bmp.width * bmp.height > lim.max_pixels || bmp.width > lim.max_side || bmp.height > lim.max_side;
      bmp.close();
      if (big) return T("photo_too_many_pixels", { name: file.name });
    }
    return null;
  }

  /* ---- the outbox view ---- */
  function outcomeText(i) {
    if (i.status === "failed") return T("refused", { reason: i.error || "" });
    if (i.status !== "sent") return T("state_" + i.status) + (i.error ? " · " + i.error : "");
    const o = i.outcome;
    if (!o) return T("state_sent") + (i.case_id ? " " + i.case_id : "");
    if (o.duplicate_of) return T("merged", { case: o.duplicate_of });
    if (i.kind === "action") return T("done", { action: CL.label("actions", i.action), case: o.case_id, stage: CL.label("stages", o.stage) });
    if (o.closure_reason) return T("closed_as", { case: o.case_id, reason: CL.label("closure_reasons", o.closure_reason) });
    if (["reported", "verifying", "accepted", "self_handled"].includes(o.stage)) return T("reported", { case: o.case_id, stage: CL.label("stages", o.stage) });
    return T("filed", { case: o.case_id, stage: CL.label("stages", o.stage) });
  }

  function editor(item, li, redraw) {
    const body = item.body || {};
    const form = h("form", { class: "outbox-edit", "data-role": "editor" });
    const fields = [];
    if (item.kind === "report") {
      const desc = h("textarea", { name: "description", rows: 3, maxlength: "2000", required: true });
      desc.value = body.description || "";
      const cat = h("select", { name: "category_code", required: true },
        ...CL.config.categories.map((c) => h("option", { value: c.code }, c.code + " " + ((CL.isEn() && c.name_en) || c.name))));
      cat.value = body.category_code || "";
      const urgent = h("input", { type: "checkbox", name: "urgent" });
      urgent.checked = body.urgency === "urgent";
      fields.push(h("label", null, CL.t("description"), desc), h("label", null, CL.t("category"), cat),
        h("label", { class: "inline" }, urgent, " " + CL.label("urgency", "urgent")));
    } else {
      const note = h("textarea", { name: "note", rows: 2, maxlength: "2000" });
      note.value = body.note || "";
      fields.push(h("label", null, CL.t("note"), note));
    }
    const photoCount = (item.photos || []).length;
    const drop = h("input", { type: "checkbox", name: "drop_photos" });
    if (photoCount && !(item.photo_refs || []).length) fields.push(h("label", { class: "inline" }, drop, " " + T("drop_photos", { n: photoCount })));
    form.append(...fields, h("div", { class: "task-actions" },
      h("button", { type: "submit", class: "btn", "data-role": "save" }, T("save")),
      h("button", { type: "button", class: "btn ghost", onclick: redraw }, CL.t("cancel"))));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const next = Object.assign({}, body);
      if (item.kind === "report") {
        next.description = form.elements.description.value.trim();
        next.category_code = form.elements.category_code.value;
        if (form.elements.urgent.checked) next.urgency = "urgent"; else delete next.urgency;
      } else if (form.elements.note.value.trim()) next.note = form.elements.note.value.trim();
      const changes = { body: next };
      if (item.kind === "report") changes.title = CL.catName(next.category_code) + " · " + next.description.slice(0, 30);
      if (drop.checked) changes.photos = [];
      await CL.outbox.retry(item.id, changes);
    });
    li.appendChild(form);
  }

  async function render(list) {
    CL.clear(list);
    const items = (await CL.outbox.all()).sort((a, b) => b.created.localeCompare(a.created));
    if (!items.length) { list.appendChild(h("li", { class: "muted" }, CL.t("outbox_empty"))); return; }
    const redraw = () => render(list);
    for (const i of items) {
      const open = i.status === "queued" || i.status === "failed";
      const li = h("li", { "data-id": i.id, "data-status": i.status, "data-outcome": i.outcome && i.outcome.duplicate_of ? "duplicate" : (i.outcome ? i.outcome.stage : "") },
        h("span", { class: "st " + i.status }, T("state_" + i.status)),
        h("div", null, i.title || i.kind),
        h("div", { class: "small outcome" + (i.status === "failed" ? " error-text" : ""), "data-role": "outcome" }, outcomeText(i)),
        h("div", { class: "small muted" }, CL.fmt.dt(i.created) + (i.attempts ? " · " + T("attempts", { n: i.attempts }) : "") + (i.replayed ? " " + CL.t("replayed") : "")));
      const buttons = h("div", { class: "task-actions" });
      if (open) {
        buttons.appendChild(h("button", { type: "button", class: "btn", "data-role": "retry", onclick: () => CL.outbox.retry(i.id) }, T("retry")));
        buttons.appendChild(h("button", { type: "button", class: "btn ghost", "data-role": "edit", onclick: () => { buttons.remove(); editor(i, li, redraw); } }, T("edit")));
      }
      if (i.status !== "sending") {
        buttons.appendChild(h("button", { type: "button", class: "btn " + (open ? "danger" : "ghost"), "data-role": "delete",
          onclick: async () => { if (!open || window.confirm(T("delete_confirm"))) await CL.outbox.remove(i.id); } }, T(open ? "delete" : "clear")));
      }
      li.appendChild(buttons);
      list.appendChild(li);
    }
  }

  CL.outboxView = { render, outcomeText, checkPhoto };
})();
