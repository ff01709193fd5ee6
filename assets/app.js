// mnmfa page script: device evidence (refdata), the countdown, and one answer
// per tap. An enhancement only: without it the form still posts, and the
// server enforces expiry and single use whatever this script does.
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
      dpr: window.devicePixelRatio || 1,
      tz: tz,
      platform: navigator.platform || ""
    });
  }

  var send = document.getElementById("send");
  var timer = document.getElementById("timer");
  var notice = document.getElementById("expired");
  var back = document.getElementById("back");
  var left = parseInt(form.getAttribute("data-expires-in"), 10);
  var sent = false, expired = false, pending = null;

  // A second tap while the first post is on its way would only be refused.
  form.addEventListener("submit", function (ev) {
    if (sent || expired) { ev.preventDefault(); return; }
    sent = true;
    if (pending) clearTimeout(pending);
    if (send) send.setAttribute("aria-disabled", "true");
  });

  function expire() {
    expired = true;
    if (timer) timer.hidden = true;
    if (notice) notice.textContent = notice.getAttribute("data-text") || "";
    if (send) send.disabled = true;
    var inputs = form.querySelectorAll("input[name=respuesta]");
    for (var i = 0; i < inputs.length; i++) inputs[i].disabled = true;
    if (back) back.hidden = false;
  }

  // Back from WhatsApp to a page restored from the back/forward cache: ask the
  // server again (it answers "already used" or "expired").
  window.addEventListener("pageshow", function (ev) {
    if (ev.persisted) location.reload();
  });

  if (!timer || isNaN(left)) return;
  var deadline = Date.now() + left * 1000;
  var tmpl = timer.getAttribute("data-template") || "{s}";

  // Counts from the clock, not from the number of ticks, so a page that was
  // in the background (timers throttled) shows the right time when it returns.
  function tick() {
    var s = Math.max(0, Math.ceil((deadline - Date.now()) / 1000));
    if (sent) return;
    if (s <= 0) { expire(); return; }
    var m = Math.floor(s / 60), r = s % 60;
    timer.textContent = tmpl.replace("{s}", m + ":" + (r < 10 ? "0" : "") + r);
    pending = setTimeout(tick, 250);
  }
  tick();
})();
