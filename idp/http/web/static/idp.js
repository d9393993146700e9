/* SPOM Login: comfort only, every page works without it (served as a file: the CSP allows no inline script).
   - Caps Lock warning on password fields (data-capslock="<id of the warning>")
   - show/hide password toggle (buttons with data-toggle="<id of the field>", hidden until this runs) */
(function () {
  "use strict";

  // Show or hide the warning and tie it to the field (aria-describedby) while it is shown.
  function showWarning(field, on) {
    var id = field.getAttribute("data-capslock"), warning = document.getElementById(id);
    if (!warning) { return; }
    warning.hidden = !on;
    var ids = (field.getAttribute("aria-describedby") || "").split(/\s+/).filter(function (x) {
      return x && x !== id;
    });
    if (on) { ids.push(id); }
    if (ids.length) { field.setAttribute("aria-describedby", ids.join(" ")); }
    else { field.removeAttribute("aria-describedby"); }
  }

  function capsLock(event) {
    if (typeof event.getModifierState !== "function") { return; }
    showWarning(event.target, event.getModifierState("CapsLock"));
  }

  function setupCapsLock(field) {
    field.addEventListener("keydown", capsLock);
    field.addEventListener("keyup", capsLock);
    field.addEventListener("blur", function () { showWarning(field, false); });
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
