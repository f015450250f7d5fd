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

  function partitionsTab(el, name) {
    const body = h("div", { id: "partitions-table" });
    M.replace(el, body);
    return async (t) => {
      M.replace(body, h("div.scroll", {}, h("table", { id: "partitions" },
        h("thead", {}, h("tr", {}, ["Partition", "Leader", "Replicas", "ISR", "Log start", "High watermark", "Size", "Segments"]
          .map((x, i) => h("th", { class: i === 0 || i > 3 ? "num" : null, text: x })))),
        h("tbody", {}, t.partition_details.map((p) => h("tr", {},
          h("td.num", { text: p.partition }),
          h("td", p.offline ? { text: "none (offline)", title: p.offline_reason } : { text: p.leader }),
          h("td", { text: p.replicas.join(", ") }), h("td", { text: p.isr.join(", ") }),
          h("td.num", { text: M.fmtNum(p.log_start_offset) }), h("td.num", { text: M.fmtNum(p.high_watermark) }),
          h("td.num", { text: M.fmtBytes(p.size_bytes) }), h("td.num", { text: M.fmtNum(p.segments) })))))));
    };
  }

  function configsTab(el, name, reload) {
    const result = h("div");
    const body = h("div", { id: "configs-table" });
    M.replace(el, result, body);
    const change = async (cfg, value, reset) => {
      M.replace(result);
      const req = reset ? { reset: [cfg.name] } : { set: { [cfg.name]: value } };
      try {
        const ok = await M.confirmAction({
          title: "Change topic config?",
          okLabel: reset ? "Reset config" : "Save config",
          body: h("p", {}, reset ? `Reset ${cfg.name} on ${name} to the broker's value.`
            : `Set ${cfg.name} = ${value} on ${name} (was ${cfg.value ?? "unset"}).`),
        });
        if (!ok) return;
        await M.api("PATCH", `/topics/${M.enc(name)}/configs`, { ...req, confirm: true });
        M.replace(result, M.okBox(`${cfg.name} ${reset ? "reset" : "updated"}.`));
        reload();
      } catch (e) { M.replace(result, M.errorBox(e)); }
    };
    return (t) => {
      M.replace(body, h("div.scroll", {}, h("table", { id: "configs" },
        h("thead", {}, h("tr", {}, ["Name", "Value", "Source", ""].map((x) => h("th", { text: x })))),
        h("tbody", {}, t.configs.map((c) => {
          const input = h("input", { value: c.value ?? "", "aria-label": c.name, "data-config": c.name });
          return h("tr", {},
            h("td.mono", { text: c.name }), h("td", {}, input),
            h("td", { class: "hide-narrow" }, h("span.badge", { text: c.is_default ? "default" : "topic override", title: c.source })),
            h("td", {},
              h("button", { text: "Save…", onclick: () => change(c, input.value.trim(), false) }), " ",
              c.is_default ? null : h("button", { text: "Reset…", onclick: () => change(c, null, true) })));
        })))));
    };
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

  M.route(/^\/topics\/([^/]+)$/, "topics", async (main, name) => {
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
      tabs.querySelectorAll("button").forEach((b) => b.classList.toggle("active", b.dataset.tab === key));
    };
    for (const [key, label] of [["messages", "Messages"], ["produce", "Produce"], ["partitions", "Partitions"], ["configs", "Configs"]]) {
      panes[key] = h("div", { id: "pane-" + key });
      tabs.append(h("button", { id: "tab-" + key, "data-tab": key, text: label, onclick: () => show(key) }));
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
    const deleteSlot = h("div");
    M.replace(main,
      h("h1", {}, "Topic ", h("span.mono", { id: "topic-name", text: name }), t.internal ? h("span.badge", { text: "internal" }) : null),
      problem, cards, tabs, ...Object.values(panes),
      t.internal ? null : h("div.panel", {}, h("button.danger", { id: "delete-topic", text: "Delete topic…", onclick: () => deleteTopic(name, deleteSlot) }), deleteSlot));
    const drawPartitions = partitionsTab(panes.partitions, name);
    const drawConfigs = configsTab(panes.configs, name, () => reload(true));
    M.messagesTab(panes.messages, name, t);
    M.produceTab(panes.produce, name, t, () => {
      show("messages");
      M.refreshMessages();
      reload(false);
    });
    show("messages");
    await reload(true);
    M.every(5000, () => reload(false));
  });
})();
