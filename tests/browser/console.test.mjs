// End-to-end tests of the web console: a real `moldau serve`, Debian's Chromium
// driven by Playwright, a real librdkafka consumer. Screenshots of every page go to
// test-artifacts/console/. Run through tests/browser/run.sh.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import readline from "node:readline";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, "../..");
const artifacts = path.join(root, "test-artifacts", "console");
const moldauBin = process.env.MOLDAU_BIN || path.join(process.env.CARGO_TARGET_DIR || path.join(root, "target"), "debug", "moldau");
const python = process.env.PYTHON || path.join(root, ".venv", "bin", "python");
const chromiumPath = process.env.CHROMIUM || "/usr/bin/chromium";
const STEP_TIMEOUT_MS = 20_000;

let broker, dataDir, consoleUrl, kafka, browser, page;
const pageErrors = [];

// Starts moldau and resolves once both listening lines are printed.
function startBroker() {
  dataDir = mkdtempSync(path.join(tmpdir(), "moldau-browser-"));
  broker = spawn(moldauBin, ["serve", "--listen", "127.0.0.1:0", "--console", "127.0.0.1:0", "--data-dir", dataDir],
    { stdio: ["ignore", "pipe", "inherit"], env: { ...process.env, RUST_LOG: process.env.MOLDAU_TEST_LOG || "warn" } });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("moldau did not start")), 60_000);
    broker.on("exit", (code) => reject(new Error(`moldau exited with ${code}`)));
    readline.createInterface({ input: broker.stdout }).on("line", (line) => {
      const c = line.match(/^moldau listening console=(.+)$/);
      if (c) consoleUrl = "http://" + c[1];
      const k = line.match(/^moldau listening kafka=(.+)$/);
      if (k) {
        kafka = k[1];
        clearTimeout(timer);
        if (!consoleUrl) reject(new Error("no console line before the kafka line"));
        else resolve();
      }
    });
  });
}

// Runs kafka_helper.py; `onLine` sees its progress lines.
function helper(args, onLine) {
  const child = spawn(python, [path.join(here, "kafka_helper.py"), ...args], { stdio: ["ignore", "pipe", "inherit"] });
  if (onLine) readline.createInterface({ input: child.stdout }).on("line", onLine);
  const done = new Promise((resolve, reject) => child.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`kafka_helper ${args[0]} exited with ${code}`)))));
  return { child, done };
}

