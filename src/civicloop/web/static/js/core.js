/* civicloop web core: configuration, i18n (zh-CN / en, from the server's catalogue), auth, API calls, SSE,
   formatting, DOM. */
(function () {
  "use strict";

  const LANG_KEY = "civicloop.lang";
  const TOKEN_KEY = "civicloop.token";
  const USER_KEY = "civicloop.user";
  const CITIES_KEY = "civicloop.cities";
  const CITY_KEY = "civicloop.city";
  // The one catalogue (kernel/messages/*.toml), loaded before this file by /i18n/catalogue.js.
  const TEXTS = window.CL_TEXTS || { "zh-CN": {}, en: {} };

  const CL = (window.CL = window.CL || {});
  window.__cl = window.__cl || { shown: {}, marks: {} };

  // Every form here is sent by script: a native submit (before a page's handler is attached, or after an
  // error in it) would be a GET with the fields — passwords too — in the URL. Dialog forms only close.
  document.addEventListener("submit", (ev) => {
    if (ev.target instanceof HTMLFormElement && ev.target.method !== "dialog") ev.preventDefault();
  }, true);

  function storedLang() {
    const v = localStorage.getItem(LANG_KEY);
    return v === "en" || v === "zh-CN" ? v : null;
  }

  // The reader's choice, else the page's language (the city's default_locale), else Chinese.
  const pageLang = document.documentElement.lang === "en" ? "en" : null;
  CL.lang = storedLang() || pageLang || "zh-CN";
  CL.isEn = () => CL.lang === "en";
  // CL.t("name") is web.name; a dotted key ("errors.case_not_found") is used as it is. Fields fill {name}.
  CL.t = function (key, fields) {
    const table = TEXTS[CL.lang] || TEXTS["zh-CN"];
    const full = key.indexOf(".") >= 0 ? key : "web." + key;
    let text = table[full];
    if (text === undefined) text = (TEXTS["zh-CN"] || {})[full];
    if (text === undefined) return key;
    if (fields) text = text.replace(/\{(\w+)\}/g, (m, name) => (name in fields ? String(fields[name]) : m));
    return text;
  };
  CL.setLang = function (lang) {
    localStorage.setItem(LANG_KEY, lang);
    CL.lang = lang;
    document.documentElement.lang = lang;
    CL.applyTexts(document);
    document.dispatchEvent(new CustomEvent("cl:lang", { detail: lang }));
  };
  CL.applyTexts = function (root) {
    root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = CL.t(el.dataset.i18n); });
    root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = CL.t(el.dataset.i18nPlaceholder); });
    root.querySelectorAll("[data-i18n-title]").forEach((el) => { el.title = CL.t(el.dataset.i18nTitle); });
    root.querySelectorAll("[data-i18n-aria-label]").forEach((el) => { el.setAttribute("aria-label", CL.t(el.dataset.i18nAriaLabel)); });
    root.querySelectorAll("[data-lang-switch]").forEach((el) => renderSwitch(el));
  };
  function renderSwitch(el) {
    el.textContent = "";
    [["zh-CN", CL.t("lang_zh")], ["en", "EN"]].forEach(([code, label]) => {
      const b = document.createElement("button");
      b.type = "button";
      b.textContent = label;
      b.className = "lang-btn" + (CL.lang === code ? " active" : "");
      b.setAttribute("aria-pressed", CL.lang === code ? "true" : "false");
      b.dataset.lang = code;
      b.addEventListener("click", () => CL.setLang(code));
      el.appendChild(b);
    });
  }

  /* ---- labels from the server's vocabulary ---- */
  CL.label = function (kind, value) {
    if (value === null || value === undefined) return "—";
    const table = (CL.config && CL.config.labels[kind]) || {};
    const row = table[value];
    if (!row) return String(value);
    return CL.isEn() ? row.en : row.zh;
  };
  CL.catName = function (code) {
    if (!code) return "—";
    const c = CL.categories && CL.categories[code];
    if (!c) return code;
    return CL.isEn() && c.name_en ? c.name_en : c.name;
  };
  CL.deptName = function (id) {
    if (!id) return "—";
    const d = CL.departments && CL.departments[id];
    if (!d) return id;
    return CL.isEn() && d.name_en ? d.name_en : d.name;
  };
  CL.districtName = function (code) {
    if (!code) return "—";
    const d = CL.districts && CL.districts[code];
    if (!d) return code;
    return CL.isEn() && d.name_en ? d.name_en : d.name;
  };
  CL.cityName = function () {
    const c = CL.config.city;
    return CL.isEn() && c.name_en ? c.name_en : c.name;
  };

  /* ---- formatting (Intl, in the city's time zone) ---- */
  CL.fmt = {
    tz() { return (CL.config && CL.config.city.timezone) || "Asia/Shanghai"; },
    dt(iso) {
      if (!iso) return "—";
      return new Intl.DateTimeFormat(CL.lang, { timeZone: this.tz(), year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", hour12: false }).format(new Date(iso));
    },
    time(iso) {
      if (!iso) return "—";
      return new Intl.DateTimeFormat(CL.lang, { timeZone: this.tz(), hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false }).format(new Date(iso));
    },
    day(iso) {
      return new Intl.DateTimeFormat(CL.lang, { timeZone: this.tz(), month: "numeric", day: "numeric" }).format(new Date(iso + "T12:00:00Z"));
    },
    clock(d) {
      return new Intl.DateTimeFormat(CL.lang, { timeZone: this.tz(), year: "numeric", month: "long", day: "numeric", weekday: "short", hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false }).format(d);
    },
    num(n) {
      if (n === null || n === undefined || Number.isNaN(n)) return "—";
      return new Intl.NumberFormat(CL.lang).format(n);
    },
    pct(x, digits) {
      if (x === null || x === undefined || Number.isNaN(x)) return "—";
      return new Intl.NumberFormat(CL.lang, { style: "percent", minimumFractionDigits: digits ?? 1, maximumFractionDigits: digits ?? 1 }).format(x);
    },
    rel(iso) {
      if (!iso) return "—";
      const diff = (new Date(iso).getTime() - Date.now()) / 1000;
      const rtf = new Intl.RelativeTimeFormat(CL.lang, { numeric: "auto" });
      const a = Math.abs(diff);
      if (a < 60) return rtf.format(Math.round(diff), "second");
      if (a < 3600) return rtf.format(Math.round(diff / 60), "minute");
      if (a < 86400) return rtf.format(Math.round(diff / 3600), "hour");
      return rtf.format(Math.round(diff / 86400), "day");
    },
    minutes(m) {
      if (m === null || m === undefined) return "—";
      return new Intl.NumberFormat(CL.lang, { maximumFractionDigits: 0 }).format(m);
    },
  };

  /* ---- DOM ---- */
  CL.h = function (tag, attrs, ...children) {
    const el = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === null || v === undefined || v === false) continue;
        if (k === "class") el.className = v;
        else if (k === "text") el.textContent = v;
        else if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
        else if (k === "dataset") Object.assign(el.dataset, v);
        else el.setAttribute(k, v === true ? "" : String(v));
      }
    }
    for (const c of children.flat()) {
      if (c === null || c === undefined || c === false) continue;
      el.appendChild(typeof c === "string" || typeof c === "number" ? document.createTextNode(String(c)) : c);
    }
    return el;
  };
  CL.clear = function (el) { while (el.firstChild) el.removeChild(el.firstChild); return el; };
  CL.$ = (sel, root) => (root || document).querySelector(sel);
  CL.lightBadge = function (light) {
    const name = light || "none";
    const text = light ? CL.t("light_" + light) : "—";
    return CL.h("span", { class: "light light-" + name, title: text }, CL.h("i"), text);
  };
  CL.toast = function (message, kind) {
    let box = CL.$("#toasts");
    if (!box) { box = CL.h("div", { id: "toasts", role: "status", "aria-live": "polite" }); document.body.appendChild(box); }
    const t = CL.h("div", { class: "toast " + (kind || "info") }, message);
    box.appendChild(t);
    setTimeout(() => t.remove(), 5000);
  };

  /* ---- auth: the bearer token lives in sessionStorage (this tab only), never in a cookie ---- */
  CL.auth = {
    token() { return sessionStorage.getItem(TOKEN_KEY); },
    user() { try { return JSON.parse(sessionStorage.getItem(USER_KEY) || "null"); } catch (e) { return null; } },
    save(result) {
      sessionStorage.setItem(TOKEN_KEY, result.access_token);
      sessionStorage.setItem(USER_KEY, JSON.stringify(result.user));
      // Several cities: the ones this user may act in; the home city first (docs/scale.md).
      sessionStorage.setItem(CITIES_KEY, JSON.stringify(result.cities || []));
      sessionStorage.removeItem(CITY_KEY);
    },
    clear() { [TOKEN_KEY, USER_KEY, CITIES_KEY, CITY_KEY].forEach((k) => sessionStorage.removeItem(k)); },
    cities() { try { return JSON.parse(sessionStorage.getItem(CITIES_KEY) || "[]"); } catch (e) { return []; } },
    /** The city the pages act in when the user holds several (sent as X-Civicloop-City), or null. */
    city() { return sessionStorage.getItem(CITY_KEY); },
    useCity(id) {
      const home = (this.cities()[0] || {}).jurisdiction_id;
      if (!id || id === home) sessionStorage.removeItem(CITY_KEY); else sessionStorage.setItem(CITY_KEY, id);
      localStorage.removeItem("civicloop.config");
      location.reload();
    },
    require() {
      if (!this.token()) {
        location.replace("/login?next=" + encodeURIComponent(location.pathname + location.search));
        return false;
      }
      return true;
    },
    async logout() {
      try { await CL.api("/api/v1/auth/logout", { method: "POST" }); } catch (e) { /* already gone */ }
      this.clear();
      location.href = "/login";
    },
  };

  class ApiError extends Error {
    constructor(status, body) {
      const e = (body && body.error) || {};
      super((CL.isEn() ? e.message_en : e.message_zh) || e.message || ("HTTP " + status));
      this.status = status; this.code = e.code; this.field = e.field; this.body = body;
    }
  }
  CL.ApiError = ApiError;

  // The citizen pages of a server of several cities name theirs in the address (?city=…).
  CL.publicCity = new URLSearchParams(location.search).get("city") || null;

  /* The city a call is about: the one the user acts in, else the token's home city ("<city>~<token>" on
     a server of several), else the page's ?city=. Anonymous calls carry it too (the pages' start-up). */
  function callCity() {
    const acting = CL.auth.city();
    if (acting) return acting;
    const token = CL.auth.token();
    const cut = token ? token.indexOf("~") : -1;
    return cut > 0 ? token.slice(0, cut) : CL.publicCity;
  }

  /** A link of the citizen pages that keeps the page's city. */
  CL.publicLink = function (path) {
    return CL.publicCity ? path + (path.indexOf("?") >= 0 ? "&" : "?") + "city=" + encodeURIComponent(CL.publicCity) : path;
  };

  CL.api = async function (path, opts) {
    opts = opts || {};
    const headers = Object.assign({ Accept: "application/json", "Accept-Language": CL.lang }, opts.headers || {});
    const token = CL.auth.token();
    if (token && !opts.anonymous) headers.Authorization = "Bearer " + token;
    const city = callCity();
    if (city) headers["X-Civicloop-City"] = city;
    let body = opts.body;
    if (body !== undefined && !(body instanceof FormData) && typeof body !== "string") {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(body);
    }
    const res = await fetch(path, { method: opts.method || "GET", headers, body, signal: opts.signal });
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (e) { data = text; }
    if (!res.ok) {
      if (res.status === 401 && opts.authRedirect !== false && token) {
        CL.auth.clear();
        location.replace("/login?next=" + encodeURIComponent(location.pathname + location.search));
      }
      throw new ApiError(res.status, data);
    }
    return data;
  };

  CL.uploadPhoto = async function (blob, publicUpload) {
    const fd = new FormData();
    fd.append("file", blob, blob.name || "photo.jpg");
    return CL.api(publicUpload ? "/api/v1/public/photos" : "/api/v1/photos", { method: "POST", body: fd, anonymous: !!publicUpload });
  };

  CL.photoUrl = function (ref) {
    if (!ref) return "";
    return /^https?:\/\//.test(ref) ? ref : "/api/v1/photos/" + encodeURIComponent(ref);
  };

  /* ---- server-sent events over fetch (so that the bearer token travels in a header) ---- */
  CL.stream = function (path, onMessage, onState) {
    let stopped = false;
    let controller = null;
    let delay = 1000;
    async function run() {
      while (!stopped) {
        controller = new AbortController();
        try {
          const res = await fetch(path, { headers: Object.assign({ Authorization: "Bearer " + CL.auth.token(), Accept: "text/event-stream" }, CL.auth.city() ? { "X-Civicloop-City": CL.auth.city() } : {}), signal: controller.signal, cache: "no-store" });
          if (res.status === 401) { CL.auth.clear(); location.replace("/login?next=" + encodeURIComponent(location.pathname)); return; }
          if (!res.ok || !res.body) throw new Error("stream " + res.status);
          onState && onState("live");
          delay = 1000;
          const reader = res.body.getReader();
          const decoder = new TextDecoder();
          let buf = "";
          for (;;) {
            const { value, done } = await reader.read();
            if (done) break;
            buf += decoder.decode(value, { stream: true });
            let i;
            while ((i = buf.indexOf("\n\n")) >= 0) {
              const chunk = buf.slice(0, i);
              buf = buf.slice(i + 2);
              const data = chunk.split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trimStart()).join("\n");
              if (data) { try { onMessage(JSON.parse(data)); } catch (e) { console.error(e); } }
            }
          }
        } catch (e) {
          if (stopped) return;
        }
        onState && onState("reconnecting");
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 15000);
      }
    }
    run();
    return { stop() { stopped = true; if (controller) controller.abort(); } };
  };

  /* ---- several cities: a member of more than one city picks the one the pages act in ---- */
  function citySwitch() {
    const cities = CL.auth.cities();
    const spot = document.querySelector("[data-lang-switch]");
    if (cities.length < 2 || !spot || document.querySelector("#city-switch")) return;
    const current = CL.auth.city() || cities[0].jurisdiction_id;
    const select = CL.h("select", { id: "city-switch", title: CL.t("multicity.switch"), "aria-label": CL.t("multicity.switch") });
    cities.forEach((c) => {
      const option = CL.h("option", { value: c.jurisdiction_id }, c.jurisdiction_id);
      if (c.jurisdiction_id === current) option.selected = true;
      select.appendChild(option);
    });
    select.addEventListener("change", () => CL.auth.useCity(select.value));
    spot.parentNode.insertBefore(select, spot);
  }

  /* ---- start-up ---- */
  CL.ready = function (fn) {
    document.documentElement.lang = CL.lang;
    const go = async () => {
      try {
        CL.config = await CL.api("/api/v1/web/config", { anonymous: true });
      } catch (e) {
        const cached = localStorage.getItem("civicloop.config");
        if (!cached) throw e;
        CL.config = JSON.parse(cached);
      }
      try { localStorage.setItem("civicloop.config", JSON.stringify(CL.config)); } catch (e) { /* full */ }
      CL.categories = Object.fromEntries(CL.config.categories.map((c) => [c.code, c]));
      CL.departments = Object.fromEntries(CL.config.departments.map((d) => [d.id, d]));
      CL.districts = Object.fromEntries(CL.config.districts.map((d) => [d.code, d]));
      CL.applyTexts(document);
      if (CL.publicCity) document.querySelectorAll('a[href^="/public"]').forEach((a) => { a.href = CL.publicLink(a.getAttribute("href")); });
      document.querySelectorAll("[data-city-name]").forEach((el) => { el.textContent = CL.cityName(); });
      citySwitch();
      document.addEventListener("cl:lang", () => {
        document.querySelectorAll("[data-city-name]").forEach((el) => { el.textContent = CL.cityName(); });
      });
      await fn(CL.config);
    };
    if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", go);
    else go();
  };

  /** The page is drawn: for people nothing, for tests a marker they can wait for. */
  CL.setReady = function () {
    window.__cl.ready = true;
    document.body.dataset.ready = "1";
  };

  CL.mark = function (name) {
    try { performance.mark(name); } catch (e) { /* old browser */ }
    window.__cl.marks[name] = performance.now();
  };

  CL.userBox = function (el) {
    const u = CL.auth.user();
    if (!u || !el) return;
    CL.clear(el);
    el.appendChild(CL.h("span", { class: "user-name" }, u.display_name || u.username));
    el.appendChild(CL.h("span", { class: "user-role" }, CL.label("roles", u.role) + (u.department_id ? " · " + CL.deptName(u.department_id) : "")));
    el.appendChild(CL.h("button", { type: "button", class: "link-btn", onclick: () => CL.auth.logout() }, CL.t("logout")));
  };
})();
