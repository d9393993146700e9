/* SPOM Login: comfort only, every page works without it (served as a file: the CSP allows no inline script).
   - Caps Lock warning on password fields (data-capslock="<id of the warning>")
   - show/hide password toggle (buttons with data-toggle="<id of the field>", hidden until this runs) */
(function () {
  "use strict";

  function capsLock(event) {
    var warning = document.getElementById(event.target.getAttribute("data-capslock"));
    if (!warning || typeof event.getModifierState !== "function") { return; }
    warning.hidden = !event.getModifierState("CapsLock");
  }

  function setupCapsLock(field) {
    field.addEventListener("keydown", capsLock);
    field.addEventListener("keyup", capsLock);
    field.addEventListener("blur", function () {
      var warning = document.getElementById(field.getAttribute("data-capslock"));
      if (warning) { warning.hidden = true; }
    });
  }

  function setupToggle(button) {
    var field = document.getElementById(button.getAttribute("data-toggle"));
    if (!field) { return; }
    button.hidden = false;
    button.addEventListener("click", function () {
      var show = field.type === "password";
      field.type = show ? "text" : "password";
      button.setAttribute("aria-pressed", show ? "true" : "false");
      button.textContent = button.getAttribute(show ? "data-hide" : "data-show");
      field.focus();
    });
    // Never submit a visible password field's value as autocomplete="off" text: hide it again on submit.
    if (field.form) {
      field.form.addEventListener("submit", function () { field.type = "password"; });
    }
  }

  document.addEventListener("DOMContentLoaded", function () {
    Array.prototype.forEach.call(document.querySelectorAll("input[data-capslock]"), setupCapsLock);
    Array.prototype.forEach.call(document.querySelectorAll("button[data-toggle]"), setupToggle);
  });
}());
