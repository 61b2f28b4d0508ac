// Progressive enhancement only: every page works without this file.
(function () {
  "use strict";

  // Ask before a destructive form post (forms carry data-confirm).
  document.addEventListener("submit", function (event) {
    var question = event.target.getAttribute && event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // The order page: while the order is pending, ask the server for its status panel.
  // The server holds each request until the order is decided (the API's waitFor), so
  // a request that comes back late is answered by asking again at once; one that comes
  // back early means the server did not wait, and the page asks again more slowly.
  function watch(panel) {
    var url = panel.getAttribute("data-watch");
    var pause = 1000;

    function later(delay) {
      window.setTimeout(ask, delay);
    }

    function apply(html) {
      var holder = document.createElement("div");
      holder.innerHTML = html;
      var fresh = holder.querySelector("#order-status");
      if (!fresh) {
        return null;
      }
      panel.className = fresh.className;
      panel.setAttribute("data-status", fresh.getAttribute("data-status"));
      panel.innerHTML = fresh.innerHTML;
      // Tell other scripts (Stripe's 3-D Secure step) that the panel changed.
      panel.dispatchEvent(new CustomEvent("panthera:status", { bubbles: true }));
      return fresh.getAttribute("data-status");
    }

    function ask() {
      var started = Date.now();
      fetch(url, { credentials: "same-origin", cache: "no-store", headers: { Accept: "text/html" } })
        .then(function (response) {
          if (response.redirected) {
            window.location.assign(response.url); // signed out meanwhile
            return null;
          }
          if (!response.ok) {
            throw new Error("HTTP " + response.status);
          }
          return response.text();
        })
        .then(function (html) {
          if (html === null) {
            return;
          }
          var status = apply(html);
          if (status !== "pending") {
            panel.removeAttribute("data-watch");
            return;
          }
          if (Date.now() - started >= 1000) {
            pause = 1000;
            later(0);
          } else {
            later(pause);
            pause = Math.min(pause * 2, 8000);
          }
        })
        .catch(function () {
          later(pause);
          pause = Math.min(pause * 2, 15000);
        });
    }

    ask();
  }

  var panel = document.querySelector("[data-watch]");
  if (panel) {
    watch(panel);
  }
})();
