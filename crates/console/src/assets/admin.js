// Transactions and SCRAM users pages.
"use strict";

(function () {
  const M = window.Moldau, h = M.h;

  M.route(/^\/transactions$/, "transactions", async (main) => {
    const body = h("div", { id: "transactions" });
    M.replace(main, h("h1", { text: "Transactions" }),
      h("p.muted", { text: "Transactional ids this broker's transaction coordinator keeps. An open transaction older than its timeout is marked: the coordinator aborts those itself." }),
      body);
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
})();
