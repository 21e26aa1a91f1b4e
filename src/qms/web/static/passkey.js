// Passkeys: enrollment, sign-in and signing (docs/passkeys.md). No build step: the browser's
// WebAuthn API, base64url for every binary field, JSON to the server with the CSRF token.
(function () {
  "use strict";
  function toBuf(s) {
    s = s.replace(/-/g, "+").replace(/_/g, "/");
    while (s.length % 4) s += "=";
    var bin = atob(s), out = new Uint8Array(bin.length);
    for (var i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
    return out.buffer;
  }
  function toB64u(buf) {
    var bytes = new Uint8Array(buf), bin = "";
    for (var i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }
  function post(url, csrf, body) {
    return fetch(url, {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-QMS-CSRF": csrf},
      body: JSON.stringify(body)}).then(function (r) {
        return r.json().then(function (data) {
          if (!data.ok) throw new Error((data.error && data.error.message) || ("HTTP " + r.status));
          return data;
        });
      });
  }
  function say(el, text, ok) {
    el.textContent = text;
    el.className = "message " + (ok ? "ok-text" : "error-text");
  }
  function requestOptions(json) {
    var o = JSON.parse(json);
    o.challenge = toBuf(o.challenge);
    (o.allowCredentials || []).forEach(function (c) { c.id = toBuf(c.id); });
    return o;
  }
  function assertion(cred) {
    var r = cred.response;
    return {id: cred.id, rawId: toB64u(cred.rawId), type: cred.type,
      clientExtensionResults: {}, response: {
        authenticatorData: toB64u(r.authenticatorData), clientDataJSON: toB64u(r.clientDataJSON),
        signature: toB64u(r.signature), userHandle: r.userHandle ? toB64u(r.userHandle) : null}};
  }
  var CHANGED = "The text changed since you opened this page: reload and read it again.";
  // The challenge the server derives from what is signed (operations/identity/passkeys.py):
  // recomputed here from what this page displayed, so options for another text are refused
  // before the authenticator is asked.
  function challengeOf(parts) {
    var bytes = new TextEncoder().encode(["qms-passkey-v1"].concat(parts).join("|"));
    return crypto.subtle.digest("SHA-256", bytes).then(toB64u);
  }
  function failed(err) {
    return err && err.name === "NotAllowedError"
      ? "The authenticator refused or was cancelled (user verification is required)."
      : String(err && err.message || err);
  }

  var enroll = document.getElementById("enroll");
  if (enroll) {
    document.getElementById("enroll-btn").addEventListener("click", function () {
      var out = document.getElementById("enroll-result");
      var o = JSON.parse(document.getElementById("passkey-options").textContent);
      o.challenge = toBuf(o.challenge);
      o.user.id = toBuf(o.user.id);
      (o.excludeCredentials || []).forEach(function (c) { c.id = toBuf(c.id); });
      navigator.credentials.create({publicKey: o}).then(function (cred) {
        var r = cred.response;
        return post("/passkey/enroll", enroll.dataset.csrf, {nonce: enroll.dataset.nonce,
          credential: {id: cred.id, rawId: toB64u(cred.rawId), type: cred.type,
            clientExtensionResults: {}, response: {
              clientDataJSON: toB64u(r.clientDataJSON),
              attestationObject: toB64u(r.attestationObject),
              transports: r.getTransports ? r.getTransports() : []}}});
      }).then(function (data) {
        say(out, data.message, true);
        document.getElementById("enroll-btn").disabled = true;
      }, function (err) { say(out, failed(err), false); });
    });
  }

  var signin = document.getElementById("pk-signin");
  var signinBtn = document.getElementById("pk-signin-btn");
  if (signin && signinBtn) {
    signinBtn.addEventListener("click", function () {
      var out = document.getElementById("pk-signin-result"), csrf = signin.dataset.csrf, nonce;
      post("/passkey/signin/options", csrf, {}).then(function (data) {
        nonce = data.nonce;
        return navigator.credentials.get({publicKey: requestOptions(data.options)});
      }).then(function (cred) {
        return post("/passkey/signin", csrf, {nonce: nonce, credential: assertion(cred)});
      }).then(function (data) {
        say(out, data.message, true);
        location.assign(signin.dataset.next || "/");
      }, function (err) { say(out, failed(err), false); });
    });
  }

  var panel = document.getElementById("sign");
  var signout = document.getElementById("pk-signout");
  if (panel && signout) {
    signout.addEventListener("click", function () {
      post("/passkey/signout", panel.dataset.csrf, {}).then(function () { location.reload(); },
        function (err) { say(document.getElementById("sign-result"), failed(err), false); });
    });
  }
  if (panel) {
    Array.prototype.forEach.call(panel.querySelectorAll(".sign-btn"), function (btn) {
      btn.addEventListener("click", function () {
        var out = document.getElementById("sign-result"), csrf = panel.dataset.csrf, nonce;
        var box = document.getElementById("sign-comment");
        var comment = box && btn.dataset.comment === "1" ? box.value : "";
        if (btn.dataset.comment === "1" && !comment.trim()) {
          say(out, "A comment is required for " + btn.dataset.action + ".", false);
          return;
        }
        // what this page displayed: sent back with both requests, and checked here too
        var shown = {version: panel.dataset.version, content_sha256: panel.dataset.sha256};
        post("/passkey/sign/options", csrf, {doc_id: panel.dataset.doc,
          action: btn.dataset.action, comment: comment, version: shown.version,
          content_sha256: shown.content_sha256}).then(function (data) {
          nonce = data.nonce;
          var s = data.signing || {};
          if (s.version !== shown.version || s.content_sha256 !== shown.content_sha256)
            throw new Error(CHANGED);
          return challengeOf([panel.dataset.doc, shown.version, shown.content_sha256,
                              btn.dataset.meaning, nonce]).then(function (expected) {
            var options = requestOptions(data.options);
            if (toB64u(options.challenge) !== expected) throw new Error(CHANGED);
            return navigator.credentials.get({publicKey: options});
          });
        }).then(function (cred) {
          return post("/passkey/sign", csrf, {nonce: nonce, credential: assertion(cred),
            version: shown.version, content_sha256: shown.content_sha256});
        }).then(function (data) {
          say(out, data.message, true);
          location.reload();
        }, function (err) { say(out, failed(err), false); });
      });
    });
  }
})();
