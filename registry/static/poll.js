// Reloads a page that follows work in progress (a roll imported in the background)
// every few seconds, as long as the page says so with data-poll-seconds on <main>.
// A script file, not <meta http-equiv="refresh">: screen readers and axe treat a page
// that refreshes itself by a meta tag as an accessibility failure.
(function () {
  var main = document.querySelector("[data-poll-seconds]");
  if (!main) return;
  var seconds = parseInt(main.getAttribute("data-poll-seconds"), 10) || 2;
  setTimeout(function () { window.location.reload(); }, seconds * 1000);
})();
