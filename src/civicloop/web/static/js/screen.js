/* The big screen (大屏): tiles, lights, KPIs, trend, category mix, ranking, ticker and the live map. */
(function () {
  "use strict";
  const CL = window.CL;
  const h = CL.h;
  const FONT = '"Noto Sans CJK SC", "Noto Sans SC", "PingFang SC", "Microsoft YaHei", sans-serif';
  const S = { summary: null, stats: null, mode: null, markers: new Map(), charts: {}, ticker: [] };

  function tile(key, value, id) {
    return h("div", { class: "s-tile", id: id || null }, h("div", { class: "v" }, CL.fmt.num(value)), h("div", { class: "k" }, CL.t(key)));
  }

  function renderTiles() {
    const stats = S.stats || (S.summary && { today: S.summary.today, open: S.summary.open.open, urgent: S.summary.open.urgent, lights: S.summary.open.lights });
    if (!stats) return;
    const box = CL.$("#tiles");
    const old = {};
    box.querySelectorAll(".s-tile").forEach((t) => { old[t.id] = t.querySelector(".v").textContent; });
    CL.clear(box);
    const today = stats.today || {};
    [["today_reports", today.report, "t-report"], ["today_filed", today.file, "t-file"],
     ["today_dispatched", today.dispatch, "t-dispatch"], ["today_closed", today.close, "t-close"]].forEach(([k, v, id]) => {
      const el = tile(k, v || 0, id);
      if (old[id] !== undefined && old[id] !== CL.fmt.num(v || 0)) el.classList.add("flash");
      box.appendChild(el);
    });
    const lights = stats.lights || {};
    const lb = CL.clear(CL.$("#lights"));
    [["red", "red_overdue"], ["yellow", "yellow_warn"], ["green", "green_ok"]].forEach(([c, k]) => {
      lb.appendChild(h("div", { class: "s-light " + c, id: "light-" + c }, h("div", { class: "v" }, CL.fmt.num(lights[c] || 0)), h("div", { class: "k" }, CL.t(k))));
    });
    lb.appendChild(h("div", { class: "s-open-line", style: "grid-column: 1 / -1" },
      CL.t("open_cases") + " ", h("b", { id: "open-total" }, CL.fmt.num(stats.open)), "  ·  " + CL.t("urgent") + " ", h("b", null, CL.fmt.num(stats.urgent || 0))));
  }

  function renderKpis() {
    if (!S.summary) return;
    const k = S.summary.kpi;
    const state = CL.$("#kpi-state");
    state.textContent = k.status === "ok" || k.status === "stale" ? (k.period || "") : (k.status === "unavailable" ? CL.t("no_data") : CL.t("computing"));
    const rates = k.rates || {}, assets = k.assets || {};
    const rows = [["on_time_rate", rates.on_time_closure_rate], ["problem_rate", rates.problem_handling_rate],
                  ["light_on_rate", assets.light_on_rate], ["intact_rate", assets.facility_intact_rate],
                  ["closure_rate", rates.closure_rate], ["satisfaction_rate", rates.satisfaction_rate],
                  ["callback_rate", rates.callback_rate]];
    const box = CL.clear(CL.$("#kpis"));
    for (const [key, v] of rows) {
      const known = v !== null && v !== undefined;
      box.appendChild(h("div", { class: "s-kpi", "data-kpi": key },
        h("div", { class: "v" + (known ? "" : " nodata") }, known ? CL.fmt.pct(v) : "— " + CL.t("no_data")),
        h("div", { class: "k" }, CL.t(key))));
    }
  }

  function darkAxis() {
    return { axisLine: { lineStyle: { color: "#1c3d66" } }, axisLabel: { color: "#8aa4c8" }, splitLine: { lineStyle: { color: "rgba(28,61,102,.5)" } } };
  }

  function chart(id) {
    const el = CL.$("#" + id);
    let c = S.charts[id];
    if (c && c.__lang !== CL.lang) { c.dispose(); c = null; }
    if (!c) { c = S.charts[id] = echarts.init(el, null, { renderer: "canvas", locale: CL.isEn() ? "EN" : "ZH" }); c.__lang = CL.lang; }
    return c;
  }

  function renderTrend() {
    if (!S.summary || !window.echarts) return;
    const t = S.summary.trend;
    chart("trend").setOption({
      animation: false,
      textStyle: { fontFamily: FONT },
      grid: { left: 40, right: 10, top: 26, bottom: 24 },
      legend: { data: [CL.t("reports"), CL.t("closed")], textStyle: { color: "#8aa4c8" }, top: 0, right: 0 },
      tooltip: { trigger: "axis" },
      xAxis: Object.assign({ type: "category", data: t.days.map((d) => CL.fmt.day(d)) }, darkAxis()),
      yAxis: Object.assign({ type: "value" }, darkAxis()),
      series: [
        { name: CL.t("reports"), type: "bar", data: t.reports, itemStyle: { color: "#38bdf8" }, barMaxWidth: 14 },
        { name: CL.t("closed"), type: "line", data: t.closed, smooth: false, itemStyle: { color: "#22c55e" }, lineStyle: { width: 2 } },
      ],
    }, true);
  }

  function renderCats() {
    if (!S.summary || !window.echarts) return;
    const rows = S.summary.categories.slice(0, 8).reverse();
    const name = (r) => (r.key === "other" ? CL.t("other") : (CL.isEn() && r.name_en ? r.name_en : r.name));
    chart("cats").setOption({
      animation: false,
      textStyle: { fontFamily: FONT },
      grid: { left: 110, right: 34, top: 6, bottom: 6 },
      tooltip: { trigger: "axis", axisPointer: { type: "shadow" } },
      xAxis: Object.assign({ type: "value", show: false }, {}),
      yAxis: Object.assign({ type: "category", data: rows.map(name) }, darkAxis(), { axisLabel: { color: "#cfe0f7", width: 100, overflow: "truncate" } }),
      series: [
        { name: CL.t("green_ok"), type: "bar", stack: "s", data: rows.map((r) => r.open - r.yellow - r.red), itemStyle: { color: "#22c55e" }, barMaxWidth: 12 },
        { name: CL.t("yellow_warn"), type: "bar", stack: "s", data: rows.map((r) => r.yellow), itemStyle: { color: "#facc15" } },
        { name: CL.t("red_overdue"), type: "bar", stack: "s", data: rows.map((r) => r.red), itemStyle: { color: "#ef4444" },
          label: { show: true, position: "right", color: "#cfe0f7", formatter: (p) => CL.fmt.num(rows[p.dataIndex].open) } },
      ],
    }, true);
  }

  function renderRanking() {
    if (!S.summary) return;
    const t = CL.clear(CL.$("#ranking"));
    t.appendChild(h("tr", null, h("th", null, CL.t("rank")), h("th", null, CL.t("department")), h("th", null, CL.t("score")),
      h("th", null, CL.t("open_short")), h("th", null, CL.t("red_short"))));
    const rows = S.summary.departments.slice(0, 8);
    if (!rows.length) t.appendChild(h("tr", null, h("td", { colspan: 5, class: "s-muted" }, CL.t("empty"))));
    rows.forEach((r, i) => {
      const name = CL.isEn() && r.name_en ? r.name_en : r.name;
      t.appendChild(h("tr", null,
        h("td", null, h("span", { class: "rank rank-" + (r.rank || i + 1) }, String(r.rank || i + 1))),
        h("td", { class: "name", title: name }, name),
        h("td", null, r.score === null || r.score === undefined ? "—" : CL.fmt.num(Math.round(r.score * 10) / 10) + (r.grade ? " " + r.grade : "")),
        h("td", null, CL.fmt.num(r.open)),
        h("td", { class: r.red ? "red" : "" }, CL.fmt.num(r.red))));
    });
  }

  function tickerItem(e, isNew) {
    const li = h("li", { class: isNew ? "new" : "", "data-case": e.case_id },
      h("span", { class: "t" }, CL.fmt.time(e.at)),
      h("span", { class: "c" }, h("a", { href: "/cases/" + encodeURIComponent(e.case_id) }, e.case_id), CL.catName(e.category), " ", CL.lightBadge(e.light)),
      h("span", { class: "d" }, [CL.districtName(e.district), e.description || ""].filter(Boolean).join(" · ")));
    return li;
  }

  function renderTicker() {
    const ul = CL.clear(CL.$("#ticker"));
    S.ticker.slice(-30).reverse().forEach((e) => ul.appendChild(tickerItem(e, false)));
  }

  function renderLegend() {
    const box = CL.clear(CL.$("#legend"));
    [["red", "red_overdue"], ["yellow", "yellow_warn"], ["green", "green_ok"]].forEach(([c, k]) =>
      box.appendChild(h("div", { class: "row" }, h("i", { style: "background:" + CL.map.COLORS[c] }), CL.t(k))));
    box.appendChild(h("div", { class: "row", id: "in-view" }, CL.t("cases_in_view") + ": ", h("b", null, CL.fmt.num(S.inView || 0))));
  }

  function renderAll() {
    renderTiles(); renderKpis(); renderTrend(); renderCats(); renderRanking(); renderTicker(); renderLegend();
  }

  /* ---- map ---- */
  let map, caseLayer, renderer, loadSeq = 0, reloadTimer = null;

  function popup(p) {
    return `<b><a href="/cases/${encodeURIComponent(p[0])}">${p[0]}</a></b><br>${CL.catName(p[5])}<br>${CL.label("stages", p[4])}`;
  }

  function marker(p) {
    const color = CL.map.COLORS[CL.map.CODE_NAMES[p[3]]];
    const m = L.circleMarker([p[2], p[1]], { renderer, radius: p[3] === 2 ? 6 : 5, color: "#050d1a", weight: 1, fillColor: color, fillOpacity: .95 });
    m.bindPopup(() => popup(p));
    m.__p = p;
    return m;
  }

  async function loadCases() {
    const mine = ++loadSeq;
    const url = "/api/v1/screen/cases?bbox=" + CL.map.bboxParam(map) + "&zoom=" + Math.round(map.getZoom()) + "&crs=" + CL.map.crs();
    const view = await CL.api(url);
    if (mine !== loadSeq) return;
    caseLayer.clearLayers();
    S.markers.clear();
    S.mode = view.mode;
    S.inView = view.total;
    if (view.mode === "points") {
      for (const p of view.points) { const m = marker(p); S.markers.set(p[0], m); caseLayer.addLayer(m); }
    } else {
      for (const c of view.clusters) {
        const m = L.marker([c[1], c[0]], { icon: CL.map.clusterIcon(c), keyboard: false });
        m.on("click", () => map.setView([c[1], c[0]], Math.min(map.getZoom() + 2, 18)));
        caseLayer.addLayer(m);
      }
    }
    const iv = CL.$("#in-view b");
    if (iv) iv.textContent = CL.fmt.num(view.total);
  }

  function scheduleReload() {
    if (reloadTimer) return;
    reloadTimer = setTimeout(() => { reloadTimer = null; loadCases().catch(() => {}); }, 1500);
  }

  function applyEventToMap(e) {
    if (S.mode !== "points") { scheduleReload(); return; }
    const existing = S.markers.get(e.case_id);
    if (!e.open) {
      if (existing) { caseLayer.removeLayer(existing); S.markers.delete(e.case_id); }
      return;
    }
    if (e.lon === null || e.lat === null || e.lon === undefined) return;
    const [x, y] = CL.map.toDisplay(e.lon, e.lat);
    const code = { green: 0, yellow: 1, red: 2 }[e.light] ?? 3;
    const p = [e.case_id, x, y, code, e.case_stage || e.stage, e.category];
    if (existing) caseLayer.removeLayer(existing);
    if (!map.getBounds().contains([y, x])) return;
    const m = marker(p);
    S.markers.set(e.case_id, m);
    caseLayer.addLayer(m);
  }

  /* ---- live ---- */
  function onMessage(msg) {
    if (msg.type === "resync") { refreshSummary(); loadCases().catch(() => {}); return; }
    if (msg.stats) { S.stats = msg.stats; renderTiles(); }
    if (msg.type !== "events") return;
    let ticked = false;
    for (const e of msg.events) {
      if (e.action === "report") {
        S.ticker.push(e);
        const ul = CL.$("#ticker");
        ul.insertBefore(tickerItem(e, true), ul.firstChild);
        while (ul.children.length > 30) ul.removeChild(ul.lastChild);
        ticked = true;
      }
      applyEventToMap(e);
      (window.__cl.events = window.__cl.events || []).push({ case_id: e.case_id, seq: e.seq, action: e.action, t: performance.now() });
      window.__cl.shown[e.case_id + ":" + e.seq] = performance.now();
      window.__cl.shown[e.case_id] = performance.now();
    }
    if (S.ticker.length > 60) S.ticker = S.ticker.slice(-30);
    window.__cl.lastMessageAt = performance.now();
    if (ticked) window.__cl.lastTickerAt = performance.now();
  }

  function setLive(state) {
    const el = CL.$("#live");
    el.className = "s-live " + (state === "live" ? "on" : "off");
    el.querySelector("span").textContent = state === "live" ? CL.t("live") : CL.t("reconnecting");
  }

  async function refreshSummary() {
    S.summary = await CL.api("/api/v1/screen/summary");
    S.ticker = S.summary.recent.slice();
    renderKpis(); renderTrend(); renderCats(); renderRanking();
  }

  CL.ready(async () => {
    if (!CL.auth.require()) return;
    CL.mark("screen-start");
    document.title = CL.t("screen_title") + " · " + CL.cityName();
    const tick = () => { CL.$("#clock").textContent = CL.fmt.clock(new Date()); };
    tick(); setInterval(tick, 1000);

    const summaryP = CL.api("/api/v1/screen/summary");
    map = CL.map.create(CL.$("#map"));
    renderer = L.canvas({ padding: 0.2 });
    const districtsP = CL.map.areas(map, "district", { color: "#3b82c4", weight: 1.6, fillColor: "#0f2a4d", fillOpacity: 0.55 });
    CL.map.areas(map, "street", { color: "#2a5a8c", weight: 0.8, fill: false, dashArray: "3 3" });
    CL.map.grids(map, { color: "#1e4a78", weight: 0.5, fill: false }, 15);
    caseLayer = L.layerGroup().addTo(map);
    const casesP = loadCases();
    map.on("moveend", () => { loadCases().catch(() => {}); });

    S.summary = await summaryP;
    S.ticker = S.summary.recent.slice();
    renderAll();
    await casesP;
    await districtsP;
    renderLegend();
    CL.mark("screen-ready");
    CL.setReady();

    CL.stream("/api/v1/stream", onMessage, setLive);
    setInterval(() => refreshSummary().catch(() => {}), 30000);
    window.addEventListener("resize", () => Object.values(S.charts).forEach((c) => c.resize()));
    document.addEventListener("cl:lang", () => {
      document.title = CL.t("screen_title") + " · " + CL.cityName();
      renderAll();
      loadCases().catch(() => {});
    });
  });
})();
