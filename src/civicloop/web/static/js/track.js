/* Tracking a report: public status, outcome, progress; nothing personal. */
(function () {
  "use strict";
  const CL = window.CL;
  const h = CL.h;
  const id = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
  let data = null;

  function render() {
    const root = CL.clear(CL.$("#track-root"));
    if (!data) {
      root.appendChild(h("div", { class: "panel refusal", id: "not-found" }, h("h2", null, CL.t("not_found")), h("p", null, id)));
      return;
    }
    const status = CL.isEn() ? data.status_en : data.status_zh;
    const mapBox = h("div", { class: "map-box", id: "track-map" });
    root.append(
      h("div", { class: "panel", id: "track-head" },
        h("h1", { style: "font-size:20px" }, CL.t("tracking_number") + " " + data.tracking_number),
        h("p", { style: "font-size:18px" }, CL.t("status") + CL.t("colon"), h("b", { id: "track-status", "data-status": data.status }, status)),
        data.fixed ? h("p", { class: "badge", id: "track-fixed" }, CL.t("fixed_yes")) : null,
        h("dl", { class: "kv" },
          h("dt", null, CL.t("category")), h("dd", null, data.category || "—"),
          h("dt", null, CL.t("description")), h("dd", { id: "track-desc" }, data.description || "—"),
          h("dt", null, CL.t("agency")), h("dd", null, data.agency || "—"),
          h("dt", null, CL.t("created")), h("dd", null, CL.fmt.dt(data.requested_at)),
          h("dt", null, CL.t("updated")), h("dd", null, CL.fmt.dt(data.updated_at)),
          h("dt", null, CL.t("expected")), h("dd", null, CL.fmt.dt(data.expected_at)))),
      h("div", { class: "grid2" },
        h("div", { class: "panel" }, h("h2", null, CL.t("progress")),
          h("ol", { class: "timeline" }, data.notes.map((n) => h("li", null, h("span", { class: "when" }, CL.fmt.dt(n.at)), h("b", null, CL.isEn() ? n.action_en : n.action_zh), " → " + (CL.isEn() ? n.stage_en : n.stage_zh))))),
        h("div", { class: "panel" }, h("h2", null, CL.t("outcome")),
          data.result_photos.length ? h("div", { class: "photos" }, data.result_photos.map((u) => h("img", { src: u, alt: CL.t("after_photos") }))) : h("p", { class: "muted" }, "—"),
          mapBox)));
    if (data.lon !== null && data.lat !== null) {
      const m = CL.map.create(mapBox, { bounds: [data.lon - 0.005, data.lat - 0.004, data.lon + 0.005, data.lat + 0.004] });
      CL.map.areas(m, "street", { color: "#0b5cad", weight: 1, fill: false });
      CL.map.grids(m, { color: "#94a3b8", weight: 0.5, fill: false }, 15);
      const [x, y] = CL.map.toDisplay(data.lon, data.lat);
      L.circleMarker([y, x], { radius: 9, color: "#0f172a", weight: 2, fillColor: "#0b5cad", fillOpacity: 1 }).addTo(m);
    }
  }

  CL.ready(async () => {
    try { data = await CL.api("/api/v1/public/track/" + encodeURIComponent(id), { anonymous: true }); } catch (e) { data = null; }
    render();
    CL.setReady();
    document.addEventListener("cl:lang", render);
  });
})();
