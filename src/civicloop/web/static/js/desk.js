/* The workspace as a desk (工作台布局与快捷键): on a wide screen (1920 × 1080) the queue or list and the
   selected case side by side; below that the case opens on its own page. Keyboard shortcuts for the
   intake review queues (受理审核 / 立案审核), shown in a help overlay (?), never while typing. */
(function () {
  "use strict";
  const CL = window.CL;
  const h = CL.h;
  const T = (k) => CL.t("desk." + k);
  // an action taken in the pane redraws the list beside it (the workspace's current tab)
  document.addEventListener("cl:acted", () => {
    const again = CL.$("#search-run") || CL.$("#tabs .active");
    if (again) again.click();
  });
  const WIDE = window.matchMedia("(min-width: 1400px)");
  // per queue tab: the key's action (the queue's own buttons carry data-action)
  const KEYS = {
    review: { a: "accept", r: "reject", m: "merge" },
    filing: { a: "file", r: "not_file" },
  };
  const HELP = [["j", "next"], ["k", "prev"], ["a", "accept"], ["r", "reject"], ["m", "merge"], ["o", "open"], ["?", "help"], ["Esc", "close"]];

  let pane = null, frame = null, selected = null, index = -1, overlay = null;

  function setup() {
    const view = CL.$("#view");
    if (!view || CL.$("#desk")) return;
    const desk = h("div", { class: "desk", id: "desk" });
    view.parentNode.insertBefore(desk, view);
    desk.appendChild(view);
    frame = h("div", { id: "detail-body", class: "detail-body" });
    pane = h("aside", { class: "detail-pane", id: "detail", "aria-label": T("detail") },
      h("div", { class: "detail-head" }, h("b", { id: "detail-title" }, T("detail")),
        h("a", { id: "detail-open", class: "btn ghost", target: "_blank", rel: "noopener", href: "#" }, T("new_tab")),
        h("button", { type: "button", class: "btn ghost", id: "detail-close", onclick: close }, T("close_pane"))),
      h("p", { class: "muted small", id: "detail-empty" }, T("pick_hint")), frame);
    desk.appendChild(pane);
    document.body.classList.add("has-desk");
    view.addEventListener("click", onClick);
    new MutationObserver(restore).observe(view, { childList: true, subtree: true });
    document.addEventListener("keydown", onKey);
  }

  function tab() { const a = CL.$("#tabs .active"); return a ? a.dataset.tab : ""; }
  function cards() { return Array.from(document.querySelectorAll("#view .case-card, #view .search-row")); }

  /** Show *caseId* beside the list (wide screens), else on its own page. */
  function open(caseId, el) {
    if (!WIDE.matches) { location.href = "/cases/" + encodeURIComponent(caseId); return; }
    select(el);
    selected = caseId;
    document.body.classList.add("desk-open");
    CL.$("#detail-title").textContent = caseId;
    CL.$("#detail-open").href = "/cases/" + encodeURIComponent(caseId);
    CL.$("#detail-empty").hidden = true;
    show(caseId);
  }

  function close() {
    selected = null;
    document.body.classList.remove("desk-open");
    CL.clear(frame);
    delete frame.dataset.case;
    CL.$("#detail-empty").hidden = false;
  }

  /* the selected case: its facts, photos, pending request, the caller's actions and the timeline */
  async function show(caseId) {
    CL.clear(frame).appendChild(h("p", { class: "muted" }, CL.t("loading")));
    let d;
    try { d = await CL.api("/api/v1/cases/" + encodeURIComponent(caseId)); } catch (e) {
      if (selected === caseId) CL.clear(frame).appendChild(h("p", { class: "error-text" }, e.message));
      return;
    }
    if (selected !== caseId) return;  // another case was picked meanwhile
    const c = d.case;
    const row = (k, v) => (v ? h("tr", null, h("th", null, CL.t(k)), h("td", null, v)) : null);
    const pics = (refs, label) => (refs && refs.length ? h("div", null, h("div", { class: "small muted" }, label),
      h("div", { class: "photos" }, refs.map((r) => h("a", { href: CL.photoUrl(r), target: "_blank", rel: "noopener" }, h("img", { src: CL.photoUrl(r), alt: label, loading: "lazy" }))))) : null);
    CL.clear(frame);
    frame.dataset.case = caseId;
    frame.append(...[
      h("div", { class: "detail-badges" }, h("span", { class: "badge stage", id: "detail-stage" }, CL.label("stages", c.stage)), CL.lightBadge(c.light),
        c.urgency === "urgent" ? h("span", { class: "badge urgent" }, CL.label("urgency", "urgent")) : null,
        c.rework_count ? h("span", { class: "badge urgent" }, CL.t("search.ui.rework") + " " + c.rework_count) : null),
      c.description ? h("p", null, c.description) : null,
      h("table", { class: "list detail-facts" },
        row("category", c.category_code ? c.category_code + " " + CL.catName(c.category_code) : null),
        row("district", c.district_code ? CL.districtName(c.district_code) : null),
        row("department", c.department_id ? CL.deptName(c.department_id) : null),
        row("created", CL.fmt.dt(c.created_at)), row("due", c.due_at ? CL.fmt.dt(c.due_at) + " (" + CL.fmt.rel(c.due_at) + ")" : null)),
      c.address ? h("p", { class: "small muted" }, c.address) : null,
      pics(c.photos, CL.t("before_photos")), pics(c.after_photos, CL.t("after_photos")),
      c.pending ? h("p", { class: "small" }, CL.t("approvals") + CL.t("colon") + CL.label("actions", "request_" + c.pending.kind) + (c.pending.note ? " · " + c.pending.note : "")) : null,
      CL.actions.buttons(caseId, d.allowed_actions.filter((a) => a.action !== "comment"), () => {
        document.dispatchEvent(new CustomEvent("cl:acted", { detail: caseId }));
        show(caseId);
      }),
      h("ol", { class: "timeline" }, d.timeline.slice().reverse().map((e) => h("li", { "data-action": e.action },
        h("span", { class: "when" }, CL.fmt.dt(e.at)), " ", h("b", null, CL.label("actions", e.action)),
        " → " + CL.label("stages", e.stage_after) + " · " + CL.label("roles", e.actor_role),
        e.note ? h("div", { class: "small" }, e.note) : null)))].filter(Boolean));
  }

  function select(el) {
    const list = cards();
    for (const c of list) c.classList.remove("selected");
    index = el ? list.indexOf(el) : -1;
    if (el) { el.classList.add("selected"); el.scrollIntoView({ block: "nearest" }); }
  }

  function restore() {  // the list was drawn again (after an action): keep the place in it
    const list = cards();
    if (!list.length || index < 0) return;
    const el = list[Math.min(index, list.length - 1)];
    if (!el.classList.contains("selected")) { for (const c of list) c.classList.remove("selected"); el.classList.add("selected"); }
  }

  function onClick(ev) {
    const card = ev.target.closest(".case-card");
    if (!card || ev.target.closest("a, button, input, select, textarea, label, details")) return;
    open(card.dataset.case, card);
  }

  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }

  function move(step) {
    const list = cards();
    if (!list.length) return;
    const i = index < 0 ? (step > 0 ? 0 : list.length - 1) : Math.max(0, Math.min(list.length - 1, index + step));
    select(list[i]);
    if (document.body.classList.contains("desk-open")) open(list[i].dataset.case, list[i]);
  }

  function current() { const list = cards(); return index >= 0 ? list[index] : null; }

  function onKey(ev) {
    if (ev.ctrlKey || ev.metaKey || ev.altKey) return;
    const dialog = document.querySelector("dialog.action-dialog[open]");
    if (dialog) {  // in an action dialog, Enter confirms unless the note is being written
      if (ev.key === "Enter" && !/^(TEXTAREA|BUTTON)$/.test(ev.target.tagName)) {
        ev.preventDefault();
        dialog.querySelector("form").requestSubmit();
      }
      return;
    }
    if (overlay && ev.key === "Escape") { help(false); return; }
    if (typing(ev.target)) return;
    const keys = KEYS[tab()];
    if (ev.key === "?") { ev.preventDefault(); help(!overlay); return; }
    if (!keys) return;
    if (ev.key === "j" || ev.key === "ArrowDown") { ev.preventDefault(); move(1); return; }
    if (ev.key === "k" || ev.key === "ArrowUp") { ev.preventDefault(); move(-1); return; }
    const card = current();
    if (!card) return;
    if (ev.key === "o" || ev.key === "Enter") { ev.preventDefault(); open(card.dataset.case, card); return; }
    if (ev.key === "Escape") { close(); return; }
    const action = keys[ev.key];
    const btn = action && card.querySelector('[data-action="' + action + '"]');
    if (btn) { ev.preventDefault(); btn.click(); }
  }

  function help(show) {
    if (overlay) { overlay.remove(); overlay = null; }
    if (!show) return;
    const rows = HELP.map(([key, what]) => h("tr", null, h("td", null, h("kbd", null, key)), h("td", null, T("key_" + what))));
    overlay = h("div", { class: "help-overlay", id: "shortcut-help", role: "dialog", "aria-label": T("help_title") },
      h("div", { class: "panel" }, h("h2", null, T("help_title")), h("p", { class: "muted small" }, T("help_hint")),
        h("table", { class: "list" }, rows),
        h("button", { type: "button", class: "btn", onclick: () => help(false) }, T("close_pane"))));
    document.body.appendChild(overlay);
  }

  CL.desk = { open, close, setup };
  CL.ready(setup);
})();
