// Transactions, SCRAM users and ACLs pages.
"use strict";

(function () {
  const M = window.Moldau, h = M.h;

  // Open transactions no coordinator will finish, each with an Abort button (an
  // ABORT marker written by the partition's leader, as `moldau transactions abort`).
  function hangingPanel(el) {
    const result = h("div", { id: "hanging-result" });
    const table = h("div");
    const abort = async (t) => {
      M.replace(result);
      const ok = await M.confirmAction({
        title: "Abort this transaction?",
        okLabel: "Abort transaction",
        body: [h("p", {}, "An ABORT marker is written to ", h("code", { text: `${t.topic}-${t.partition}` }),
          ` for producer ${t.producer_id} (epoch ${t.producer_epoch}). Its records from offset ${M.fmtNum(t.start_offset)} on are then skipped by read_committed consumers, which move past them. This cannot be undone.`)],
      });
      if (!ok) return;
      try {
        const r = await M.api("POST", "/transactions/abort", { topic: t.topic, partition: t.partition, start_offset: t.start_offset, confirm: true });
        M.replace(result, M.okBox(`Aborted the transaction of producer ${r.producer_id} on ${r.topic}-${r.partition}.`));
        await load();
      } catch (e) { M.replace(result, M.errorBox(e)); }
    };
    const load = async () => {
      let r;
      try { r = await M.get("/transactions/hanging"); } catch (e) { M.replace(table, M.errorBox(e)); return; }
      M.replace(table,
        h("p.muted", { text: `Open on a partition this broker leads, idle longer than transaction.max.timeout.ms (${M.fmtDuration(r.max_timeout_ms)}), and not being finished by a coordinator.` }),
        r.loading ? M.infoBox("Some coordinator partitions are still loading; a listed transaction may still be finished by its coordinator.") : null,
        r.transactions.length === 0 ? h("p.muted", { id: "hanging-none", text: "No hanging transactions." }) : h("div.scroll", {}, h("table", { id: "hanging-table" },
          h("thead", {}, h("tr", {}, ["Partition", "Producer id", "Epoch", "Start offset", "Last write", "Idle for", ""].map((x) => h("th", { text: x })))),
          h("tbody", {}, r.transactions.map((t) => h("tr.bad", { "data-hanging": `${t.topic}-${t.partition}@${t.start_offset}` },
            h("td.mono", { text: `${t.topic}-${t.partition}` }), h("td.num", { text: String(t.producer_id) }),
            h("td.num", { text: String(t.producer_epoch) }), h("td.num", { text: M.fmtNum(t.start_offset) }),
            h("td", { text: M.fmtTime(t.last_timestamp) }), h("td", { text: M.fmtDuration(t.idle_ms) }),
            h("td", {}, h("button.small.danger", { type: "button", text: "Abort…", "data-abort": `${t.topic}-${t.partition}@${t.start_offset}`, onclick: () => abort(t) }))))))),
        r.count > r.transactions.length ? h("p.muted", { text: `Only the first ${r.transactions.length} of ${r.count} are listed.` }) : null);
    };
    M.replace(el, h("h2", { text: "Hanging transactions" }), result, table);
    return load;
  }

  M.route(/^\/transactions$/, "transactions", async (main) => {
    const body = h("div", { id: "transactions" });
    const hanging = h("div", { id: "hanging" });
    M.replace(main, h("h1", { text: "Transactions" }),
      h("p.muted", { text: "Transactional ids this broker's transaction coordinator keeps. An open transaction older than its timeout is marked: the coordinator aborts those itself." }),
      body, hanging);
    M.every(10000, hangingPanel(hanging));
    M.every(5000, async () => {
      let r;
      try { r = await M.get("/transactions"); } catch (e) { M.replace(body, M.errorBox(e)); return; }
      M.replace(body, r.loading ? M.infoBox("Some coordinator partitions are still loading; the list may be incomplete.") : null,
        r.transactions.length === 0 ? h("p.muted", { text: "No transactional producers yet." }) : h("div.scroll", {}, h("table", { id: "transactions-table" },
          h("thead", {}, h("tr", {}, ["Transactional id", "State", "Producer id", "Epoch", "Open for", "Timeout", "Partitions"].map((x) => h("th", { text: x })))),
          h("tbody", {}, r.transactions.map((t) => h("tr", { class: t.overdue ? "bad" : null, "data-txn": t.transactional_id },
            h("td.mono", { text: t.transactional_id }), h("td", {}, h("span.badge", { text: t.state })),
            h("td.num", { text: String(t.producer_id) }), h("td.num", { text: String(t.producer_epoch) }),
            h("td", { text: t.open_ms === null ? "–" : M.fmtDuration(t.open_ms) + (t.overdue ? " (overdue)" : "") }),
            h("td", { text: M.fmtDuration(t.timeout_ms) }),
            h("td.mono", { text: t.partitions.join(", ") || "–" })))))));
    });
  });

  M.route(/^\/users$/, "users", async (main) => {
    const body = h("div", { id: "users" });
    M.replace(main, h("h1", { text: "SCRAM users" }),
      h("p.muted", {}, "Users with SCRAM credentials (salts and keys are never shown). Add or remove them with ", h("code", { text: "moldau user add NAME" }), "."),
      body);
    M.every(10000, async () => {
      let users;
      try { users = await M.get("/users"); } catch (e) { M.replace(body, M.errorBox(e)); return; }
      M.replace(body, users.length === 0 ? h("p.muted", { text: "No SCRAM users." }) : h("div.scroll", {}, h("table", { id: "users-table" },
        h("thead", {}, h("tr", {}, ["User", "Mechanisms", "Iterations"].map((x) => h("th", { text: x })))),
        h("tbody", {}, users.map((u) => h("tr", { "data-user": u.user },
          h("td.mono", { text: u.user }), h("td", { text: u.credentials.map((c) => c.mechanism).join(", ") }),
          h("td", { text: u.credentials.map((c) => String(c.iterations)).join(", ") })))))));
    });
  });

  M.route(/^\/acls$/, "acls", async (main) => {
    const body = h("div", { id: "acls" });
    M.replace(main, h("h1", { text: "ACLs" }),
      h("p.muted", {}, "Access control entries in the metadata log. Add or remove them with ", h("code", { text: "moldau acl add" }), " / ", h("code", { text: "moldau acl remove" }), "."),
      body);
    M.every(10000, async () => {
      let r;
      try { r = await M.get("/acls"); } catch (e) { M.replace(body, M.errorBox(e)); return; }
      M.replace(body,
        r.enforced ? null : M.infoBox("Not enforced: this broker has no authorizer.class.name, so every principal may do everything."),
        r.acls.length === 0 ? h("p.muted", { text: "No ACLs." }) : h("div.scroll", {}, h("table", { id: "acls-table" },
          h("thead", {}, h("tr", {}, ["Resource", "Name", "Pattern", "Principal", "Host", "Operation", "Permission"].map((x) => h("th", { text: x })))),
          h("tbody", {}, r.acls.map((a) => h("tr", { class: a.permission === "DENY" ? "bad" : null, "data-principal": a.principal, "data-resource": a.resource_name },
            h("td", { text: a.resource_type }), h("td.mono", { text: a.resource_name }), h("td", { text: a.pattern_type }),
            h("td.mono", { text: a.principal }), h("td.mono", { text: a.host }), h("td", { text: a.operation }),
            h("td", {}, h("span.badge", { text: a.permission }))))))));
    });
  });
})();
