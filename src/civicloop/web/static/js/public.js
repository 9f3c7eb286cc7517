/* The citizen page: report a problem on the map with a photo, get a tracking number. */
(function () {
  "use strict";
  const CL = window.CL;
  const h = CL.h;
  let pos = null, marker = null, map = null, seq = 0, timer = null;

  function categories() {
    const sel = CL.clear(CL.$("#public-category"));
    sel.appendChild(h("option", { value: "" }, CL.t("choose_category")));
    for (const c of CL.config.categories.filter((c) => c.service)) sel.appendChild(h("option", { value: c.code }, (CL.isEn() && c.name_en) || c.name));
  }

  async function place(lon, lat) {
    const [x, y] = CL.map.toDisplay(lon, lat);
    if (marker) marker.setLatLng([y, x]); else marker = L.marker([y, x]).addTo(map);
    const label = CL.$("#public-loc");
    try {
      const loc = await CL.api("/api/v1/locate?lon=" + lon + "&lat=" + lat, { anonymous: true });
      pos = [loc.lon, loc.lat];
      label.textContent = CL.t("located") + CL.t("colon") + (loc.district_name || "");
    } catch (e) { pos = null; label.textContent = CL.t("outside_city"); }
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
        box.appendChild(h("button", { type: "button", class: "chip", onclick: () => { CL.$("#public-category").value = c.code; } }, (CL.isEn() && c.name_en) || c.name));
      }
      if (s.top[0] && !CL.$("#public-category").value) CL.$("#public-category").value = s.top[0].code;
    } catch (e) { /* no suggestion */ }
  }

  CL.ready(() => {
    categories();
    map = CL.map.create(CL.$("#public-map"));
    CL.map.areas(map, "district", { color: "#0b5cad", weight: 1.2, fillOpacity: 0.04 });
    map.on("click", (e) => { const [lon, lat] = CL.map.fromDisplay(e.latlng); place(lon, lat); });
    CL.$("#public-gps").addEventListener("click", () => navigator.geolocation && navigator.geolocation.getCurrentPosition(
      (p) => { place(p.coords.longitude, p.coords.latitude); const [x, y] = CL.map.toDisplay(p.coords.longitude, p.coords.latitude); map.setView([y, x], 16); },
      () => CL.toast(CL.t("gps_failed"), "error")));
    CL.$("#public-desc").addEventListener("input", () => { clearTimeout(timer); timer = setTimeout(suggest, 350); });
    // one Idempotency-Key per filled-in form: a double click or a retry gives the same tracking number
    const key = window.crypto && crypto.randomUUID ? crypto.randomUUID()
      : [...crypto.getRandomValues(new Uint8Array(16))].map((b) => b.toString(16).padStart(2, "0")).join("");
    CL.$("#public-form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const err = CL.$("#public-error");
      err.textContent = "";
      const description = CL.$("#public-desc").value.trim();
      if (!pos) { err.textContent = CL.t("pick_location_first"); return; }
      if (description.length < 2) { err.textContent = CL.t("description_required"); return; }
      const btn = CL.$("#public-submit");
      btn.disabled = true;
      try {
        const photos = [];
        const f = CL.$("#public-photo").files[0];
        if (f) photos.push((await CL.uploadPhoto(f, true)).ref);
        const body = { description, lon: pos[0], lat: pos[1], photos };
        const cat = CL.$("#public-category").value;
        if (cat) body.category_code = cat;
        const name = CL.$("#public-name").value.trim(), phone = CL.$("#public-phone").value.trim();
        if (name) body.name = name;
        if (phone) body.phone = phone;
        const res = await CL.api("/api/v1/public/reports", { method: "POST", body, anonymous: true, headers: { "Idempotency-Key": key } });
        CL.$("#public-form").hidden = true;
        const done = CL.$("#public-done");
        done.hidden = false;
        CL.clear(done).append(h("h3", null, CL.t("your_tracking_number")),
          h("p", { style: "font-size:22px;font-weight:700", id: "tracking-number" }, res.tracking_number),
          h("a", { class: "btn", href: res.track_url }, CL.t("track")));
      } catch (e) { err.textContent = e.message; btn.disabled = false; }
    });
    CL.$("#track-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const id = CL.$("#track-id").value.trim();
      if (id) location.href = "/public/track/" + encodeURIComponent(id);
    });
    document.addEventListener("cl:lang", categories);
    CL.setReady();
  });
})();
