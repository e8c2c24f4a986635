// Share buttons: the Web Share API where the device has it (phones), else copy the link.
(() => {
  "use strict";
  document.addEventListener("click", async (e) => {
    const button = e.target.closest("[data-share-button]");
    if (!button) return;
    const input = button.closest("[data-share]").querySelector("[data-share-url]");
    const url = input.value;
    if (navigator.share) {
      try {
        await navigator.share({ title: "A restored photo", url });
        return;
      } catch (err) {
        if (err.name === "AbortError") return;
      }
    }
    try {
      await navigator.clipboard.writeText(url);
      button.textContent = "Link copied";
    } catch (err) {
      input.select();
      button.textContent = "Press Ctrl+C to copy";
    }
  });
})();
