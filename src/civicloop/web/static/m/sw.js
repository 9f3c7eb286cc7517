/* The inspector app's (城管通) service worker: the app shell from the cache, so the app opens without a network; reports wait
   in the page's IndexedDB outbox (never here), so nothing is sent twice. */
const VERSION = "{{v}}";
const CACHE = "civicloop-m-" + VERSION;
const SHELL = [
  "/m/",
  "/m/manifest.webmanifest",
  "/static/css/base.css?v=" + VERSION,
  "/static/css/mobile.css?v=" + VERSION,
  "/i18n/catalogue.js?v=" + VERSION,
  "/static/js/core.js?v=" + VERSION,
  "/static/js/map.js?v=" + VERSION,
  "/static/js/outbox.js?v=" + VERSION,
  "/static/js/outbox-ui.js?v=" + VERSION,
  "/static/js/mobile.js?v=" + VERSION,
  "/static/vendor/leaflet/leaflet.js",
  "/static/vendor/leaflet/leaflet.css",
  "/static/img/icon-192.png",
  "/static/img/icon-512.png",
  "/api/v1/web/config",
];
const REFRESHED = ["/api/v1/web/config", "/api/v1/geo/areas"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches.keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("civicloop-m-") && k !== CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const req = event.request;
  if (req.method !== "GET") return;
  const url = new URL(req.url);
  if (url.origin !== location.origin) return;
  if (req.mode === "navigate" && url.pathname.startsWith("/m/")) {
    // network first: a fresh page when online, the cached shell when not
    event.respondWith(
      fetch(req).then((res) => { const copy = res.clone(); caches.open(CACHE).then((c) => c.put("/m/", copy)); return res; })
        .catch(() => caches.match("/m/")));
    return;
  }
  if (REFRESHED.some((p) => url.pathname.startsWith(p))) {
    // stale while revalidate: configuration and outlines change rarely
    event.respondWith(caches.open(CACHE).then(async (c) => {
      const hit = await c.match(req);
      const fresh = fetch(req).then((res) => { if (res.ok) c.put(req, res.clone()); return res; }).catch(() => hit);
      return hit || fresh;
    }));
    return;
  }
  if (url.pathname.startsWith("/static/")) {
    event.respondWith(caches.match(req).then((hit) => hit || fetch(req).then((res) => {
      if (res.ok) { const copy = res.clone(); caches.open(CACHE).then((c) => c.put(req, copy)); }
      return res;
    })));
  }
});
