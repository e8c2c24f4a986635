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

  // Every photo carries the owner tag of the page that took it (data-queue-owner: whose
  // library it is for). The server refuses it (409) for any other library.
  function formFor(item) {
    const form = new FormData();
    form.append("file", item.blob, item.filename || "photo.jpg");
    if (item.quad) form.append("quad", JSON.stringify(item.quad));
    form.append("source", item.source || "camera");
    if (item.owner) form.append("queued_for", item.owner);
    return form;
  }

  // Waiting photos split by owner: this page's, and other accounts' on this device (photos
  // queued before owners were recorded count as another account's: nobody can say whose).
  async function partition(owner) {
    const items = await all();
    return {
      mine: items.filter((it) => it.owner && it.owner === owner),
      others: items.filter((it) => !it.owner || it.owner !== owner),
    };
  }

  // Statuses that say the photo itself will never be accepted: drop it (with its message).
  const FINAL_REFUSALS = new Set([400, 413, 415, 422]);

  // Sends every waiting photo once. Accepted and finally refused photos leave the queue; a
  // network failure, an expired session, a rate limit or another account signed in (409)
  // leaves them waiting for next time. A page passes its owner and sends only that owner's
  // photos; the service worker, which cannot know who is signed in, sends every photo with
  // an owner and the server keeps each out of any other library.
  // The page ("online" event) and the service worker (Background Sync) may both try at the
  // same moment: a Web Lock shared by both lets only one of them send.
  function flush(options = {}) {
    const locks = self.navigator && self.navigator.locks;
    return locks ? locks.request("rekindle-uploads", () => flushUnlocked(options)) : flushUnlocked(options);
  }

  async function flushUnlocked({ csrfToken, owner } = {}) {
    const results = [];
    for (const item of await all()) {
      if (!item.owner || (owner && item.owner !== owner)) continue; // another account's photo
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

  self.RekindleQueue = { add, all, remove, flush, formFor, partition, UPLOAD_URL };
})();
