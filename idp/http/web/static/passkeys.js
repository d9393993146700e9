/* SPOM Login: passkeys (WebAuthn). Served as a file: the CSP allows no inline script.
   A passkey form (form[data-passkey]) comes in a <template data-passkey-template>, put into the page
   only once this script found WebAuthn in the browser; then submitting it asks the server for options
   (POST data-options, with the form's hidden fields and its CSRF token), lets the browser create or
   use a passkey, puts the answer (JSON) into the hidden field "credential" and posts the form for
   real: the server renders what follows.
   Without WebAuthn there is no passkey form and [data-passkey-unsupported] says so; the rest of the page works.
   data-passkey="signin" with data-conditional also offers passkeys in the username field's autofill
   (conditional mediation), where the browser supports it. */
(function () {
  "use strict";

  // WebAuthn refuses IP addresses as relying party IDs: on such an address passkeys cannot work.
  var ipAddress = /^[0-9.]+$|^\[.*\]$/.test(location.hostname);
  var supported = !!(window.PublicKeyCredential && navigator.credentials && window.fetch) && !ipAddress;
  var conditional = null; // the AbortController of a waiting autofill request

  function toBuffer(text) {
    var base64 = text.replace(/-/g, "+").replace(/_/g, "/");
    while (base64.length % 4) { base64 += "="; }
    var binary = atob(base64), bytes = new Uint8Array(binary.length);
    for (var i = 0; i < binary.length; i++) { bytes[i] = binary.charCodeAt(i); }
    return bytes.buffer;
  }

  function toText(buffer) {
    var bytes = new Uint8Array(buffer), binary = "";
    for (var i = 0; i < bytes.length; i++) { binary += String.fromCharCode(bytes[i]); }
    return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function descriptors(list) {
    return (list || []).map(function (d) { return { type: d.type, id: toBuffer(d.id), transports: d.transports }; });
  }

  function creationOptions(json) {
    if (PublicKeyCredential.parseCreationOptionsFromJSON) { return PublicKeyCredential.parseCreationOptionsFromJSON(json); }
    var options = Object.assign({}, json);
    options.challenge = toBuffer(json.challenge);
    options.user = Object.assign({}, json.user, { id: toBuffer(json.user.id) });
    options.excludeCredentials = descriptors(json.excludeCredentials);
    return options;
  }

  function requestOptions(json) {
    if (PublicKeyCredential.parseRequestOptionsFromJSON) { return PublicKeyCredential.parseRequestOptionsFromJSON(json); }
    var options = Object.assign({}, json);
    options.challenge = toBuffer(json.challenge);
    options.allowCredentials = descriptors(json.allowCredentials);
    return options;
  }

  function answer(credential) {
    if (typeof credential.toJSON === "function") { return JSON.stringify(credential.toJSON()); }
    var r = credential.response, out = {
      id: credential.id, rawId: toText(credential.rawId), type: credential.type,
      authenticatorAttachment: credential.authenticatorAttachment || null,
      clientExtensionResults: credential.getClientExtensionResults(),
      response: { clientDataJSON: toText(r.clientDataJSON) }
    };
    if (r.attestationObject) {
      out.response.attestationObject = toText(r.attestationObject);
      out.response.transports = r.getTransports ? r.getTransports() : [];
    } else {
      out.response.authenticatorData = toText(r.authenticatorData);
      out.response.signature = toText(r.signature);
      if (r.userHandle) { out.response.userHandle = toText(r.userHandle); }
    }
    return JSON.stringify(out);
  }

  function say(form, message) {
    var region = document.getElementById(form.getAttribute("data-alert") || "form-alert");
    if (!region) { return; }
    region.textContent = "";
    var p = document.createElement("p");
    p.className = "error";
    p.id = "passkey-error";
    p.textContent = message;
    region.appendChild(p);
  }

  function problem(form, error) {
    if (error && error.name === "AbortError") { return; } // the autofill request gave way to the button
    var key = "data-msg-failed";
    if (error && error.name === "NotAllowedError") { key = "data-msg-cancelled"; }
    else if (error && error.name === "InvalidStateError") { key = "data-msg-exists"; }
    else if (error && error.name === "SecurityError") { key = "data-msg-address"; }
    say(form, error && error.server ? error.server : form.getAttribute(key) || form.getAttribute("data-msg-failed"));
  }

  function options(form) {
    var body = new URLSearchParams();
    Array.prototype.forEach.call(form.querySelectorAll("input[type=hidden]"), function (field) {
      if (field.name !== "credential") { body.append(field.name, field.value); }
    });
    return fetch(form.getAttribute("data-options"), {
      method: "POST", body: body, credentials: "same-origin", headers: { Accept: "application/json" }
    }).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (data) {
        if (!response.ok || data.error) { throw { server: data.error || form.getAttribute("data-msg-failed") }; }
        return data;
      });
    });
  }

  function ceremony(form, mediation, signal) {
    var creating = form.getAttribute("data-passkey") === "account" || form.getAttribute("data-passkey") === "enrol";
    return options(form).then(function (json) {
      if (creating) { return navigator.credentials.create({ publicKey: creationOptions(json) }); }
      var request = { publicKey: requestOptions(json) };
      if (mediation) { request.mediation = mediation; request.signal = signal; }
      return navigator.credentials.get(request);
    }).then(function (credential) {
      if (!credential) { throw { name: "NotAllowedError" }; }
      form.elements.credential.value = answer(credential);
      form.submit();
    });
  }

  function start(form, event) {
    event.preventDefault();
    if (conditional) { conditional.abort(); conditional = null; }
    var button = form.querySelector("[type=submit]");
    if (button) { button.disabled = true; }
    ceremony(form).catch(function (error) {
      problem(form, error);
      if (button) { button.disabled = false; }
    });
  }

  function autofill(form) {
    if (!PublicKeyCredential.isConditionalMediationAvailable) { return; }
    PublicKeyCredential.isConditionalMediationAvailable().then(function (available) {
      if (!available) { return; }
      conditional = new AbortController();
      // Quiet: nobody asked for this request; the button says what goes wrong when it is used.
      // (A passkey picked from the autofill is posted, and the server's page says what became of it.)
      ceremony(form, "conditional", conditional.signal).catch(function () {});
    });
  }

  function setup() {
    // Why there is no passkey form: the browser lacks WebAuthn, or the site was opened by an IP address.
    Array.prototype.forEach.call(document.querySelectorAll("[data-passkey-unsupported]"), function (note) {
      note.hidden = supported || ipAddress;
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-passkey-address]"), function (note) {
      note.hidden = !ipAddress;
    });
    if (!supported) { return; }
    Array.prototype.forEach.call(document.querySelectorAll("template[data-passkey-template]"), function (template) {
      template.parentNode.insertBefore(document.importNode(template.content, true), template.nextSibling);
    });
    Array.prototype.forEach.call(document.querySelectorAll("form[data-passkey]"), function (form) {
      form.addEventListener("submit", function (event) { start(form, event); });
      if (form.hasAttribute("data-conditional")) { autofill(form); }
    });
  }

  if (document.readyState === "loading") { document.addEventListener("DOMContentLoaded", setup); }
  else { setup(); }
})();
