// Overview and brokers pages.
"use strict";

(function () {
  const M = window.Moldau, h = M.h;

  const card = (label, value, id, opts = {}) => h("div.card", { class: opts.cls || null },
    h("div.label", { text: label }), h("div.value", { text: value, id, title: value }), opts.sub ? h("div.sub", { text: opts.sub }) : null);

  M.route(/^\/$/, "overview", async (main) => {
    const cards = h("div.cards", { id: "overview-cards" });
    const brokers = h("div", { id: "overview-brokers" });
    const groups = h("div", { id: "overview-groups" });
    const chartBytes = h("div", { id: "chart-bytes" });
    const chartRecords = h("div", { id: "chart-records" });
    const problem = h("div");
    const health = h("div", { id: "overview-problems" });
    M.replace(main,
      h("h1", { text: "Overview" }), problem, cards, health,
      h("h2", { text: "Throughput" }),
      h("div.panel", {}, h("div.muted", { text: "Bytes per second, last minutes" }), chartBytes),
      h("div.panel", {}, h("div.muted", { text: "Records per second, last minutes" }), chartRecords),
      h("h2", { text: "Brokers" }), brokers,
      h("h2", { text: "Consumer groups by state" }), groups);

    M.every(5000, async () => {
      let o, t;
      try {
        [o, t] = await Promise.all([M.get("/cluster"), M.get("/cluster/throughput")]);
        M.replace(problem);
      } catch (e) {
        M.replace(problem, M.errorBox(e));
        return;
      }
      const alert = (n) => ({ cls: n > 0 ? "alert" : null });
      M.replace(cards,
        card("Cluster id", o.cluster_id, "cluster-id", { cls: "wide" }),
        card("Brokers", M.fmtNum(o.brokers.length), "broker-count", { sub: `controller ${o.controller_id >= 0 ? o.controller_id : "none"}` }),
        card("Topics", M.fmtNum(o.topics), "topic-count", { sub: o.internal_topics ? `+${o.internal_topics} internal` : null }),
        card("Partitions", M.fmtNum(o.partitions), "partition-count"),
        card("Under-replicated", M.fmtNum(o.under_replicated_count), "under-replicated-count", alert(o.under_replicated_count)),
        card("Offline partitions", M.fmtNum(o.offline_count), "offline-count", alert(o.offline_count)),
        card("Bytes in", M.fmtBytes(o.rates.bytes_in_per_sec) + "/s", "bytes-in"),
        card("Bytes out", M.fmtBytes(o.rates.bytes_out_per_sec) + "/s", "bytes-out"),
        card("Records in", M.fmtRate(o.rates.records_in_per_sec, "rec"), "records-in"),
        card("Records out", M.fmtRate(o.rates.records_out_per_sec, "rec"), "records-out", { sub: "delivered to consumers" }));
      M.replace(health, o.problem_partitions.length === 0 ? null : h("div.panel", {},
        h("h2", { text: "Partitions needing attention" }),
        h("div.scroll", {}, h("table", { id: "problem-partitions" },
          h("thead", {}, h("tr", {}, ["Topic", "Partition", "Problem", "Leader", "Replicas", "ISR", "Moving"].map((x) => h("th", { text: x })))),
          h("tbody", {}, o.problem_partitions.map((p) => h("tr", { class: p.problem === "offline" ? "bad" : "warn" },
            h("td", {}, h("a", { href: `#/topics/${M.enc(p.topic)}/partitions`, text: p.topic })), h("td.num", { text: p.partition }),
            h("td", { text: p.problem.replace("_", "-") }), h("td", { text: p.leader >= 0 ? p.leader : "none" }),
            h("td", { text: p.replicas.join(", ") }), h("td", { text: p.isr.join(", ") }),
            h("td", { text: [p.adding.length ? "+" + p.adding.join(",") : "", p.removing.length ? "−" + p.removing.join(",") : ""].filter(Boolean).join(" ") || "–" })))))),
        o.problem_partitions.length < o.under_replicated_count + o.offline_count + o.reassigning_count ? h("p.muted", { text: "Only the first ones are listed." }) : null));
      const pts = (k) => t.samples.map((x) => [x.t, x[k]]);
      // Both charts share one time axis: the sampled window.
      const domain = t.samples.length ? [t.samples[0].t, t.samples[t.samples.length - 1].t] : null;
      M.replace(chartBytes, M.lineChart([
        { name: "bytes in/s", points: pts("bytes_in_per_sec") },
        { name: "bytes out/s", points: pts("bytes_out_per_sec") }], { format: M.fmtBytes, integers: true, domain, empty: "Collecting samples (one every 5 s)…" }));
      M.replace(chartRecords, M.lineChart([
        { name: "records in/s", points: pts("records_in_per_sec") },
        { name: "records out/s (delivered)", points: pts("records_out_per_sec") }], { domain, empty: "Collecting samples (one every 5 s)…" }));
      M.replace(brokers, h("div.scroll", {}, h("table", {},
        h("thead", {}, h("tr", {}, ["Id", "Address", "Rack", "State", "Controller", "Up since"].map((x) => h("th", { text: x })))),
        h("tbody", {}, o.brokers.map((b) => h("tr", { class: b.fenced ? "bad" : null, "data-broker": b.id },
          h("td", { text: b.id }), h("td.mono", { text: `${b.host}:${b.port}` }), h("td", { text: b.rack || "–" }),
          h("td", {}, h("span.badge", { class: b.fenced ? "Dead" : "Stable", text: b.fenced ? "fenced" : "serving" })),
          h("td", { text: b.controller ? "yes" : "" }), h("td", { text: M.fmtTime(b.up_since_ms) })))))));
      if (!o.groups_by_state) {
        M.replace(groups, M.infoBox("The group coordinator did not answer."));
      } else if (Object.keys(o.groups_by_state).length === 0) {
        M.replace(groups, h("p.muted", { text: "No consumer groups yet." }));
      } else {
        M.replace(groups, h("div.cards", {}, Object.entries(o.groups_by_state).map(([state, n]) =>
          h("div.card", {}, h("div.label", {}, h("span.badge." + state, { text: state })), h("div.value", { text: M.fmtNum(n) })))),
        h("p", {}, h("a", { href: "#/groups", text: "All consumer groups →" })));
      }
    });
  });

  // The metadata quorum: leader, epoch, and how far each controller trails.
  function quorumPanel(q) {
    const rows = q.voters.map((r) => [r, r.id === q.leader_id ? "leader" : "voter"])
      .concat(q.observers.map((r) => [r, "observer"]));
    return h("div.panel", {},
      h("h2", { text: "Metadata quorum" }),
      h("dl.kv", {},
        h("dt", { text: "Leader" }), h("dd", { text: q.leader_id >= 0 ? String(q.leader_id) : "none" }),
        h("dt", { text: "Epoch" }), h("dd", { text: M.fmtNum(q.leader_epoch) }),
        h("dt", { text: "High watermark" }), h("dd", { text: M.fmtNum(q.high_watermark) })),
      h("div.scroll", {}, h("table", {},
        h("thead", {}, h("tr", {}, h("th", { text: "Node" }), h("th", { text: "Role" }),
          h("th.num", { text: "Log end" }), h("th.num", { text: "Lag" }))),
        h("tbody", {}, rows.map(([r, role]) => h("tr", {},
          h("td", { text: String(r.id) }), h("td", { text: role }),
          h("td.num", { text: r.log_end_offset >= 0 ? M.fmtNum(r.log_end_offset) : "–" }),
          h("td.num", { text: r.lag === null ? "–" : M.fmtNum(r.lag) })))))));
  }

  // Partitions whose replicas are being moved (ListPartitionReassignments).
  function reassignmentsPanel(r) {
    return [h("h2", { text: "Reassignments in progress" }),
      r.reassignments.length === 0 ? h("p.muted", { id: "reassignments-none", text: "No partition is being reassigned." })
        : h("div.scroll", {}, h("table", { id: "reassignments" },
          h("thead", {}, h("tr", {}, ["Topic", "Partition", "Replicas", "Adding", "Removing", "ISR", "Leader"].map((x) => h("th", { text: x })))),
          h("tbody", {}, r.reassignments.map((p) => h("tr.warn", {},
            h("td", {}, h("a", { href: `#/topics/${M.enc(p.topic)}/partitions`, text: p.topic })), h("td.num", { text: p.partition }),
            h("td", { text: p.replicas.join(", ") }), h("td", { text: p.adding.join(", ") || "–" }),
            h("td", { text: p.removing.join(", ") || "–" }), h("td", { text: p.isr.join(", ") }),
            h("td", { text: p.leader >= 0 ? p.leader : "none" })))))),
      r.count > r.reassignments.length ? h("p.muted", { text: `Only the first ${r.reassignments.length} of ${r.count} are listed.` }) : null];
  }

  M.route(/^\/brokers$/, "brokers", async (main) => {
    const body = h("div", { id: "brokers" });
    const moving = h("div", { id: "reassignments-panel" });
    const configsEl = h("div", { id: "broker-configs" });
    const loadConfigs = async () => {
      try { drawConfigs(await M.get("/broker-configs")); } catch (e) { M.replace(configsEl, M.errorBox(e)); }
    };
    const drawConfigs = M.configEditor(configsEl, {
      patch: "/broker-configs",
      title: "Change broker configs?",
      subject: "every broker (cluster-wide dynamic defaults)",
      editable: (c) => c.dynamic,
      resettable: (c) => c.source === "DYNAMIC_DEFAULT_BROKER_CONFIG",
      overridesLabel: "Set values only",
      sourceLabel: (c) => ({ DYNAMIC_DEFAULT_BROKER_CONFIG: "dynamic", STATIC_BROKER_CONFIG: "config file", DEFAULT_CONFIG: "default" }[c.source] || c.source),
    }, loadConfigs);
    M.replace(main, h("h1", { text: "Brokers" }), body, moving,
      h("h2", { text: "Broker configs" }),
      h("p.muted", { text: "This broker's configuration. Dynamic properties can be changed for the whole cluster (as kafka-configs.sh --entity-type brokers --entity-default); the others are read-only here." }),
      configsEl);
    loadConfigs();
    M.every(10000, async () => {
      let list, cluster, reassignments;
      try {
        [list, cluster, reassignments] = await Promise.all([M.get("/brokers"), M.get("/cluster"), M.get("/reassignments")]);
      } catch (e) { M.replace(body, M.errorBox(e)); return; }
      M.replace(moving, reassignmentsPanel(reassignments));
      M.replace(body, quorumPanel(cluster.quorum), list.map((b) => h("div.panel", { class: b.fenced ? "fenced" : null, "data-broker": b.id },
        h("h2", { text: `Broker ${b.id}${b.controller ? " (controller)" : ""}${b.fenced ? " (fenced)" : ""}` }),
        h("dl.kv", {},
          h("dt", { text: "Address" }), h("dd.mono", { text: `${b.host}:${b.port}` }),
          h("dt", { text: "Rack" }), h("dd", { text: b.rack || "–" }),
          h("dt", { text: "Fenced" }), h("dd", { text: b.fenced ? "yes" : "no" }),
          h("dt", { text: "Up since" }), h("dd", { text: M.fmtTime(b.up_since_ms) }),
          h("dt", { text: "Partitions led" }), h("dd", { text: M.fmtNum(b.partitions_led) })),
        b.log_dirs ? h("div.scroll", {}, h("table", {},
          h("thead", {}, h("tr", {}, h("th", { text: "Log dir" }), h("th", { text: "State" }), h("th.num", { text: "Size" }), h("th.num", { text: "Partition logs" }), h("th.num", { text: "Free of disk" }))),
          h("tbody", {}, b.log_dirs.map((d) => h("tr", {},
            h("td.mono", { text: d.path }), h("td", { text: d.offline ? "offline" : "online" }), h("td.num", { text: M.fmtBytes(d.size_bytes) }), h("td.num", { text: M.fmtNum(d.partitions) }),
            h("td.num", { text: d.total_bytes == null ? "–" : `${M.fmtBytes(d.usable_bytes)} of ${M.fmtBytes(d.total_bytes)}` }))))))
          : h("p.muted", { text: "Log dirs are reported by each broker's own console." }))));
    });
  });
})();
