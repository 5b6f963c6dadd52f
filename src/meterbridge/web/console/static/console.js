// meterbridge console: the little the pages need beyond HTML and htmx (no inline scripts: the
// Content-Security-Policy allows scripts from /console/static only).
document.documentElement.classList.add("js");
document.addEventListener("change", function (event) {
  var target = event.target;
  if (target.matches && target.matches("select[data-autosubmit]") && target.form) {
    target.form.requestSubmit ? target.form.requestSubmit() : target.form.submit();
  }
});
document.addEventListener("click", function (event) {
  var target = event.target.closest ? event.target.closest("[data-confirm]") : null;
  if (target && !window.confirm(target.getAttribute("data-confirm"))) {
    event.preventDefault();
  }
});
document.addEventListener("change", function (event) {
  var target = event.target;
  if (target.matches && target.matches("input[data-check-all]")) {
    var boxes = document.querySelectorAll("input[name='" + target.getAttribute("data-check-all") + "']");
    boxes.forEach(function (box) { box.checked = target.checked; });
  }
});
