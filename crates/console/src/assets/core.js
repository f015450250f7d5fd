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
  M.fmtCompact = (v) => (v < 10 ? Number(v).toFixed(1) : M.fmtNum(Math.round(v)));
  M.lineChart = function (series, { format = M.fmtCompact, empty = "No data yet" } = {}) {
    const W = 960, H = 200, L = 76, R = 8, T = 10, B = 22;
    const svg = s("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img" });
    // One sample is drawn as a short flat line, so the chart shows something at once.
    series = series.map((x) => (x.points.length === 1 ? { ...x, points: [[x.points[0][0] - 1000, x.points[0][1]], x.points[0]] } : x));
    const all = series.flatMap((x) => x.points);
    if (all.length < 2) {
      svg.append(s("text", { x: W / 2, y: H / 2, "text-anchor": "middle", class: "axis-label" }, empty));
      return h("div", {}, svg);
    }
    const t0 = Math.min(...all.map((p) => p[0])), t1 = Math.max(...all.map((p) => p[0]));
    const vmax = Math.max(1, ...all.map((p) => p[1]));
    const x = (t) => L + ((t - t0) / Math.max(1, t1 - t0)) * (W - L - R);
    const y = (v) => T + (1 - v / vmax) * (H - T - B);
    for (const f of [0, 0.5, 1]) {
      svg.append(s("line", { class: "grid", x1: L, x2: W - R, y1: y(vmax * f), y2: y(vmax * f) }));
      svg.append(s("text", { class: "axis-label", x: L - 6, y: y(vmax * f) + 4, "text-anchor": "end" }, format(vmax * f)));
    }
    svg.append(s("text", { class: "axis-label", x: L, y: H - 4 }, new Date(t0).toLocaleTimeString()));
    svg.append(s("text", { class: "axis-label", x: W - R, y: H - 4, "text-anchor": "end" }, new Date(t1).toLocaleTimeString()));
    series.forEach((ser, i) => {
      const pts = ser.points.map((p) => `${x(p[0]).toFixed(1)},${y(p[1]).toFixed(1)}`).join(" ");
      svg.append(s("polyline", { class: `line s${i}`, points: pts, "vector-effect": "non-scaling-stroke" }));
    });
    const legend = h("div.legend", {}, series.map((ser, i) => h("span.s" + i, { text: ser.name })));
    return h("div", {}, svg, legend);
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
      Promise.resolve(r.page(main, ...m.slice(1).map(decodeURIComponent))).catch((e) => M.replace(main, M.errorBox(e)));
      return;
    }
    M.notFound(main, "Page not found", `There is no console page at ${path}.`, ["#/", "Back to the overview"]);
  };
  M.go = (path) => { location.hash = path; };
  window.addEventListener("hashchange", M.render);
  document.addEventListener("DOMContentLoaded", M.render);
})();
