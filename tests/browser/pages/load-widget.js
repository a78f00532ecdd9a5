// Test pages only: load the script named by ?widget= (our widget.js, or Ecwid's loader) the way
// a shop loads it, with <script async>.
(function () {
  var src = new URLSearchParams(location.search).get("widget");
  if (!src) return;
  var script = document.createElement("script");
  script.async = true;
  script.src = src;
  document.head.appendChild(script);
})();
