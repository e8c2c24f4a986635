// Re-crop page: the cropper on the server-made preview (for files the browser could not draw
// before upload, such as HEIC). The chosen corners travel in a hidden field.
(() => {
  "use strict";
  const form = document.querySelector("[data-crop-page]");
  if (!form) return;
  const field = form.querySelector("[data-crop-quad]");
  fetch(form.dataset.imageUrl, { credentials: "same-origin" })
    .then((r) => r.blob())
    .then((blob) => createImageBitmap(blob))
    .then((bitmap) => {
      const cropper = new window.Rekindle.Cropper(form, bitmap, {
        onChange: (quad) => (field.value = JSON.stringify(quad)),
      });
      field.value = JSON.stringify(cropper.quad);
    });
})();
