/* Login: the token goes to sessionStorage (this tab), then back to where the user came from. */
(function () {
  "use strict";
  const CL = window.CL;
  CL.ready(() => {
    const form = CL.$("#login-form");
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      CL.$("#login-error").textContent = "";
      try {
        const res = await CL.api("/api/v1/auth/login", {
          method: "POST",
          anonymous: true,
          body: { username: CL.$("#username").value.trim(), password: CL.$("#password").value },
        });
        CL.auth.save(res);
        const next = new URLSearchParams(location.search).get("next");
        const safe = next && next.startsWith("/") && !next.startsWith("//") ? next : (res.user.role === "inspector" ? "/m/" : "/workspace");
        location.href = safe;
      } catch (e) {
        CL.$("#login-error").textContent = CL.t("login_failed") + CL.t("colon") + e.message;
      }
    });
  });
})();
