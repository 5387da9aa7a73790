// Live parts of a page: the server sends the page's changed sections (server-sent events),
// which replace theirs; a dropped stream reconnects by itself. Pages work without this.
(function () {
  "use strict";
  var root = document.querySelector("[data-live]");
  var lost = document.getElementById("live-lost");
  if (!root || !window.EventSource) { return; }
  var url = root.getAttribute("data-live");
  var source = null;
  var leaving = false;

  // A form sent (signing out, recording an outcome) takes the page elsewhere: the stream
  // must not race it there (its "signed-out" would land on "your session ended").
  document.addEventListener("submit", function () {
    leaving = true;
    if (source) { source.close(); }
  });

  function countdowns() {
    var now = Date.now();
    document.querySelectorAll("[data-left-s]").forEach(function (element) {
      if (!element.dataset.startedAt) { element.dataset.startedAt = String(now); }
      var left = Number(element.dataset.leftS) - (now - Number(element.dataset.startedAt)) / 1000;
      element.textContent = Math.max(0, Math.round(left)) + " s";
    });
  }

  function replace(sections) {
    Object.keys(sections).forEach(function (id) {
      var element = document.getElementById(id);
      if (element) { element.innerHTML = sections[id]; }
    });
    countdowns();
  }

  function signIn() {
    window.location.href = "/sign-in?expired=1&next=" + encodeURIComponent(window.location.pathname);
  }

  function connect() {
    if (leaving) { return; }
    source = new EventSource(url);
    source.addEventListener("open", function () { lost.hidden = true; });
    source.addEventListener("sections", function (event) {
      lost.hidden = true;
      replace(JSON.parse(event.data));
    });
    source.addEventListener("signed-out", function () {
      source.close();
      if (!leaving) { signIn(); }
    });
    source.addEventListener("error", function () {
      if (leaving) { return; }
      lost.hidden = false;
      if (source.readyState !== EventSource.CLOSED) { return; }  // it retries by itself
      // Refused outright (the server said no, or came back differently): ask the page.
      fetch(window.location.pathname, { redirect: "manual", credentials: "same-origin" })
        .then(function (answer) {
          if (answer.type === "opaqueredirect") { signIn(); } else { setTimeout(connect, 1000); }
        })
        .catch(function () { setTimeout(connect, 1000); });
    });
  }

  connect();
  setInterval(countdowns, 1000);
}());
