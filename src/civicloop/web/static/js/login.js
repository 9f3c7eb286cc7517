/* Login: the token goes to sessionStorage (this tab), then back to where the user came from. */
(function () {
  "use strict";
  const CL = window.CL;

  /* Where to go after login: a path of this site, or null. Browsers drop tabs and line breaks inside a
     URL and read "\" as "/", so "/\evil.example" and "/<TAB>/evil.example" lead to another site: normalise
     as the browser does first, refuse any other control character or space, then keep the target only if
     it resolves to this origin. The server applies the same rule to /login?next= (web/redirects.py). */
  function safeNext(next, origin) {
    if (typeof next !== "string" || next.length === 0 || next.length > 2048) return null;
    const s = next.replace(/[\t\n\r]/g, "").replace(/\\/g, "/");
    if (/[\u0000-\u0020\u007f-\u009f\u2028\u2029]/.test(s)) return null;
    if (!s.startsWith("/") || s.startsWith("//")) return null;
    let u;
    try {
      u = new URL(s, origin);
    } catch (e) {
      return null;
    }
    if (u.origin !== origin) return null;
    return u.pathname + u.search + u.hash;
  }
  CL.safeNext = safeNext;

  /* The submit handler goes on at once, before the start-up fetches: a click that came earlier used to
     submit the form natively, a GET that put the password into the URL (and the server's log). A submit
     before start-up has finished waits for it. */
  const form = document.getElementById("login-form");
  const choice = document.getElementById("city");
  let started;
  const booted = new Promise((resolve) => { started = resolve; });
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    await booted;
    CL.$("#login-error").textContent = "";
    try {
      const res = await CL.api("/api/v1/auth/login", {
        method: "POST",
        anonymous: true,
        body: Object.assign({ username: CL.$("#username").value.trim(), password: CL.$("#password").value },
          CL.$("#city-row").hidden ? {} : { jurisdiction_id: choice.value }),
      });
      CL.auth.save(res);
      const next = safeNext(new URLSearchParams(location.search).get("next"), location.origin);
      location.href = next || (res.user.role === "inspector" ? "/m/" : "/workspace");
    } catch (e) {
      CL.$("#login-error").textContent = CL.t("login_failed") + CL.t("colon") + e.message;
    }
  });

  CL.ready(async () => {
    // Several cities on this server: whose account is it? (one city: no choice shown)
    try {
      const cities = await CL.api("/api/v1/cities", { anonymous: true });
      if (cities.length > 1) {
        cities.forEach((c) => choice.appendChild(CL.h("option", { value: c.jurisdiction_id }, CL.isEn() ? c.name_en : c.name)));
        CL.$("#city-row").hidden = false;
      }
    } catch (e) { /* an older server: one city */ }
    started();
    CL.setReady();
  });
})();
