// New photo page: camera / gallery / drag-and-drop, crop, shrink, upload with progress.
//
// Files are taken one after another. Each one the browser can draw is shown in the cropper
// (with the server's detected corners when it finds the print's edges); larger than needed
// pictures are shrunk here (long side 2560 px, high-quality JPEG) so phone uploads stay small.
// Pictures the browser cannot draw (HEIC on most desktops) are sent as they are and cropped
// afterwards on the server-made preview. Offline, photos wait in IndexedDB (upload-queue.js)
// and go when the connection returns. With S3 configured (data-direct-upload) the file goes
// straight to the bucket on a presigned POST; otherwise it is posted to Django.
(() => {
  "use strict";

  const root = document.querySelector("[data-uploader]");
  if (!root) return;

  const MAX_SIDE = 2560;
  const JPEG_QUALITY = 0.92;
  const DETECT_SIDE = 640;
  const csrfToken = () => document.querySelector("[name=csrfmiddlewaretoken]")?.value || "";
  // Whose library this page uploads into: queued photos keep it, so they never land in the
  // library of someone who signs in on this device later.
  const owner = root.dataset.queueOwner || "";
  const direct = "directUpload" in root.dataset;
  const Q = window.RekindleQueue;

  const el = (sel) => root.querySelector(sel);
  const queueList = el("[data-file-queue]");
  const cropPanel = el("[data-cropper]");
  const progressPanel = el("[data-progress]");
  const progressBar = el("[data-progress] progress");
  const progressText = el("[data-progress-text]");
  const errorBox = el("[data-upload-error]");
  const pendingList = el("[data-pending]");
  const uploadButton = el("[data-upload]");
  const cancelButton = el("[data-cancel]");
  const retryButton = el("[data-retry]");
  const skipButton = el("[data-skip]");
  // On the hand-off phone page there is no page to go to: the photo lands on the computer.
  const photoUrl = (id) => (root.dataset.photoUrlTemplate ? root.dataset.photoUrlTemplate.replace("{id}", id) : null);

  const files = [];
  let current = null;
  let cropper = null;
  let xhr = null;
  let cancelled = false;

  // ---- choosing files -------------------------------------------------------------------

  function take(fileList, source) {
    for (const file of fileList) {
      const item = { file, source, state: "waiting", li: document.createElement("li") };
      item.li.className = "file-item";
      queueList.appendChild(item.li);
      files.push(item);
      label(item, "Waiting");
    }
    if (!current) next();
  }

  function label(item, text, link) {
    item.li.textContent = `${item.file.name}: ${text}`;
    if (link) {
      const a = document.createElement("a");
      a.href = link;
      a.className = "underline ml-2";
      a.textContent = "Open";
      item.li.appendChild(a);
    }
  }

  root.querySelectorAll("input[type=file][data-source]").forEach((input) => {
    input.addEventListener("change", () => {
      take(input.files, input.dataset.source);
      input.value = "";
    });
  });

  const dropzone = el("[data-dropzone]");
  if (dropzone) {
    ["dragenter", "dragover"].forEach((t) =>
      dropzone.addEventListener(t, (e) => {
        e.preventDefault();
        dropzone.classList.add("dropzone-active");
      }),
    );
    ["dragleave", "drop"].forEach((t) => dropzone.addEventListener(t, () => dropzone.classList.remove("dropzone-active")));
    dropzone.addEventListener("drop", (e) => {
      e.preventDefault();
      take(e.dataTransfer.files, "drop");
    });
  }

  // ---- one file at a time -----------------------------------------------------------------

  async function next() {
    current = files.find((f) => f.state === "waiting") || null;
    cropPanel.hidden = true;
    if (!current) return;
    current.state = "cropping";
    errorBox.textContent = "";
    let bitmap = null;
    try {
      bitmap = await createImageBitmap(current.file, { imageOrientation: "from-image" });
    } catch (err) {
      bitmap = null; // e.g. HEIC in a browser that cannot decode it
    }
    current.bitmap = bitmap;
    if (!bitmap) {
      label(current, "Sending; you can straighten it once it is ready");
      upload(current, { blob: current.file, quad: null });
      return;
    }
    label(current, "Straighten it, then upload");
    cropPanel.hidden = false;
    cropper = new window.Rekindle.Cropper(cropPanel, bitmap, {});
    cropPanel.querySelector("[data-crop-canvas]").scrollIntoView({ block: "nearest" });
    detectCorners(bitmap).then((quad) => quad && current && current.bitmap === bitmap && cropper.setDetected(quad));
  }

  function canvasBlob(bitmap, maxSide, quality) {
    const scale = Math.min(1, maxSide / Math.max(bitmap.width, bitmap.height));
    const canvas = document.createElement("canvas");
    canvas.width = Math.round(bitmap.width * scale);
    canvas.height = Math.round(bitmap.height * scale);
    canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
    return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", quality));
  }

  async function detectCorners(bitmap) {
    if (!root.dataset.detectUrl || !navigator.onLine) return null;
    try {
      const form = new FormData();
      form.append("file", await canvasBlob(bitmap, DETECT_SIDE, 0.85), "detect.jpg");
      const response = await fetch(root.dataset.detectUrl, {
        method: "POST",
        body: form,
        credentials: "same-origin",
        headers: { "X-CSRFToken": csrfToken() },
      });
      if (!response.ok) return null;
      const body = await response.json();
      return body.found ? body.quad : null;
    } catch (err) {
      return null;
    }
  }

  // Only pictures larger than needed are re-encoded; the rest go as they are.
  async function prepared(item) {
    const { bitmap, file } = item;
    if (Math.max(bitmap.width, bitmap.height) <= MAX_SIDE) return file;
    return canvasBlob(bitmap, MAX_SIDE, JPEG_QUALITY);
  }

  uploadButton?.addEventListener("click", async () => {
    if (!current || !cropper) return;
    const quad = cropper.quad;
    cropPanel.hidden = true;
    upload(current, { blob: await prepared(current), quad });
  });

  skipButton?.addEventListener("click", () => {
    if (!current) return;
    current.state = "skipped";
    label(current, "Skipped");
    next();
  });

  // ---- sending ----------------------------------------------------------------------------

  // One request with upload progress (XHR: fetch has no upload progress). Resolves with the
  // status and body text; rejects with "abort" (Cancel) or "network" (connection lost).
  function send(url, form, item, headers = {}) {
    return new Promise((resolve, reject) => {
      if (cancelled) return reject(new Error("abort"));
      const request = new XMLHttpRequest();
      xhr = request;
      request.open("POST", url);
      for (const [name, value] of Object.entries(headers)) request.setRequestHeader(name, value);
      request.upload.addEventListener("progress", (e) => {
        if (!e.lengthComputable) return;
        const pct = Math.round((e.loaded / e.total) * 100);
        progressBar.value = pct;
        progressText.textContent = `Uploading ${item.file.name}: ${pct}%`;
      });
      request.addEventListener("load", () => resolve({ status: request.status, text: request.responseText }));
      request.addEventListener("error", () => reject(new Error("network")));
      request.addEventListener("abort", () => reject(new Error("abort")));
      request.send(form);
    });
  }

  const json = (text) => {
    try {
      return JSON.parse(text) || {};
    } catch (err) {
      return {};
    }
  };
  const ok = (status) => status >= 200 && status < 300;
  const apiFailure = (status, body) => ({
    ok: false,
    message: body.message || `The upload failed (error ${status}).`,
    retry: status === 429 || status >= 500,
  });

  async function sendToDjango(item, payload) {
    const sent = await send(Q.UPLOAD_URL, Q.formFor(payload), item, { "X-CSRFToken": csrfToken() });
    const body = json(sent.text);
    return ok(sent.status) ? { ok: true, body } : apiFailure(sent.status, body);
  }

  // Presign, the file to the bucket (with progress), complete: the bytes skip Django.
  async function sendToBucket(item, payload) {
    const slot = await Q.presign(payload, csrfToken());
    if (!slot.ok) return apiFailure(slot.status, slot.body);
    const { photo, upload, max_bytes: maxBytes } = slot.body;
    let sent;
    try {
      sent = await send(upload.url, Q.bucketForm(upload, payload), item);
    } catch (err) {
      Q.abandon(photo.id, csrfToken());
      throw err;
    }
    if (!ok(sent.status)) {
      Q.abandon(photo.id, csrfToken());
      const refusal = Q.bucketRefusal(sent.status, sent.text, maxBytes, payload.blob.size);
      return { ok: false, message: refusal.message, retry: !refusal.final };
    }
    const done = await Q.complete(photo.id, csrfToken());
    return done.ok ? { ok: true, body: done.body } : apiFailure(done.status, done.body);
  }

  async function upload(item, { blob, quad }) {
    item.state = "uploading";
    item.payload = { blob, quad };
    cancelled = false;
    errorBox.textContent = "";
    progressPanel.hidden = false;
    retryButton.hidden = true;
    cancelButton.hidden = false;
    progressBar.value = 0;
    progressText.textContent = `Uploading ${item.file.name}…`;
    const payload = { blob, quad, source: item.source, filename: item.file.name, owner };
    let result;
    try {
      result = await (direct ? sendToBucket(item, payload) : sendToDjango(item, payload));
    } catch (err) {
      if (cancelled || err.message === "abort") {
        item.state = "cancelled";
        progressPanel.hidden = true;
        label(item, "Cancelled");
        next();
      } else {
        offlineOrFailed(item);
      }
      return;
    }
    if (result.ok) {
      item.state = "done";
      progressPanel.hidden = true;
      label(item, photoUrl(result.body.id) ? "Uploaded" : "Sent to your computer", photoUrl(result.body.id));
      finished(item, result.body);
    } else {
      failed(item, result.message, result.retry);
    }
  }

  async function offlineOrFailed(item) {
    if (!navigator.onLine) {
      await Q.add({ ...item.payload, source: item.source, filename: item.file.name, csrfToken: csrfToken(), owner, direct });
      item.state = "queued-offline";
      progressPanel.hidden = true;
      label(item, "Waiting to upload (offline)");
      requestSync();
      showPending();
      next();
    } else {
      failed(item, "The connection dropped during the upload.", true);
    }
  }

  function failed(item, message, canRetry) {
    item.state = "failed";
    errorBox.textContent = `${item.file.name}: ${message}`;
    label(item, "Not uploaded");
    cancelButton.hidden = true;
    retryButton.hidden = !canRetry;
    progressPanel.hidden = !canRetry;
    if (!canRetry) next();
  }

  retryButton?.addEventListener("click", () => {
    const item = files.find((f) => f.state === "failed" && f.payload);
    if (item) upload(item, item.payload);
  });
  cancelButton?.addEventListener("click", () => {
    cancelled = true; // also stops a direct upload between its requests
    if (xhr) xhr.abort();
  });

  function finished(item, body) {
    const remaining = files.some((f) => f.state === "waiting");
    if (photoUrl(body.id) && !remaining && files.filter((f) => f.state === "done").length === 1 && files.length === 1) {
      window.location.assign(photoUrl(body.id));
      return;
    }
    next();
  }

  // ---- offline queue ----------------------------------------------------------------------

  async function requestSync() {
    try {
      const reg = await navigator.serviceWorker?.ready;
      await reg?.sync?.register("rekindle-uploads");
    } catch (err) {
      // No Background Sync here: the `online` listener below sends them instead.
    }
  }

  const foreignBox = el("[data-foreign]");

  async function showPending() {
    if (!pendingList) return;
    const { mine, others } = await Q.partition(owner);
    pendingList.replaceChildren(
      ...mine.map((it) => {
        const li = document.createElement("li");
        li.textContent = `${it.filename}: waiting to upload`;
        return li;
      }),
    );
    pendingList.hidden = mine.length === 0;
    if (foreignBox) {
      const n = others.length;
      foreignBox.querySelector("[data-foreign-text]").textContent =
        `${n} ${n === 1 ? "photo" : "photos"} waiting for another account on this device. ` +
        `${n === 1 ? "It goes" : "They go"} to that account's library when it signs in here, never to yours.`;
      foreignBox.hidden = n === 0;
    }
  }

  foreignBox?.querySelector("[data-discard-foreign]")?.addEventListener("click", async () => {
    const { others } = await Q.partition(owner);
    for (const it of others) await Q.remove(it.id);
    showPending();
  });

  async function flushPending() {
    if (!navigator.onLine) return;
    showSent(await Q.flush({ csrfToken: csrfToken(), owner, direct }));
  }

  function showSent(results) {
    for (const r of results) {
      if (r.ok) {
        const li = document.createElement("li");
        li.className = "file-item";
        li.textContent = `${r.item.filename}: uploaded`;
        if (photoUrl(r.body.id)) {
          const a = document.createElement("a");
          a.href = photoUrl(r.body.id);
          a.className = "underline ml-2";
          a.textContent = "Open";
          li.appendChild(a);
        }
        queueList.appendChild(li);
      } else if (!r.offline && r.status !== 409 && r.body?.message) {
        // (409: the service worker tried another account's photo; it stays, counted above.)
        errorBox.textContent = `${r.item.filename}: ${r.body.message}`;
      }
    }
    showPending();
  }

  window.addEventListener("online", flushPending);
  navigator.serviceWorker?.addEventListener("message", (e) => {
    if (e.data && e.data.type === "uploads-flushed") showSent(e.data.results);
  });
  showPending().then(flushPending);
})();
