// Moldau console core: DOM building, the API client, formatting, the confirmation
// dialog, charts, sortable tables and the fragment router. Page scripts register
// their routes on window.Moldau. Everything shown is set as text, never as HTML.
"use strict";

(function () {
  const M = (window.Moldau = { routes: [], timers: [] });

  // h("tag.class", {attr: value, onclick: fn}, children...) builds an element.
  M.h = function (spec, attrs, ...children) {
    const [tag, ...classes] = spec.split(".");
    const el = document.createElement(tag || "div");
    if (classes.length) el.className = classes.join(" ");
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
      else if (k === "text") el.textContent = v;
      else if (k === "class") el.className += (el.className ? " " : "") + v;
      else if (k === "value") el.value = v;
      else if (v === true) el.setAttribute(k, "");
      else el.setAttribute(k, String(v));
    }
    M.append(el, children);
    return el;
  };
  M.append = function (el, children) {
    for (const c of children.flat(Infinity)) {
      if (c === null || c === undefined || c === false) continue;
      el.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return el;
  };
  M.replace = function (el, ...children) {
    el.replaceChildren();
    return M.append(el, children);
  };
  const h = M.h;

  // An error the API answered with: {status, code, message}.
  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }
  M.ApiError = ApiError;

  M.api = async function (method, path, body) {
    const opts = { method, headers: { Accept: "application/json" } };
    // With a login (session.js): every change carries the session's CSRF token.
    if (method !== "GET" && method !== "HEAD" && M.sessionReady) {
      await M.sessionReady;
      if (M.csrf) opts.headers["X-CSRF-Token"] = M.csrf;
    }
    if (body !== undefined) {
      opts.headers["Content-Type"] = "application/json";
      opts.body = JSON.stringify(body);
    }
    let res;
    try {
      res = await fetch("/api/v1" + path, opts);
    } catch (e) {
      throw new ApiError(0, "network", "The console is not reachable: " + e.message);
    }
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
    if (res.status === 401 && data && data.error === "login_required") location.assign("/login");
    if (!res.ok) {
      const msg = (data && data.message) || res.status + " " + res.statusText;
      throw new ApiError(res.status, (data && data.error) || "http_" + res.status, msg);
    }
    return data;
  };
  M.get = (path) => M.api("GET", path);
  M.enc = encodeURIComponent;

  // ---- formatting ----
  M.fmtNum = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));
  M.fmtBytes = function (n) {
    if (n === null || n === undefined) return "–";
    const units = ["B", "KiB", "MiB", "GiB", "TiB"];
    let i = 0;
    let v = Number(n);
    while (v >= 1024 && i < units.length - 1) { v /= 1024; i++; }
    return (i === 0 ? Math.round(v) : v.toFixed(v < 10 ? 2 : 1)) + " " + units[i];
  };
  M.fmtRate = (n, unit) => (n < 10 ? Number(n).toFixed(1) : M.fmtNum(Math.round(n))) + " " + unit + "/s";
  M.fmtTime = (ms) => (ms === null || ms === undefined || ms < 0 ? "–" : new Date(ms).toLocaleString());
  M.fmtDuration = function (ms) {
    if (ms === null || ms === undefined) return "–";
    const s = Math.round(ms / 1000);
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min " + (s % 60) + " s";
    if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
    return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
  };

  // ---- messages ----
  M.errorBox = (err) => h("div.message.error", { role: "alert", text: err.message || String(err) });
  M.okBox = (text) => h("div.message.ok", { role: "status", text });
  M.infoBox = (text) => h("div.message.info", { text });
  M.notFound = function (main, title, detail, back) {
    M.replace(main, h("div.notfound", {},
      h("h1", { text: title }),
      h("p", { text: detail }),
      back ? h("p", {}, h("a", { href: back[0], text: back[1] })) : null));
  };

  // ---- confirmation dialog: resolves true only when the operator confirms ----
  M.confirmAction = function ({ title, body, okLabel, typed }) {
    const dlg = document.getElementById("confirm-dialog");
    const input = document.getElementById("confirm-typed");
    const ok = document.getElementById("confirm-ok");
    document.getElementById("confirm-title").textContent = title;
    M.replace(document.getElementById("confirm-body"), body);
    ok.textContent = okLabel || "Confirm";
    const typedLabel = document.getElementById("confirm-typed-label");
    typedLabel.classList.toggle("hidden", !typed);
    document.getElementById("confirm-typed-word").textContent = typed || "";
    input.value = "";
    ok.disabled = !!typed;
    input.oninput = () => { ok.disabled = typed ? input.value !== typed : false; };
    return new Promise((resolve) => {
      const finish = (yes) => {
        dlg.onclose = null;
        if (dlg.open) dlg.close();
        resolve(yes);
      };
      document.getElementById("confirm-cancel").onclick = () => finish(false);
      document.getElementById("confirm-form").onsubmit = (e) => {
        e.preventDefault();
        finish(!ok.disabled);
      };
      dlg.onclose = () => finish(false);
      dlg.showModal();
      (typed ? input : ok).focus();
    });
  };

  // ---- line chart (SVG): series = [{name, points: [[t, v], ...]}] ----
  const SVG = "http://www.w3.org/2000/svg";
  const s = (tag, attrs, text) => {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    return el;
  };
  M.fmtCompact = (v) => (v < 10 ? Number(v).toFixed(v % 1 ? 1 : 0) : M.fmtNum(Math.round(v)));
  // A round upper bound (1, 2 or 5 times a power of ten) at or above v.
  const niceMax = (v) => {
    if (v <= 1) return 1;
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    return [1, 2, 5, 10].map((m) => m * p).find((x) => x >= v);
  };
  const TIME_STEPS_MS = [5e3, 1e4, 15e3, 3e4, 6e4, 12e4, 3e5, 6e5, 9e5, 18e5, 36e5, 72e5, 216e5];
  const pad2 = (n) => String(n).padStart(2, "0");
  const clock = (t, seconds) => {
    const d = new Date(t);
    return `${pad2(d.getHours())}:${pad2(d.getMinutes())}` + (seconds ? `:${pad2(d.getSeconds())}` : "");
  };

  // Line chart (SVG) with round value ticks, clock-time ticks and a hover tooltip.
  // series = [{name, points: [[t, v], ...]}]; `domain` = [t0, t1] fixes the time axis
  // so charts drawn from the same samples line up. `integers`: the values are whole
  // (bytes, records of lag), so the axis never goes below 0..5 (ticks of 0.2 would
  // print as "0 B, 0 B, 1 B…").
  M.lineChart = function (series, { format = M.fmtCompact, empty = "No data yet", domain = null, integers = false } = {}) {
    const W = 960, H = 210, L = 76, R = 12, T = 12, B = 26;
    const svg = s("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img" });
    const box = h("div.chart-box", {}, svg);
    const all = series.flatMap((x) => x.points);
    if (all.length === 0) {
      svg.append(s("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "axis-label" }, empty));
      return h("div", {}, box);
    }
    let [t0, t1] = domain || [Math.min(...all.map((p) => p[0])), Math.max(...all.map((p) => p[0]))];
    if (t1 - t0 < 1000) t0 = t1 - 60000;
    const vmax = Math.max(niceMax(Math.max(...all.map((p) => p[1]))), integers ? 5 : 0);
    const x = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
    const y = (v) => T + (1 - v / vmax) * (H - T - B);
    // Round ticks: 50 -> 0, 10, ..., 50; 20 -> 0, 5, ..., 20.
    const steps = String(vmax)[0] === "2" ? 4 : 5;
    for (const f of Array.from({ length: steps + 1 }, (_, i) => i / steps)) {
      svg.append(s("line", { class: "grid", x1: L, x2: W - R, y1: y(vmax * f), y2: y(vmax * f) }));
      svg.append(s("text", { class: "axis-label y-tick", x: L - 6, y: y(vmax * f) + 4, "text-anchor": "end" }, format(vmax * f)));
    }
    const step = TIME_STEPS_MS.find((st) => (t1 - t0) / st <= 6) || TIME_STEPS_MS[TIME_STEPS_MS.length - 1];
    for (let t = Math.ceil(t0 / step) * step; t <= t1; t += step) {
      svg.append(s("line", { class: "tick", x1: x(t), x2: x(t), y1: H - B, y2: H - B + 4 }));
      svg.append(s("text", { class: "axis-label x-tick", x: x(t), y: H - 6, "text-anchor": "middle" }, clock(t, step < 60000)));
    }
    svg.append(s("line", { class: "grid", x1: L, x2: W - R, y1: H - B, y2: H - B }));
    series.forEach((ser, i) => {
      if (ser.points.length === 1) {
        const [pt] = ser.points;
        svg.append(s("circle", { class: `dot s${i}`, cx: x(pt[0]), cy: y(pt[1]), r: 3 }));
        return;
      }
      const pts = ser.points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
      svg.append(s("polyline", { class: `line s${i}`, points: pts, "vector-effect": "non-scaling-stroke" }));
    });
    // Hover: the nearest sample's time and every series' value there.
    const cursor = s("line", { class: "cursor hidden", y1: T, y2: H - B });
    const hit = s("rect", { x: L, y: T, width: W - L - R, height: H - T - B, fill: "transparent" });
    svg.append(cursor, hit);
    const tip = h("div.chart-tip.hidden", { role: "tooltip" });
    box.append(tip);
    const times = [...new Set(all.map((p) => p[0]))].sort((a, b) => a - b);
    hit.addEventListener("mousemove", (e) => {
      const rect = svg.getBoundingClientRect();
      const vx = ((e.clientX - rect.left) / rect.width) * W;
      const t = t0 + ((vx - L) / (W - L - R)) * (t1 - t0);
      const near = times.reduce((a, b) => (Math.abs(b - t) < Math.abs(a - t) ? b : a));
      cursor.setAttribute("x1", x(near));
      cursor.setAttribute("x2", x(near));
      cursor.classList.remove("hidden");
      M.replace(tip, h("strong", { text: new Date(near).toLocaleTimeString() }),
        series.map((ser, i) => {
          const p = ser.points.find((q) => q[0] === near);
          return h("div", {}, h("span.s" + i, { text: ser.name }), h("span", { text: p ? format(p[1]) : "–" }));
        }));
      tip.classList.remove("hidden");
      const px = (x(near) / W) * rect.width;
      tip.style.left = Math.min(px + 12, rect.width - tip.offsetWidth - 4) + "px";
      tip.style.top = "8px";
    });
    hit.addEventListener("mouseleave", () => { tip.classList.add("hidden"); cursor.classList.add("hidden"); });
    const legend = h("div.legend", {}, series.map((ser, i) => h("span.s" + i, { text: ser.name })));
    return h("div", {}, box, legend);
  };

  // ---- sortable table: columns = [{key, label, num, render(row)}] ----
  M.sortableTable = function (columns, rows, state, onSort, attrs) {
    const sorted = rows.slice();
    if (state.key) {
      const dir = state.desc ? -1 : 1;
      sorted.sort((a, b) => {
        const va = a[state.key], vb = b[state.key];
        if (va === vb) return 0;
        if (va === null || va === undefined) return 1;
        if (vb === null || vb === undefined) return -1;
        return (va < vb ? -1 : 1) * dir;
      });
    }
    const head = h("tr", {}, columns.map((c) => {
      const cls = ["sortable", c.num ? "num" : "", c.narrow ? "hide-narrow" : "",
        state.key === c.key ? (state.desc ? "sorted-desc" : "sorted-asc") : ""].filter(Boolean).join(" ");
      return h("th", { class: cls, text: c.label, "data-key": c.key, onclick: () => {
        onSort(state.key === c.key ? { key: c.key, desc: !state.desc } : { key: c.key, desc: !!c.num });
      } });
    }));
    const body = sorted.map((r) => h("tr", {}, columns.map((c) =>
      h("td", { class: [c.num ? "num" : "", c.narrow ? "hide-narrow" : ""].filter(Boolean).join(" ") || null },
        c.render ? c.render(r) : String(r[c.key] ?? "–")))));
    return h("div.scroll", {}, h("table", attrs || {}, h("thead", {}, head), h("tbody", {}, body)));
  };

  // ---- timers that stop when the page changes ----
  M.every = function (ms, fn) {
    let busy = false;
    const run = async () => {
      if (busy) return;
      busy = true;
      try { await fn(); } finally { busy = false; }
    };
    run();
    M.timers.push(setInterval(run, ms));
  };
  M.stopTimers = function () {
    M.timers.forEach(clearInterval);
    M.timers = [];
  };

  // ---- router: "#/topics/orders" -> the first route whose pattern matches ----
  M.route = (pattern, nav, page) => M.routes.push({ pattern, nav, page });
  M.render = function () {
    M.stopTimers();
    const path = location.hash.replace(/^#/, "") || "/";
    const main = document.getElementById("main");
    for (const r of M.routes) {
      const m = path.match(r.pattern);
      if (!m) continue;
      document.querySelectorAll("#nav a").forEach((a) => a.classList.toggle("active", a.dataset.nav === r.nav));
      M.replace(main, h("p.muted", { text: "Loading…" }));
      Promise.resolve(r.page(main, ...m.slice(1).map((x) => (x === undefined ? x : decodeURIComponent(x))))).catch((e) => M.replace(main, M.errorBox(e)));
      return;
    }
    M.notFound(main, "Page not found", `There is no console page at ${path}.`, ["#/", "Back to the overview"]);
  };
  M.go = (path) => { location.hash = path; };
  window.addEventListener("hashchange", M.render);
  document.addEventListener("DOMContentLoaded", M.render);
})();
