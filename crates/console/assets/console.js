// parley console: clocks, deadline countdowns, and live pages. Events from the station
// (server-sent) make the page fetch itself again and swap in its main section; a FLASH or an
// alarm marks the tab title and sounds until the operator looks at the page.
"use strict";
(function () {
  const pad = (n) => String(n).padStart(2, "0");
  function clocks() {
    const now = new Date();
    const utc = document.getElementById("utc");
    const local = document.getElementById("local");
    if (utc) utc.textContent = `${pad(now.getUTCHours())}:${pad(now.getUTCMinutes())}:${pad(now.getUTCSeconds())}`;
    if (local) local.textContent = `${pad(now.getHours())}:${pad(now.getMinutes())}:${pad(now.getSeconds())}`;
    for (const el of document.querySelectorAll("[data-due-ms]")) {
      const left = Math.round((Number(el.dataset.dueMs) - now.getTime()) / 1000);
      const abs = Math.abs(left);
      const text = `${Math.floor(abs / 60)}:${pad(abs % 60)}`;
      const words = document.body.dataset;
      el.textContent = left >= 0 ? `${words.within} ${text}` : `${words.overdue} ${text}`;
      el.classList.toggle("overdue", left < 0);
    }
  }
  clocks();
  setInterval(clocks, 1000);

  const title = document.title;
  let attention = false;
  function alert() {
    attention = true;
    document.title = "● " + title;
    try {
      const ctx = new AudioContext();
      const osc = ctx.createOscillator();
      osc.frequency.value = 880;
      osc.connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + 0.3);
    } catch (e) { /* no sound without a user gesture: the title still shows it */ }
  }
  document.addEventListener("visibilitychange", () => {
    if (!document.hidden && attention) { attention = false; document.title = title; }
  });

  let refreshing = false;
  async function refresh() {
    if (refreshing) return;
    refreshing = true;
    try {
      const response = await fetch(location.href, {
        credentials: "same-origin",
        headers: { "X-Parley-Refresh": "1" },
      });
      // Never location.reload(): on the page a form answered (POST /notice, /send, ...) it
      // would post the form again, sending the message twice. A session that ended
      // redirects to the login page: go there. A page that cannot be fetched stays.
      if (response.redirected) { location.assign(response.url); return; }
      if (!response.ok) return;
      const doc = new DOMParser().parseFromString(await response.text(), "text/html");
      const fresh = doc.getElementById("main");
      const main = document.getElementById("main");
      const focused = document.activeElement && main.contains(document.activeElement);
      if (fresh && main && !focused) { main.replaceWith(fresh); clocks(); }
    } finally { refreshing = false; }
  }

  // Transcript verification: the file goes up as it is, with the session's CSRF token.
  document.addEventListener("submit", async (submitted) => {
    const form = submitted.target;
    if (form.id !== "verify") return;
    submitted.preventDefault();
    const out = document.getElementById("verified");
    const file = form.querySelector("input[type=file]").files[0];
    if (!file) return;
    const csrf = document.querySelector("meta[name=csrf]").content;
    const response = await fetch(form.dataset.action, {
      method: "POST",
      credentials: "same-origin",
      headers: { "X-CSRF-Token": csrf, "Content-Type": "application/octet-stream" },
      body: file,
    });
    out.textContent = await response.text();
    out.className = response.ok ? "verified ok" : "verified error";
  });

  if (window.EventSource && document.getElementById("main")) {
    const events = new EventSource("/events");
    // Marks the page live once the stream is open (what follows shows without reload).
    events.onopen = () => { document.body.dataset.events = "open"; };
    events.onmessage = (message) => {
      let event = {};
      try { event = JSON.parse(message.data); } catch (e) { return; }
      if ((event.event === "message_stored" && event.precedence === "flash") ||
          (event.event === "alarm" && event.change === "raised")) alert();
      refresh();
    };
  }
})();
