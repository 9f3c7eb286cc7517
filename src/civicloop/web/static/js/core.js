/* civicloop web core: configuration, i18n (简体中文 / English), auth, API calls, SSE, formatting, DOM. */
(function () {
  "use strict";

  const LANG_KEY = "civicloop.lang";
  const TOKEN_KEY = "civicloop.token";
  const USER_KEY = "civicloop.user";

  const T = {
    app_name: ["数字化城市管理指挥中心", "Digital Urban Management Command Center"],
    screen_title: ["指挥大屏", "Command screen"],
    workspace: ["工作台", "Workspace"],
    phone_app: ["城管通（手机端）", "Inspector app (phone)"],
    citizen_page: ["公众服务", "Citizen service"],
    login: ["登录", "Log in"],
    logout: ["退出", "Log out"],
    username: ["用户名", "Username"],
    password: ["密码", "Password"],
    login_failed: ["登录失败", "Login failed"],
    login_hint: ["演示账号由 civicloop demo / seed_demo_users 打印", "Demo accounts are printed by the demo (seed_demo_users)"],
    today_overview: ["今日概况", "Today"],
    today_reports: ["今日上报", "Reports today"],
    today_filed: ["今日立案", "Filed today"],
    today_dispatched: ["今日派遣", "Dispatched today"],
    today_closed: ["今日结案", "Closed today"],
    open_cases: ["在办案卷", "Open cases"],
    urgent: ["紧急", "Urgent"],
    on_time_rate: ["按期结案率", "On-time closure rate"],
    problem_rate: ["问题处置率", "Problem handling rate"],
    light_on_rate: ["着灯率", "Street lights lit"],
    intact_rate: ["设施完好率", "Facilities intact"],
    closure_rate: ["结案率", "Closure rate"],
    this_month: ["本月", "This month"],
    no_data: ["无数据", "no data"],
    computing: ["计算中", "computing"],
    red_overdue: ["红灯·超期", "Red · overdue"],
    yellow_warn: ["黄灯·预警", "Yellow · warning"],
    green_ok: ["绿灯·正常", "Green · on time"],
    no_light: ["无灯", "no light"],
    light_green: ["绿灯", "green"],
    light_yellow: ["黄灯", "yellow"],
    light_red: ["红灯", "red"],
    trend_14: ["近14天上报与结案", "Reports and closures, last 14 days"],
    reports: ["上报", "reports"],
    closed: ["结案", "closed"],
    category_mix: ["在办案卷类别构成", "Open cases by category"],
    dept_ranking: ["部门排名", "Department ranking"],
    department: ["部门", "Department"],
    score: ["综合得分", "Score"],
    grade: ["等级", "Grade"],
    rank: ["名次", "Rank"],
    open_short: ["在办", "Open"],
    red_short: ["红灯", "Red"],
    ticker: ["最新上报", "Latest reports"],
    live: ["实时", "live"],
    reconnecting: ["重连中…", "reconnecting…"],
    offline: ["离线", "offline"],
    online: ["在线", "online"],
    map_legend: ["图例", "Legend"],
    cluster: ["聚合", "cluster"],
    cases_in_view: ["视野内案卷", "cases in view"],
    districts_layer: ["区县", "districts"],
    streets_layer: ["街道", "streets"],
    grids_layer: ["单元网格", "unit grids"],
    kpi_period: ["考核期", "period"],
    stage: ["环节", "Stage"],
    category: ["类别", "Category"],
    case_no: ["案卷号", "Case"],
    due: ["时限", "Due"],
    light: ["灯", "Light"],
    actions: ["操作", "Actions"],
    created: ["上报时间", "Reported"],
    description: ["描述", "Description"],
    address: ["地址", "Address"],
    location: ["位置", "Location"],
    urgency: ["紧急程度", "Urgency"],
    channel: ["来源", "Channel"],
    my_queue: ["我的待办", "My queue"],
    review_queue: ["受理审核", "Intake review"],
    filing_review: ["立案审核", "Filing review"],
    dispatch_board: ["派遣台", "Dispatch board"],
    approvals: ["审批", "Approvals"],
    worklist: ["工作清单（超期优先）", "Worklist (overdue first)"],
    overview: ["指挥概览", "Overview"],
    supervision: ["超期督办", "Overdue · urge"],
    search: ["案卷查询", "Find cases"],
    my_tasks: ["我的任务", "My tasks"],
    empty: ["暂无", "Nothing here"],
    loading: ["加载中…", "Loading…"],
    refresh: ["刷新", "Refresh"],
    submit: ["提交", "Submit"],
    cancel: ["取消", "Cancel"],
    done: ["已完成", "Done"],
    saved: ["已提交", "Submitted"],
    suggestion: ["智能研判建议", "Triage suggestion"],
    suggested_category: ["建议类别", "Suggested category"],
    suggested_department: ["建议部门", "Suggested department"],
    chosen_by_reporter: ["（上报人已选）", "(chosen by the reporter)"],
    duplicates: ["疑似重复", "Possible duplicates"],
    distance: ["距离", "distance"],
    reason: ["理由", "reason"],
    recurrence: ["复发", "recurrence"],
    computed_now: ["（即时计算）", "(computed now)"],
    stored_suggestion: ["（上报时记录）", "(recorded at intake)"],
    merge_duplicate: ["合并为重复", "Merge as duplicate"],
    open_case: ["打开案卷", "Open case"],
    note: ["说明", "Note"],
    photos: ["照片", "Photos"],
    before_photos: ["处置前照片", "Before"],
    after_photos: ["处置后照片", "After"],
    yes: ["是", "yes"],
    no: ["否", "no"],
    amount: ["时长", "Amount"],
    unit: ["单位", "Unit"],
    condition_no: ["立案条件号", "Condition no."],
    timeline: ["流转记录", "Timeline"],
    step_clocks: ["各环节计时", "Step clocks"],
    step: ["环节", "Step"],
    started: ["开始", "Started"],
    deadline: ["截止", "Deadline"],
    ended: ["结束", "Ended"],
    used_limit: ["已用/时限（分钟）", "Used / limit (min)"],
    on_time: ["按时", "On time"],
    running: ["计时中", "running"],
    clock_stopped: ["已停表", "clock stopped"],
    filing_conditions: ["立案条件与结案条件", "Filing and closing conditions"],
    filing: ["立案条件", "Filing condition"],
    closing: ["结案条件", "Closing condition"],
    limit: ["处置时限", "Handling limit"],
    cluster_title: ["重复上报聚类", "Duplicate cluster"],
    duplicate_of: ["重复于", "Duplicate of"],
    members: ["成员", "members"],
    refused: ["无权查看该案卷或案卷不存在", "You may not see this case, or it does not exist"],
    refused_hint: ["案卷只对其所在范围内的人员可见（如专业部门只能查看本部门案卷）。", "A case is visible only within its scope (a department sees its own cases only)."],
    no_actions: ["当前无可执行操作", "No action available to you now"],
    dispatch_suggestion: ["派遣建议", "Dispatch suggestion"],
    report: ["上报", "Report"],
    tasks: ["任务", "Tasks"],
    outbox: ["待发送", "Outbox"],
    take_photo: ["拍照", "Take photo"],
    use_gps: ["GPS 定位", "Use GPS"],
    pick_on_map: ["或在地图上点选位置", "or tap the map to pick the place"],
    located: ["已定位", "Located"],
    not_located: ["尚未定位", "Not located yet"],
    describe_problem: ["简要描述问题，如：路口垃圾成堆", "Describe the problem, e.g. garbage piled at the corner"],
    choose_category: ["选择类别", "Choose a category"],
    send: ["发送", "Send"],
    queued: ["已存入待发送队列", "Saved to the outbox"],
    sent: ["已发送", "Sent"],
    sending: ["发送中", "Sending"],
    failed: ["失败", "Failed"],
    send_now: ["立即发送", "Send now"],
    outbox_empty: ["待发送队列为空", "The outbox is empty"],
    verify_task: ["核实任务", "Verify"],
    check_task: ["核查任务", "Check"],
    verify_true: ["属实", "Confirmed"],
    verify_false: ["不属实", "Not confirmed"],
    check_pass: ["核查通过", "Passed"],
    check_fail: ["核查不通过", "Failed"],
    gps_failed: ["无法获取 GPS 位置，请在地图上点选", "GPS unavailable: tap the map instead"],
    outside_city: ["该位置不在辖区内", "That place is outside the city"],
    citizen_title: ["城市管理 · 公众服务", "City management · citizen service"],
    report_problem: ["我要上报", "Report a problem"],
    track_report: ["进度查询", "Track a report"],
    tracking_number: ["查询编号", "Tracking number"],
    your_tracking_number: ["您的查询编号", "Your tracking number"],
    track: ["查询", "Track"],
    contact_optional: ["联系方式（选填，仅用于回访，不会公开）", "Contact (optional, only for a call back, never published)"],
    name: ["姓名", "Name"],
    phone: ["电话", "Phone"],
    status: ["状态", "Status"],
    outcome: ["处理结果", "Outcome"],
    fixed_yes: ["问题已解决", "The problem was fixed"],
    agency: ["责任单位", "Responsible unit"],
    expected: ["预计完成", "Expected by"],
    updated: ["更新时间", "Updated"],
    progress: ["办理进度", "Progress"],
    not_found: ["未找到该编号", "No report with that number"],
    home_screen: ["面向领导与值班室的实时大屏：地图、红黄绿灯、指标与排名", "Live screen for leaders and the duty room: map, lights, KPIs, rankings"],
    home_workspace: ["受理员、值班长、派遣员、专业部门与领导的岗位工作台", "Role workspaces for operators, shift leaders, dispatchers, departments, leaders"],
    home_phone: ["监督员手机端：拍照上报、核实、核查，断网可用", "Inspector phone app: report with photos, verify, check; works offline"],
    home_public: ["市民上报问题、查询办理进度", "Citizens report problems and track them"],
    language: ["语言", "Language"],
    user: ["用户", "User"],
    role: ["岗位", "Role"],
    scope: ["范围", "Scope"],
    all_city: ["全市", "whole city"],
    overdue: ["超期", "overdue"],
    urge_note: ["督办意见", "Supervision note"],
    private_notice: ["我们不会公开您的个人信息；描述中的电话、身份证号会自动打码。", "Your personal data is never published; phone and ID numbers in the text are masked."],
    pick_location_first: ["请先定位或在地图上选择位置", "Locate yourself or pick the place on the map first"],
    description_required: ["请填写问题描述", "Please describe the problem"],
    category_required: ["请选择类别", "Please choose a category"],
    photo_added: ["已添加照片", "Photo added"],
    replayed: ["（重复提交，已返回原编号）", "(a repeat: the same number)"],
    kpi_source: ["指标来自 KPI 引擎（本月）", "KPIs from the KPI engine (this month)"],
    case_page: ["案卷详情", "Case"],
    back: ["返回", "Back"],
    district: ["区县", "District"],
    grid: ["网格", "Grid"],
    handling_clock: ["处置计时", "Handling clock"],
    reporter_hidden: ["诉求人信息不在此显示", "The reporter's details are not shown here"],
    open_in_screen: ["大屏", "Screen"],
    filter: ["筛选", "Filter"],
    all: ["全部", "all"],
    total: ["共", "total"],
    page_no: ["页", "page"],
    new_report: ["新上报", "new report"],
    conditions_current: ["本案适用", "applies"],
  };

  const CL = (window.CL = window.CL || {});
  window.__cl = window.__cl || { shown: {}, marks: {} };

  function storedLang() {
    const v = localStorage.getItem(LANG_KEY);
    return v === "en" || v === "zh-CN" ? v : null;
  }

  CL.lang = storedLang() || "zh-CN";
  CL.isEn = () => CL.lang === "en";
  CL.t = function (key) {
    const row = T[key];
    if (!row) return key;
    return CL.isEn() ? row[1] : row[0];
  };
  CL.addTexts = function (more) { Object.assign(T, more); };
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
    root.querySelectorAll("[data-lang-switch]").forEach((el) => renderSwitch(el));
  };
  function renderSwitch(el) {
    el.textContent = "";
    [["zh-CN", "中文"], ["en", "EN"]].forEach(([code, label]) => {
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
    },
    clear() { sessionStorage.removeItem(TOKEN_KEY); sessionStorage.removeItem(USER_KEY); },
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

  CL.api = async function (path, opts) {
    opts = opts || {};
    const headers = Object.assign({ Accept: "application/json", "Accept-Language": CL.lang }, opts.headers || {});
    const token = CL.auth.token();
    if (token && !opts.anonymous) headers.Authorization = "Bearer " + token;
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
          const res = await fetch(path, { headers: { Authorization: "Bearer " + CL.auth.token(), Accept: "text/event-stream" }, signal: controller.signal, cache: "no-store" });
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
      document.querySelectorAll("[data-city-name]").forEach((el) => { el.textContent = CL.cityName(); });
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
