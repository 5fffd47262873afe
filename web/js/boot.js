// A classic script, so it runs even where the app's modules cannot: if the app has not started after a
// few seconds (an old browser, a failed download), say so instead of leaving a blank page.
"use strict";
window.setTimeout(function () {
  if (document.documentElement.getAttribute("data-app") === "ready") return;
  var message = document.getElementById("boot-message");
  if (message) {
    message.className = "notice error";
    message.textContent =
      "Seatwise could not start in this browser. Check your connection and reload the page; " +
      "a current version of Chrome, Edge, Firefox or Safari is needed.";
  }
}, 8000);