async function api(method, p, body) {
  const res = await fetch(consoleUrl + "/api/v1" + p, {
    method, headers: body ? { "Content-Type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined,
  });
  return { status: res.status, body: await res.json() };
}

const shot = (name) => page.screenshot({ path: path.join(artifacts, name + ".png"), fullPage: true });
// Opens a page afresh (navigating to the URL already shown would not re-render it).
const go = async (hash) => {
  const url = consoleUrl + "/" + hash;
  if (page.url() === url) await page.reload();
  else await page.goto(url);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const number = (text) => Number(String(text).replace(/[^0-9-]/g, ""));

before(async () => {
  mkdirSync(artifacts, { recursive: true });
  await startBroker();
  browser = await chromium.launch({
    executablePath: chromiumPath,
    headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
      "--disable-component-update", "--disable-sync"],
  });
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  page.setDefaultTimeout(STEP_TIMEOUT_MS);
  page.on("pageerror", (e) => pageErrors.push(e.message));
});

after(async () => {
  await browser?.close();
  if (broker && broker.exitCode === null) {
    broker.kill("SIGTERM");
    await new Promise((r) => broker.once("exit", r));
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test("overview shows the cluster and its live throughput chart", async () => {
  await go("#/");
  const id = await page.locator("#cluster-id").textContent();
  const cluster = (await api("GET", "/cluster")).body;
  assert.equal(id, cluster.cluster_id);
  await page.locator("#chart-bytes svg").waitFor();
  await shot("overview");
});

test("create a topic in the UI, with confirmation", async () => {
  await go("#/topics");
  await page.click("#create-topic-toggle");
  await page.fill("#new-topic-name", "browser-orders");
  await page.fill("#new-topic-partitions", "3");
  await page.fill("#new-topic-configs", "retention.ms=86400000");
  await page.click("#create-topic-submit");
  // The dialog shows what will happen; nothing exists before confirming.
  await page.locator("#confirm-dialog[open]").waitFor();
  assert.match(await page.locator("#confirm-body").textContent(), /browser-orders.*3 partition/);
  assert.equal((await api("GET", "/topics/browser-orders")).status, 404);
  await shot("topic-create-confirm");
  await page.click("#confirm-ok");
  await page.locator("#topic-name", { hasText: "browser-orders" }).waitFor();
  const t = (await api("GET", "/topics/browser-orders")).body;
  assert.equal(t.partitions, 3);
  assert.equal(t.configs.find((c) => c.name === "retention.ms").value, "86400000");
  await go("#/topics");
  await page.locator("#topics a", { hasText: "browser-orders" }).waitFor();
  await page.fill("#topic-search", "orders");
  await shot("topics");
});

test("produce a record in the UI and see it in the message browser", async () => {
  await go("#/topics/browser-orders");
  await page.click("#tab-produce");
  await page.selectOption("#produce-partition", "1");
  await page.fill("#produce-key", "customer-7");
  await page.fill("#produce-value", '{"item":"kettle","qty":2}');
  await page.fill("#produce-headers", "trace-id=abc123");
  await shot("topic-produce");
  await page.click("#produce-submit");
  await page.locator("#confirm-dialog[open]").waitFor();
  await page.click("#confirm-ok");
  const row = page.locator("#messages tbody tr", { hasText: "kettle" });
  await row.waitFor();
  assert.match(await row.textContent(), /customer-7/);
  assert.match(await row.textContent(), /trace-id/);
  assert.equal(await row.getAttribute("data-partition"), "1");
  // Pretty-printed JSON, as the browser shows it.
  assert.match(await row.locator("pre.fmt-json").textContent(), /"qty": 2/);
  await shot("topic-messages");

  // Live tail follows a record produced elsewhere.
  await page.click("#msg-tail");
  await api("POST", "/topics/browser-orders/records", { partition: 2, value: "tailed-record", confirm: true });
  await page.locator("#messages tbody tr", { hasText: "tailed-record" }).waitFor();
  await page.click("#msg-tail");

  // Filters: a value substring that only one record has.
  await page.fill("#msg-value", "kettle");
  await page.click("#msg-load");
  await page.waitForFunction(() => document.querySelectorAll("#messages tbody tr").length === 1);
});

test("topic partitions and configs tabs; unknown topic page", async () => {
  await go("#/topics/browser-orders");
  await page.click("#tab-partitions");
  await page.locator("#partitions tbody tr").nth(2).waitFor();
  await shot("topic-partitions");
  await page.click("#tab-configs");
  await page.locator("#configs input[data-config='retention.ms']").waitFor();
  await shot("topic-configs");
  await go("#/topics/no-such-topic");
  await page.locator("h1", { hasText: "Topic not found" }).waitFor();
  assert.match(await page.locator("main").textContent(), /no-such-topic' does not exist/);
  await shot("topic-unknown");
});

test("a group's lag shrinks as its consumer catches up; resets are refused while it is active", async () => {
  await helper(["produce", kafka, "browser-orders", "200"]).done;
  // Everything in the topic, the records produced in the UI included.
  const records = (await api("GET", "/topics/browser-orders")).body.records;
  // Give the new group committed offsets on every partition first (a reset works on
  // a group that does not exist yet), so its total lag counts all of them from the
  // start: lag only counts partitions with a committed offset.
  const preset = await api("POST", "/groups/browser-group/offsets/reset",
    { topic: "browser-orders", to: "earliest", confirm: true });
  assert.equal(preset.status, 200, JSON.stringify(preset.body));
  assert.equal(preset.body.plan.length, 3);
  let firstCommit;
  const committed = new Promise((r) => (firstCommit = r));
  const consumer = helper(["consume", kafka, "browser-orders", "browser-group", String(records), "20", "1.5"],
    (line) => line.startsWith("consumed") && firstCommit());
  await committed;
  await go("#/groups/browser-group");
  await page.locator("#group-total-lag").waitFor();
  const seen = [];
  const watch = (async () => {
    const deadline = Date.now() + 90_000;
    while (Date.now() < deadline) {
      const text = await page.locator("#group-total-lag").textContent();
      const lag = number(text);
      if (seen[seen.length - 1] !== lag) seen.push(lag);
      if (lag === 0) return;
      await sleep(500);
    }
    throw new Error(`lag did not reach 0: ${seen.join(" -> ")}`);
  })();

  // While the consumer is a member, a reset is refused, preview included.
  await page.selectOption("#reset-to", "earliest");
  await page.click("#reset-preview-button");
  await page.locator("#reset-result .message.error", { hasText: "inactive" }).waitFor();
  await shot("group-active-reset-refused");

  await watch;
  await consumer.done;
  assert.ok(seen.length >= 3, `lag should shrink in steps, saw ${seen.join(" -> ")}`);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i] < seen[i - 1], `lag went up: ${seen.join(" -> ")}`);
  assert.equal(seen[seen.length - 1], 0);
  await shot("group");
});

test("reset offsets with a preview and a confirmation", async () => {
  await go("#/groups/browser-group");
  await page.locator(".badge.Empty").first().waitFor();
  await page.selectOption("#reset-to", "earliest");
  await page.click("#reset-preview-button");
  await page.locator("#reset-preview tbody tr").first().waitFor();
  // Previewing changes nothing.
  assert.equal((await api("GET", "/groups/browser-group")).body.total_lag, 0);
  await shot("group-reset-preview");
  // Cancelling changes nothing either.
  await page.click("#reset-apply");
  await page.locator("#confirm-dialog[open]").waitFor();
  await page.click("#confirm-cancel");
  await page.locator("#reset-result .message.info").waitFor();
  assert.equal((await api("GET", "/groups/browser-group")).body.total_lag, 0);
  await page.click("#reset-preview-button");
  await page.locator("#reset-preview tbody tr").first().waitFor();
  await page.click("#reset-apply");
  await page.locator("#confirm-dialog[open]").waitFor();
  await shot("group-reset-confirm");
  await page.click("#confirm-ok");
  await page.locator("#reset-result .message.ok").waitFor();
  const total = (await api("GET", "/topics/browser-orders")).body.records;
  await page.waitForFunction((want) => Number(document.querySelector("#group-total-lag").textContent.replace(/[^0-9]/g, "")) === want, total);
  await shot("group-after-reset");
});

test("groups and brokers pages, unknown group, phone layout", async () => {
  await go("#/groups");
  await page.locator("#groups a", { hasText: "browser-group" }).waitFor();
  await page.click("#groups th[data-key='total_lag']");
  await shot("groups");
  await go("#/groups/nobody-here");
  await page.locator("h1", { hasText: "Group not found" }).waitFor();
  await go("#/brokers");
  await page.locator("#brokers .panel").first().waitFor();
  await shot("brokers");
  await go("#/");
  await page.locator("#chart-bytes polyline").first().waitFor();
  await shot("overview-with-traffic");
  await page.setViewportSize({ width: 390, height: 844 });
  await go("#/topics/browser-orders");
  await page.locator("#messages tbody tr").first().waitFor();
  await page.screenshot({ path: path.join(artifacts, "phone-topic.png") });
  await go("#/groups/browser-group");
  await page.locator("#group-lag tbody tr").first().waitFor();
  await page.screenshot({ path: path.join(artifacts, "phone-group.png") });
  await page.setViewportSize({ width: 1280, height: 900 });
  assert.deepEqual(pageErrors, [], "no JavaScript errors on any page");
});
