/* 城管通: the inspector's phone app — report with a photo, GPS and a suggested category; verify and
   check tasks; everything through the outbox, so a dropped connection loses nothing. */
(function () {
  "use strict";
  const CL = window.CL;
  const h = CL.h;
  const state = { photos: [], pos: null, located: null, map: null, marker: null, view: "report", suggestSeq: 0 };

  function show(view) {
    state.view = view;
    for (const v of ["report", "tasks", "outbox"]) CL.$("#" + v + "-view").hidden = v !== view;
    CL.$("#m-tabs").querySelectorAll("button").forEach((b) => b.classList.toggle("active", b.dataset.view === view));
    if (view === "tasks") loadTasks();
    if (view === "outbox") renderOutbox();
    if (view === "report" && state.map) setTimeout(() => state.map.invalidateSize(), 50);
  }

  function net() {
    const el = CL.$("#net");
    const on = navigator.onLine;
    el.className = "m-net" + (on ? "" : " off");
    el.querySelector("span").textContent = on ? CL.t("online") : CL.t("offline");
  }

  async function updateCount() {
    const n = (await CL.outbox.pending()).length;
    const c = CL.$("#outbox-count");
    c.hidden = n === 0; c.textContent = String(n);
    if (state.view === "outbox") renderOutbox();
  }

  /* ---- report form ---- */
  function fillCategories() {
    const sel = CL.clear(CL.$("#category"));
    sel.appendChild(h("option", { value: "" }, CL.t("choose_category")));
    const groups = {};
    for (const c of CL.config.categories) (groups[c.major_name] = groups[c.major_name] || []).push(c);
    for (const [major, cats] of Object.entries(groups)) {
      const g = h("optgroup", { label: major });
      cats.forEach((c) => g.appendChild(h("option", { value: c.code }, c.code + " " + ((CL.isEn() && c.name_en) || c.name))));
      sel.appendChild(g);
    }
  }

  function renderPhotos() {
    const box = CL.clear(CL.$("#photo-previews"));
    state.photos.forEach((f, i) => {
      const url = URL.createObjectURL(f);
      box.appendChild(h("img", { src: url, alt: CL.t("photos") + " " + (i + 1), class: "preview" }));
    });
  }

  let suggestTimer = null;
  function suggestSoon() {
    clearTimeout(suggestTimer);
    suggestTimer = setTimeout(suggest, 350);
  }
  async function suggest() {
    const text = CL.$("#desc").value.trim();
    const box = CL.$("#suggestions");
    if (text.length < 2) { CL.clear(box); return; }
    const mine = ++state.suggestSeq;
    const q = new URLSearchParams({ text });
    if (state.pos) { q.set("lon", state.pos[0]); q.set("lat", state.pos[1]); }
    try {
      const s = await CL.api("/api/v1/suggest?" + q);
      if (mine !== state.suggestSeq) return;
      CL.clear(box);
      const sel = CL.$("#category");
      s.top.forEach((c, i) => {
        const chip = h("button", { type: "button", class: "chip" + (sel.value === c.code ? " active" : ""), "data-code": c.code,
          onclick: () => { sel.value = c.code; box.querySelectorAll(".chip").forEach((x) => x.classList.toggle("active", x === chip)); } },
          c.code + " " + ((CL.isEn() && c.name_en) || c.name) + " · " + CL.fmt.pct(c.score, 0));
        box.appendChild(chip);
        if (i === 0 && !sel.dataset.touched) { sel.value = c.code; chip.classList.add("active"); }
      });
      if (s.duplicates && s.duplicates.length) {
        box.appendChild(h("div", { class: "small muted", style: "width:100%" }, CL.t("duplicates") + CL.t("colon") + s.duplicates.map((d) => d.case_id + (d.distance_m == null ? "" : " (" + Math.round(d.distance_m) + " m)")).join(CL.t("comma"))));
      }
    } catch (e) { /* offline: no suggestion, the picker still works */ }
  }

  async function setPosition(lon, lat, source) {
    state.pos = [lon, lat];
    state.located = null;
    const [x, y] = CL.map.toDisplay(lon, lat);
    if (state.map) {
      if (state.marker) state.marker.setLatLng([y, x]);
      else state.marker = L.circleMarker([y, x], { radius: 9, color: "#fff", weight: 3, fillColor: "#0b5cad", fillOpacity: 1 }).addTo(state.map);
      state.map.setView([y, x], Math.max(state.map.getZoom(), 16));
    }
    const text = CL.$("#loc-text");
    text.textContent = (source === "gps" ? "GPS " : "") + lon.toFixed(6) + ", " + lat.toFixed(6);
    try {
      const loc = await CL.api("/api/v1/locate?lon=" + lon + "&lat=" + lat);
      state.located = loc;
      text.textContent = CL.t("located") + CL.t("colon") + (loc.district_name || loc.district_code || "") + " · " + CL.t("grid") + " " + (loc.grid_code || "—");
    } catch (e) {
      if (e instanceof CL.ApiError && e.status === 422) { text.textContent = CL.t("outside_city"); state.pos = null; }
    }
    suggestSoon();
  }

  function gps() {
    if (!navigator.geolocation) { CL.toast(CL.t("gps_failed"), "error"); return; }
    navigator.geolocation.getCurrentPosition(
      (p) => setPosition(p.coords.longitude, p.coords.latitude, "gps"),
      () => CL.toast(CL.t("gps_failed"), "error"),
      { enableHighAccuracy: true, timeout: 10000, maximumAge: 30000 });
  }

  async function submitReport(ev) {
    ev.preventDefault();
    const err = CL.$("#report-error");
    err.textContent = "";
    const description = CL.$("#desc").value.trim();
    const category = CL.$("#category").value;
    if (!state.pos) { err.textContent = CL.t("pick_location_first"); return; }
    if (!description) { err.textContent = CL.t("description_required"); return; }
    if (!category) { err.textContent = CL.t("category_required"); return; }
    const body = { channel: "inspector", description, category_code: category, lon: state.pos[0], lat: state.pos[1] };
    if (state.located) {
      for (const k of ["grid_code", "community_code", "street_code", "district_code"]) if (state.located[k]) body[k] = state.located[k];
      body.lon = state.located.lon; body.lat = state.located.lat;
    }
    if (CL.$("#urgent").checked) body.urgency = "urgent";
    const item = await CL.outbox.add({ kind: "report", body, photos: state.photos.slice(), title: CL.catName(category) + " · " + description.slice(0, 30) });
    CL.toast(CL.t("queued"), "info");
    state.photos = []; renderPhotos();
    CL.$("#desc").value = ""; CL.$("#category").value = ""; delete CL.$("#category").dataset.touched;
    CL.clear(CL.$("#suggestions")); CL.$("#urgent").checked = false;
    window.__cl.lastQueued = item.id;
    updateCount();
  }

  /* ---- tasks: verify (核实) and check (核查) ---- */
  async function loadTasks() {
    const box = CL.clear(CL.$("#tasks"));
    box.appendChild(h("p", { class: "muted" }, CL.t("loading")));
    let data;
    try { data = await CL.api("/api/v1/web/queue?page_size=50"); } catch (e) { CL.clear(box).appendChild(h("p", { class: "muted" }, e.message)); return; }
    CL.clear(box);
    const items = data.items.filter((i) => i.allowed_actions.includes("verify") || i.allowed_actions.includes("check"));
    if (!items.length) { box.appendChild(h("p", { class: "muted" }, CL.t("empty"))); return; }
    for (const item of items) box.appendChild(taskCard(item));
  }

  function taskCard(item) {
    const verify = item.allowed_actions.includes("verify");
    const action = verify ? "verify" : "check";
    const note = h("textarea", { rows: 2, placeholder: CL.t("note"), "data-role": "note" });
    const file = h("input", { type: "file", accept: "image/*", capture: "environment", "data-role": "photo" });
    const send = async (yes) => {
      const body = verify ? { confirmed: yes } : { passed: yes };
      if (note.value.trim()) body.note = note.value.trim();
      else if (!yes) body.note = verify ? CL.t("verify_false") : CL.t("check_fail");
      const detail = await CL.api("/api/v1/cases/" + encodeURIComponent(item.case_id)).catch(() => null);
      await CL.outbox.add({ kind: "action", action, case_id: item.case_id, version: detail ? detail.case.version : 0, body,
        photos: [...file.files], title: CL.label("actions", action) + " · " + item.case_id });
      CL.toast(CL.t("queued"), "info");
      card.remove();
      updateCount();
    };
    const card = h("article", { class: "case-card" + (item.overdue ? " overdue" : ""), "data-case": item.case_id, "data-task": action },
      h("header", null, h("b", null, CL.t(verify ? "verify_task" : "check_task")), h("a", { href: "/cases/" + encodeURIComponent(item.case_id) }, item.case_id), CL.lightBadge(item.light)),
      h("div", null, CL.catName(item.category_code) + " · " + CL.districtName(item.district_code)),
      item.description ? h("p", null, item.description) : null,
      item.photos && item.photos.length ? h("div", { class: "photos" }, item.photos.map((r) => h("img", { src: CL.photoUrl(r), alt: "" }))) : null,
      item.after_photos && item.after_photos.length ? h("div", null, h("div", { class: "small muted" }, CL.t("after_photos")), h("div", { class: "photos" }, item.after_photos.map((r) => h("img", { src: CL.photoUrl(r), alt: "" })))) : null,
      h("div", { class: "small" }, CL.t("due") + CL.t("colon") + (item.due_at ? CL.fmt.dt(item.due_at) : "—")),
      h("div", { class: "form-row" }, note), h("div", { class: "form-row" }, file),
      h("div", { class: "task-actions" },
        h("button", { type: "button", class: "btn", "data-answer": "yes", onclick: () => send(true) }, CL.t(verify ? "verify_true" : "check_pass")),
        h("button", { type: "button", class: "btn danger", "data-answer": "no", onclick: () => send(false) }, CL.t(verify ? "verify_false" : "check_fail"))));
    return card;
  }

  /* ---- outbox view ---- */
  async function renderOutbox() {
    await CL.outboxView.render(CL.$("#outbox-list"));
  }

  function startApp() {
    CL.$("#login-view").hidden = true;
    CL.$("#m-tabs").hidden = false;
    fillCategories();
    show("report");
    if (!state.map) {
      state.map = CL.map.create(CL.$("#pick-map"), { zoomControl: true });
      CL.map.cityLayers(state.map); // the city's layers with their names (or only outlines over tiles)
      state.map.on("click", (e) => { const [lon, lat] = CL.map.fromDisplay(e.latlng); setPosition(lon, lat, "map"); });
    }
    gps();
    CL.outbox.flush();
    updateCount();
    CL.setReady();
  }

  CL.ready(async () => {
    net();
    window.addEventListener("online", net);
    window.addEventListener("offline", net);
    if ("serviceWorker" in navigator) navigator.serviceWorker.register("/m/sw.js", { scope: "/m/" }).catch(() => {});
    CL.$("#m-tabs").querySelectorAll("button").forEach((b) => b.addEventListener("click", () => show(b.dataset.view)));
    CL.$("#photo-input").addEventListener("change", async (e) => {
      const files = [...e.target.files];
      e.target.value = "";
      const err = CL.$("#photo-error");
      err.textContent = "";
      for (const f of files) {
        const refused = await CL.outboxView.checkPhoto(f);  // refused at once, nothing queued
        if (refused) { err.textContent = refused; CL.toast(refused, "error"); continue; }
        state.photos.push(f);
        CL.toast(CL.t("photo_added"), "ok");
      }
      renderPhotos();
    });
    CL.$("#desc").addEventListener("input", suggestSoon);
    CL.$("#category").addEventListener("change", (e) => { e.target.dataset.touched = "1"; });
    CL.$("#gps-btn").addEventListener("click", gps);
    CL.$("#report-form").addEventListener("submit", submitReport);
    CL.$("#tasks-refresh").addEventListener("click", loadTasks);
    CL.$("#flush-btn").addEventListener("click", async () => { await CL.outbox.flush(); renderOutbox(); });
    CL.outbox.onChange(updateCount);
    document.addEventListener("cl:sent", (e) => {
      const item = e.detail;
      CL.toast(CL.outboxView.outcomeText(item), "ok");
      if (item.kind === "report") window.__cl.lastCase = item.case_id;
    });
    document.addEventListener("cl:lang", () => { fillCategories(); net(); if (state.view !== "report") show(state.view); });
    CL.$("#m-login").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      try {
        const res = await CL.api("/api/v1/auth/login", { method: "POST", anonymous: true, body: { username: CL.$("#m-user").value.trim(), password: CL.$("#m-pass").value } });
        CL.auth.save(res);
        startApp();
      } catch (e) { CL.$("#m-login-error").textContent = CL.t("login_failed") + CL.t("colon") + e.message; }
    });
    if (CL.auth.token()) startApp();
    else { CL.$("#login-view").hidden = false; CL.setReady(); }
  });
})();
