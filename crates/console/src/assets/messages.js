// A topic's message browser (seek, page, filter, render, live tail, export) and its
// producer form.
"use strict";

(function () {
  const M = window.Moldau, h = M.h;
  const TAIL_INTERVAL_MS = 1000;
  const TAIL_ROWS_MAX = 500;

  // One line of a key or value: pretty JSON folded back onto one line (the
  // server keeps the producer's key order), text as is.
  const oneLine = (v) => (v.format === "json" ? v.data.replace(/\n\s*/g, " ") : v.data.replace(/\s*\n\s*/g, " ⏎ "));

  function cell(v, part) {
    if (!v) return h("span.muted", { text: part === "value" ? "null (tombstone)" : "null" });
    return h("span", { class: "line fmt-" + v.format, text: oneLine(v), title: v.truncated ? `${M.fmtBytes(v.size)}, shown in part` : null });
  }

  function recordRow(r, isNew, open) {
    return h("tr", { class: "record" + (isNew ? " new-row" : ""), tabindex: 0, "data-offset": r.offset, "data-partition": r.partition,
      onclick: () => open(r), onkeydown: (e) => { if (e.key === "Enter") open(r); } },
      h("td.num", { text: r.partition, "data-label": "Partition" }), h("td.num", { text: r.offset, "data-label": "Offset" }),
      h("td.nowrap", { text: M.fmtTime(r.timestamp), title: r.timestamp_type, "data-label": "Time" }),
      h("td.cut.key", { "data-label": "Key" }, cell(r.key, "key")),
      h("td.cut.value", { "data-label": "Value" }, cell(r.value, "value")),
      h("td.num", { "data-label": "Headers", text: r.headers.length || "", title: r.headers.map((x) => x.key).join(", ") }));
  }

  // Copies text, with a fallback for pages the Clipboard API refuses.
  M.copy = async function (text, button) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (_) {
      const area = h("textarea", { value: text, style: "position:fixed;opacity:0" });
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    const was = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = was; }, 1500);
  };

  // Escape closes the drawer on show. One listener for the page's lifetime: the
  // messages tab is built afresh on every visit, and a listener per drawer would
  // pile up (and keep every old drawer alive).
  let openDrawer = null;
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && openDrawer) openDrawer.close();
  });

  // The detail drawer: one record in full, with copy buttons.
  function drawer(name) {
    const body = h("div.drawer-body");
    const el = h("aside.drawer.hidden", { id: "msg-drawer", role: "dialog", "aria-label": "Record" }, body);
    const close = () => {
      el.classList.add("hidden");
      if (openDrawer && openDrawer.el === el) openDrawer = null;
    };
    const part = (label, v, r, which) => {
      const link = `/api/v1/topics/${M.enc(name)}/partitions/${r.partition}/records/${r.offset}/${which}`;
      const copyBtn = h("button.small", { id: `copy-${which}`, type: "button", text: "Copy", disabled: !v, onclick: (e) => M.copy(v.data, e.target) });
      return [h("div.drawer-head", {}, h("h3", { text: label }), v ? h("span.muted", { text: `${v.format}, ${M.fmtBytes(v.size)}` }) : null, copyBtn),
        v ? h("pre", { id: "drawer-" + which, class: "fmt-" + v.format, text: v.data })
          : h("p.muted", { text: which === "value" ? "null (tombstone)" : "null" }),
        v && v.truncated ? h("div.trunc", {}, `Showing the start of ${M.fmtBytes(v.size)}. `,
          h("a", { href: link, download: "", text: "Download the full " + which })) : null];
    };
    const self = {
      el,
      open(r) {
        M.replace(body,
          h("div.drawer-head", {}, h("h2", { text: `Partition ${r.partition} · offset ${r.offset}` }),
            h("button.small", { id: "copy-record", type: "button", text: "Copy as JSON", onclick: (e) => M.copy(JSON.stringify(r, null, 2), e.target) }),
            h("button.small", { id: "msg-drawer-close", type: "button", text: "Close", onclick: close })),
          h("p.muted", { text: `${M.fmtTime(r.timestamp)} (${r.timestamp_type}, ${r.timestamp} ms)` }),
          part("Key", r.key, r, "key"), part("Value", r.value, r, "value"),
          h("h3", { text: `Headers (${r.headers.length})` }),
          r.headers.length === 0 ? h("p.muted", { text: "none" }) : h("table", { id: "drawer-headers" },
            h("tbody", {}, r.headers.map((x) => h("tr", {}, h("td.mono", { text: x.key }),
              h("td.mono", { text: x.value ? x.value.data : "null" }))))));
        el.classList.remove("hidden");
        openDrawer = self;
      },
      close,
    };
    return self;
  }

  M.messagesTab = function (el, name, topic) {
    const sel = (id, options, value) => h("select", { id }, options.map(([v, l]) => h("option", { value: v, text: l, selected: v === value })));
    const partitions = h("input", { id: "msg-partitions", placeholder: "all", size: 8, autocomplete: "off" });
    const seek = sel("msg-seek", [["end", "Newest first"], ["beginning", "Oldest first"], ["offset", "From offset"], ["timestamp", "From time"]], "end");
    const offset = h("input", { id: "msg-offset", type: "number", min: 0, placeholder: "offset" });
    const time = h("input", { id: "msg-time", type: "datetime-local", step: 1 });
    const key = h("input", { id: "msg-key", placeholder: "key contains", autocomplete: "off" });
    const value = h("input", { id: "msg-value", placeholder: "value contains", autocomplete: "off" });
    const header = h("input", { id: "msg-header", placeholder: "name or name=value", autocomplete: "off" });
    const field = h("input", { id: "msg-field", placeholder: "user.country = \"CZ\"", autocomplete: "off", spellcheck: "false" });
    const offMin = h("input", { id: "msg-offset-min", type: "number", min: 0, placeholder: "from", class: "short" });
    const offMax = h("input", { id: "msg-offset-max", type: "number", min: 0, placeholder: "to", class: "short" });
    const timeMin = h("input", { id: "msg-time-min", type: "datetime-local", step: 1 });
    const timeMax = h("input", { id: "msg-time-max", type: "datetime-local", step: 1 });
    const details = drawer(name);
    const render = sel("msg-render", [["auto", "Auto"], ["text", "Text"], ["json", "JSON"], ["hex", "Hex"]], "auto");
    const limit = sel("msg-limit", [["20", "20"], ["50", "50"], ["100", "100"], ["500", "500"]], "50");
    const status = h("div.muted", { id: "msg-status" });
    const problem = h("div");
    const tbody = h("tbody");
    const table = h("div.scroll", {}, h("table.records", { id: "messages" },
      h("thead", {}, h("tr", {}, ["Partition", "Offset", "Timestamp", "Key", "Value", "Headers"].map((x, i) => h("th", { class: i < 2 || i === 5 ? "num" : null, text: x })))),
      tbody));
    const prev = h("button", { id: "msg-prev", text: "← Previous", disabled: true });
    const next = h("button", { id: "msg-next", text: "Next →", disabled: true });
    const tail = h("button", { id: "msg-tail", text: "Live tail" });
    const exp = h("button", { id: "msg-export", text: "Export JSON" });
    const syncSeek = () => {
      offset.classList.toggle("hidden", seek.value !== "offset");
      time.classList.toggle("hidden", seek.value !== "timestamp");
    };
    seek.addEventListener("change", syncSeek);
    syncSeek();

    let current = null, page = null, stack = [], shown = [], tailTimer = null, tailCursor = null;

    const base = () => {
      const p = new URLSearchParams({ render: render.value, limit: limit.value });
      if (partitions.value.trim()) p.set("partitions", partitions.value.trim());
      if (key.value) p.set("key", key.value);
      if (value.value) p.set("value", value.value);
      if (header.value) p.set("header", header.value);
      if (field.value.trim()) p.set("field", field.value.trim());
      if (offMin.value !== "") p.set("offset_min", offMin.value);
      if (offMax.value !== "") p.set("offset_max", offMax.value);
      if (timeMin.value) p.set("time_min", String(new Date(timeMin.value).getTime()));
      if (timeMax.value) p.set("time_max", String(new Date(timeMax.value).getTime() + 999));
      return p;
    };
    const fetchPage = async (params) => {
      M.replace(problem);
      try {
        page = await M.get(`/topics/${M.enc(name)}/records?${params}`);
      } catch (e) { M.replace(problem, M.errorBox(e)); return; }
      current = params;
      shown = page.records;
      M.replace(tbody, shown.map((r) => recordRow(r, false, details.open)));
      const dir = page.order === "desc" ? "newest first" : "oldest first";
      status.textContent = shown.length === 0
        ? (page.partial ? "No match in the part of the log searched; press Next to search on." : "No records here.")
        : `${shown.length} record(s), ${dir}` + (page.partial ? " (search budget reached; Next searches on)" : "");
      next.disabled = !page.has_more;
      prev.disabled = stack.length === 0;
      tailCursor = page.tail_cursor;
    };
    const load = async () => {
      stopTail();
      details.close();
      const p = base();
      p.set("seek", seek.value);
      if (seek.value === "offset") p.set("offset", offset.value || "0");
      if (seek.value === "timestamp") {
        const ms = time.value ? new Date(time.value).getTime() : Date.now();
        p.set("timestamp", String(ms));
      }
      stack = [];
      await fetchPage(p);
    };
    next.addEventListener("click", async () => {
      if (!page) return;
      const p = base();
      p.set("order", page.order);
      p.set("cursor", page.next_cursor);
      stack.push(current);
      await fetchPage(p);
    });
    prev.addEventListener("click", async () => {
      if (stack.length) await fetchPage(stack.pop());
    });

    function stopTail() {
      if (tailTimer) clearInterval(tailTimer);
      tailTimer = null;
      tail.classList.remove("on");
      tail.textContent = "Live tail";
    }
    const pollTail = async () => {
      const p = base();
      p.set("order", "asc");
      p.set("limit", String(TAIL_ROWS_MAX));
      if (tailCursor) p.set("cursor", tailCursor); else p.set("seek", "end");
      let res;
      try { res = await M.get(`/topics/${M.enc(name)}/records?${p}`); } catch (e) { M.replace(problem, M.errorBox(e)); return; }
      tailCursor = res.next_cursor;
      if (!res.records.length) return;
      const fresh = res.records.slice().reverse();
      shown = fresh.concat(shown).slice(0, TAIL_ROWS_MAX);
      tbody.prepend(...fresh.map((r) => recordRow(r, true, details.open)));
      while (tbody.children.length > TAIL_ROWS_MAX) tbody.lastChild.remove();
      status.textContent = `${shown.length} record(s), newest first, following new records`;
    };
    tail.addEventListener("click", () => {
      if (tailTimer) { stopTail(); return; }
      tail.classList.add("on");
      tail.textContent = "Stop tail";
      prev.disabled = next.disabled = true;
      status.textContent = "Following new records…";
      tailTimer = setInterval(pollTail, TAIL_INTERVAL_MS);
      M.timers.push(tailTimer);
      pollTail();
    });
    exp.addEventListener("click", () => {
      const blob = new Blob([JSON.stringify({ topic: name, records: shown }, null, 2)], { type: "application/json" });
      const a = h("a", { href: URL.createObjectURL(blob), download: `${name}-records.json` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(a.href), 10000);
    });

    M.replace(el,
      h("form", { id: "msg-form", onsubmit: (e) => { e.preventDefault(); load(); } },
        h("div.inline", {},
          h("label", {}, `Partitions (0–${topic.partitions - 1})`, partitions),
          h("label", {}, "Start", seek), h("label", {}, "\u00a0", offset), h("label", {}, "\u00a0", time),
          h("label", {}, "Show as", render), h("label", {}, "Page size", limit),
          h("button.primary", { type: "submit", id: "msg-load", text: "Load" })),
        h("div.inline", {},
          h("label", {}, "Key contains", key), h("label", {}, "Value contains", value),
          h("label", { class: "grow" }, "Field (path = value)", field), h("label", {}, "Header", header)),
        h("div.inline", {},
          h("label", {}, "Offsets", h("span.range", {}, offMin, "–", offMax)),
          h("label", {}, "Time", h("span.range", {}, timeMin, "–", timeMax)))),
      h("div.toolbar", {}, prev, next, tail, exp), problem, status, table, details.el);
    M.refreshMessages = () => { seek.value = "end"; syncSeek(); load(); };
    load();
  };

  M.produceTab = function (el, name, topic, onProduced) {
    const partition = h("select", { id: "produce-partition" },
      h("option", { value: "", text: "By key (random without one)" }),
      Array.from({ length: topic.partitions }, (_, i) => h("option", { value: String(i), text: "Partition " + i })));
    const key = h("input", { id: "produce-key", placeholder: "empty = null key", autocomplete: "off" });
    const value = h("textarea", { id: "produce-value", placeholder: "{\"hello\": \"world\"}" });
    const tomb = h("input", { id: "produce-tombstone", type: "checkbox" });
    const headers = h("textarea", { id: "produce-headers", placeholder: "trace-id=abc123" });
    const encoding = h("select", { id: "produce-encoding" }, h("option", { value: "text", text: "Text (UTF-8)" }), h("option", { value: "hex", text: "Hex" }));
    const result = h("div", { id: "produce-result" });
    const submit = async (e) => {
      e.preventDefault();
      M.replace(result);
      let body;
      try {
        const hs = Object.entries(M.parseConfigs(headers.value)).map(([k, v]) => ({ key: k, value: v }));
        body = {
          key: key.value === "" ? null : key.value,
          value: tomb.checked ? null : value.value,
          headers: hs,
          encoding: encoding.value,
        };
        if (partition.value !== "") body.partition = Number(partition.value);
      } catch (err) { M.replace(result, M.errorBox(err)); return; }
      try {
        const r = await M.api("POST", `/topics/${M.enc(name)}/records`, { ...body, confirm: true });
        M.replace(result, M.okBox(`Written to partition ${r.partition} at offset ${r.offset}.`));
        onProduced(r);
      } catch (err) { M.replace(result, M.errorBox(err)); }
    };
    M.replace(el, h("form", { id: "produce-form", onsubmit: submit },
      h("div.toolbar", {}, h("label", {}, "Partition", partition), h("label", {}, "Key", key), h("label", {}, "Encoding", encoding)),
      h("label", {}, "Value", value), h("label.check", {}, tomb, "Send a null value (tombstone)"),
      h("label", {}, "Headers (name=value per line)", headers),
      h("p", {}, h("button.primary", { type: "submit", id: "produce-submit", text: "Produce" }))), result);
  };
})();
