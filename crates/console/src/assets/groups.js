// Consumer groups list and the group page (members, lag, lag history, offset reset).
"use strict";

(function () {
  const M = window.Moldau, h = M.h;
  const badge = (state) => h("span.badge." + state, { text: state });

  M.route(/^\/groups$/, "groups", async (main) => {
    const table = h("div", { id: "groups-table" });
    let sort = { key: "group_id", desc: false }, rows = [];
    const draw = () => M.replace(table, rows.length === 0 ? h("p.muted", { text: "No consumer groups yet." }) :
      M.sortableTable([
        { key: "group_id", label: "Group", render: (g) => h("a", { href: "#/groups/" + M.enc(g.group_id), text: g.group_id }) },
        { key: "group_type", label: "Type", render: (g) => h("span.badge", { text: g.group_type, title: g.group_type === "consumer" ? "KIP-848 consumer protocol" : "classic protocol" }) },
        { key: "protocol_type", label: "Protocol", narrow: true, render: (g) => g.protocol_type || "–" },
        { key: "state", label: "State", render: (g) => badge(g.state) },
        { key: "members", label: "Members", num: true },
        { key: "assignor", label: "Assignor", narrow: true, render: (g) => g.assignor || "–" },
        { key: "total_lag", label: "Lag", num: true, render: (g) => M.fmtNum(g.total_lag) },
        { key: "max_time_lag_ms", label: "Time lag", num: true, render: (g) => M.fmtDuration(g.max_time_lag_ms) },
      ], rows, sort, (s) => { sort = s; draw(); }, { id: "groups" }));
    M.replace(main, h("h1", { text: "Consumer groups" }), table);
    M.every(5000, async () => {
      try { rows = await M.get("/groups"); draw(); } catch (e) { M.replace(table, M.errorBox(e)); }
    });
  });

  function resetPanel(id, getDetail) {
    const topic = h("select", { id: "reset-topic" });
    const to = h("select", { id: "reset-to" },
      [["earliest", "Earliest"], ["latest", "Latest"], ["timestamp", "Date and time"], ["offset", "Offset"], ["shift", "Shift by"]]
        .map(([v, l]) => h("option", { value: v, text: l })));
    const offset = h("input", { id: "reset-offset", type: "number", min: 0, placeholder: "offset" });
    const time = h("input", { id: "reset-time", type: "datetime-local", step: 1 });
    const shift = h("input", { id: "reset-shift", type: "number", placeholder: "-100 or 50", class: "short" });
    const parts = h("input", { id: "reset-partitions", placeholder: "all", size: 8, autocomplete: "off", title: "Comma-separated partition numbers" });
    const plan = h("div", { id: "reset-plan" });
    const result = h("div", { id: "reset-result" });
    const apply = h("button.danger", { id: "reset-apply", type: "button", text: "Reset offsets…", disabled: true });
    const sync = () => {
      offset.classList.toggle("hidden", to.value !== "offset");
      time.classList.toggle("hidden", to.value !== "timestamp");
      shift.classList.toggle("hidden", to.value !== "shift");
      parts.disabled = !topic.value;
      apply.disabled = true;
      M.replace(plan);
    };
    to.addEventListener("change", sync);
    parts.addEventListener("input", () => { apply.disabled = true; M.replace(plan); });
    topic.addEventListener("change", sync);
    sync();
    const request = () => {
      const body = { to: to.value };
      if (topic.value) body.topic = topic.value;
      if (topic.value && parts.value.trim()) {
        body.partitions = parts.value.split(",").map((x) => x.trim()).filter(Boolean).map((x) => {
          if (!/^\d+$/.test(x)) throw new Error(`'${x}' is not a partition number.`);
          return Number(x);
        });
      }
      if (to.value === "offset") body.offset = Number(offset.value || 0);
      if (to.value === "shift") body.shift = Number(shift.value || 0);
      if (to.value === "timestamp") body.timestamp = time.value ? new Date(time.value).getTime() : Date.now();
      return body;
    };
    let previewed = null;
    const preview = async (e) => {
      e.preventDefault();
      M.replace(result);
      apply.disabled = true;
      try {
        previewed = { ...request(), dry_run: true };
        const r = await M.api("POST", `/groups/${M.enc(id)}/offsets/reset`, previewed);
        M.replace(plan, h("div.scroll", {}, h("table", { id: "reset-preview" },
          h("thead", {}, h("tr", {}, ["Topic", "Partition", "Current", "New offset", "Log start", "End", "Lag after"]
            .map((x, i) => h("th", { class: i ? "num" : null, text: x })))),
          h("tbody", {}, r.plan.map((p) => h("tr", {},
            h("td", { text: p.topic }), h("td.num", { text: p.partition }), h("td.num", { text: M.fmtNum(p.current_offset) }),
            h("td.num", { text: M.fmtNum(p.new_offset) }), h("td.num", { text: M.fmtNum(p.log_start_offset) }),
            h("td.num", { text: M.fmtNum(p.log_end_offset) }), h("td.num", { text: M.fmtNum(p.lag_after) })))))));
        apply.disabled = r.plan.length === 0;
        previewed.plan = r.plan;
      } catch (err) {
        M.replace(plan);
        M.replace(result, M.errorBox(err));
      }
    };
    apply.addEventListener("click", async () => {
      if (!previewed) return;
      const n = previewed.plan.length;
      const ok = await M.confirmAction({
        title: "Reset consumer group offsets?",
        okLabel: "Reset offsets",
        body: h("p", {}, `Commit new offsets for ${n} partition(s) of group `, h("code", { text: id }),
          ". Its consumers will read from there when they start again."),
      });
      if (!ok) { M.replace(result, M.infoBox("Offsets were not changed.")); return; }
      try {
        const { plan: _, dry_run: __, ...body } = previewed;
        const r = await M.api("POST", `/groups/${M.enc(id)}/offsets/reset`, { ...body, confirm: true });
        M.replace(result, M.okBox(`Offsets reset on ${r.plan.length} partition(s).`));
        apply.disabled = true;
        M.replace(plan);
      } catch (err) { M.replace(result, M.errorBox(err)); }
    });
    const fillTopics = (d) => {
      const topics = [...new Set(d.partitions.map((p) => p.topic))];
      const have = [...topic.options].map((o) => o.value).join("|");
      const want = ["", ...topics].join("|");
      if (have === want) return;
      const keep = topic.value;
      M.replace(topic, h("option", { value: "", text: "All committed topics" }), topics.map((t) => h("option", { value: t, text: t })));
      topic.value = topics.includes(keep) ? keep : "";
    };
    fillTopics(getDetail());
    return {
      el: h("div.panel", { id: "reset-panel" },
        h("p.muted", { text: "Offsets can be reset only while the group has no active members (state Empty), as with kafka-consumer-groups.sh. Preview first, then confirm." }),
        h("form.inline", { onsubmit: preview },
          h("label", {}, "Topic", topic), h("label", {}, "Partitions", parts), h("label", {}, "Reset to", to),
          h("label", {}, "\u00a0", offset), h("label", {}, "\u00a0", time), h("label", {}, "\u00a0", shift),
          h("button", { type: "submit", id: "reset-preview-button", text: "Preview" }), apply),
        plan, result),
      update: fillTopics,
    };
  }

  // Deleting the group: only when it has no members, and the id typed again.
  function deletePanel(id) {
    const result = h("div", { id: "group-delete-result" });
    const run = async () => {
      M.replace(result);
      const ok = await M.confirmAction({
        title: "Delete consumer group?",
        okLabel: "Delete group",
        typed: id,
        body: h("p", {}, "This deletes group ", h("code", { text: id }), " and all of its committed offsets. Its consumers will start from auto.offset.reset next time."),
      });
      if (!ok) return;
      try {
        await M.api("DELETE", `/groups/${M.enc(id)}?confirm=${M.enc(id)}`);
        M.go("#/groups");
      } catch (e) { M.replace(result, M.errorBox(e)); }
    };
    return h("div.panel.danger-zone", {}, h("h3", { text: "Delete this group" }),
      h("p.muted", { text: "Possible only while the group has no active members." }),
      h("button.danger", { id: "delete-group", type: "button", text: "Delete group…", onclick: run }), result);
  }

  // The group's records in __consumer_offsets, decoded (newest first).
  function offsetsRecords(id) {
    const body = h("div", { id: "group-offsets-log" });
    const load = async () => {
      try {
        const r = await M.get(`/groups/${M.enc(id)}/offsets-log`);
        M.replace(body, r.records.length === 0 ? h("p.muted", { text: `No records for this group in ${r.topic}-${r.partition}.` }) :
          h("div", {}, h("p.muted", { text: `${r.topic} partition ${r.partition} (where this group's coordinator keeps it), newest first${r.partial ? "; older records not searched" : ""}.` }),
            h("div.scroll", {}, h("table", { id: "offsets-log" },
              h("thead", {}, h("tr", {}, ["Offset", "Time", "Kind", "Key", "Value"].map((x) => h("th", { text: x })))),
              h("tbody", {}, r.records.map((x) => h("tr", {},
                h("td.num", { text: x.offset }), h("td.nowrap", { text: M.fmtTime(x.timestamp) }), h("td", { text: x.kind }),
                h("td.mono", { text: x.key }), h("td.mono", { text: x.value }))))))));
      } catch (e) { M.replace(body, M.errorBox(e)); }
    };
    load();
    return h("div", {}, h("button", { type: "button", id: "offsets-log-refresh", text: "Refresh", onclick: load }), body);
  }

  M.route(/^\/groups\/(.+)$/, "groups", async (main, id) => {
    let d;
    try {
      d = await M.get("/groups/" + M.enc(id));
    } catch (e) {
      if (e.status === 404) return M.notFound(main, "Group not found", `Consumer group '${id}' does not exist.`, ["#/groups", "All consumer groups"]);
      throw e;
    }
    const head = h("div.cards", { id: "group-cards" });
    const members = h("div", { id: "group-members" });
    const telemetry = h("div", { id: "group-client-metrics" });
    const kip848 = h("div", { id: "group-consumer-protocol" });
    const parts = h("div", { id: "group-partitions" });
    const chart = h("div", { id: "group-lag-chart" });
    const problem = h("div");
    const reset = resetPanel(id, () => d);
    const offsetsLog = offsetsRecords(id);
    M.replace(main, h("h1", {}, "Group ", h("span.mono", { id: "group-name", text: id })), problem, head,
      h("h2", { text: "Lag per partition" }), parts,
      h("h2", { text: "Lag over the last hour" }), h("div.panel", {}, chart),
      h("h2", { text: "Members" }), members, kip848,
      h("h2", { text: "Client metrics" }), telemetry,
      h("h2", { text: "Reset offsets" }), reset.el,
      h("h2", { text: "Committed offsets, as stored" }), offsetsLog,
      deletePanel(id));
    const draw = () => {
      M.replace(head, ...[["State", badge(d.state), "group-state"], ["Protocol", d.group_type, "group-type"], ["Members", M.fmtNum(d.members.length)], ["Assignor", d.assignor || "–"],
        ["Total lag", M.fmtNum(d.total_lag), "group-total-lag"], ["Time lag", M.fmtDuration(d.max_time_lag_ms)]]
        .map(([l, v, vid]) => h("div.card", {}, h("div.label", { text: l }), h("div.value", { id: vid }, v))));
      M.replace(parts, d.partitions.length === 0 ? h("p.muted", { text: "No committed offsets or assigned partitions." }) :
        h("div.scroll", {}, h("table", { id: "group-lag" },
          h("thead", {}, h("tr", {}, ["Topic", "Partition", "Committed", "End offset", "Lag", "Time lag", "Consumer"]
            .map((x, i) => h("th", { class: i > 0 && i < 6 ? "num" : null, text: x })))),
          h("tbody", {}, d.partitions.map((p) => h("tr", { "data-topic": p.topic, "data-partition": p.partition },
            h("td", {}, h("a", { href: "#/topics/" + M.enc(p.topic), text: p.topic })), h("td.num", { text: p.partition }),
            h("td.num", { text: M.fmtNum(p.committed_offset) }), h("td.num", { text: M.fmtNum(p.log_end_offset) }),
            h("td.num.lag", { text: M.fmtNum(p.lag) + (p.lag_exact ? "" : " (est.)") }), h("td.num", { text: M.fmtDuration(p.time_lag_ms) }),
            h("td", { text: p.client_id ? `${p.client_id} ${p.host}` : "–", title: p.member_id || "" })))))));
      M.replace(chart, M.lineChart([{ name: "total lag (records)", points: d.lag_history.map((s) => [s.t, s.lag]) }],
        { integers: true, empty: "Collecting samples (one every 10 s)…" }));
      M.replace(members, d.members.length === 0 ? h("p.muted", { text: "No active members." }) :
        h("div.scroll", {}, h("table", { id: "group-members-table" },
          h("thead", {}, h("tr", {}, ["Client id", "Host", "Member id", "Assigned partitions"].map((x) => h("th", { text: x })))),
          h("tbody", {}, d.members.map((m) => h("tr", {},
            h("td", { text: m.client_id }), h("td.mono", { text: m.host }), h("td.mono", { text: m.member_id }),
            h("td", { text: m.assignment.map((a) => `${a.topic}: ${a.partitions.join(", ")}`).join("; ") || "–" })))))));
      const cp = d.consumer_protocol;
      const parts848 = (list) => list.map((a) => `${a.topic}: ${a.partitions.join(", ")}`).join("; ") || "–";
      // Awaited partitions another member still owns name that owner; the rest are free.
      const waiting = (m) => {
        const held = new Map(m.waiting_on.map((w) => [`${w.topic}:${w.partition}`, w.owner]));
        return m.awaiting.flatMap((a) => a.partitions.map((p) => {
          const owner = held.get(`${a.topic}:${p}`);
          return `${a.topic}: ${p}` + (owner ? ` (held by ${owner})` : "");
        })).join("; ") || "–";
      };
      M.replace(kip848, !cp ? null : h("div", {},
        h("h2", { text: "Consumer protocol (KIP-848)" }),
        h("dl.kv", {}, h("dt", { text: "Group epoch" }), h("dd", { id: "group-epoch", text: String(cp.group_epoch) }),
          h("dt", { text: "Target assignment epoch" }), h("dd", { id: "assignment-epoch", text: String(cp.assignment_epoch) }),
          h("dt", { text: "Assignor" }), h("dd", { id: "group-assignor", text: cp.assignor })),
        cp.members.length === 0 ? h("p.muted", { text: "No members." }) : h("div.scroll", {}, h("table", { id: "group-consumer-members" },
          h("thead", {}, h("tr", {}, ["Member", "Type", "Client", "Epoch", "Subscribed", "Current assignment", "Target assignment", "Revoking", "Waiting on revocation"].map((x) => h("th", { text: x })))),
          h("tbody", {}, cp.members.map((m) => h("tr", { class: m.revoking.length || m.awaiting.length || m.member_epoch < cp.group_epoch ? "warn" : null, "data-member": m.member_id },
            h("td.mono", { text: m.member_id, title: m.instance_id ? "static: " + m.instance_id : null }),
            h("td.member-type", { text: m.member_type, title: m.member_type === "classic" ? "JoinGroup member of a migrating group" : "ConsumerGroupHeartbeat member" }),
            h("td", { text: `${m.client_id} ${m.host}` }),
            h("td.num.member-epoch", { text: String(m.member_epoch), title: m.member_epoch < cp.group_epoch ? "behind the group epoch: reconciling" : "up to date" }),
            h("td", { text: m.subscribed_regex ? `/${m.subscribed_regex}/` : m.subscribed_topics.join(", ") }),
            h("td.current", { text: parts848(m.current) }), h("td.target", { text: parts848(m.target) }),
            h("td.revoking", { text: parts848(m.revoking) }), h("td.awaiting", { text: waiting(m), title: "in the target, not owned yet" }))))))));
      M.replace(telemetry, d.client_telemetry.length === 0
        ? h("p.muted", { text: "No client pushed metrics (KIP-714: librdkafka 2.5+ and the Java client 3.7+ do when the broker asks)." })
        : h("div", {}, d.client_telemetry.map((c) => h("div", {},
          h("h3", { text: `${c.client_id} (instance ${c.client_instance_id})` }),
          h("div.scroll", {}, h("table.client-metrics", {},
            h("thead", {}, h("tr", {}, ["Metric", "Labels", "Value"].map((x) => h("th", { text: x })))),
            h("tbody", {}, c.metrics.map((m) => h("tr", {},
              h("td.mono", { text: m.name.replace(/^org\.apache\.kafka\./, "") }), h("td.mono", { text: m.labels || "–" }),
              h("td.num", { text: M.fmtNum(m.value) }))))))))));
      reset.update(d);
    };
    draw();
    M.every(2000, async () => {
      try {
        d = await M.get("/groups/" + M.enc(id));
        M.replace(problem);
        draw();
      } catch (e) { M.replace(problem, M.errorBox(e)); }
    });
  });
})();
