// The login session, when the console requires one: who is logged in, the CSRF
// token core.js sends with every change, and the log-out button.
"use strict";

(function () {
  const M = window.Moldau;
  M.sessionReady = fetch("/api/v1/session", { headers: { Accept: "application/json" } })
    .then((res) => (res.ok ? res.json() : null))
    .then(function (session) {
      M.csrf = (session && session.csrf_token) || null;
      return session;
    })
    .catch(() => null);

  document.addEventListener("DOMContentLoaded", async function () {
    const session = await M.sessionReady;
    const box = document.getElementById("session");
    if (!box || !session || !session.principal) return;
    const button = M.h("button", {
      id: "logout",
      type: "button",
      text: "Log out",
      onclick: async function () {
        await fetch("/api/v1/logout", { method: "POST", headers: { "Content-Type": "application/json" }, body: "{}" });
        location.assign("/login");
      },
    });
    M.replace(box, M.h("span.muted", { text: session.principal }), " ", button);
  });
})();
