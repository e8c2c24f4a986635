// Before/after comparison: the "after" picture sits on top of the "before" one and is clipped
// at the position of an ordinary range input, so the control works with a mouse, by touch
// (dragging anywhere on the picture) and from the keyboard, and screen readers announce it.
(() => {
  "use strict";

  function setup(root) {
    const range = root.querySelector("input[type=range]");
    const after = root.querySelector("[data-compare-after]");
    if (!range || !after) return;
    const apply = () => {
      after.style.clipPath = `inset(0 0 0 ${range.value}%)`;
      range.setAttribute("aria-valuetext", `${100 - range.value}% restored picture shown`);
    };
    range.addEventListener("input", apply);
    const stage = root.querySelector("[data-compare-stage]");
    const fromPointer = (e) => {
      const r = stage.getBoundingClientRect();
      range.value = String(Math.round(Math.min(1, Math.max(0, (e.clientX - r.left) / r.width)) * 100));
      apply();
    };
    stage?.addEventListener("pointerdown", (e) => {
      stage.setPointerCapture?.(e.pointerId);
      fromPointer(e);
    });
    stage?.addEventListener("pointermove", (e) => e.buttons && fromPointer(e));
    // Zoom: the pictures grow inside a scrollable viewport (pan by scrolling or dragging).
    const zoom = root.querySelector("[data-compare-zoom]");
    zoom?.addEventListener("click", () => {
      const on = root.classList.toggle("compare-zoomed");
      zoom.setAttribute("aria-pressed", String(on));
      zoom.textContent = on ? "Zoom out" : "Zoom in";
    });
    apply();
  }

  const init = (scope) => scope.querySelectorAll("[data-compare]").forEach(setup);
  init(document);
  // Results swapped in by htmx (the status partial) get the same behaviour.
  document.addEventListener("htmx:afterSettle", (e) => init(e.target));
})();
