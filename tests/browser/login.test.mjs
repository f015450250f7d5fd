// The console's login (issue 15) in Debian's Chromium: with `console.auth.enabled`
// an unauthenticated request is refused or sent to the login page, a PLAIN user of
// the broker logs in and out, a change without the session's CSRF token is refused,
// and a POST from another origin's page (which the browser sends with the session
// cookie: same site, other port) changes nothing. Run through tests/browser/run.sh.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const moldauBin = process.env.MOLDAU_BIN || path.join(process.env.CARGO_TARGET_DIR || path.join(root, "target"), "debug", "moldau");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const STEP_TIMEOUT_MS = 20_000;
const TOKEN = "console-token-for-tests";
const JAAS = 'org.apache.kafka.common.security.plain.PlainLoginModule required user_alice="alice-secret";';

let broker, dataDir, consoleUrl, attacker, attackerUrl, browser, context, page;

function startBroker() {
  dataDir = mkdtempSync(path.join(tmpdir(), "moldau-login-"));
  const set = (kv) => ["--set", kv];
  broker = spawn(moldauBin, ["serve", "--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--data-dir", dataDir,
    ...set("listeners=PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"),
    ...set("sasl.enabled.mechanisms=PLAIN"),
    ...set(`listener.name.sasl_plaintext.plain.sasl.jaas.config=${JAAS}`),
    ...set("console.auth.enabled=true"),
    ...set(`console.auth.token=${TOKEN}`)],
    { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, RUST_LOG: process.env.MOLDAU_TEST_LOG || "warn" } });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("moldau did not start")), 60_000);
    broker.on("exit", (code) => reject(new Error(`moldau exited with ${code}`)));
    readline.createInterface({ input: broker.stdout }).on("line", (line) => {
      const c = line.match(/^moldau listening console=(.+)$/);
      if (c) consoleUrl = "http://" + c[1];
      if (/^moldau listening kafka=/.test(line)) {
        clearTimeout(timer);
        if (!consoleUrl) reject(new Error("no console line before the kafka line"));
        else resolve();
      }
    });
  });
}

// A hostile page on another port of the same host: it posts to the console as soon
// as it loads, once with fetch and once with a form.
function startAttacker() {
  attacker = createServer((req, res) => {
    res.writeHead(200, { "Content-Type": "text/html; charset=utf-8" });
    res.end(`<!doctype html><title>evil</title>
<form id="f" method="POST" action="${consoleUrl}/api/v1/topics" enctype="text/plain" target="sink">
<input name='{"name":"evil-form","confirm":true,"x":"' value='"}'></form>
<iframe name="sink"></iframe>
<script>
fetch("${consoleUrl}/api/v1/topics", { method: "POST", mode: "no-cors", credentials: "include",
  headers: { "Content-Type": "text/plain" }, body: JSON.stringify({ name: "evil-fetch", confirm: true }) })
  .finally(() => { document.getElementById("f").submit(); document.title = "sent"; });
</script>`);
  });
  return new Promise((resolve) => attacker.listen(0, "127.0.0.1", () => {
    attackerUrl = `http://127.0.0.1:${attacker.address().port}/`;
    resolve();
  }));
}

// The console API as a script with the bearer token (no cookie, no CSRF token).
async function asToken(method, p, body) {
  const headers = { Authorization: `Bearer ${TOKEN}` };
  if (body) headers["Content-Type"] = "application/json";
  const res = await fetch(consoleUrl + "/api/v1" + p, { method, headers, body: body ? JSON.stringify(body) : undefined });
  return { status: res.status, body: await res.json() };
}

// A request from inside the console's page (same origin, with its cookie).
function fromPage(method, p, body, csrf) {
  return page.evaluate(async ([method, p, body, csrf]) => {
    const headers = { "Content-Type": "application/json" };
    if (csrf) headers["X-CSRF-Token"] = csrf;
    const res = await fetch("/api/v1" + p, { method, headers, body: JSON.stringify(body) });
    return { status: res.status, body: await res.json() };
  }, [method, p, body, csrf]);
}

before(async () => {
  await startBroker();
  await startAttacker();
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  context = await browser.newContext();
  page = await context.newPage();
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
});

after(async () => {
  await browser?.close();
  attacker?.close();
  if (broker && broker.exitCode === null) {
    broker.kill("SIGTERM");
    await new Promise((r) => broker.once("exit", r));
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test("without a session the API answers 401 and pages go to the login page", async () => {
  const res = await fetch(consoleUrl + "/api/v1/topics");
  assert.equal(res.status, 401);
  assert.equal((await res.json()).error, "login_required");
  assert.equal((await fetch(consoleUrl + "/metrics")).status, 401);
  await page.goto(consoleUrl + "/");
  assert.equal(new URL(page.url()).pathname, "/login");
  await page.locator("#login-form").waitFor();
});

test("a wrong password is refused, the right one opens the console", async () => {
  await page.fill("#login-user", "alice");
  await page.fill("#login-password", "wrong");
  await page.click("#login-submit");
  await page.locator("#login-error", { hasText: "Wrong" }).waitFor();
  assert.equal(new URL(page.url()).pathname, "/login");
  await page.fill("#login-password", "alice-secret");
  await page.click("#login-submit");
  await page.waitForURL(consoleUrl + "/");
  await page.locator("#session", { hasText: "User:alice" }).waitFor();
  await page.locator("#cluster-id").waitFor();
  const cookies = await page.context().cookies(consoleUrl);
  const session = cookies.find((c) => c.name === "moldau_session");
  assert.ok(session, "a session cookie");
  assert.equal(session.httpOnly, true);
  assert.equal(session.sameSite, "Strict");
  assert.ok(session.expires > Date.now() / 1000, "the cookie expires");
});

test("a change needs the session's CSRF token", async () => {
  const body = { name: "csrf-checked", partitions: 1, confirm: true };
  const without = await fromPage("POST", "/topics", body, null);
  assert.equal(without.status, 403);
  assert.equal(without.body.error, "csrf_token_required");
  // Aborting a transaction is a change like any other.
  const abort = await fromPage("POST", "/transactions/abort", { topic: "csrf-checked", partition: 0, start_offset: 0, confirm: true }, null);
  assert.equal(abort.status, 403);
  assert.equal(abort.body.error, "csrf_token_required");
  const csrf = await page.evaluate(async () => (await (await fetch("/api/v1/session")).json()).csrf_token);
  assert.ok(csrf);
  const withToken = await fromPage("POST", "/topics", body, csrf);
  assert.ok(withToken.status < 300, JSON.stringify(withToken));
  assert.equal((await asToken("GET", "/topics/csrf-checked")).status, 200);
});

test("a cross-site POST from another page changes nothing", async () => {
  const evil = await context.newPage();
  try {
    // Same browser context: the console's session cookie is there to be abused.
    await evil.goto(attackerUrl);
    await evil.waitForFunction(() => document.title === "sent", null, { timeout: STEP_TIMEOUT_MS });
    await evil.waitForLoadState("networkidle");
  } finally {
    await evil.close();
  }
  const names = (await asToken("GET", "/topics")).body.map((t) => t.name ?? t);
  assert.ok(!names.includes("evil-fetch") && !names.includes("evil-form"), JSON.stringify(names));
});

test("log out ends the session", async () => {
  await page.goto(consoleUrl + "/");
  await page.click("#logout");
  await page.waitForURL(consoleUrl + "/login");
  const status = await page.evaluate(async () => (await fetch("/api/v1/topics")).status);
  assert.equal(status, 401);
});
