/* A page shown inside the workspace's case pane (?embed=1): no top bar (the CSP forbids inline script). */
if (new URLSearchParams(location.search).get("embed") === "1") document.documentElement.classList.add("embed");
