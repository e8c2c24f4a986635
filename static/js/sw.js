// Rekindle service worker. APP_SHELL, CACHE_VERSION and OFFLINE_URL are prepended by the
// server (rekindle/pwa.py). Pages: always the network (they are private and change), with
// the offline page as the fallback. Only /static/ files are cached: private media, API
// answers and share pages never touch the cache.
const SHELL_CACHE = `rekindle-shell-${CACHE_VERSION}`;
importScripts(QUEUE_SCRIPT); // self.RekindleQueue: photos captured offline, in IndexedDB

self.addEventListener("install", (event) => {
  event.waitUntil(
    caches.open(SHELL_CACHE).then((cache) => cache.addAll(APP_SHELL)).then(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) => Promise.all(keys.filter((k) => k.startsWith("rekindle-") && k !== SHELL_CACHE).map((k) => caches.delete(k))))
      .then(() => self.clients.claim()),
  );
});

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    event.respondWith(fetch(request).catch(() => caches.match(OFFLINE_URL)));
  } else if (url.pathname.startsWith("/static/")) {
    event.respondWith(caches.match(request).then((hit) => hit || fetch(request)));
  }
});

// Background Sync: send the photos captured offline once the browser is back online, then
// tell open pages so they can update their "waiting to upload" list.
self.addEventListener("sync", (event) => {
  if (event.tag !== "rekindle-uploads") return;
  event.waitUntil(
    self.RekindleQueue.flush().then(async (results) => {
      if (results.some((r) => r.offline)) throw new Error("still offline"); // the browser retries later
      // Pages show what was sent (the blobs themselves stay here).
      const sent = results.map((r) => ({
        item: { filename: r.item.filename },
        ok: r.ok,
        offline: !!r.offline,
        status: r.status,
        body: r.body,
      }));
      for (const client of await self.clients.matchAll()) client.postMessage({ type: "uploads-flushed", results: sent });
    }),
  );
});
