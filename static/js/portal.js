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

  // Forms answer 422 with the form and its errors: swap it in like a 200.
  document.addEventListener("htmx:beforeSwap", function (event) {
    if (event.detail.xhr && event.detail.xhr.status === 422) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // A polled region (the approval queue) is not replaced while someone is typing a decision in it.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var target = event.detail.target;
    if (!target || !target.hasAttribute("data-keep-while-editing")) { return; }
    var editing = target.querySelector("details[open]") ||
      (document.activeElement && target.contains(document.activeElement) &&
       /^(TEXTAREA|INPUT)$/.test(document.activeElement.tagName));
    if (editing) { event.detail.shouldSwap = false; }
  });

  // "Full refundable amount": fill the amount field and let its inline check run.
  document.addEventListener("click", function (event) {
    var button = event.target.closest ? event.target.closest("[data-fill-amount]") : null;
    if (!button) { return; }
    var input = document.getElementById(button.getAttribute("data-fill-target"));
    if (!input) { return; }
    input.value = button.getAttribute("data-fill-amount");
    input.dispatchEvent(new Event("input", { bubbles: true }));
    input.focus();
  });

  // Times are shown in the viewer's timezone: tell the server which one that is.
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    if (zone && document.cookie.indexOf("portal_tz=" + zone) === -1) {
      document.cookie = "portal_tz=" + zone + "; path=/; max-age=31536000; SameSite=Lax";
    }
  } catch (ignored) { /* very old browsers: the server's default applies */ }

  // Keyboard: "/" focuses a search box; j/k move through table rows; Enter opens the row.
  // On a list, "/" goes to the list's own filter (used all day there) and a second "/" in that
  // still-empty filter moves on to the header's search; elsewhere "/" goes to the header's search.
  function typing(target) {
    return target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName));
  }
  function focusSearch(search, event) {
    event.preventDefault();
    search.focus();
    search.select();
  }
  document.addEventListener("keydown", function (event) {
    if (event.ctrlKey || event.metaKey || event.altKey) { return; }
    if (event.key === "/") {
      var site = document.querySelector("input[data-site-search]");
      var list = document.querySelector("main input[type=search]");
      if (!typing(event.target)) {
        var search = list || site;
        if (search) { focusSearch(search, event); }
        return;
      }
      if (site && list && event.target === list && list.value === "") { focusSearch(site, event); }
      return;
    }
    if (typing(event.target)) { return; }
    var rows = Array.prototype.slice.call(document.querySelectorAll("[data-keyboard-table] tbody tr"));
    if (!rows.length) { return; }
    var index = rows.indexOf(document.activeElement);
    if (event.key === "j" || event.key === "k") {
      event.preventDefault();
      var next = event.key === "j" ? Math.min(index + 1, rows.length - 1) : Math.max(index - 1, 0);
      rows[index === -1 ? 0 : next].focus();
    } else if (event.key === "Enter" && index !== -1 && rows[index].dataset.href) {
      window.location.assign(rows[index].dataset.href);
    }
  });

  window.portal = { showMessage: showMessage };
})();
