/* Tracking a report: public status, outcome, progress; nothing personal. */
(function () {
  "use strict";
  const CL = window.CL;
  const h = CL.h;
  const id = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
  let data = null, rated = null;

  /* The tracking token comes with the link (#t=…) and is kept on this device for the 回访 rating. */
  function token() {
    const m = /[#&]t=([A-Za-z0-9_-]+)/.exec(location.hash || "");
    try {
      if (m) localStorage.setItem("cl-track-" + id, m[1]);
      return m ? m[1] : localStorage.getItem("cl-track-" + id);
    } catch (e) { return m ? m[1] : null; }
  }

  function ratingForm() {
    const box = h("form", { class: "panel", id: "track-rate", novalidate: true });
    if (rated) { box.appendChild(h("p", { role: "status", id: "track-rated" }, CL.t("citizen.rate_thanks"))); return box; }
    const t = token();
    const legend = h("legend", null, CL.t("citizen.rate_title"));
    const choices = h("fieldset", { class: "rating-choices" }, legend,
      ...["satisfied", "basically_satisfied", "dissatisfied"].map((r) =>
        h("label", null, h("input", { type: "radio", name: "rating", value: r }), CL.t("vocabulary." + r))));
    const comment = h("textarea", { id: "track-comment", maxlength: "500" });
    const err = h("p", { class: "error-text", role: "alert", id: "track-rate-error" });
    box.append(choices,
      h("label", { for: "track-comment" }, CL.t("citizen.rate_comment")), comment, err,
      h("button", { class: "btn", type: "submit", id: "track-rate-submit" }, CL.t("citizen.rate_submit")));
    if (!t) err.textContent = CL.t("citizen.rate_need_token");
    box.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const chosen = box.querySelector("input[name=rating]:checked");
      if (!chosen) { err.textContent = CL.t("citizen.rate_choose"); return; }
      if (!t) { err.textContent = CL.t("citizen.rate_need_token"); return; }
      const body = { rating: chosen.value };
      if (comment.value.trim()) body.comment = comment.value.trim();
      try {
        await CL.api("/api/v1/public/track/" + encodeURIComponent(id) + "/feedback", { method: "POST", body, anonymous: true, headers: { "X-Tracking-Token": t } });
        rated = chosen.value;
        render();
      } catch (e) { err.textContent = e.message; }
    });
    return box;
  }

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
      data.rating_open ? ratingForm() : null,
      h("div", { class: "grid2" },
        h("div", { class: "panel" }, h("h2", null, CL.t("progress")),
          h("ol", { class: "timeline" }, data.notes.map((n) => h("li", null, h("span", { class: "when" }, CL.fmt.dt(n.at)), h("b", null, CL.isEn() ? n.action_en : n.action_zh), " → " + (CL.isEn() ? n.stage_en : n.stage_zh))))),
        h("div", { class: "panel", id: "track-updates" }, h("h2", null, CL.t("citizen.updates")),
          data.updates.length ? h("ol", { class: "timeline" }, data.updates.map((u) => h("li", null, h("span", { class: "when" }, CL.fmt.dt(u.at)), CL.isEn() ? u.message_en : u.message_zh)))
            : h("p", { class: "muted" }, CL.t("citizen.updates_none"))),
        data.photos.length ? h("div", { class: "panel", id: "track-photos" }, h("h2", null, CL.t("citizen.your_photos")),
          h("div", { class: "photos" }, data.photos.map((u, i) => h("img", { src: u, alt: CL.t("citizen.your_photos") + " " + (i + 1) })))) : null,
        h("div", { class: "panel" }, h("h2", null, CL.t("outcome")),
          data.result_photos.length ? h("div", { class: "photos" }, data.result_photos.map((u) => h("img", { src: u, alt: CL.t("after_photos") }))) : h("p", { class: "muted" }, "—"),
          mapBox)));
    if (data.lon !== null && data.lat !== null) {
      const m = CL.map.create(mapBox, { bounds: [data.lon - 0.005, data.lat - 0.004, data.lon + 0.005, data.lat + 0.004] });
      CL.map.cityLayers(m);
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
