// mnmfa page script: the countdown and the device evidence (refdata).
// An enhancement only: the page works without it.
(function () {
  "use strict";
  var form = document.getElementById("challenge");
  if (!form) return;

  // Device evidence gathered here, never from third-party services: the
  // server records the IP address it sees itself.
  var ref = document.getElementById("refdata");
  if (ref && window.JSON) {
    var tz = "";
    try { tz = Intl.DateTimeFormat().resolvedOptions().timeZone || ""; } catch (e) { tz = ""; }
    ref.value = JSON.stringify({
      ua: navigator.userAgent || "",
      lang: navigator.language || "",
      screen: (screen.width || 0) + "x" + (screen.height || 0),
      tz: tz,
      platform: navigator.platform || ""
    });
  }

  var timer = document.getElementById("timer");
  var submit = document.getElementById("submit");
  var left = parseInt(form.getAttribute("data-expires-in"), 10);
  if (!timer || isNaN(left)) return;
  var deadline = Date.now() + left * 1000;
  var tmpl = timer.getAttribute("data-template") || "{s}";
  var expiredText = timer.getAttribute("data-expired") || "";

  function tick() {
    var s = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    if (s <= 0) {
      timer.textContent = expiredText;
      timer.className = "timer expired";
      if (submit) submit.disabled = true;
      var inputs = form.querySelectorAll("input[name=respuesta]");
      for (var i = 0; i < inputs.length; i++) inputs[i].disabled = true;
      return;
    }
    var m = Math.floor(s / 60), r = s % 60;
    timer.textContent = tmpl.replace("{s}", m + ":" + (r < 10 ? "0" : "") + r);
    setTimeout(tick, 250);
  }
  tick();
})();
