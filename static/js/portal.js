/* Operations Portal — small behaviours the markup declares. No inline script
   anywhere (the Content-Security-Policy forbids it); this file is the place. */
(function () {
  "use strict";

  function showMessage(text, level) {
    var box = document.getElementById("messages");
    if (!box) { return; }
    var item = document.createElement("div");
    item.className = "message message--" + (level || "error");
    item.textContent = text;
    box.appendChild(item);
  }

  document.addEventListener("htmx:responseError", function (event) {
    var status = event.detail.xhr ? event.detail.xhr.status : 0;
    // 403 fragments carry their own explanation and are swapped in by the server's choice.
    if (status === 403 || status === 401) { return; }
    showMessage("The portal could not complete that request (HTTP " + status + "). Please try again.");
  });

  document.addEventListener("htmx:sendError", function () {
    showMessage("The portal is not reachable right now. Check your connection and try again.");
  });

  // Let fragments that answer 403 replace their target: the server sends a readable notice.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr && event.detail.xhr.status === 403 && !event.detail.xhr.getResponseHeader("HX-Redirect")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // Times are shown in the viewer's timezone: tell the server which one that is.
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("portal_tz=" + zone) === -1) {
      document.cookie = "portal_tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax";
    }
  } catch (ignored) { /* very old browsers: the server's default applies */ }

  window.portal = { showMessage: showMessage };
})();
