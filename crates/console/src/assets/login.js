// The login page: posts the form as JSON to /api/v1/login (which sets the session
// cookie) and opens the console on success.
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  form.addEventListener("submit", async function (event) {
    event.preventDefault();
    error.textContent = "";
    const token = document.getElementById("login-token").value;
    const body = token
      ? { token }
      : { user: document.getElementById("login-user").value, password: document.getElementById("login-password").value };
    let res;
    try {
      res = await fetch("/api/v1/login", {
        method: "POST",
        headers: { "Content-Type": "application/json", Accept: "application/json" },
        body: JSON.stringify(body),
      });
    } catch (e) {
      error.textContent = "The console is not reachable: " + e.message;
      return;
    }
    if (res.ok) {
      location.assign("/");
      return;
    }
    let message = res.status + " " + res.statusText;
    try { message = (await res.json()).message || message; } catch (_) { /* not JSON */ }
    error.textContent = message;
  });
});
