// Before/after comparison: the "after" picture lies over the "before" one and is clipped at
// the position of an ordinary range input (the accessible control: keyboard, screen readers).
// On the picture, dragging moves the divider with a mouse or a finger; a vertical swipe still
// scrolls the page (touch-action: pan-y). Zoomed in, dragging the picture pans it and the
// divider moves only by its handle. Pictures are never shown above their real pixels (CSS).
(() => {
  "use strict";

  const MAX_ZOOM = 4;

  function setup(root) {
    const range = root.querySelector("input[type=range]");
    const viewport = root.querySelector("[data-compare-viewport]");
    const after = root.querySelector("[data-compare-after]");
    if (!range || !viewport || !after || root.dataset.compareReady) return;
    root.dataset.compareReady = "true";
    const divider = root.querySelector("[data-compare-divider]");
    const handle = root.querySelector("[data-compare-handle]");
    const stages = root.querySelectorAll(".compare-stage");
    const level = root.querySelector("[data-compare-zoom-level]");
    const zoomButtons = {};
    root.querySelectorAll("[data-compare-zoom]").forEach((b) => {
      zoomButtons[b.dataset.compareZoom] = b;
    });

    // The CSS caps the height at the screen's; it needs the picture's proportions for that.
    const img = after.querySelector("img");
    const proportions = () => {
      const w = Number(img.getAttribute("width")) || img.naturalWidth;
      const h = Number(img.getAttribute("height")) || img.naturalHeight;
      if (w && h) root.style.setProperty("--compare-ratio", String(w / h));
    };
    proportions();
    img.addEventListener("load", proportions);

    const show = () => {
      after.style.clipPath = `inset(0 0 0 ${range.value}%)`;
      if (divider) divider.style.left = `${range.value}%`;
      range.setAttribute("aria-valuetext", `${100 - range.value}% restored picture shown`);
    };
    const dividerTo = (clientX) => {
      const r = viewport.getBoundingClientRect();
      range.value = String(Math.round(Math.min(1, Math.max(0, (clientX - r.left) / r.width)) * 100));
      show();
    };
    range.addEventListener("input", show);

    // Zoom and pan: the same transform on both pictures, kept inside the viewport.
    let scale = 1;
    let tx = 0;
    let ty = 0;
    const place = () => {
      const w = viewport.clientWidth;
      const h = viewport.clientHeight;
      tx = Math.min(0, Math.max(w * (1 - scale), tx));
      ty = Math.min(0, Math.max(h * (1 - scale), ty));
      const transform = scale > 1 ? `translate(${tx}px, ${ty}px) scale(${scale})` : "";
      stages.forEach((s) => {
        s.style.transform = transform;
      });
      root.classList.toggle("compare-zoomed", scale > 1);
      if (level) level.textContent = `Zoom ${scale}×`;
      const focused = document.activeElement;
      const { in: zin, out: zout, reset } = zoomButtons;
      if (zin) zin.disabled = scale >= MAX_ZOOM;
      if (zout) zout.disabled = scale <= 1;
      if (reset) reset.disabled = scale <= 1;
      // A button that just became disabled would drop keyboard focus: hand it to its partner.
      if (focused?.disabled) (focused === zin ? zout : zin)?.focus();
    };
    const zoomTo = (next) => {
      const cx = viewport.clientWidth / 2;
      const cy = viewport.clientHeight / 2;
      tx = cx - ((cx - tx) * next) / scale; // keep the centre where it is
      ty = cy - ((cy - ty) * next) / scale;
      scale = next;
      place();
    };
    zoomButtons.in?.addEventListener("click", () => zoomTo(Math.min(MAX_ZOOM, scale * 2)));
    zoomButtons.out?.addEventListener("click", () => zoomTo(Math.max(1, scale / 2)));
    zoomButtons.reset?.addEventListener("click", () => zoomTo(1));
    window.addEventListener("resize", place);

    let drag = null;
    viewport.addEventListener("pointerdown", (e) => {
      if (drag || e.button > 0) return;
      const onHandle = Boolean(handle?.contains(e.target));
      const mode = scale > 1 && !onHandle ? "pan" : "divider";
      // A finger on the picture may be starting a page scroll: the divider waits until it
      // moves sideways (or lifts, a tap). A mouse, or a finger on the handle, moves it now.
      const follow = mode === "divider" && (e.pointerType !== "touch" || onHandle);
      drag = { id: e.pointerId, mode, follow, x: e.clientX, y: e.clientY, tx, ty };
      viewport.setPointerCapture(e.pointerId);
      if (follow) dividerTo(e.clientX);
      if (e.pointerType !== "touch") e.preventDefault(); // no text selection
    });
    viewport.addEventListener("pointermove", (e) => {
      if (!drag || e.pointerId !== drag.id) return;
      const dx = e.clientX - drag.x;
      const dy = e.clientY - drag.y;
      if (drag.mode === "pan") {
        tx = drag.tx + dx;
        ty = drag.ty + dy;
        place();
        return;
      }
      drag.moved = true;
      if (!drag.follow && Math.abs(dx) > Math.abs(dy)) drag.follow = true;
      if (drag.follow) dividerTo(e.clientX);
    });
    const end = (e) => {
      if (!drag || e.pointerId !== drag.id) return;
      if (e.type === "pointerup" && drag.mode === "divider" && !drag.moved) dividerTo(e.clientX);
      drag = null;
    };
    viewport.addEventListener("pointerup", end);
    viewport.addEventListener("pointercancel", end); // the browser took the gesture: a scroll
    viewport.addEventListener("dragstart", (e) => e.preventDefault());

    show();
    place();
  }

  const init = (scope) => scope.querySelectorAll("[data-compare]").forEach(setup);
  init(document);
  // Results swapped in by htmx (the status partial) get the same behaviour.
  document.addEventListener("htmx:afterSettle", (e) => init(e.target));
})();
