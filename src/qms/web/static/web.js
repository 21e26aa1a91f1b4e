// Progressive enhancement only: every page works without it.
// A filter <select data-autosubmit> submits its form as soon as it changes.
document.addEventListener("change", function (event) {
  var el = event.target;
  if (el.matches && el.matches("select[data-autosubmit]") && el.form) {
    el.form.submit();
  }
});

// Pages with a passkey button (signing panel, enrollment, passkey sign-in) load passkey.js.
if (document.querySelector("#sign, #enroll, #pk-signin")) {
  var pk = document.createElement("script");
  pk.src = "/static/passkey.js";
  document.head.appendChild(pk);
}
