/* civicloop maps (Leaflet 1.9.4): the city's own vector layers, optional tiles, WGS84 ↔ GCJ-02. */
(function () {
  "use strict";
  const CL = window.CL;

  /* WGS84 → GCJ-02, the public algorithm (same constants as civicloop.geo.crs); GCJ-02 → WGS84 by
     iteration. Only used to place the phone's GPS fix and picked points when the tiles are GCJ-02. */
  const A = 6378245.0, EE = 0.00669342162296594323;
  function outOfChina(lon, lat) { return lon < 72.004 || lon > 137.8347 || lat < 0.8293 || lat > 55.8271; }
  function tLat(x, y) {
    let r = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x));
    r += (20 * Math.sin(6 * x * Math.PI) + 20 * Math.sin(2 * x * Math.PI)) * 2 / 3;
    r += (20 * Math.sin(y * Math.PI) + 40 * Math.sin(y / 3 * Math.PI)) * 2 / 3;
    r += (160 * Math.sin(y / 12 * Math.PI) + 320 * Math.sin(y * Math.PI / 30)) * 2 / 3;
    return r;
  }
  function tLon(x, y) {
    let r = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x));
    r += (20 * Math.sin(6 * x * Math.PI) + 20 * Math.sin(2 * x * Math.PI)) * 2 / 3;
    r += (20 * Math.sin(x * Math.PI) + 40 * Math.sin(x / 3 * Math.PI)) * 2 / 3;
    r += (150 * Math.sin(x / 12 * Math.PI) + 300 * Math.sin(x / 30 * Math.PI)) * 2 / 3;
    return r;
  }
  function wgsToGcj(lon, lat) {
    if (outOfChina(lon, lat)) return [lon, lat];
    let dLat = tLat(lon - 105, lat - 35), dLon = tLon(lon - 105, lat - 35);
    const radLat = lat / 180 * Math.PI;
    let magic = Math.sin(radLat); magic = 1 - EE * magic * magic;
    const sq = Math.sqrt(magic);
    dLat = (dLat * 180) / ((A * (1 - EE)) / (magic * sq) * Math.PI);
    dLon = (dLon * 180) / (A / sq * Math.cos(radLat) * Math.PI);
    return [lon + dLon, lat + dLat];
  }
  function gcjToWgs(lon, lat) {
    let x = lon, y = lat;
    for (let i = 0; i < 8; i++) {
      const [gx, gy] = wgsToGcj(x, y);
      x -= gx - lon; y -= gy - lat;
    }
    return [x, y];
  }

  const COLORS = { green: "#22c55e", yellow: "#facc15", red: "#ef4444", none: "#94a3b8" };
  const CODE_NAMES = ["green", "yellow", "red", "none"];

  CL.map = {
    COLORS, CODE_NAMES, wgsToGcj, gcjToWgs,
    crs() { return (CL.config && CL.config.map.crs) || "wgs84"; },
    /** [lon, lat] in WGS84 → what the map draws in. */
    toDisplay(lon, lat) { return this.crs() === "gcj02" ? wgsToGcj(lon, lat) : [lon, lat]; },
    /** A clicked LatLng → [lon, lat] WGS84. */
    fromDisplay(latlng) { return this.crs() === "gcj02" ? gcjToWgs(latlng.lng, latlng.lat) : [latlng.lng, latlng.lat]; },

    create(el, opts) {
      opts = opts || {};
      const map = L.map(el, {
        preferCanvas: true,
        zoomControl: opts.zoomControl !== false,
        attributionControl: true,
        minZoom: 7,
        maxZoom: 19,
        zoomSnap: 0.5,
        fadeAnimation: false,
      });
      map.attributionControl.setPrefix(false);
      const tiles = (CL.config.map.tiles || []);
      for (const t of tiles) {
        L.tileLayer(t.url, { subdomains: t.subdomains || "abc", maxZoom: t.max_zoom || 18, attribution: t.attribution || "" }).addTo(map);
      }
      this.relabel(map, !tiles.length);
      this.fit(map, opts.bounds || CL.config.map.urban_bounds || CL.config.map.bounds);
      return map;
    },

    /** The map's own accessible names (zoom buttons) and the vector-only note in the page's language,
        again after each language switch while the map is on the page. */
    relabel(map, vectorOnly) {
      let note = null;
      const apply = () => {
        const el = map.getContainer();
        if (!el.isConnected) { document.removeEventListener("cl:lang", apply); return; }
        for (const [sel, key] of [[".leaflet-control-zoom-in", "map_zoom_in"], [".leaflet-control-zoom-out", "map_zoom_out"]]) {
          const b = el.querySelector(sel);
          if (b) { b.title = CL.t(key); b.setAttribute("aria-label", CL.t(key)); }
        }
        if (vectorOnly) {
          if (note) map.attributionControl.removeAttribution(note);
          note = CL.t("map_vector_only");
          map.attributionControl.addAttribution(note);
        }
      };
      apply();
      document.addEventListener("cl:lang", apply);
    },

    fit(map, b) {
      if (!b) { map.setView([37.85, 112.55], 11); return; }
      const sw = this.toDisplay(b[0], b[1]), ne = this.toDisplay(b[2], b[3]);
      map.fitBounds([[sw[1], sw[0]], [ne[1], ne[0]]], { padding: [8, 8] });
    },

    async areas(map, level, style, pane) {
      const res = await fetch("/api/v1/geo/areas?level=" + level + "&crs=" + this.crs());
      if (!res.ok) return null;
      const gj = await res.json();
      const layer = L.geoJSON(gj, {
        style: () => style,
        interactive: false,
        pane: pane || "overlayPane",
      });
      layer.addTo(map);
      return layer;
    },

    /** Unit grids of the view, fetched when zoomed in enough. */
    grids(map, style, minZoom) {
      const group = L.layerGroup().addTo(map);
      let seq = 0;
      const load = async () => {
        const mine = ++seq;
        if (map.getZoom() < (minZoom || 15)) { group.clearLayers(); return; }
        const b = map.getBounds();
        const bbox = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5)).join(",");
        const res = await fetch("/api/v1/geo/grids?bbox=" + bbox + "&crs=" + this.crs());
        if (!res.ok || mine !== seq) return;
        const gj = await res.json();
        group.clearLayers();
        group.addLayer(L.geoJSON(gj, { style: () => style, interactive: false }));
      };
      map.on("moveend", load);
      load();
      return group;
    },

    /** The city's own layers, drawn legibly with their names: districts always, streets (街道) from zoom
        13, communities from 15, unit grids from 16. Over configured tiles only the outlines are drawn. */
    cityLayers(map) {
      const tiles = (CL.config.map.tiles || []).length > 0;
      const levels = [
        ["district", 0, { color: "#0b5cad", weight: 2, fillColor: "#dbeafe", fillOpacity: tiles ? 0 : 0.25 }],
        ["street", 13, { color: "#1d4ed8", weight: 1.2, dashArray: "4 3", fill: false }],
        ["community", 15, { color: "#64748b", weight: 0.8, fill: false }],
      ];
      for (const [level, minZoom, style] of levels) {
        if (tiles && level !== "district") continue;
        this.labelled(map, level, style, minZoom, !tiles);
      }
      if (!tiles) this.grids(map, { color: "#94a3b8", weight: 0.5, fill: false }, 16);
    },

    async labelled(map, level, style, minZoom, withLabels) {
      const res = await fetch("/api/v1/geo/areas?level=" + level + "&crs=" + this.crs());
      if (!res.ok) return;
      const gj = await res.json();
      const shapes = L.geoJSON(gj, { style: () => style, interactive: false });
      const labels = L.layerGroup();
      if (withLabels) {
        shapes.eachLayer((l) => {
          const name = l.feature && l.feature.properties && l.feature.properties.name;
          if (!name) return;
          labels.addLayer(L.tooltip({ permanent: true, direction: "center", className: "area-label area-label-" + level, interactive: false })
            .setLatLng(l.getBounds().getCenter()).setContent(name));
        });
      }
      const sync = () => {
        const on = map.getZoom() >= minZoom;
        for (const layer of [shapes, labels]) {
          if (on && !map.hasLayer(layer)) layer.addTo(map);
          if (!on && map.hasLayer(layer)) map.removeLayer(layer);
        }
      };
      map.on("zoomend", sync);
      sync();
    },

    bboxParam(map) {
      const b = map.getBounds();
      return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map((v) => v.toFixed(5)).join(",");
    },

    clusterIcon(c) {
      // c = [lon, lat, total, green, yellow, red, none]
      const total = c[2];
      const g = c[3] / total * 360, y = c[4] / total * 360, r = c[5] / total * 360;
      const size = Math.round(22 + Math.min(22, Math.log2(total + 1) * 2.2));
      const bg = `conic-gradient(${COLORS.red} 0 ${r}deg, ${COLORS.yellow} ${r}deg ${r + y}deg, ${COLORS.green} ${r + y}deg ${r + y + g}deg, ${COLORS.none} ${r + y + g}deg 360deg)`;
      const html = `<div class="cluster" style="width:${size}px;height:${size}px;background:${bg}"><span>${CL.fmt.num(total)}</span></div>`;
      return L.divIcon({ html, className: "cluster-icon", iconSize: [size, size] });
    },
  };
})();
