// The coach's view: renders GET /api/state's JSON (docs/interchange.md §7) as it streams in
// from /api/events (Server-Sent Events), beeps on a new risk or cramp alert once sound is on.
"use strict";
(function () {
  const token = new URLSearchParams(location.search).get("token");
  if (token) {
    // The server set an HttpOnly cookie with the token: take it out of the address bar.
    history.replaceState(null, "", location.pathname);
  }
  const query = token ? "?token=" + encodeURIComponent(token) : "";
  const main = document.getElementById("athletes");
  const tpl = document.getElementById("athlete-tpl");
  const conn = document.getElementById("conn");
  const soundButton = document.getElementById("sound");
  const panels = new Map();
  const seenAlerts = new Map();
  let audio = null;
  let lastMessage = 0;

  soundButton.addEventListener("click", function () {
    // Browsers only allow audio after a tap: create (or resume) the context here.
    if (!audio) { audio = new (window.AudioContext || window.webkitAudioContext)(); }
    audio.resume();
    soundButton.dataset.on = "1";
    soundButton.textContent = "Sound on";
    beep(1);
  });

  function beep(times) {
    if (!audio || audio.state !== "running") { return; }
    for (let i = 0; i < times; i++) {
      const t = audio.currentTime + i * 0.35;
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = 880;
      gain.gain.setValueAtTime(0.0001, t);
      gain.gain.exponentialRampToValueAtTime(0.5, t + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, t + 0.25);
      osc.connect(gain).connect(audio.destination);
      osc.start(t);
      osc.stop(t + 0.3);
    }
  }

  function fmt(v, unit) { return v === null || v === undefined ? "—" : Math.round(v) + unit; }

  function clock(t) {
    if (t === null) { return ""; }
    const s = Math.max(0, Math.floor(t));
    return Math.floor(s / 60) + ":" + String(s % 60).padStart(2, "0");
  }

  const RISK_WORD = { high: "HIGH RISK", elevated: "ELEVATED", normal: "NORMAL",
                      calibrating: "CALIBRATING", waiting: "WAITING" };

  function panel(name) {
    let p = panels.get(name);
    if (!p) {
      p = tpl.content.firstElementChild.cloneNode(true);
      p.dataset.name = name;
      p.querySelector(".name").textContent = name;
      main.appendChild(p);
      panels.set(name, p);
    }
    return p;
  }

  function sparkline(svg, points) {
    const line = svg.querySelector("polyline");
    if (points.length < 2) { line.setAttribute("points", ""); return; }
    const t0 = points[0][0], t1 = points[points.length - 1][0];
    let top = 30;
    for (const p of points) { top = Math.max(top, p[1]); }
    const xy = points.map(function (p) {
      const x = (300 * (p[0] - t0)) / Math.max(t1 - t0, 1e-9);
      const y = 58 - (56 * Math.max(p[1], 0)) / top;
      return x.toFixed(1) + "," + y.toFixed(1);
    });
    line.setAttribute("points", xy.join(" "));
  }

  function render(a) {
    const p = panel(a.name);
    const q = function (sel) { return p.querySelector(sel); };
    q(".light").dataset.light = a.light;
    q(".light").setAttribute("aria-label", "risk " + a.light);
    q(".risk-word").dataset.light = a.light;
    q(".risk-word").textContent = RISK_WORD[a.light] || a.light;
    q(".clock").textContent = clock(a.t_s);
    q(".todo").textContent = a.todo;
    q(".knee").textContent = fmt(a.knee_deg, "°");
    q(".hip").textContent = fmt(a.hip_deg, "°");
    const h = a.hamstring_change_pct;
    q(".hamstring").textContent = h === null ? "—"
      : Math.round(Math.abs(h)) === 0 ? "0%" : Math.round(Math.abs(h)) + "% " + (h < 0 ? "shorter" : "longer");
    q(".hamstring").dataset.hot = a.risk && a.risk.shortened ? "1" : "0";
    q(".effort").textContent = fmt(a.effort_pct, "%");
    q(".effort").dataset.hot = a.risk && a.risk.active ? "1" : "0";
    q(".fatigue").textContent = fmt(a.fatigue_pct, "%");
    q(".fatigue").dataset.hot = a.risk && a.risk.fatigued ? "1" : "0";
    sparkline(q(".trend svg"), a.fatigue_trend);
    q(".link").textContent = a.link.text + (a.link.battery_pct !== null ? " · battery " + a.link.battery_pct + "%" : "");
    q(".link").dataset.level = a.link.level;
    const box = q(".alert");
    if (a.alert) {
      box.hidden = false;
      box.dataset.current = a.alert.current ? "1" : "0";
      box.dataset.kind = a.alert.kind;
      q(".alert-text").textContent = a.alert.headline;
      q(".alert-advice").textContent = a.alert.action;
      q(".alert-time").textContent = a.alert.kind + " alert at " + clock(a.alert.t_s)
        + (a.alerts > 1 ? " · " + a.alerts + " alerts so far" : "");
      const seen = seenAlerts.get(a.name);
      if (seen !== undefined && a.alert.seq > seen && a.alert.kind !== "sensor") { beep(3); }
      seenAlerts.set(a.name, a.alert.seq);
    } else {
      box.hidden = true;
      seenAlerts.set(a.name, 0);
    }
  }

  function onState(state) {
    lastMessage = Date.now();
    conn.dataset.conn = "live";
    conn.textContent = "live";
    for (const a of state.athletes) { render(a); }
  }

  const events = new EventSource("/api/events" + query);
  events.addEventListener("state", function (e) { onState(JSON.parse(e.data)); });
  // A view that stopped updating must not look live.
  setInterval(function () {
    const stale = Date.now() - lastMessage > 2000;
    if (stale && lastMessage) {
      conn.dataset.conn = "stale";
      conn.textContent = "no update for " + Math.round((Date.now() - lastMessage) / 1000) + " s";
    }
    for (const p of panels.values()) { p.classList.toggle("stale", stale); }
  }, 500);
})();
