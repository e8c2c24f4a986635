// Four-corner crop with a live straightened preview.
//
// The picture is drawn on a canvas; four <button> handles (touch, mouse, keyboard: arrow keys
// move the focused corner, Shift for bigger steps) mark the corners of the print. While a
// corner moves, a magnifier shows the area under it, and a second canvas shows the print
// straightened (a perspective warp computed here on a small copy). The quad is kept in
// normalised coordinates of the upright image — the same convention the server uses.
(() => {
  "use strict";

  const CORNERS = ["top-left", "top-right", "bottom-right", "bottom-left"];
  const FULL = () => [[0, 0], [1, 0], [1, 1], [0, 1]];
  const SOURCE_MAX = 900; // working copy for drawing and the preview
  const PREVIEW_MAX = 320;

  // Maps the unit square onto the quad (Heckbert's square-to-quad projective mapping).
  function squareToQuad(q) {
    const [[x0, y0], [x1, y1], [x2, y2], [x3, y3]] = q;
    const dx1 = x1 - x2, dx2 = x3 - x2, dx3 = x0 - x1 + x2 - x3;
    const dy1 = y1 - y2, dy2 = y3 - y2, dy3 = y0 - y1 + y2 - y3;
    let g = 0, h = 0;
    const den = dx1 * dy2 - dx2 * dy1;
    if ((dx3 !== 0 || dy3 !== 0) && den !== 0) {
      g = (dx3 * dy2 - dx2 * dy3) / den;
      h = (dx1 * dy3 - dx3 * dy1) / den;
    }
    const a = x1 - x0 + g * x1, b = x3 - x0 + h * x3, c = x0;
    const d = y1 - y0 + g * y1, e = y3 - y0 + h * y3, f = y0;
    return (u, v) => {
      const w = g * u + h * v + 1;
      return [(a * u + b * v + c) / w, (d * u + e * v + f) / w];
    };
  }

  const dist = (p, q) => Math.hypot(p[0] - q[0], p[1] - q[1]);

  // Output size of the straightened print, from the quad's edge lengths (in pixels).
  function straightenedSize(quad, width, height) {
    const px = quad.map(([x, y]) => [x * width, y * height]);
    return [
      Math.max(dist(px[0], px[1]), dist(px[3], px[2])),
      Math.max(dist(px[0], px[3]), dist(px[1], px[2])),
    ];
  }

  function isConvex(q) {
    let sign = 0;
    for (let i = 0; i < 4; i++) {
      const [ax, ay] = q[i], [bx, by] = q[(i + 1) % 4], [cx, cy] = q[(i + 2) % 4];
      const cross = (bx - ax) * (cy - by) - (by - ay) * (cx - bx);
      if (cross === 0) return false;
      if (sign === 0) sign = Math.sign(cross);
      else if (Math.sign(cross) !== sign) return false;
    }
    return true;
  }

  class Cropper {
    constructor(root, bitmap, { detected = null, onChange = null } = {}) {
      this.root = root;
      this.detected = detected;
      this.onChange = onChange;
      this.quad = FULL();
      this.active = null;

      const scale = Math.min(1, SOURCE_MAX / Math.max(bitmap.width, bitmap.height));
      this.source = document.createElement("canvas");
      this.source.width = Math.round(bitmap.width * scale);
      this.source.height = Math.round(bitmap.height * scale);
      this.source.getContext("2d").drawImage(bitmap, 0, 0, this.source.width, this.source.height);
      this.sourcePixels = this.source.getContext("2d").getImageData(0, 0, this.source.width, this.source.height);

      this.stage = root.querySelector("[data-crop-stage]");
      this.canvas = root.querySelector("[data-crop-canvas]");
      this.preview = root.querySelector("[data-crop-preview]");
      this.loupe = root.querySelector("[data-crop-loupe]");
      this.status = root.querySelector("[data-crop-status]");
      this.canvas.width = this.source.width;
      this.canvas.height = this.source.height;

      this.handles = CORNERS.map((name, i) => {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "crop-handle";
        button.dataset.corner = String(i);
        button.setAttribute("aria-describedby", root.querySelector("[data-crop-help]")?.id || "");
        button.addEventListener("pointerdown", (e) => this.startDrag(e, i));
        button.addEventListener("keydown", (e) => this.onKey(e, i));
        button.addEventListener("focus", () => this.showLoupe(i));
        button.addEventListener("blur", () => this.hideLoupe());
        this.stage.appendChild(button);
        return button;
      });
      this.stage.addEventListener("pointermove", (e) => this.drag(e));
      this.stage.addEventListener("pointerup", () => this.endDrag());
      this.stage.addEventListener("pointercancel", () => this.endDrag());

      root.querySelector("[data-crop-reset]")?.addEventListener("click", () => this.setQuad(FULL()));
      this.detectedButton = root.querySelector("[data-crop-detected]");
      this.detectedButton?.addEventListener("click", () => this.detected && this.setQuad(this.detected));
      this.setDetected(detected);
      this.render();
    }

    setDetected(quad) {
      this.detected = quad;
      if (this.detectedButton) this.detectedButton.disabled = !quad;
      if (quad) this.setQuad(quad);
    }

    setQuad(quad) {
      this.quad = quad.map(([x, y]) => [x, y]);
      this.render();
    }

    pointFromEvent(e) {
      const r = this.canvas.getBoundingClientRect();
      return [
        Math.min(1, Math.max(0, (e.clientX - r.left) / r.width)),
        Math.min(1, Math.max(0, (e.clientY - r.top) / r.height)),
      ];
    }

    startDrag(e, i) {
      e.preventDefault();
      this.active = i;
      this.stage.setPointerCapture?.(e.pointerId);
      this.handles[i].focus();
      this.showLoupe(i);
    }

    drag(e) {
      if (this.active === null) return;
      this.move(this.active, this.pointFromEvent(e));
    }

    endDrag() {
      if (this.active === null) return;
      this.active = null;
      this.hideLoupe();
    }

    onKey(e, i) {
      const step = e.shiftKey ? 0.05 : 0.005;
      const moves = { ArrowLeft: [-step, 0], ArrowRight: [step, 0], ArrowUp: [0, -step], ArrowDown: [0, step] };
      const m = moves[e.key];
      if (!m) return;
      e.preventDefault();
      const [x, y] = this.quad[i];
      this.move(i, [Math.min(1, Math.max(0, x + m[0])), Math.min(1, Math.max(0, y + m[1]))]);
      this.showLoupe(i);
    }

    move(i, point) {
      const next = this.quad.map((p, j) => (j === i ? point : p));
      if (!isConvex(next)) return; // a crossed quad has no sensible straightening
      this.quad = next;
      this.render();
      this.showLoupe(i);
    }

    render() {
      const ctx = this.canvas.getContext("2d");
      const { width: w, height: h } = this.canvas;
      ctx.drawImage(this.source, 0, 0);
      // Dim what will be cut away, outline the print.
      ctx.save();
      ctx.fillStyle = "rgba(0,0,0,0.45)";
      ctx.beginPath();
      ctx.rect(0, 0, w, h);
      this.quad.forEach(([x, y], i) => (i ? ctx.lineTo(x * w, y * h) : ctx.moveTo(x * w, y * h)));
      ctx.closePath();
      ctx.fill("evenodd");
      ctx.strokeStyle = "#f59e0b";
      ctx.lineWidth = Math.max(2, w / 300);
      ctx.beginPath();
      this.quad.forEach(([x, y], i) => (i ? ctx.lineTo(x * w, y * h) : ctx.moveTo(x * w, y * h)));
      ctx.closePath();
      ctx.stroke();
      ctx.restore();

      this.handles.forEach((button, i) => {
        const [x, y] = this.quad[i];
        button.style.left = `${x * 100}%`;
        button.style.top = `${y * 100}%`;
        button.setAttribute(
          "aria-label",
          `${CORNERS[i].replace("-", " ")} corner: ${Math.round(x * 100)}% from the left, ${Math.round(y * 100)}% from the top`,
        );
      });
      this.renderPreview();
      this.onChange?.(this.quad);
    }

    renderPreview() {
      if (!this.preview) return;
      const { width: sw, height: sh, data: src } = this.sourcePixels;
      let [ow, oh] = straightenedSize(this.quad, sw, sh);
      const s = PREVIEW_MAX / Math.max(ow, oh, 1);
      ow = Math.max(1, Math.round(ow * s));
      oh = Math.max(1, Math.round(oh * s));
      this.preview.width = ow;
      this.preview.height = oh;
      const ctx = this.preview.getContext("2d");
      const out = ctx.createImageData(ow, oh);
      const map = squareToQuad(this.quad);
      for (let j = 0; j < oh; j++) {
        for (let i = 0; i < ow; i++) {
          const [x, y] = map((i + 0.5) / ow, (j + 0.5) / oh);
          const sx = Math.min(sw - 1, Math.max(0, Math.floor(x * sw)));
          const sy = Math.min(sh - 1, Math.max(0, Math.floor(y * sh)));
          const si = (sy * sw + sx) * 4, di = (j * ow + i) * 4;
          out.data[di] = src[si];
          out.data[di + 1] = src[si + 1];
          out.data[di + 2] = src[si + 2];
          out.data[di + 3] = 255;
        }
      }
      ctx.putImageData(out, 0, 0);
      if (this.status) {
        this.status.textContent = `Straightened size about ${Math.round(ow / s)} × ${Math.round(oh / s)} (preview).`;
      }
    }

    showLoupe(i) {
      if (!this.loupe) return;
      const size = this.loupe.width;
      const zoom = 3;
      const [x, y] = this.quad[i];
      const ctx = this.loupe.getContext("2d");
      const cx = x * this.source.width, cy = y * this.source.height;
      const half = size / zoom / 2;
      ctx.fillStyle = "#1c1917";
      ctx.fillRect(0, 0, size, size);
      ctx.drawImage(this.source, cx - half, cy - half, half * 2, half * 2, 0, 0, size, size);
      ctx.strokeStyle = "#f59e0b";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(size / 2, 0); ctx.lineTo(size / 2, size);
      ctx.moveTo(0, size / 2); ctx.lineTo(size, size / 2);
      ctx.stroke();
      this.loupe.hidden = false;
      // Keep the magnifier away from the finger: opposite side of the corner being moved.
      this.loupe.classList.toggle("crop-loupe-right", x < 0.5);
    }

    hideLoupe() {
      if (this.loupe && this.active === null) this.loupe.hidden = true;
    }
  }

  window.Rekindle = Object.assign(window.Rekindle || {}, { Cropper, squareToQuad, straightenedSize });
})();
