// New photo page: camera / gallery / drag-and-drop, crop, shrink, upload with progress.
//
// Files are taken one after another. Each one the browser can draw is shown in the cropper
// (with the server's detected corners when it finds the print's edges); larger than needed
// pictures are shrunk here (long side 2560 px, high-quality JPEG) so phone uploads stay small.
// Pictures the browser cannot draw (HEIC on most desktops) are sent as they are and cropped
// afterwards on the server-made preview. Offline, photos wait in IndexedDB (upload-queue.js)
// and go when the connection returns.
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

  function upload(item, { blob, quad }) {
    item.state = "uploading";
    item.payload = { blob, quad };
    const form = window.RekindleQueue.formFor({ blob, quad, source: item.source, filename: item.file.name, owner });
    errorBox.textContent = "";
    progressPanel.hidden = false;
    retryButton.hidden = true;
    cancelButton.hidden = false;
    progressBar.value = 0;
    progressText.textContent = `Uploading ${item.file.name}…`;

    xhr = new XMLHttpRequest();
    xhr.open("POST", window.RekindleQueue.UPLOAD_URL);
    xhr.setRequestHeader("X-CSRFToken", csrfToken());
    xhr.responseType = "json";
    xhr.upload.addEventListener("progress", (e) => {
      if (!e.lengthComputable) return;
      const pct = Math.round((e.loaded / e.total) * 100);
      progressBar.value = pct;
      progressText.textContent = `Uploading ${item.file.name}: ${pct}%`;
    });
    xhr.addEventListener("load", () => {
      const body = xhr.response || {};
      if (xhr.status >= 200 && xhr.status < 300) {
        item.state = "done";
        progressPanel.hidden = true;
        label(item, photoUrl(body.id) ? "Uploaded" : "Sent to your computer", photoUrl(body.id));
        finished(item, body);
      } else {
        failed(item, body.message || `The upload failed (error ${xhr.status}).`, xhr.status === 429 || xhr.status >= 500);
      }
    });
    xhr.addEventListener("error", () => offlineOrFailed(item));
    xhr.addEventListener("abort", () => {
      item.state = "cancelled";
      progressPanel.hidden = true;
      label(item, "Cancelled");
      next();
    });
    xhr.send(form);
  }

  async function offlineOrFailed(item) {
    if (!navigator.onLine) {
      await window.RekindleQueue.add({ ...item.payload, source: item.source, filename: item.file.name, csrfToken: csrfToken(), owner });
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
  cancelButton?.addEventListener("click", () => xhr && xhr.abort());

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
    const { mine, others } = await window.RekindleQueue.partition(owner);
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
    const { others } = await window.RekindleQueue.partition(owner);
    for (const it of others) await window.RekindleQueue.remove(it.id);
    showPending();
  });

  async function flushPending() {
    if (!navigator.onLine) return;
    showSent(await window.RekindleQueue.flush({ csrfToken: csrfToken(), owner }));
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
