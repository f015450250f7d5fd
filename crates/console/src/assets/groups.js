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
      [["earliest", "Earliest"], ["latest", "Latest"], ["timestamp", "Time"], ["offset", "Offset"]]
        .map(([v, l]) => h("option", { value: v, text: l })));
    const offset = h("input", { id: "reset-offset", type: "number", min: 0, placeholder: "offset" });
    const time = h("input", { id: "reset-time", type: "datetime-local", step: 1 });
    const plan = h("div", { id: "reset-plan" });
    const result = h("div", { id: "reset-result" });
    const apply = h("button.danger", { id: "reset-apply", type: "button", text: "Reset offsets…", disabled: true });
    const sync = () => {
      offset.classList.toggle("hidden", to.value !== "offset");
      time.classList.toggle("hidden", to.value !== "timestamp");
      apply.disabled = true;
      M.replace(plan);
    };
    to.addEventListener("change", sync);
    topic.addEventListener("change", sync);
    sync();
    const request = () => {
      const body = { to: to.value };
      if (topic.value) body.topic = topic.value;
      if (to.value === "offset") body.offset = Number(offset.value || 0);
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
          h("label", {}, "Topic", topic), h("label", {}, "Reset to", to), h("label", {}, "\u00a0", offset), h("label", {}, "\u00a0", time),
          h("button", { type: "submit", id: "reset-preview-button", text: "Preview" }), apply),
        plan, result),
      update: fillTopics,
    };
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
    const parts = h("div", { id: "group-partitions" });
    const chart = h("div", { id: "group-lag-chart" });
    const problem = h("div");
    const reset = resetPanel(id, () => d);
    M.replace(main, h("h1", {}, "Group ", h("span.mono", { id: "group-name", text: id })), problem, head,
      h("h2", { text: "Lag per partition" }), parts,
      h("h2", { text: "Lag over the last hour" }), h("div.panel", {}, chart),
      h("h2", { text: "Members" }), members,
      h("h2", { text: "Client metrics" }), telemetry,
      h("h2", { text: "Reset offsets" }), reset.el);
    const draw = () => {
      M.replace(head, ...[["State", badge(d.state), "group-state"], ["Members", M.fmtNum(d.members.length)], ["Assignor", d.assignor || "–"],
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
        { empty: "Collecting samples (one every 10 s)…" }));
      M.replace(members, d.members.length === 0 ? h("p.muted", { text: "No active members." }) :
        h("div.scroll", {}, h("table", { id: "group-members-table" },
          h("thead", {}, h("tr", {}, ["Client id", "Host", "Member id", "Assigned partitions"].map((x) => h("th", { text: x })))),
          h("tbody", {}, d.members.map((m) => h("tr", {},
            h("td", { text: m.client_id }), h("td.mono", { text: m.host }), h("td.mono", { text: m.member_id }),
            h("td", { text: m.assignment.map((a) => `${a.topic}: ${a.partitions.join(", ")}`).join("; ") || "–" })))))));
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
