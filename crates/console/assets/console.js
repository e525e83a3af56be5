// parley console: clocks, deadline countdowns, live pages, and code and notice forms checked
// before they are sent. Events from the station (server-sent, one stream per browser shared
// by its tabs) make the page fetch itself again and swap in its main section. The server
// counts what awaits the operators (open alarms, FLASH messages not answered) in the main
// section's data-attention: while it is above zero the tab title is marked with it, until
// they are acknowledged and answered (looking at the page does not clear it); when it rises
// (a new FLASH or alarm) the page sounds.
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
  // The count this tab last showed, kept across its pages: one that rose while the operator
  // went from page to page still sounds.
  const SHOWN_KEY = "parley-attention";
  function lastShown() {
    try {
      const n = Number(sessionStorage.getItem(SHOWN_KEY));
      return Number.isSafeInteger(n) && n > 0 ? n : 0;
    } catch (e) { return 0; }
  }
  let shown = lastShown();
  function attentionNow() {
    const main = document.getElementById("main");
    const n = main ? Number(main.dataset.attention) : 0;
    return Number.isSafeInteger(n) && n > 0 ? n : 0;
  }
  function sound() {
    try {
      const ctx = new AudioContext();
      const osc = ctx.createOscillator();
      osc.frequency.value = 880;
      osc.connect(ctx.destination);
      osc.start();
      osc.stop(ctx.currentTime + 0.3);
    } catch (e) { /* no sound without a user gesture: the title still shows it */ }
  }
  // The title from the count the page shows; a sound when it rose.
  function attention() {
    const n = attentionNow();
    document.title = n > 0 ? `● (${n}) ${title}` : title;
    if (n > shown) sound();
    shown = n;
    try { sessionStorage.setItem(SHOWN_KEY, String(n)); } catch (e) { /* the title is enough */ }
  }
  if (document.getElementById("main")) attention();

  // One fetch of the page at a time; an event during one asks for another after it, so the
  // last event's state always shows.
  let refreshing = false;
  let again = false;
  async function refresh() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    try {
      do {
        again = false;
        if (!(await refreshOnce())) return;
      } while (again);
    } finally { refreshing = false; }
  }
  // Fetches the page and swaps in its main section; false when the page is being left. A
  // page that answers a form the station refused sits at the form's URL, which takes only
  // the form: it names the page to fetch instead (data-refresh), for the nav's badges and
  // the count, and keeps its own main section, the refusal and the form as filled in.
  // Whether a field in `section` holds anything but what the page came with: an operator's
  // half-written message, which a fresh copy of the page would throw away.
  function typedInto(section) {
    for (const field of section.querySelectorAll("input, textarea, select")) {
      if (field.type === "hidden") continue;
      if (field.type === "checkbox" || field.type === "radio") {
        if (field.checked !== field.defaultChecked) return true;
      } else if (field.tagName === "SELECT" && field.multiple) {
        for (const option of field.options) {
          if (option.selected !== option.defaultSelected) return true;
        }
      } else if (field.tagName === "SELECT") {
        // A single choice none of whose options the page marked comes with its first chosen
        // (of several marked, the last).
        let initial = field.options.length > 0 ? 0 : -1;
        for (let i = 0; i < field.options.length; i++) {
          if (field.options[i].defaultSelected) initial = i;
        }
        if (field.selectedIndex !== initial) return true;
      } else if (field.type === "file") {
        if (field.files.length > 0) return true;
      } else if (field.value !== field.defaultValue) {
        return true;
      }
    }
    return false;
  }

  async function refreshOnce() {
    const kept = document.getElementById("main")?.dataset.refresh;
    const response = await fetch(kept || location.href, {
      credentials: "same-origin",
      headers: { "X-Parley-Refresh": "1" },
    });
    // Never location.reload(): on the page a form answered (POST /notice, /send, ...) it
    // would post the form again, sending the message twice. A session that ended
    // redirects to the login page: go there. A page that cannot be fetched stays.
    if (response.redirected) { location.assign(response.url); return false; }
    if (!response.ok) return true;
    const doc = new DOMParser().parseFromString(await response.text(), "text/html");
    const fresh = doc.getElementById("main");
    const main = document.getElementById("main");
    if (!fresh || !main) return true;
    // The nav's badges hold no focus: always swapped.
    for (const id of ["attention-inbox", "attention-alarms"]) {
      const badge = doc.getElementById(id);
      const current = document.getElementById(id);
      if (badge && current) current.replaceWith(badge);
    }
    const focused = document.activeElement && main.contains(document.activeElement);
    if (focused || typedInto(main) || kept) {
      // The operator is typing, or has typed and clicked elsewhere, or the page is a
      // refusal: the section stays, its count does not.
      main.dataset.attention = fresh.dataset.attention || "0";
    } else {
      main.replaceWith(fresh);
      clocks();
    }
    attention();
    return true;
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

  // Code and notice forms are checked as the operator fills them in: the form goes (a
  // moment after the last change) to the console, which checks it with the codebook's own
  // code against the link's agreed codebook, as the station does when it is sent. What it
  // refuses shows beside the field it names, as text, and the field is marked invalid, so the
  // browser does not send the form until it is fixed; the station checks it again when sent.
  const CHECK_DELAY_MS = 300;
  // Per form: the pending timer, the last check asked (older answers are dropped), and the
  // fields the operator has changed.
  const checks = new WeakMap();
  function checkState(form) {
    let state = checks.get(form);
    if (!state) {
      state = { timer: 0, asked: 0, touched: new Set() };
      checks.set(form, state);
    }
    return state;
  }
  function edited(event) {
    const field = event.target;
    const form = field && field.form;
    if (!form || !form.dataset.check) return;
    const state = checkState(form);
    if (field.name) state.touched.add(field.name);
    clearTimeout(state.timer);
    state.timer = setTimeout(() => { checkForm(form); }, CHECK_DELAY_MS);
  }
  document.addEventListener("input", edited);
  document.addEventListener("change", edited);
  async function checkForm(form) {
    const state = checkState(form);
    const asked = ++state.asked;
    let verdict = null;
    try {
      const response = await fetch(form.dataset.check, {
        method: "POST",
        credentials: "same-origin",
        body: new URLSearchParams(new FormData(form)),
      });
      if (response.ok) verdict = await response.json();
    } catch (e) { verdict = null; }
    if (asked !== state.asked || !form.isConnected) return;
    showVerdict(form, state, verdict);
  }
  // An answer that is not a verdict (the session ended, the console is away) blocks nothing:
  // the station still checks the form when it is sent.
  function showVerdict(form, state, verdict) {
    const note = (input) => document.getElementById(input.getAttribute("aria-describedby"));
    for (const input of form.querySelectorAll("input[aria-describedby]")) {
      input.setCustomValidity("");
      input.removeAttribute("aria-invalid");
      const shown = note(input);
      if (shown) shown.textContent = "";
    }
    const general = form.querySelector(".form-error");
    const button = form.querySelector("button[type=submit]");
    if (general) general.textContent = "";
    if (button) button.setCustomValidity("");
    if (!verdict || verdict.ok !== false || typeof verdict.error !== "string") return;
    const named = typeof verdict.field === "string" ? form.elements.namedItem(`f_${verdict.field}`) : null;
    const field = named instanceof HTMLInputElement ? named : null;
    // A required field the operator has not reached yet: the browser says so itself if the
    // form is sent without it.
    if (field && field.value === "" && !state.touched.has(field.name)) return;
    const shown = field && note(field);
    if (field && shown) {
      field.setCustomValidity(verdict.error);
      field.setAttribute("aria-invalid", "true");
      shown.textContent = verdict.error;
    } else {
      if (general) general.textContent = verdict.error;
      if (button) button.setCustomValidity(verdict.error);
    }
  }

  // The station's events. Browsers open at most six HTTP/1.1 connections to a host, so a
  // stream per tab would leave a seventh tab no connection to load its pages with: one tab,
  // elected with a Web Lock, holds the stream and relays its events to the browser's other
  // tabs over a BroadcastChannel; when it closes, another tab takes the lock and opens the
  // stream. Without those APIs each tab opens its own.
  const EVENTS_LOCK = "parley-events";
  // How long a tab waits to open the stream again after the console refused it.
  const EVENTS_REOPEN_MS = 5000;
  let streamSeen = false;
  // The stream (this tab's, or the one the tab holding it relays) is open: what follows shows
  // without reload. A stream opened again may have missed events: the page is fetched.
  function streamOpen(again) {
    if (again && streamSeen) refresh();
    streamSeen = true;
    document.body.dataset.events = "open";
  }
  function stationEvent(data) {
    try { JSON.parse(data); } catch (e) { return; }
    // A FLASH or an alarm sounds once the refreshed page counts it (a FLASH counts once
    // it is delivered in order, which may be a later event).
    refresh();
  }
  // Opens the stream. One the console refuses (the session ended, or it is not answering)
  // is not retried by the browser: the page is fetched (which goes to the login page when
  // the session ended), and the stream opened again a little later.
  function openStream(opened, received, lost) {
    const events = new EventSource("/events");
    events.onopen = opened;
    events.onmessage = (message) => received(message.data);
    events.onerror = () => {
      lost();
      if (events.readyState !== EventSource.CLOSED) return;
      refresh();
      setTimeout(() => { openStream(opened, received, lost); }, EVENTS_REOPEN_MS);
    };
  }
  function sharedStream() {
    const channel = new BroadcastChannel(EVENTS_LOCK);
    let open = false;
    channel.onmessage = (message) => {
      const said = message.data;
      if (!said || typeof said !== "object") return;
      if (said.kind === "event" && typeof said.data === "string") stationEvent(said.data);
      else if (said.kind === "opened") streamOpen(true);
      else if (said.kind === "open") streamOpen(false);
      else if (said.kind === "hello" && open) channel.postMessage({ kind: "open" });
    };
    // Held until this page is left: never resolved.
    navigator.locks.request(EVENTS_LOCK, () => new Promise(() => {
      openStream(
        () => {
          open = true;
          streamOpen(true);
          channel.postMessage({ kind: "opened" });
        },
        (data) => {
          channel.postMessage({ kind: "event", data });
          stationEvent(data);
        },
        () => { open = false; },
      );
    }));
    // Is the stream open already, in the tab holding it?
    channel.postMessage({ kind: "hello" });
  }
  if (window.EventSource && document.getElementById("main")) {
    if (navigator.locks && window.BroadcastChannel) {
      sharedStream();
    } else {
      openStream(() => { streamOpen(true); }, stationEvent, () => {});
    }
  }
})();
