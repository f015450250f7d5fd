// Topics list (search, create) and the topic page (partitions, configs, delete; the
// message browser and producer come from messages.js).
"use strict";

(function () {
  const M = window.Moldau, h = M.h;

  // "a=b" lines -> {a: "b"}; throws on a line without "=".
  function parseConfigs(text) {
    const out = {};
    for (const raw of text.split("\n")) {
      const line = raw.trim();
      if (!line || line.startsWith("#")) continue;
      const i = line.indexOf("=");
      if (i <= 0) throw new Error(`Config line "${line}" is not name=value.`);
      out[line.slice(0, i).trim()] = line.slice(i + 1).trim();
    }
    return out;
  }
  M.parseConfigs = parseConfigs;

  function createForm(onCreated) {
    const name = h("input", { id: "new-topic-name", placeholder: "orders", required: true, autocomplete: "off" });
    const parts = h("input", { id: "new-topic-partitions", type: "number", min: 1, placeholder: "broker default" });
    const configs = h("textarea", { id: "new-topic-configs", placeholder: "retention.ms=604800000\ncleanup.policy=delete" });
    const result = h("div");
    const submit = async (e) => {
      e.preventDefault();
      M.replace(result);
      let body;
      try {
        body = { name: name.value.trim(), configs: parseConfigs(configs.value) };
        if (parts.value) body.partitions = Number(parts.value);
        const plan = await M.api("POST", "/topics", { ...body, validate_only: true });
        const cfg = Object.entries(body.configs);
        const ok = await M.confirmAction({
          title: "Create topic?",
          okLabel: "Create topic",
          body: [h("p", {}, "Create topic ", h("code", { text: plan.name }), ` with ${plan.partitions} partition(s), replication factor ${plan.replication_factor}.`),
            cfg.length ? h("pre", { text: cfg.map(([k, v]) => `${k}=${v}`).join("\n") }) : null],
        });
        if (!ok) { M.replace(result, M.infoBox("Nothing was created.")); return; }
        const created = await M.api("POST", "/topics", { ...body, confirm: true });
        M.replace(result, M.okBox(`Topic ${created.name} created with ${created.partitions} partition(s).`));
        name.value = ""; parts.value = ""; configs.value = "";
        onCreated(created.name);
      } catch (err) {
        M.replace(result, M.errorBox(err));
      }
    };
    return h("div.panel", { id: "create-topic" },
      h("form.inline", { onsubmit: submit },
        h("label", {}, "Name", name), h("label", {}, "Partitions", parts),
        h("label", { class: "grow" }, "Configs (name=value per line)", configs),
        h("button.primary", { type: "submit", id: "create-topic-submit", text: "Create topic…" })),
      result);
  }

  M.route(/^\/topics$/, "topics", async (main) => {
    const search = h("input", { id: "topic-search", type: "search", placeholder: "Search by name", autocomplete: "off" });
    const internal = h("input", { id: "topic-internal", type: "checkbox" });
    const table = h("div", { id: "topics-table" });
    const formSlot = h("div.hidden");
    const toggle = h("button", { id: "create-topic-toggle", text: "Create topic", onclick: () => formSlot.classList.toggle("hidden") });
    let sort = { key: "name", desc: false };
    let rows = [];
    const draw = () => {
      const q = search.value.trim().toLowerCase();
      const shown = rows.filter((t) => (internal.checked || !t.internal) && (!q || t.name.toLowerCase().includes(q)));
      M.replace(table, shown.length === 0 && rows.length > 0 ? h("p.muted", { text: "No topic matches." }) :
        M.sortableTable([
          { key: "name", label: "Topic", render: (t) => h("a", { href: "#/topics/" + M.enc(t.name), text: t.name }) },
          { key: "partitions", label: "Partitions", num: true },
          { key: "replication_factor", label: "Replication", num: true, narrow: true },
          { key: "size_bytes", label: "Size", num: true, render: (t) => M.fmtBytes(t.size_bytes) },
          { key: "records", label: "Records", num: true, render: (t) => M.fmtNum(t.records) },
          { key: "in", label: "In", num: true, narrow: true, render: (t) => M.fmtBytes(t.in) + "/s" },
          { key: "out", label: "Out", num: true, narrow: true, render: (t) => M.fmtBytes(t.out) + "/s" },
        ], shown, sort, (s) => { sort = s; draw(); }, { id: "topics" }));
    };
    search.addEventListener("input", draw);
    internal.addEventListener("change", draw);
    M.append(formSlot, [createForm((n) => { refresh(); M.go("#/topics/" + M.enc(n)); })]);
    M.replace(main, h("h1", { text: "Topics" }),
      h("div.toolbar", {}, h("label", {}, "Search", search), h("label.check", {}, internal, "Show internal topics"), toggle),
      formSlot, table);
    const refresh = async () => {
      try {
        const list = await M.get("/topics");
        rows = list.map((t) => ({ ...t, in: t.rates.bytes_in_per_sec, out: t.rates.bytes_out_per_sec }));
        draw();
      } catch (e) { M.replace(table, M.errorBox(e)); }
    };
    M.every(10000, refresh);
  });

  // Partitions: leader, replicas, ISR (under-replicated and offline rows marked),
  // offsets; add partitions; delete records below an offset (DeleteRecords).
  function partitionsTab(el, name, reload, first) {
    const body = h("div", { id: "partitions-table" });
    const result = h("div", { id: "partitions-result" });
    const count = h("input", { id: "add-partitions-count", type: "number", min: first.partitions + 1, placeholder: String(first.partitions + 1), class: "short" });
    const addPartitions = async (e) => {
      e.preventDefault();
      M.replace(result);
      const n = Number(count.value);
      try {
        const ok = await M.confirmAction({
          title: "Add partitions?",
          okLabel: "Add partitions",
          body: h("p", {}, "Grow ", h("code", { text: name }), ` to ${n} partitions. Keyed records will map to other partitions from now on; partitions cannot be removed again.`),
        });
        if (!ok) return;
        await M.api("POST", `/topics/${M.enc(name)}/partitions`, { count: n, confirm: true });
        M.replace(result, M.okBox(`${name} now has ${n} partitions.`));
        count.value = "";
        reload();
      } catch (err) { M.replace(result, M.errorBox(err)); }
    };
    const deleteRecords = async (p) => {
      M.replace(result);
      const input = h("input", { id: "delete-records-offset", type: "number", min: p.log_start_offset ?? 0, max: p.high_watermark ?? 0, value: p.high_watermark ?? 0 });
      const ok = await M.confirmAction({
        title: `Delete records of partition ${p.partition}?`,
        okLabel: "Delete records",
        body: [h("p", {}, "Records of ", h("code", { text: `${name}-${p.partition}` }), ` below the offset given are deleted (log start ${M.fmtNum(p.log_start_offset)}, high watermark ${M.fmtNum(p.high_watermark)}). This cannot be undone.`),
          h("label", {}, "Delete records before offset", input)],
      });
      if (!ok) return;
      try {
        const r = await M.api("POST", `/topics/${M.enc(name)}/partitions/${p.partition}/delete-records`, { before_offset: Number(input.value), confirm: true });
        M.replace(result, M.okBox(`Partition ${r.partition} now starts at offset ${M.fmtNum(r.log_start_offset)}.`));
        reload();
      } catch (err) { M.replace(result, M.errorBox(err)); }
    };
    M.replace(el,
      first.internal ? null : h("form.inline", { id: "add-partitions", onsubmit: addPartitions },
        h("label", {}, "New partition count", count), h("button", { type: "submit", id: "add-partitions-submit", text: "Add partitions…" })),
      result, body);
    return async (t) => {
      count.min = t.partitions + 1;
      count.placeholder = String(t.partitions + 1);
      M.replace(body, h("div.scroll", {}, h("table", { id: "partitions" },
        h("thead", {}, h("tr", {}, ["Partition", "Leader", "Replicas", "ISR", "Log start", "High watermark", "Size", "Segments", ""]
          .map((x, i) => h("th", { class: i === 0 || (i > 3 && i < 8) ? "num" : null, text: x })))),
        h("tbody", {}, t.partition_details.map((p) => {
          const under = p.isr.length < p.replicas.length;
          return h("tr", { class: p.offline || p.leader < 0 ? "bad" : under ? "warn" : null, "data-partition": p.partition },
            h("td.num", { text: p.partition }),
            h("td", p.offline ? { text: "none (offline)", title: p.offline_reason } : p.leader < 0 ? { text: "none" } : { text: p.leader }),
            h("td", { text: p.replicas.join(", ") }),
            h("td", { text: p.isr.join(", ") + (under ? " (under-replicated)" : "") }),
            h("td.num", { text: M.fmtNum(p.log_start_offset) }), h("td.num", { text: M.fmtNum(p.high_watermark) }),
            h("td.num", { text: M.fmtBytes(p.size_bytes) }), h("td.num", { text: M.fmtNum(p.segments) }),
            h("td", {}, t.internal || p.high_watermark === null ? null : h("button.small", { type: "button", text: "Delete records…",
              "data-delete-records": p.partition, onclick: () => deleteRecords(p) })));
        })))));
    };
  }

  // "604800000" for retention.ms -> "7 days"; -1 -> "unlimited". Only names whose
  // unit Kafka fixes (.ms, .bytes) are translated.
  const DURATIONS = [[86400000, "day"], [3600000, "hour"], [60000, "minute"], [1000, "second"], [1, "ms"]];
  M.humanConfig = function (name, value) {
    if (value === null || value === undefined || value === "" || !/^-?\d+$/.test(value)) return "";
    const n = Number(value);
    const unit = /\.ms$/.test(name) ? "ms" : /\.bytes$/.test(name) ? "bytes" : null;
    if (!unit) return "";
    if (n < 0 || (unit === "ms" && n >= 9223372036854775807)) return "unlimited";
    if (unit === "bytes") return n < 1024 ? n + " B" : M.fmtBytes(n);
    if (n === 0) return "0 ms";
    for (const [size, word] of DURATIONS) {
      if (n % size === 0 || size === 1) {
        const k = n / size;
        return word === "ms" ? k + " ms" : `${M.fmtNum(k)} ${word}${k === 1 ? "" : "s"}`;
      }
    }
    return "";
  };

  // A config editor: search, "overrides only", human-readable values, and one Save
  // for every change made (one PATCH, one IncrementalAlterConfigs). `opts.patch` is
  // the API path, `opts.subject` names what changes in the confirmation, and
  // `opts.editable(c)` says which rows can change (the rest are shown read-only).
  M.configEditor = function (el, opts, reload) {
    const result = h("div", { id: "configs-result" });
    const search = h("input", { id: "config-search", type: "search", placeholder: "Search configs", autocomplete: "off" });
    const overrides = h("input", { id: "config-overrides", type: "checkbox" });
    const save = h("button.primary", { id: "configs-save", type: "button", text: "Save changes", disabled: true });
    const discard = h("button", { id: "configs-discard", type: "button", text: "Discard", disabled: true });
    const body = h("div", { id: "configs-table" });
    const editable = opts.editable || (() => true);
    let configs = [];
    const edits = new Map(); // name -> new value, or null to reset to the default
    const sync = () => {
      save.disabled = discard.disabled = edits.size === 0;
      save.textContent = edits.size ? `Save ${edits.size} change${edits.size === 1 ? "" : "s"}…` : "Save changes";
    };
    const draw = () => {
      const q = search.value.trim().toLowerCase();
      const rows = configs.filter((c) => (!overrides.checked || !c.is_default || edits.has(c.name)) && (!q || c.name.includes(q)));
      M.replace(body, rows.length === 0 ? h("p.muted", { text: "No config matches." }) : h("div.scroll", {}, h("table", { id: "configs" },
        h("thead", {}, h("tr", {}, ["Name", "Value", "", "Source", ""].map((x) => h("th", { text: x })))),
        h("tbody", {}, rows.map((c) => {
          const edited = edits.has(c.name);
          const shown = edited ? (edits.get(c.name) ?? c.value ?? "") : (c.value ?? "");
          const hint = h("span.muted.human", { text: M.humanConfig(c.name, shown) });
          const input = h("input", { value: shown, "aria-label": c.name, "data-config": c.name, class: edited ? "edited" : null,
            disabled: !editable(c), title: editable(c) ? null : "Not changeable at runtime",
            oninput: () => {
              const v = input.value.trim();
              if (v === (c.value ?? "")) edits.delete(c.name); else edits.set(c.name, v);
              input.classList.toggle("edited", edits.has(c.name));
              hint.textContent = M.humanConfig(c.name, v);
              sync();
            } });
          const overridden = opts.resettable ? opts.resettable(c) : !c.is_default;
          return h("tr", { "data-config-row": c.name },
            h("td.mono", { text: c.name }), h("td", {}, input), h("td.nowrap", {}, hint),
            h("td", { class: "hide-narrow" }, h("span.badge", { text: edited && edits.get(c.name) === null ? "reset pending" : opts.sourceLabel(c), title: c.source })),
            h("td", {}, overridden && editable(c) ? h("button.small", { type: "button", text: "Reset", "data-reset": c.name,
              onclick: () => { edits.set(c.name, null); sync(); draw(); } }) : null));
        })))));
    };
    search.addEventListener("input", draw);
    overrides.addEventListener("change", draw);
    discard.addEventListener("click", () => { edits.clear(); sync(); draw(); M.replace(result); });
    save.addEventListener("click", async () => {
      M.replace(result);
      const set = {}, reset = [];
      for (const [k, v] of edits) { if (v === null) reset.push(k); else set[k] = v; }
      const lines = Object.entries(set).map(([k, v]) => `${k} = ${v}` + (M.humanConfig(k, v) ? ` (${M.humanConfig(k, v)})` : "")).concat(reset.map((k) => `${k}: back to the default`));
      try {
        const ok = await M.confirmAction({
          title: opts.title,
          okLabel: "Save",
          body: [h("p", {}, `${lines.length} change(s) to ${opts.subject}:`), h("pre", { id: "configs-plan", text: lines.join("\n") })],
        });
        if (!ok) return;
        await M.api("PATCH", opts.patch, { set, reset, confirm: true });
        edits.clear();
        sync();
        M.replace(result, M.okBox(`${lines.length} config change(s) saved.`));
        reload();
      } catch (e) { M.replace(result, M.errorBox(e)); }
    });
    M.replace(el,
      h("div.toolbar", {}, h("label", {}, "Search", search), h("label.check", {}, overrides, opts.overridesLabel || "Overrides only"), save, discard),
      result, body, opts.footer || null);
    return (list) => { configs = list; draw(); };
  };

  // The topic's configs tab; "Delete topic…" lives at its foot.
  function configsTab(el, name, reload, internal) {
    const deleteSlot = h("div");
    const draw = M.configEditor(el, {
      patch: `/topics/${M.enc(name)}/configs`,
      title: "Change topic configs?",
      subject: `topic ${name}`,
      sourceLabel: (c) => (c.is_default ? "default" : "override"),
      footer: internal ? null : h("div.panel.danger-zone", {}, h("h3", { text: "Delete this topic" }),
        h("p.muted", { text: "Deletes the topic and all of its records, on every broker." }),
        h("button.danger", { id: "delete-topic", type: "button", text: "Delete topic…", onclick: () => deleteTopic(name, deleteSlot) }), deleteSlot),
    }, reload);
    return (t) => draw(t.configs);
  }

  async function deleteTopic(name, slot) {
    const ok = await M.confirmAction({
      title: "Delete topic?",
      okLabel: "Delete topic",
      typed: name,
      body: h("p", {}, "This deletes ", h("code", { text: name }), " and all of its records. It cannot be undone."),
    });
    if (!ok) return;
    try {
      await M.api("DELETE", `/topics/${M.enc(name)}?confirm=${M.enc(name)}`);
      M.go("#/topics");
    } catch (e) { M.replace(slot, M.errorBox(e)); }
  }

  const TOPIC_TABS = [["messages", "Messages"], ["produce", "Produce"], ["partitions", "Partitions"], ["configs", "Configs"]];

  // #/topics/NAME and #/topics/NAME/TAB: each tab has its own link.
  M.route(/^\/topics\/([^/]+)(?:\/(messages|produce|partitions|configs))?$/, "topics", async (main, name, tab) => {
    let t;
    try {
      t = await M.get("/topics/" + M.enc(name));
    } catch (e) {
      if (e.status === 404) return M.notFound(main, "Topic not found", `Topic '${name}' does not exist.`, ["#/topics", "All topics"]);
      throw e;
    }
    const cards = h("div.cards", { id: "topic-cards" });
    const problem = h("div");
    const panes = {};
    const tabs = h("div.tabs", { role: "tablist" });
    const show = (key) => {
      for (const [k, p] of Object.entries(panes)) p.classList.toggle("hidden", k !== key);
      tabs.querySelectorAll("a").forEach((b) => b.classList.toggle("active", b.dataset.tab === key));
    };
    // A tab's link changes the address without reloading the page.
    const open = (key) => {
      const url = `#/topics/${M.enc(name)}/${key}`;
      if (location.hash !== url) history.pushState(null, "", url);
      show(key);
    };
    for (const [key, label] of TOPIC_TABS) {
      panes[key] = h("div", { id: "pane-" + key });
      tabs.append(h("a", { id: "tab-" + key, role: "tab", "data-tab": key, href: `#/topics/${M.enc(name)}/${key}`, text: label,
        onclick: (e) => { e.preventDefault(); open(key); } }));
    }
    const reload = async (force) => {
      try {
        t = await M.get("/topics/" + M.enc(name));
        M.replace(problem);
      } catch (e) { M.replace(problem, M.errorBox(e)); return; }
      M.replace(cards,
        ...[["Partitions", M.fmtNum(t.partitions)], ["Replication", M.fmtNum(t.replication_factor)],
          ["Size", M.fmtBytes(t.size_bytes)], ["Records", M.fmtNum(t.records)],
          ["In", M.fmtBytes(t.rates.bytes_in_per_sec) + "/s"], ["Out", M.fmtBytes(t.rates.bytes_out_per_sec) + "/s"],
          ["Cleanup", t.compacted ? "compact" : "delete"]]
          .map(([l, v]) => h("div.card", {}, h("div.label", { text: l }), h("div.value", { text: v }))));
      drawPartitions(t);
      // Never redraw the configs under someone editing them.
      if (panes.configs.classList.contains("hidden") || force) drawConfigs(t);
    };
    M.replace(main,
      h("h1", {}, "Topic ", h("span.mono", { id: "topic-name", text: name }), t.internal ? h("span.badge", { text: "internal" }) : null),
      problem, cards, tabs, ...Object.values(panes));
    const drawPartitions = partitionsTab(panes.partitions, name, () => reload(true), t);
    const drawConfigs = configsTab(panes.configs, name, () => reload(true), t.internal);
    M.messagesTab(panes.messages, name, t);
    M.produceTab(panes.produce, name, t, () => {
      M.refreshMessages();
      reload(false);
    });
    show(tab || "messages");
    await reload(true);
    M.every(5000, () => reload(false));
  });
})();
