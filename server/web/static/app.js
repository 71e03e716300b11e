// byoi web UI: live updates. Elements with data-live="NAME" are replaced
// by the server-rendered HTML of the server-sent event NAME. Hand-written,
// no build step. Without JavaScript the pages still work (reload them).
(function () {
  "use strict";
  var url = document.body.getAttribute("data-events");
  var status = document.getElementById("live-status");
  if (!url || !window.EventSource) {
    if (status) status.textContent = "reload for updates";
    return;
  }
  var es = new EventSource(url);
  var parts = document.querySelectorAll("[data-live]");
  Array.prototype.forEach.call(parts, function (el) {
    es.addEventListener(el.getAttribute("data-live"), function (e) {
      el.innerHTML = e.data;
      document.body.setAttribute("data-updated", String(Date.now()));
    });
  });
  es.addEventListener("logout", function () {
    es.close();
    window.location.href = "/ui/login";
  });
  es.addEventListener("error", function (e) {
    if (e.data && status) status.textContent = e.data;
  });
  es.onopen = function () {
    if (status) { status.textContent = "live"; status.className = "live on"; }
  };
  es.onerror = function () {
    if (status) { status.textContent = "reconnecting…"; status.className = "live off"; }
  };
})();
