// Progressive enhancement only: every page works without it.
// A filter <select data-autosubmit> submits its form as soon as it changes; a filter form
// leaves its empty fields out of the address (/?type=CR, not /?type=CR&status=&q=).
function submitFilters(form) {
  for (var i = 0; i < form.elements.length; i++) {
    var field = form.elements[i];
    if (field.name && !field.value) field.disabled = true;
  }
  form.submit();
}
document.addEventListener("change", function (event) {
  var el = event.target;
  if (el.matches && el.matches("select[data-autosubmit]") && el.form) {
    submitFilters(el.form);
  }
});
window.addEventListener("pageshow", function () {  // back from the results: usable again
  var off = document.querySelectorAll("form.filters [disabled]");
  for (var i = 0; i < off.length; i++) off[i].disabled = false;
});
document.addEventListener("submit", function (event) {
  var form = event.target;
  if (form.matches && form.matches("form.filters")) {
    event.preventDefault();
    submitFilters(form);
  }
});

// Pages with a passkey button (signing panel, enrollment, passkey sign-in) load passkey.js.
if (document.querySelector("#sign, #enroll, #pk-signin")) {
  var pk = document.createElement("script");
  pk.src = "/static/passkey.js";
  document.head.appendChild(pk);
}
