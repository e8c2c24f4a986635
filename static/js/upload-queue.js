// Photos waiting to upload, kept in IndexedDB so they survive being offline (and a closed tab).
// Loaded by pages (upload.js) and by the service worker (importScripts) for Background Sync.
(() => {
  "use strict";

  const DB_NAME = "rekindle";
  const STORE = "pending-uploads";
  const UPLOAD_URL = "/api/v1/photos";

  function openDb() {
    return new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, 1);
      req.onupgradeneeded = () => req.result.createObjectStore(STORE, { keyPath: "id", autoIncrement: true });
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
  }

  async function withStore(mode, fn) {
    const db = await openDb();
    return new Promise((resolve, reject) => {
      const tx = db.transaction(STORE, mode);
      const result = fn(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(result.result ?? result);
      tx.onerror = () => reject(tx.error);
    });
  }

  const add = (item) => withStore("readwrite", (s) => s.add({ ...item, queuedAt: Date.now() }));
  const all = () => withStore("readonly", (s) => s.getAll());
  const remove = (id) => withStore("readwrite", (s) => s.delete(id));

  function formFor(item) {
    const form = new FormData();
    form.append("file", item.blob, item.filename || "photo.jpg");
    if (item.quad) form.append("quad", JSON.stringify(item.quad));
    form.append("source", item.source || "camera");
    return form;
  }

  // Statuses that say the photo itself will never be accepted: drop it (with its message).
  const FINAL_REFUSALS = new Set([400, 413, 415, 422]);

  // Sends every waiting photo once. Accepted and finally refused photos leave the queue; a
  // network failure, an expired session or a rate limit leaves them waiting for next time.
  // The page ("online" event) and the service worker (Background Sync) may both try at the
  // same moment: a Web Lock shared by both lets only one of them send.
  function flush(options = {}) {
    const locks = self.navigator && self.navigator.locks;
    return locks ? locks.request("rekindle-uploads", () => flushUnlocked(options)) : flushUnlocked(options);
  }

  async function flushUnlocked({ csrfToken } = {}) {
    const results = [];
    for (const item of await all()) {
      let response;
      try {
        response = await fetch(UPLOAD_URL, {
          method: "POST",
          body: formFor(item),
          credentials: "same-origin",
          headers: { "X-CSRFToken": csrfToken || item.csrfToken || "" },
        });
      } catch (err) {
        results.push({ item, ok: false, offline: true });
        break; // still offline: keep the rest for later
      }
      const body = await response.json().catch(() => ({}));
      if (response.ok || FINAL_REFUSALS.has(response.status)) {
        await remove(item.id);
      }
      results.push({ item, ok: response.ok, status: response.status, body });
    }
    return results;
  }

  self.RekindleQueue = { add, all, remove, flush, formFor, UPLOAD_URL };
})();
