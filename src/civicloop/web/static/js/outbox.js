/* The phone app's outbox (待发送): submissions wait in IndexedDB until the network is back.
   Each report carries its own Idempotency-Key (the record's id), so a retry after a lost answer returns
   the case already created instead of a second one; photos are uploaded once and their references kept. */
(function () {
  "use strict";
  const CL = window.CL;
  const DB = "civicloop-m", STORE = "outbox";

  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    const b = crypto.getRandomValues(new Uint8Array(16));
    b[6] = (b[6] & 0x0f) | 0x40; b[8] = (b[8] & 0x3f) | 0x80;
    const x = [...b].map((v) => v.toString(16).padStart(2, "0")).join("");
    return `${x.slice(0, 8)}-${x.slice(8, 12)}-${x.slice(12, 16)}-${x.slice(16, 20)}-${x.slice(20)}`;
  }

  function open() {
    return new Promise((resolve, reject) => {
      const req = indexedDB.open(DB, 1);
      req.onupgradeneeded = () => { req.result.createObjectStore(STORE, { keyPath: "id" }); };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }
  async function tx(mode, fn) {
    const db = await open();
    return new Promise((resolve, reject) => {
      const t = db.transaction(STORE, mode);
      const store = t.objectStore(STORE);
      let out;
      Promise.resolve(fn(store)).then((v) => { out = v; });
      t.oncomplete = () => { db.close(); resolve(out); };
      t.onerror = () => { db.close(); reject(t.error); };
    });
  }
  const req = (r) => new Promise((resolve, reject) => { r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });

  let flushing = null;
  const listeners = new Set();

  /** What the server made of a submission (its answer's case): shown as the item's outcome. */
  function outcomeOf(c) {
    if (!c) return null;
    return { case_id: c.case_id, stage: c.stage, closure_reason: c.closure_reason || null, duplicate_of: c.duplicate_of || null };
  }

  const Outbox = {
    uuid,
    outcomeOf,

    /** Send a queued or refused item again (after an edit, or once the cause is gone). */
    async retry(id, changes) {
      const item = (await this.all()).find((i) => i.id === id);
      if (!item || item.status === "sent" || item.status === "sending") return null;
      Object.assign(item, changes || {}, { status: "queued", error: null, error_field: null });
      await this.put(item);
      this.flush();
      return item;
    },
    async all() { return (await tx("readonly", (s) => req(s.getAll()))) || []; },
    async put(item) { await tx("readwrite", (s) => req(s.put(item))); listeners.forEach((f) => f()); },
    async remove(id) { await tx("readwrite", (s) => req(s.delete(id))); listeners.forEach((f) => f()); },
    onChange(fn) { listeners.add(fn); },
    async pending() { return (await this.all()).filter((i) => i.status !== "sent"); },

    /** Queue a new submission and try to send it at once. */
    async add(item) {
      item.id = item.id || uuid();
      item.created = item.created || new Date().toISOString();
      item.status = "queued";
      item.attempts = 0;
      item.photo_refs = item.photo_refs || [];
      await this.put(item);
      this.flush();
      return item;
    },

    /** Send everything queued, one at a time; stops at the first network failure. */
    flush() {
      if (flushing) return flushing;
      flushing = (async () => {
        try {
          if (!CL.auth.token()) return;
          const items = (await this.all()).filter((i) => i.status === "queued" || i.status === "sending").sort((a, b) => a.created.localeCompare(b.created));
          for (const item of items) {
            const ok = await this.send(item);
            if (!ok) break;
          }
          const old = Date.now() - 2 * 86400e3;
          for (const i of await this.all()) if (i.status === "sent" && Date.parse(i.sent_at || i.created) < old) await this.remove(i.id);
        } finally { flushing = null; }
      })();
      return flushing;
    },

    /** true: settled (sent or refused for good); false: try again later (offline, server busy). */
    async send(item) {
      item.status = "sending"; item.attempts += 1; item.last_try = new Date().toISOString();
      await this.put(item);
      try {
        // photos first, each once: their references are stored before the report is sent
        for (let i = item.photo_refs.length; i < (item.photos || []).length; i++) {
          const up = await CL.uploadPhoto(item.photos[i]);
          item.photo_refs.push(up.ref);
          await this.put(item);
        }
        let result;
        if (item.kind === "report") {
          const body = Object.assign({}, item.body);
          if (item.photo_refs.length) body.photos = item.photo_refs;
          if (body.lon !== undefined && !body.district_code) {
            try {
              const loc = await CL.api("/api/v1/locate?lon=" + body.lon + "&lat=" + body.lat);
              for (const k of ["grid_code", "community_code", "street_code", "district_code"]) if (loc[k]) body[k] = loc[k];
              body.lon = loc.lon; body.lat = loc.lat;
            } catch (e) { if (!(e instanceof CL.ApiError)) throw e; }
          }
          result = await CL.api("/api/v1/cases", { method: "POST", body, headers: { "Idempotency-Key": item.id } });
          item.case_id = result.case_id; item.replayed = result.replayed; item.outcome = outcomeOf(result.case);
        } else {
          // an action: if it was applied already (the answer was lost), do not apply it twice
          const detail = await CL.api("/api/v1/cases/" + encodeURIComponent(item.case_id));
          const me = (CL.auth.user() || {}).user_id;
          const done = detail.timeline.find((e) => e.action === item.action && e.actor_id === me && e.seq > (item.version || 0));
          if (!done) {
            const body = Object.assign({}, item.body);
            if (item.photo_refs.length) body.photos = item.photo_refs;
            result = await CL.api("/api/v1/cases/" + encodeURIComponent(item.case_id) + "/actions/" + item.action, { method: "POST", body });
            item.outcome = outcomeOf(result.case);
          } else {
            item.outcome = outcomeOf(detail.case);
          }
        }
        item.status = "sent"; item.sent_at = new Date().toISOString(); item.photos = []; item.error = null;
        await this.put(item);
        document.dispatchEvent(new CustomEvent("cl:sent", { detail: item }));
        return true;
      } catch (e) {
        if (e instanceof CL.ApiError && e.status >= 400 && e.status < 500 && e.status !== 401 && e.status !== 408 && e.status !== 429) {
          item.status = "failed"; item.error = e.message; item.error_field = e.field || null;
          await this.put(item);
          return true;
        }
        item.status = "queued"; item.error = e.message || String(e);
        await this.put(item);
        return false;
      }
    },
  };
  CL.outbox = Outbox;
  window.addEventListener("online", () => Outbox.flush());
  setInterval(() => { if (navigator.onLine) Outbox.flush(); }, 10000);
})();
