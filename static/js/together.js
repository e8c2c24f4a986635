// Bring together: numbers the chosen photos in the order they were ticked ("Picture 1"), keeps
// that order in the form's hidden "order" field, says how many are chosen, and stops at three
// (the other boxes are disabled until one is unticked). Without it the form still works, in
// the page's order.
(function () {
  "use strict";
  var form = document.querySelector("[data-together]");
  if (!form) return;
  var MOST = 3;
  var boxes = Array.prototype.slice.call(form.querySelectorAll("[data-together-pick]"));
  var orderField = form.querySelector("[data-together-order]");
  var count = form.querySelector("[data-together-count]");
  var order = (orderField.value ? orderField.value.split(",") : []).filter(function (value) {
    return boxes.some(function (box) { return box.value === value && box.checked; });
  });
  boxes.forEach(function (box) {
    if (box.checked && order.indexOf(box.value) < 0) order.push(box.value);
  });

  function render() {
    orderField.value = order.join(",");
    boxes.forEach(function (box) {
      var at = order.indexOf(box.value);
      var mark = box.parentNode.querySelector("[data-together-position]");
      if (mark) mark.textContent = at >= 0 ? "(picture " + (at + 1) + ")" : "";
      box.disabled = at < 0 && order.length >= MOST;
    });
    if (!order.length) count.textContent = "None chosen yet.";
    else if (order.length < 2) count.textContent = "1 chosen: choose at least one more.";
    else if (order.length < MOST) count.textContent = order.length + " chosen: you can add one more.";
    else count.textContent = MOST + " chosen, the most: untick one to choose another.";
  }

  boxes.forEach(function (box) {
    box.addEventListener("change", function () {
      var at = order.indexOf(box.value);
      if (box.checked && at < 0) order.push(box.value);
      if (!box.checked && at >= 0) order.splice(at, 1);
      render();
    });
  });
  render();
})();
