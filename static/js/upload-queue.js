// Photos waiting to upload, kept in IndexedDB so they survive being offline (and a closed tab).
// Loaded by pages (upload.js) and by the service worker (importScripts) for Background Sync.
(() => {
  "use strict";

  const DB_NAME = "rekindle";
  const STORE = "pending-uploads";
  const UPLOAD_URL = "/api/v1/photos";
  const PRESIGN_URL = "/api/v1/photos/presign";

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

  // ---- direct uploads (S3 configured: the page's data-direct-upload) ----------------------
  // Ask Django for a presigned POST, send the file straight to the bucket, then tell Django it
  // is there (complete). The photo's bytes never pass through the web servers.

  async function apiPost(url, data, csrfToken) {
    const response = await fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken || "", "Content-Type": "application/json" },
      body: JSON.stringify(data || {}),
    });
    return { ok: response.ok, status: response.status, body: await response.json().catch(() => ({})) };
  }

  const presign = (item, csrfToken) =>
    apiPost(
      PRESIGN_URL,
      {
        content_type: item.blob.type || "image/jpeg", // unknown: the server checks the content anyway
        name: item.filename || "photo.jpg",
        quad: item.quad || null,
        source: item.source || "camera",
        queued_for: item.owner || null,
      },
      csrfToken,
    );
  const complete = (photoId, csrfToken) => apiPost(`${UPLOAD_URL}/${photoId}/complete`, {}, csrfToken);
  // A slot the bucket refused or the person cancelled: its (empty) photo goes now, not in a day.
  const abandon = (photoId, csrfToken) =>
    apiPost(`${UPLOAD_URL}/${photoId}/abandon`, {}, csrfToken).catch(() => null);

  // The presigned fields first, the file last (the bucket ignores fields after the file).
  function bucketForm(upload, item) {
    const form = new FormData();
    for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
    form.append("file", item.blob, item.filename || "photo.jpg");
    return form;
  }

  // The bucket answers in XML (<Code>EntityTooLarge</Code>); say what it means in words.
  function bucketRefusal(status, text, maxBytes, size) {
    const code = (/<Code>([^<]+)<\/Code>/.exec(text || "") || [])[1] || "";
    const mb = (n) => `${(n / (1024 * 1024)).toFixed(1)} MB`;
    if (code === "EntityTooLarge") {
      const limit = Math.floor(maxBytes / (1024 * 1024));
      return { final: true, status: 413, message: `This file is ${mb(size)}; photos can be at most ${limit} MB.` };
    }
    if (/expired/i.test(text || "")) {
      return { final: false, status, message: "The upload took too long and its permission ran out: please try again." };
    }
    return { final: false, status, message: `The photo store refused the upload (${code || `error ${status}`}): please try again.` };
  }

  // The whole direct path with fetch (the service worker has no XMLHttpRequest): the same
  // {ok, status, body} as a response from POST /api/v1/photos. Throws when offline.
  async function sendDirect(item, csrfToken) {
    const slot = await presign(item, csrfToken);
    if (!slot.ok) return slot;
    const { photo, upload, max_bytes: maxBytes } = slot.body;
    let sent;
    try {
      sent = await fetch(upload.url, { method: "POST", body: bucketForm(upload, item) });
    } catch (err) {
      abandon(photo.id, csrfToken);
      throw err;
    }
    if (!sent.ok) {
      const refusal = bucketRefusal(sent.status, await sent.text(), maxBytes, item.blob.size);
      await abandon(photo.id, csrfToken);
      return { ok: false, status: refusal.status, body: { message: refusal.message } };
    }
    return complete(photo.id, csrfToken);
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

  // Sends every waiting photo once, straight to the bucket when the page says direct uploads
  // are on (the service worker goes by what the page said when it queued the photo). Accepted and finally refused photos leave the queue; a
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

  async function sendToDjango(item, csrfToken) {
    const response = await fetch(UPLOAD_URL, {
      method: "POST",
      body: formFor(item),
      credentials: "same-origin",
      headers: { "X-CSRFToken": csrfToken },
    });
    return { ok: response.ok, status: response.status, body: await response.json().catch(() => ({})) };
  }

  async function flushUnlocked({ csrfToken, owner, direct } = {}) {
    const results = [];
    for (const item of await all()) {
      if (!item.owner || (owner && item.owner !== owner)) continue; // another account's photo
      const token = csrfToken || item.csrfToken || "";
      let result;
      try {
        result = (direct ?? item.direct) ? await sendDirect(item, token) : await sendToDjango(item, token);
      } catch (err) {
        results.push({ item, ok: false, offline: true });
        break; // still offline: keep the rest for later
      }
      if (result.ok || FINAL_REFUSALS.has(result.status)) {
        await remove(item.id);
      }
      results.push({ item, ...result });
    }
    return results;
  }

  self.RekindleQueue = {
    add, all, remove, flush, formFor, partition, presign, complete, abandon, bucketForm, bucketRefusal, UPLOAD_URL,
  };
})();
