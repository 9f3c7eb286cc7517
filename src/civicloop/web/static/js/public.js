/* The citizen page: find the place (address search, GPS, map, pin drag), see what is already reported
   nearby and follow it, or report with photos (downscaled in the browser, EXIF GPS offered as the place);
   the receipt keeps the tracking link (with its token) for progress and the 回访 rating. */
(function () {
  "use strict";
  const CL = window.CL;
  const h = CL.h;
  const MAX_PIXELS = 2000000; // about 2 MP: enough for a case photo, small on a phone's uplink
  let pos = null, marker = null, map = null, seq = 0, timer = null, nearbySeq = 0;
  let shots = []; // {blob, url, gps}
  let loc = () => CL.t("not_located"), receipt = null; // redrawn in the other language on a switch

  function maxPhotos() { return (CL.config.public && CL.config.public.max_photos) || 6; }
  function catLabel(c) { return (CL.isEn() && c.name_en) || c.name; }

  /* Categories grouped by the national directory's classes (大类 / 小类), filtered by the search box. */
  function categories() {
    const sel = CL.$("#public-category");
    const keep = sel.value;
    CL.clear(sel);
    const q = (CL.$("#public-cat-search").value || "").trim().toLowerCase();
    sel.appendChild(h("option", { value: "" }, CL.t("choose_category")));
    const groups = new Map();
    for (const c of CL.config.categories.filter((c) => c.service)) {
      const text = [c.code, c.name, c.name_en || "", c.major_name || "", ...(c.keywords || [])].join(" ").toLowerCase();
      if (q && text.indexOf(q) < 0 && c.code !== keep) continue;
      const key = c.major_code || "";
      if (!groups.has(key)) groups.set(key, h("optgroup", { label: (c.major_code ? c.major_code + " " : "") + (c.major_name || "") }));
      groups.get(key).appendChild(h("option", { value: c.code }, catLabel(c)));
    }
    for (const g of groups.values()) sel.appendChild(g);
    sel.value = keep;
  }

  async function place(lon, lat, view) {
    const [x, y] = CL.map.toDisplay(lon, lat);
    if (marker) marker.setLatLng([y, x]);
    else {
      marker = L.marker([y, x], { draggable: true, keyboard: true, title: CL.t("citizen.place_hint"), alt: CL.t("citizen.pin") }).addTo(map);
      marker.on("dragend", () => { const [lo, la] = CL.map.fromDisplay(marker.getLatLng()); place(lo, la); });
    }
    if (view) map.setView([y, x], 17);
    try {
      const found = await CL.api("/api/v1/locate?lon=" + lon + "&lat=" + lat, { anonymous: true });
      pos = [found.lon, found.lat];
      showLoc(() => CL.t("located") + CL.t("colon") + (found.district_name || ""));
      reverse(found.lon, found.lat);
      nearby();
    } catch (e) { pos = null; showLoc(() => CL.t("outside_city")); }
  }

  function showLoc(text) { loc = text; CL.$("#public-loc").textContent = loc(); }

  /* A language switch: what this page drew itself, and the pin's accessible name, in the new language. */
  function relabel() {
    categories(); previews(); nearby();
    CL.$("#public-loc").textContent = loc();
    if (marker && marker.getElement()) { marker.getElement().alt = CL.t("citizen.pin"); marker.getElement().title = CL.t("citizen.place_hint"); }
    if (receipt && !CL.$("#public-done").hidden) drawReceipt();
  }

  /* The place as a readable address (GET /api/v1/public/reverse); the district stays when it is absent. */
  async function reverse(lon, lat) {
    try {
      const r = await CL.api("/api/v1/public/reverse?lon=" + lon + "&lat=" + lat, { anonymous: true });
      if (!pos || pos[0] !== lon || pos[1] !== lat) return;
      const parts = [r.label || [r.district, r.street, r.community].filter(Boolean).join(" "), r.nearest_place].filter(Boolean);
      if (parts.length) showLoc(() => CL.t("citizen.address_label") + CL.t("colon") + parts.join(" · "));
    } catch (e) { /* no reverse lookup here: the district is shown */ }
  }

  async function searchAddress() {
    const q = CL.$("#public-address").value.trim();
    const box = CL.clear(CL.$("#public-address-results"));
    if (q.length < 2) return;
    try {
      const r = await CL.api("/api/v1/public/geocode?limit=5&q=" + encodeURIComponent(q), { anonymous: true });
      if (!r.results.length) { box.appendChild(h("li", { class: "muted small" }, CL.t("citizen.address_none"))); return; }
      for (const g of r.results) {
        box.appendChild(h("li", null, h("button", { type: "button", class: "chip", onclick: () => { CL.clear(box); place(g.lon, g.lat, true); } },
          g.label || [g.district, g.street, g.community].filter(Boolean).join(" "))));
      }
    } catch (e) { box.appendChild(h("li", { class: "muted small" }, CL.t("citizen.address_unavailable"))); }
  }

  async function suggest() {
    const text = CL.$("#public-desc").value.trim();
    const box = CL.clear(CL.$("#public-suggest"));
    if (text.length < 2) return;
    const mine = ++seq;
    try {
      const s = await CL.api("/api/v1/suggest?text=" + encodeURIComponent(text), { anonymous: true });
      if (mine !== seq) return;
      for (const c of s.top) {
        box.appendChild(h("button", { type: "button", class: "chip", onclick: () => { CL.$("#public-category").value = c.code; nearby(); } }, (CL.isEn() && c.name_en) || c.name));
      }
      if (s.top[0] && !CL.$("#public-category").value) { CL.$("#public-category").value = s.top[0].code; nearby(); }
    } catch (e) { /* no suggestion */ }
  }

  function contact() {
    const out = {};
    for (const k of ["name", "phone", "email"]) { const v = CL.$("#public-" + k).value.trim(); if (v) out[k] = v; }
    return out;
  }

  /* "Already reported?": open reports of the chosen category near the pin; follow one instead. */
  async function nearby() {
    const box = CL.$("#public-nearby");
    const cat = CL.$("#public-category").value;
    const mine = ++nearbySeq;
    if (!pos || !cat) { box.hidden = true; return; }
    let r;
    try { r = await CL.api("/api/v1/public/nearby?lon=" + pos[0] + "&lat=" + pos[1] + "&category=" + encodeURIComponent(cat), { anonymous: true }); }
    catch (e) { box.hidden = true; return; }
    if (mine !== nearbySeq) return;
    CL.clear(box).appendChild(h("h3", null, CL.t("citizen.nearby_title")));
    box.hidden = false;
    if (!r.results.length) { box.appendChild(h("p", { class: "small muted" }, CL.t("citizen.nearby_none"))); return; }
    const list = h("ul", { class: "nearby-list" });
    for (const n of r.results) {
      list.appendChild(h("li", null,
        h("b", null, n.category || ""), " ", h("span", null, n.description || ""),
        h("div", { class: "small muted" }, CL.t("citizen.nearby_meta", { distance: Math.round(n.distance_m), reporters: n.reporters, status: CL.isEn() ? n.status_en : n.status_zh })),
        h("button", { type: "button", class: "btn ghost", onclick: () => join(n.tracking_number) }, CL.t("citizen.nearby_me_too"))));
    }
    box.appendChild(list);
  }

  async function join(id) {
    const err = CL.$("#public-error");
    err.textContent = "";
    try {
      const body = contact();
      const text = CL.$("#public-desc").value.trim();
      if (text.length >= 2) body.description = text;
      const res = await CL.api("/api/v1/public/reports/" + encodeURIComponent(id) + "/join", { method: "POST", body, anonymous: true });
      done(res, "citizen.joined");
    } catch (e) { err.textContent = e.message; }
  }

  /* ---- photos: EXIF GPS read before downscaling (the canvas copy has no EXIF) ---- */

  function exifGps(buf) {
    const v = new DataView(buf);
    if (v.byteLength < 4 || v.getUint16(0) !== 0xffd8) return null;
    let off = 2;
    while (off + 4 < v.byteLength) {
      const marker = v.getUint16(off), len = v.getUint16(off + 2);
      if (marker === 0xffe1 && v.getUint32(off + 4) === 0x45786966) return tiffGps(v, off + 10);
      if ((marker & 0xff00) !== 0xff00 || marker === 0xffda) break;
      off += 2 + len;
    }
    return null;
  }
  function tiffGps(v, t) {
    const le = v.getUint16(t) === 0x4949;
    const u16 = (o) => v.getUint16(t + o, le), u32 = (o) => v.getUint32(t + o, le);
    const entry = (ifd, tag) => { const n = u16(ifd); for (let i = 0; i < n; i++) { const e = ifd + 2 + i * 12; if (u16(e) === tag) return e; } return null; };
    const ifd0 = u32(4), gpsE = entry(ifd0, 0x8825);
    if (gpsE === null) return null;
    const gps = u32(gpsE + 8);
    const ref = (tag) => { const e = entry(gps, tag); return e === null ? null : String.fromCharCode(v.getUint8(t + e + 8)); };
    const dms = (tag) => {
      const e = entry(gps, tag); if (e === null) return null;
      const o = u32(e + 8); let x = 0;
      for (let i = 0; i < 3; i++) { const d = u32(o + i * 8 + 4); x += d ? u32(o + i * 8) / d / Math.pow(60, i) : 0; }
      return x;
    };
    let lat = dms(2), lon = dms(4);
    if (lat === null || lon === null) return null;
    if (ref(1) === "S") lat = -lat;
    if (ref(3) === "W") lon = -lon;
    return [lon, lat];
  }

  async function downscale(file) {
    const bitmap = await createImageBitmap(file, { imageOrientation: "from-image" });
    const scale = Math.min(1, Math.sqrt(MAX_PIXELS / (bitmap.width * bitmap.height)));
    const canvas = document.createElement("canvas");
    canvas.width = Math.max(1, Math.floor(bitmap.width * scale)); canvas.height = Math.max(1, Math.floor(bitmap.height * scale));
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    return new Promise((resolve) => canvas.toBlob((b) => resolve(b || file), "image/jpeg", 0.85));
  }

  async function addPhotos(files) {
    const err = CL.$("#public-error");
    err.textContent = "";
    for (const f of files) {
      if (shots.length >= maxPhotos()) { err.textContent = CL.t("citizen.too_many_photos", { max: maxPhotos() }); break; }
      let gps = null, blob = f;
      try { gps = exifGps(await f.arrayBuffer()); } catch (e) { gps = null; }
      try { blob = await downscale(f); } catch (e) { blob = f; } // not decodable here: the server decides
      shots.push({ blob, url: URL.createObjectURL(blob), gps });
    }
    CL.$("#public-photo").value = "";
    previews();
  }

  function previews() {
    const box = CL.clear(CL.$("#public-previews"));
    shots.forEach((s, i) => {
      box.appendChild(h("figure", { class: "preview" },
        h("img", { src: s.url, alt: CL.t("photos") + " " + (i + 1) }),
        h("button", { type: "button", class: "btn ghost", "aria-label": CL.t("citizen.photo_remove") + " " + (i + 1), onclick: () => { URL.revokeObjectURL(s.url); shots.splice(i, 1); previews(); } }, "×"),
        s.gps ? h("button", { type: "button", class: "btn ghost small", onclick: () => place(s.gps[0], s.gps[1], true) }, CL.t("citizen.photo_gps")) : null));
    });
    CL.$("#public-photo-hint").textContent = CL.t("citizen.photos_hint", { max: maxPhotos() });
  }

  function done(res, headline) {
    try { localStorage.setItem("cl-track-" + res.tracking_number, res.tracking_token || ""); } catch (e) { /* private mode */ }
    CL.$("#public-form").hidden = true;
    CL.$("#public-done").hidden = false;
    receipt = { res, headline };
    drawReceipt();
    CL.$("#public-done h3").focus();
  }

  function drawReceipt() {
    const { res, headline } = receipt;
    const box = CL.$("#public-done");
    CL.clear(box).append(
      headline ? h("p", { role: "status" }, CL.t(headline)) : null,
      h("h3", null, CL.t("your_tracking_number")),
      h("p", { style: "font-size:22px;font-weight:700", id: "tracking-number" }, res.tracking_number),
      h("p", { class: "small muted" }, CL.t("citizen.keep_token")),
      h("p", null, h("a", { class: "btn", href: res.track_url, id: "public-track-link" }, CL.t("track")), " ",
        h("button", { type: "button", class: "btn ghost", id: "public-another", onclick: reset }, CL.t("citizen.report_another"))));
    box.querySelector("h3").setAttribute("tabindex", "-1");
  }

  function reset() {
    const form = CL.$("#public-form");
    form.reset();
    shots.forEach((s) => URL.revokeObjectURL(s.url));
    shots = []; previews();
    pos = null;
    if (marker) { marker.remove(); marker = null; }
    showLoc(() => CL.t("not_located"));
    receipt = null;
    CL.$("#public-nearby").hidden = true;
    CL.clear(CL.$("#public-suggest"));
    CL.$("#public-done").hidden = true;
    form.hidden = false;
    newKey();
    CL.$("#public-submit").disabled = false;
    CL.$("#public-address").focus();
  }

  // one Idempotency-Key per filled-in form: a double click or a retry gives the same tracking number
  let key = "";
  function newKey() {
    key = window.crypto && crypto.randomUUID ? crypto.randomUUID()
      : [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
  }

  /* A server of several cities: the citizen chooses whose page this is (the address keeps it, ?city=). */
  async function cityChoice() {
    let cities = [];
    try { cities = await CL.api("/api/v1/cities", { anonymous: true }); } catch (e) { return; }
    if (cities.length < 2) return;
    const current = CL.publicCity || CL.config.city.jurisdiction_id;
    const select = CL.h("select", { id: "public-city", "aria-label": CL.t("multicity.city") },
      ...cities.map((c) => CL.h("option", { value: c.jurisdiction_id, selected: c.jurisdiction_id === current ? "" : null },
        CL.isEn() ? c.name_en : c.name)));
    select.addEventListener("change", () => { location.href = "/public/?city=" + encodeURIComponent(select.value); });
    const spot = document.querySelector("[data-lang-switch]");
    spot.parentNode.insertBefore(select, spot);
  }

  CL.ready(() => {
    cityChoice();
    categories();
    previews();
    newKey();
    map = CL.map.create(CL.$("#public-map"));
    CL.map.cityLayers(map);
    map.on("click", (e) => { const [lon, lat] = CL.map.fromDisplay(e.latlng); place(lon, lat); });
    CL.$("#public-gps").addEventListener("click", () => navigator.geolocation && navigator.geolocation.getCurrentPosition(
      (p) => place(p.coords.longitude, p.coords.latitude, true),
      () => CL.toast(CL.t("gps_failed"), "error")));
    CL.$("#public-address-go").addEventListener("click", searchAddress);
    CL.$("#public-address").addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); searchAddress(); } });
    CL.$("#public-cat-search").addEventListener("input", categories);
    CL.$("#public-category").addEventListener("change", nearby);
    CL.$("#public-photo").addEventListener("change", (e) => addPhotos([...e.target.files]));
    CL.$("#public-desc").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(suggest, 350); });
    CL.$("#public-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const err = CL.$("#public-error");
      err.textContent = "";
      const description = CL.$("#public-desc").value.trim();
      if (!pos) { err.textContent = CL.t("pick_location_first"); return; }
      if (description.length < 2) { err.textContent = CL.t("description_required"); CL.$("#public-desc").focus(); return; }
      const btn = CL.$("#public-submit");
      btn.disabled = true;
      try {
        const photos = [];
        for (const s of shots) photos.push((await CL.uploadPhoto(s.blob, true)).ref);
        const body = Object.assign({ description, lon: pos[0], lat: pos[1], photos }, contact());
        const cat = CL.$("#public-category").value;
        if (cat) body.category_code = cat;
        const res = await CL.api("/api/v1/public/reports", { method: "POST", body, anonymous: true, headers: { "Idempotency-Key": key } });
        done(res);
      } catch (e) { err.textContent = e.message; btn.disabled = false; }
    });
    CL.$("#track-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const id = CL.$("#track-id").value.trim();
      if (id) location.href = CL.publicLink("/public/track/" + encodeURIComponent(id));
    });
    document.addEventListener("cl:lang", relabel);
    CL.setReady();
  });
})();
